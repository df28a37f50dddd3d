package test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"parley/internal/sioclient"
	"parley/internal/testutil"
)

// startBinary runs the built parley binary with env (plus a clean
// environment) on a free port, waits until it listens and returns its
// node handle, the process, a channel with its exit and its output.
func startBinary(t *testing.T, bin string, env ...string) (*node, *exec.Cmd, chan error, *testutil.SyncBuffer) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	cmd := exec.Command(bin)
	cmd.Env = cleanEnv(append([]string{"PARLEY_HTTP_ADDR=" + addr}, env...)...)
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), "listening") {
		if time.Now().After(deadline) {
			t.Fatalf("binary did not start; output:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &node{url: "http://" + addr, hc: &http.Client{Timeout: 10 * time.Second}}, cmd, exited, out
}

// TestSIGTERMDrains sends SIGTERM to the real binary while requests are in
// flight (held up by a slow user API) and sockets are connected: the
// requests complete, the sockets get a disconnect, and the process exits 0
// within PARLEY_SHUTDOWN_TIMEOUT.
func TestSIGTERMDrains(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	const hold = 1500 * time.Millisecond
	var lookups atomic.Int32
	users := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		time.Sleep(hold)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"username":"u","role":"user"}`, strings.TrimPrefix(r.URL.Path, "/users/"))
	}))
	defer users.Close()
	secret := randomHex(t, 32)
	n, cmd, exited, out := startBinary(t, bin,
		"PARLEY_REDIS_URL="+testutil.RedisURL(t), "PARLEY_KEY_PREFIX="+testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN="+testutil.Domain(t), "PARLEY_JWT_SECRET="+secret,
		"PARLEY_USER_API_URL="+users.URL+"/users/{id}", "PARLEY_USER_API_TIMEOUT=5s",
		"PARLEY_SHUTDOWN_TIMEOUT=5s")
	n.secret = secret
	u1 := n.tok(t, 1, nil)
	n.sendText(t, u1, "2", "hello")

	socks := make([]*sioclient.Client, 3)
	for i := range socks {
		socks[i] = dial(t, n, n.tok(t, i+1, nil))
	}

	// Four history reads, each waiting ~1.5 s for the slow user API.
	const inflight = 4
	results := make(chan reply, inflight)
	for i := range inflight {
		go func() {
			results <- n.get(t, n.tok(t, 1, nil), fmt.Sprintf("/api/user/%d", 2+i))
		}()
	}
	// Each history looks up both parties; user 1's lookups coalesce.
	for deadline := time.Now().Add(5 * time.Second); lookups.Load() < inflight; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d in-flight requests reached the user API", lookups.Load())
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range inflight {
		select {
		case r := <-results:
			if r.status != http.StatusOK {
				t.Errorf("in-flight request: %d %s, want 200", r.status, r.raw)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("in-flight request did not complete")
		}
	}
	for i, s := range socks {
		select {
		case <-drained(s):
			if !errors.Is(s.Err(), sioclient.ErrServerDisconnect) {
				t.Logf("socket %d ended with %v (not a Socket.IO disconnect packet)", i, s.Err())
			}
		case <-time.After(5 * time.Second):
			t.Errorf("socket %d not disconnected after SIGTERM", i)
		}
	}
	select {
	case err := <-exited:
		took := time.Since(sent)
		t.Logf("SIGTERM: %d in-flight requests completed, %d sockets disconnected, exit %v after %s", inflight, len(socks), err, took.Round(time.Millisecond))
		if err != nil {
			t.Errorf("exit = %v, want 0; output:\n%s", err, out.String())
		}
		if took > 5*time.Second+time.Second {
			t.Errorf("exit took %s, want within PARLEY_SHUTDOWN_TIMEOUT (5s)", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit within 10s of SIGTERM; output:\n%s", out.String())
	}
}

// drained returns a channel closed once the socket's events are drained
// and closed.
func drained(s *sioclient.Client) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range s.Events {
		}
		close(done)
	}()
	return done
}

// TestRedisPasswordNeverLogged starts the binary with a password in
// PARLEY_REDIS_URL, at debug level, against a Redis that requires it and
// then against one that is down, and checks the password appears nowhere
// in its output.
func TestRedisPasswordNeverLogged(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	const password = "s3cret-Pa55word"
	addr := testutil.StartRedis(t, "--requirepass", password)
	secret := randomHex(t, 32)
	for _, tc := range []struct{ name, url string }{
		{"reachable", "redis://:" + password + "@" + addr + "/0"},
		{"user and password", "redis://default:" + password + "@" + addr + "/0"},
		{"unreachable", fmt.Sprintf("redis://:%s@127.0.0.1:%d/0", password, testutil.FreePort(t))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, cmd, exited, out := startBinary(t, bin, "PARLEY_REDIS_URL="+tc.url, "PARLEY_JWT_SECRET="+secret,
				"PARLEY_LOG_LEVEL=debug", "PARLEY_KEY_PREFIX="+testutil.Prefix(t))
			n.secret = secret
			tok := n.tok(t, 1, nil)
			n.send(t, tok, "2", map[string]any{"type": "text", "text": "hi"})
			n.get(t, tok, "/api/list")
			n.get(t, "", "/readyz")
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Fatal("no exit after SIGTERM")
			}
			if strings.Contains(out.String(), password) {
				t.Errorf("the Redis password appears in the output:\n%s", out.String())
			}
		})
	}
	// A malformed URL must not echo the password in the start-up error.
	cmd := exec.Command(bin)
	cmd.Env = cleanEnv("PARLEY_HTTP_ADDR=127.0.0.1:0", "PARLEY_JWT_SECRET="+secret,
		"PARLEY_REDIS_URL=redis://:"+password+"@127.0.0.1:notaport/0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c2 := exec.CommandContext(ctx, bin)
	c2.Env = cmd.Env
	b, err := c2.CombinedOutput()
	if err == nil {
		t.Errorf("a malformed PARLEY_REDIS_URL started the server")
	}
	if strings.Contains(string(b), password) {
		t.Errorf("the Redis password appears in the start-up error:\n%s", b)
	}
}
