package auth_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"parley/auth"
)

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func cachingVerifier(t *testing.T, ttl, leeway time.Duration, clk *clock) *auth.Verifier {
	t.Helper()
	return newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret),
		RequireExp: true, Leeway: leeway, CacheTTL: ttl, Now: clk.now})
}

// TestVerifyCacheAnswersRepeats: with CacheTTL a token sent again is
// answered from what it verified to, without a second verification; with
// no CacheTTL every Verify verifies.
func TestVerifyCacheAnswersRepeats(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tok := hs256(t, jwt.MapClaims{"user_id": 42, "exp": t0.Add(time.Hour).Unix(), "role": "admin"})
	for _, ttl := range []time.Duration{time.Minute, 0} {
		clk := &clock{t: t0}
		v := cachingVerifier(t, ttl, 0, clk)
		first, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			again, err := v.Verify(tok)
			if err != nil || again != first {
				t.Fatalf("ttl %s: again = %+v, %v; want %+v", ttl, again, err, first)
			}
		}
		want := int64(1)
		if ttl == 0 {
			want = 4
		}
		if got := auth.FullVerifications(v); got != want {
			t.Errorf("ttl %s: %d full verifications of 4 Verify calls, want %d", ttl, got, want)
		}
	}
}

// TestVerifyCacheHonoursExpiry: a kept token is answered only while it
// would verify (until exp plus the leeway) and for at most CacheTTL; then
// it is verified again, with the error a fresh check gives.
func TestVerifyCacheHonoursExpiry(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	clk := &clock{t: t0}
	v := cachingVerifier(t, time.Minute, 5*time.Second, clk)
	short := hs256(t, jwt.MapClaims{"user_id": 1, "exp": t0.Add(10 * time.Second).Unix()})
	if _, err := v.Verify(short); err != nil {
		t.Fatal(err)
	}
	clk.set(t0.Add(14 * time.Second)) // within exp + leeway
	if _, err := v.Verify(short); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	clk.set(t0.Add(16 * time.Second))
	if _, err := v.Verify(short); !errors.Is(err, auth.ErrExpiredToken) {
		t.Fatalf("past exp + leeway: err = %v, want ErrExpiredToken", err)
	}

	long := hs256(t, jwt.MapClaims{"user_id": 2, "exp": t0.Add(time.Hour).Unix()})
	clk.set(t0)
	if _, err := v.Verify(long); err != nil {
		t.Fatal(err)
	}
	n := auth.FullVerifications(v)
	clk.set(t0.Add(59 * time.Second))
	if _, err := v.Verify(long); err != nil || auth.FullVerifications(v) != n {
		t.Fatalf("within CacheTTL: err %v, full verifications %d -> %d, want none more", err, n, auth.FullVerifications(v))
	}
	clk.set(t0.Add(61 * time.Second))
	if _, err := v.Verify(long); err != nil || auth.FullVerifications(v) != n+1 {
		t.Fatalf("past CacheTTL: err %v, full verifications %d -> %d, want one more", err, n, auth.FullVerifications(v))
	}
}

// TestVerifyCacheKeepsOnlyVerified: a token that failed is not kept (it
// fails again, verified again), and a kept token does not vouch for
// another one that differs from it only in its signature.
func TestVerifyCacheKeepsOnlyVerified(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	clk := &clock{t: t0}
	v := cachingVerifier(t, time.Minute, 0, clk)
	bad := sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef"), jwt.MapClaims{"user_id": 1, "exp": t0.Add(time.Hour).Unix()})
	for range 2 {
		if _, err := v.Verify(bad); !errors.Is(err, auth.ErrBadSignature) {
			t.Fatalf("foreign key: err = %v, want ErrBadSignature", err)
		}
	}
	if auth.FullVerifications(v) != 2 || auth.CachedTokens(v) != 0 {
		t.Fatalf("after two failures: %d verifications, %d kept; want 2, 0", auth.FullVerifications(v), auth.CachedTokens(v))
	}
	good := hs256(t, jwt.MapClaims{"user_id": 1, "exp": t0.Add(time.Hour).Unix()})
	if _, err := v.Verify(good); err != nil {
		t.Fatal(err)
	}
	sig := good[strings.LastIndexByte(good, '.')+1:]
	flipped := good[:len(good)-len(sig)] + string(sig[0]^1) + sig[1:]
	if _, err := v.Verify(flipped); err == nil {
		t.Fatal("a token differing from a kept one in its signature verified")
	}
	// Another tenant's verifier (another key) knows nothing of v's cache.
	other := newVerifier(t, auth.Config{Algorithms: []string{"HS256"}, Secret: []byte("tenant-b-secret-0123456789abcdef"),
		CacheTTL: time.Minute, Now: clk.now})
	if _, err := other.Verify(good); !errors.Is(err, auth.ErrBadSignature) {
		t.Fatalf("another tenant's verifier: err = %v, want ErrBadSignature", err)
	}
}

// TestVerifyCacheBounded: the cache holds at most CacheMaxEntries tokens
// and no token longer than CacheMaxTokenBytes, however many verify.
func TestVerifyCacheBounded(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	clk := &clock{t: t0}
	v := cachingVerifier(t, time.Minute, 0, clk)
	for i := range auth.CacheMaxEntries + 500 {
		tok := hs256(t, jwt.MapClaims{"user_id": i, "exp": t0.Add(time.Hour).Unix()})
		if _, err := v.Verify(tok); err != nil {
			t.Fatal(err)
		}
		if n := auth.CachedTokens(v); n > auth.CacheMaxEntries {
			t.Fatalf("after %d tokens the cache holds %d, more than %d", i+1, n, auth.CacheMaxEntries)
		}
	}
	v = cachingVerifier(t, time.Minute, 0, clk)
	big := hs256(t, jwt.MapClaims{"user_id": 1, "exp": t0.Add(time.Hour).Unix(),
		"pad": strings.Repeat("x", auth.CacheMaxTokenBytes)})
	for range 2 {
		if _, err := v.Verify(big); err != nil {
			t.Fatal(err)
		}
	}
	if n, k := auth.FullVerifications(v), auth.CachedTokens(v); n != 2 || k != 0 {
		t.Errorf("a %d-byte token: %d verifications, %d kept; want 2, 0", len(big), n, k)
	}
}

// TestVerifyCacheTTLNotNegative: a negative CacheTTL is a configuration
// error.
func TestVerifyCacheTTLNotNegative(t *testing.T) {
	_, err := auth.NewVerifier(auth.Config{Algorithms: []string{"HS256"}, Secret: []byte(testSecret), CacheTTL: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "CacheTTL") {
		t.Fatalf("err = %v, want one naming CacheTTL", err)
	}
}
