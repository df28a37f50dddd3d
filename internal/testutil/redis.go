package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisURLEnv names the variable that points tests at a running Redis; CI
// sets it. The value "embedded" runs every test on the embedded store
// (miniredis, what `go run .` uses) instead: the CI's second pass.
const RedisURLEnv = "PARLEY_TEST_REDIS_URL"

// EmbeddedValue is the RedisURLEnv value that selects the embedded store.
const EmbeddedValue = "embedded"

// RedisURL returns a Redis URL for an integration test: PARLEY_TEST_REDIS_URL
// when set (the shared embedded store when it says "embedded"); else a
// throwaway redis-server on a free loopback port, stopped when the test
// ends; else (no redis-server installed) the package's shared embedded
// store. Tests never skip for lack of Redis; see Reporting for the line
// that says which Redis a package used.
func RedisURL(t testing.TB) string {
	t.Helper()
	switch u := os.Getenv(RedisURLEnv); {
	case u == EmbeddedValue:
		return "redis://" + sharedEmbedded(t, "embedded store ("+RedisURLEnv+"=embedded)")
	case u != "":
		used.note(u + " (" + RedisURLEnv + ")")
		return u
	}
	if _, err := exec.LookPath("redis-server"); err == nil {
		addr := StartRedis(t)
		used.note("a throwaway redis-server per test (set " + RedisURLEnv + " to use another)")
		return "redis://" + addr
	}
	return "redis://" + sharedEmbedded(t, "embedded store (no redis-server on PATH; apt-get install redis-server for the real one)")
}

// EmbeddedPass reports whether PARLEY_TEST_REDIS_URL=embedded: tests that
// need a redis-server process skip, the rest run on the embedded store.
func EmbeddedPass() bool { return os.Getenv(RedisURLEnv) == EmbeddedValue }

// OnEmbedded reports whether RedisURL serves the embedded store in this
// run (the embedded pass, or no redis-server and no PARLEY_TEST_REDIS_URL).
func OnEmbedded() bool {
	if u := os.Getenv(RedisURLEnv); u != "" {
		return u == EmbeddedValue
	}
	_, err := exec.LookPath("redis-server")
	return err != nil
}

// EmbeddedRedis returns a client for the shared embedded store whatever
// PARLEY_TEST_REDIS_URL says, for tests that compare the two stores.
func EmbeddedRedis(t testing.TB) *redis.Client {
	t.Helper()
	return client(t, "redis://"+sharedEmbedded(t, ""))
}

// NeedRedisServer skips t when it cannot start a redis-server process of
// its own (tests that kill, pause, restart, reconfigure or fill Redis): no
// redis-server on PATH, or the embedded pass. Reporting counts the skips.
func NeedRedisServer(t testing.TB) {
	t.Helper()
	if EmbeddedPass() {
		skipped.Add(1)
		t.Skip("needs a redis-server process of its own (kill/pause/CONFIG/persistence); skipped in the embedded-store pass (" + RedisURLEnv + "=embedded)")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipped.Add(1)
		t.Skip("needs a redis-server process of its own (kill/pause/CONFIG/persistence) and none is on PATH; install it: apt-get install redis-server")
	}
}

// NeedRealRedis skips t when RedisURL serves the embedded store, for tests
// that use what only Redis has (why says what). Reporting counts the skips.
func NeedRealRedis(t testing.TB, why string) {
	t.Helper()
	if !OnEmbedded() {
		return
	}
	skipped.Add(1)
	if EmbeddedPass() {
		t.Skip("needs a real Redis (" + why + "); skipped in the embedded-store pass (" + RedisURLEnv + "=embedded)")
	}
	t.Skip("needs a real Redis (" + why + ") and no redis-server is on PATH; install it: apt-get install redis-server")
}

// Redis returns a client for the Redis this run tests against, closed
// when the test ends: a ClusterClient when PARLEY_TEST_REDIS_CLUSTER_ADDRS
// is set, a FailoverClient when PARLEY_TEST_REDIS_SENTINEL_ADDRS and
// PARLEY_TEST_REDIS_SENTINEL_MASTER are (see Mode), else a client for
// RedisURL(t). Tests that inspect keys use ScanKeys, DeleteKeys and
// KeysPerPrimary, which work in every mode.
func Redis(t testing.TB) redis.UniversalClient {
	t.Helper()
	switch Mode() {
	case ModeCluster:
		addrs := ClusterAddrs()
		used.note("the Redis Cluster at " + strings.Join(addrs, ",") + " (" + ClusterAddrsEnv + ")")
		return ClusterClient(t, addrs)
	case ModeSentinel:
		addrs, master := SentinelAddrs()
		used.note("the Sentinel-managed primary " + master + " via " + strings.Join(addrs, ",") + " (" + SentinelAddrsEnv + ")")
		rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: master, SentinelAddrs: addrs})
		t.Cleanup(func() { _ = rdb.Close() })
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("redis (sentinel %v, master %s) ping: %v", addrs, master, err)
		}
		return rdb
	}
	return client(t, RedisURL(t))
}

func client(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redis url: %v", err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis ping: %v", err)
	}
	return rdb
}

// StartRedis starts a private redis-server (no persistence unless args say
// otherwise) on a free loopback port and returns its address. It is killed
// when the test ends (skipped, see NeedRedisServer, when it cannot be).
// Tests that stop or restart Redis use this, never the shared server;
// KillRedis kills it.
func StartRedis(t testing.TB, args ...string) string {
	t.Helper()
	NeedRedisServer(t)
	return startRedisProc(t, func(port int) []string { return serverArgs(t, port, args...) })
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reachable after %s: %v", addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Domain returns a domain handle unique to this test run, so tests sharing
// one Redis never see each other's keys.
func Domain(t testing.TB) string {
	t.Helper()
	return "t" + RandomHex(t, 8)
}

// Prefix returns a unique key prefix ending in ':'.
func Prefix(t testing.TB) string {
	t.Helper()
	return "parleytest:" + RandomHex(t, 6) + ":"
}

// RandomHex returns 2n random lower-case hex digits.
func RandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
