package auth

import (
	"strings"
	"sync"
	"time"
)

// A client sends the same token with every request and every reconnect
// until it expires, so a Verifier with Config.CacheTTL keeps the claims of
// each token that verified, and answers the same token again from them
// without the signature check and the claims decoding. Only a token that
// verified is kept, exactly as given (the map key is the whole token, so
// another token, even one differing in its signature alone, verifies
// afresh), and a kept token is answered only while it would still verify:
// until its exp plus the leeway, and at most CacheTTL after it was
// checked. A Verifier holds one key (one tenant's, with per-domain keys),
// so a token kept by one tenant's verifier is unknown to another's.

const (
	// cacheMaxEntries bounds the tokens a Verifier keeps.
	cacheMaxEntries = 8192
	// cacheMaxTokenBytes: longer tokens are verified every time, so the
	// cache holds at most cacheMaxEntries * cacheMaxTokenBytes of tokens.
	cacheMaxTokenBytes = 2048
)

type verifiedToken struct {
	claims Claims
	until  time.Time // answered from the cache before this instant only
}

// verifiedCache is the tokens a Verifier has verified lately. Safe for
// concurrent use.
type verifiedCache struct {
	ttl    time.Duration
	leeway time.Duration // the verifier's: a token verifies until exp plus this
	mu     sync.RWMutex
	m      map[string]verifiedToken
}

func newVerifiedCache(ttl, leeway time.Duration) *verifiedCache {
	return &verifiedCache{ttl: ttl, leeway: leeway, m: map[string]verifiedToken{}}
}

// get returns the claims token verified to, if it verified lately and is
// still valid at now.
func (c *verifiedCache) get(token string, now time.Time) (Claims, bool) {
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Claims{}, false
	}
	return e.claims, true
}

// put keeps the claims of token, which verified at now, until the token
// expires (exp plus leeway) or ttl has passed. When the cache is full it
// first drops the entries past their time, then, if that freed nothing,
// an eighth of the others (in the map's random order).
func (c *verifiedCache) put(token string, claims Claims, now time.Time) {
	if len(token) > cacheMaxTokenBytes {
		return
	}
	until := now.Add(c.ttl)
	if !claims.Expires.IsZero() {
		until = minTime(until, claims.Expires.Add(c.leeway))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheMaxEntries {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < cacheMaxEntries-cacheMaxEntries/8 {
				break
			}
			delete(c.m, k)
		}
	}
	// A copy: the token may be a slice of a larger request string.
	c.m[strings.Clone(token)] = verifiedToken{claims: claims, until: until}
}

func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
