package userapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by [New] to zero (or negative) [Options] fields.
const (
	DefaultTimeout       = 2 * time.Second
	DefaultTTL           = 5 * time.Minute
	DefaultMaxEntries    = 10000
	DefaultMaxConcurrent = 8
	// MaxNegativeTTL caps how long failures and 404s are cached.
	MaxNegativeTTL = 30 * time.Second
	// MaxBodyBytes is the largest response body accepted; longer bodies are
	// failures.
	MaxBodyBytes = 64 << 10
)

// Options configures a [Client]. The zero value is valid and disables the
// user API: every lookup returns [Fallback] without touching the network.
type Options struct {
	// URLTemplate is the user URL with "{id}" standing for the path-escaped
	// id, e.g. "https://platform/api/users/{id}". "" disables the user API.
	// A non-empty template without "{id}" is logged and treated as "".
	URLTemplate string
	// Header is an optional "Name: value" header sent with each request,
	// e.g. "Authorization: Bearer xyz". An invalid header (bad name, CR/LF
	// or other control characters in the value) is logged and ignored.
	Header string
	// Timeout bounds each request; default DefaultTimeout.
	Timeout time.Duration
	// TTL is how long found users are cached; default DefaultTTL. Failures
	// and 404s are cached for min(TTL, MaxNegativeTTL).
	TTL time.Duration
	// MaxEntries bounds the cache; default DefaultMaxEntries.
	MaxEntries int
	// MaxConcurrent bounds the outbound requests of one Lookup batch;
	// default DefaultMaxConcurrent.
	MaxConcurrent int
	// HTTPClient sends the requests; default &http.Client{}. Timeout is
	// enforced per request through the request context.
	HTTPClient *http.Client
	// Logger receives failures (warn) and diagnostics (debug); default
	// discards.
	Logger *slog.Logger
	// Now is the clock used for cache expiry; default time.Now.
	Now func() time.Time
}

// Stats are cumulative counters, for metrics and tests.
type Stats struct {
	// Hits counts ids answered from the cache, including cached failures.
	Hits uint64
	// Misses counts ids not answered from the cache: each one joined an
	// in-flight request, started one, or (context already done) fell back.
	Misses uint64
	// Failures counts finished requests that produced no user: 404, other
	// non-200 statuses, transport errors, timeouts and bad bodies. Requests
	// abandoned because every waiting caller gave up are not counted.
	Failures uint64
	// Requests counts HTTP requests sent.
	Requests uint64
}

// Client looks up users in the platform's user API, with caching and request
// coalescing. It is safe for concurrent use.
type Client struct {
	tmpl       string
	hdrName    string
	hdrValue   string
	timeout    time.Duration
	ttl        time.Duration
	negTTL     time.Duration
	concurrent int
	hc         *http.Client
	log        *slog.Logger
	now        func() time.Time

	mu    sync.Mutex
	cache *cache           // guarded by mu
	calls map[string]*call // in-flight requests by id; guarded by mu

	hits, misses, failures, requests atomic.Uint64
}

// call is one in-flight request shared by every caller waiting for its id.
type call struct {
	done    chan struct{} // closed once user is set
	user    User
	waiters int                // guarded by Client.mu
	cancel  context.CancelFunc // aborts the request when waiters drops to 0
}

// New returns a Client for o, applying the documented defaults. Invalid
// options are logged and ignored rather than returned.
func New(o Options) *Client {
	c := &Client{
		tmpl:       o.URLTemplate,
		timeout:    o.Timeout,
		ttl:        o.TTL,
		concurrent: o.MaxConcurrent,
		hc:         o.HTTPClient,
		log:        o.Logger,
		now:        o.Now,
		calls:      make(map[string]*call),
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	c.negTTL = min(c.ttl, MaxNegativeTTL)
	if c.concurrent <= 0 {
		c.concurrent = DefaultMaxConcurrent
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	maxEntries := o.MaxEntries
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	c.cache = newCache(maxEntries)

	if c.tmpl != "" && !strings.Contains(c.tmpl, "{id}") {
		// Without {id} every user would get the same answer: worse than none.
		c.log.Error("userapi: URL template has no {id} placeholder; user API disabled")
		c.tmpl = ""
	}
	if o.Header != "" {
		name, value, err := parseHeader(o.Header)
		if err != nil {
			c.log.Warn("userapi: ignoring invalid Header option", "err", err)
		} else {
			c.hdrName, c.hdrValue = name, value
		}
	}
	return c
}

// Get is Lookup for a single id.
func (c *Client) Get(ctx context.Context, id string) User {
	return c.Lookup(ctx, []string{id})[id]
}

// Lookup returns a user for every distinct id in ids and never fails.
//
// Cached answers return immediately. Misses are fetched concurrently, at
// most MaxConcurrent at a time for this call, and concurrent lookups of the
// same id (from any caller) share one request. Any failure, or ctx ending
// first, yields Fallback(id). The ids "", "." and ".." are never sent to the
// API and always yield Fallback.
func (c *Client) Lookup(ctx context.Context, ids []string) map[string]User {
	out := make(map[string]User, len(ids))
	if c.tmpl == "" {
		for _, id := range ids {
			out[id] = Fallback(id)
		}
		return out
	}

	var missing []string
	c.mu.Lock()
	now := c.now()
	for _, id := range ids {
		if _, seen := out[id]; seen {
			continue
		}
		if u, ok := c.cache.get(id, now); ok {
			c.hits.Add(1)
			out[id] = u
			continue
		}
		out[id] = Fallback(id) // placeholder; also deduplicates
		if fetchable(id) {
			missing = append(missing, id)
		}
	}
	c.mu.Unlock()

	switch {
	case len(missing) == 0:
		return out
	case ctx.Err() != nil:
		c.misses.Add(uint64(len(missing)))
		c.log.DebugContext(ctx, "userapi: lookup skipped", "ids", len(missing), "err", context.Cause(ctx))
		return out
	case len(missing) == 1:
		out[missing[0]] = c.fetchShared(ctx, missing[0])
		return out
	}

	res := make([]User, len(missing))
	sem := make(chan struct{}, c.concurrent)
	var wg sync.WaitGroup
	for i, id := range missing {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res[i] = c.fetchShared(ctx, id)
		})
	}
	wg.Wait()
	for i, id := range missing {
		out[id] = res[i]
	}
	return out
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	return Stats{
		Hits:     c.hits.Load(),
		Misses:   c.misses.Load(),
		Failures: c.failures.Load(),
		Requests: c.requests.Load(),
	}
}

// fetchable reports whether id may be substituted into the URL path. "." and
// ".." survive url.PathEscape and would change the path's meaning.
func fetchable(id string) bool {
	return id != "" && id != "." && id != ".."
}

// fetchShared returns the user for id from the cache, an in-flight request,
// or a new request, waiting at most until ctx is done.
func (c *Client) fetchShared(ctx context.Context, id string) User {
	c.mu.Lock()
	// Another caller may have finished the request since Lookup checked.
	if u, ok := c.cache.get(id, c.now()); ok {
		c.mu.Unlock()
		c.hits.Add(1)
		return u
	}
	c.misses.Add(1)
	cl, ok := c.calls[id]
	if !ok {
		// The request outlives any single caller (it is shared) but keeps
		// the first caller's context values; it is cancelled when the last
		// waiter leaves.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cl = &call{done: make(chan struct{}), cancel: cancel}
		c.calls[id] = cl
		go c.run(fctx, id, cl)
	}
	cl.waiters++
	c.mu.Unlock()

	select {
	case <-cl.done:
		return cl.user
	case <-ctx.Done():
		c.mu.Lock()
		cl.waiters--
		if cl.waiters == 0 {
			if c.calls[id] == cl {
				delete(c.calls, id) // later callers start afresh
			}
			cl.cancel()
		}
		c.mu.Unlock()
		c.log.DebugContext(ctx, "userapi: lookup abandoned", "id", id, "err", context.Cause(ctx))
		return Fallback(id)
	}
}

// run performs the request for cl, caches the outcome and wakes the waiters.
func (c *Client) run(ctx context.Context, id string, cl *call) {
	defer cl.cancel()
	u, err := c.fetch(ctx, id)
	abandoned := err != nil && ctx.Err() != nil

	c.mu.Lock()
	if c.calls[id] == cl {
		delete(c.calls, id)
	}
	now := c.now()
	switch {
	case err == nil:
		c.cache.put(id, u, now.Add(c.ttl), false, now)
	case abandoned:
		// Nobody is waiting and the API did nothing wrong: do not cache.
		u = Fallback(id)
	default:
		u = Fallback(id)
		c.cache.put(id, u, now.Add(c.negTTL), true, now)
	}
	cl.user = u
	c.mu.Unlock()
	// Report before waking the waiters, so that Stats and logs are up to
	// date when Lookup returns.
	defer close(cl.done)

	switch {
	case err == nil || abandoned:
	case errors.Is(err, errNotFound):
		c.failures.Add(1)
		c.log.Debug("userapi: user not found", "id", id)
	default:
		c.failures.Add(1)
		// At most once per id per negative-cache period, since the failure
		// is cached for that long.
		c.log.Warn("userapi: user lookup failed", "id", id, "err", err)
	}
}

var errNotFound = errors.New("user not found")

// fetch performs one GET for id, bounded by the client timeout.
func (c *Client) fetch(ctx context.Context, id string) (User, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	target := strings.ReplaceAll(c.tmpl, "{id}", url.PathEscape(id))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return User{}, fmt.Errorf("build request: %w", unwrapURLError(err))
	}
	req.Header.Set("Accept", "application/json")
	if c.hdrName != "" {
		req.Header.Set(c.hdrName, c.hdrValue)
	}
	c.requests.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return User{}, unwrapURLError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return User{}, errNotFound
	case resp.StatusCode != http.StatusOK:
		return User{}, fmt.Errorf("unexpected status %d", resp.StatusCode)
	case err != nil:
		return User{}, fmt.Errorf("read body: %w", err)
	case len(body) > MaxBodyBytes:
		return User{}, fmt.Errorf("body exceeds %d bytes", MaxBodyBytes)
	}
	return decodeUser(id, body)
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// URL: the template may carry credentials that do not belong in logs.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
