package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// RedisURLEnv names the variable that points tests at a running Redis; CI
// sets it.
const RedisURLEnv = "PARLEY_TEST_REDIS_URL"

// RedisURL returns a Redis URL for an integration test: PARLEY_TEST_REDIS_URL
// when set; else a throwaway redis-server on a free loopback port, stopped
// when the test ends; else (no redis-server installed) the embedded
// miniredis. The test log says which. Tests never skip for lack of Redis.
func RedisURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(RedisURLEnv); u != "" {
		return u
	}
	if _, err := exec.LookPath("redis-server"); err == nil {
		addr := StartRedis(t)
		t.Logf("redis: throwaway redis-server at %s (set %s to use another)", addr, RedisURLEnv)
		return "redis://" + addr
	}
	m := miniredis.RunT(t)
	t.Logf("redis: no redis-server installed, using the embedded miniredis at %s", m.Addr())
	return "redis://" + m.Addr()
}

// Redis returns a client for RedisURL(t), closed when the test ends.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(RedisURL(t))
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
// when the test ends. Tests that stop or restart Redis use this, never the
// shared server.
func StartRedis(t testing.TB, args ...string) string {
	t.Helper()
	port := FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dir := t.TempDir()
	base := []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
	cmd := exec.Command("redis-server", append(base, args...)...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
	})
	WaitTCP(t, addr, 5*time.Second)
	return addr
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
