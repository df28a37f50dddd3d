package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

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
	n, cmd, exited, out := startBinary(t, bin, append(testutil.RedisEnvList(t), "PARLEY_KEY_PREFIX="+testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN="+testutil.Domain(t), "PARLEY_JWT_SECRET="+secret,
		"PARLEY_USER_API_URL="+users.URL+"/users/{id}", "PARLEY_USER_API_TIMEOUT=5s",
		"PARLEY_SHUTDOWN_TIMEOUT=5s")...)
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

// partialRequest opens a connection to addr and writes a request's headers
// without the blank line that ends them: the server has not read the
// request yet, and its shutdown waits for the connection (a connection
// that has not sent its first request counts as busy for 5 s).
func partialRequest(t *testing.T, addr, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

// realtimeAttempt tries to open an event stream, a Socket.IO polling
// session or a Socket.IO websocket on addr and says what became of it:
// "refused" (no connection, or closed without an answer), "503" (the
// SERVICE_UNAVAILABLE envelope), "hung" (nothing within 5 s) or "landed
// <status>" (the node took it).
func realtimeAttempt(kind, addr, token string) string {
	if kind == "websocket" {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		c, resp, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket&token="+token, nil)
		if err == nil {
			_ = c.Close()
			return "landed 101"
		}
		if resp == nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return "hung"
			}
			return "refused"
		}
		return outcome(resp)
	}
	path := "/api/events?token=" + token
	if kind == "polling" {
		path = "/socket.io/?EIO=4&transport=polling&token=" + token
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Get("http://" + addr + path)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return "hung"
		}
		return "refused"
	}
	return outcome(resp)
}

func outcome(resp *http.Response) string {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Sprint("landed ", resp.StatusCode)
	}
	var env map[string]any
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if json.Unmarshal(raw, &env) != nil || env["code"] != "SERVICE_UNAVAILABLE" || resp.Header.Get("Retry-After") == "" {
		return fmt.Sprintf("503 without the envelope and Retry-After: %q", raw)
	}
	return "503"
}

// TestShutdownRefusesNewRealtime: once a node began shutting down, no new
// event stream or Socket.IO session (polling or websocket) lands on it:
// every attempt is refused (no connection, or a 503 SERVICE_UNAVAILABLE
// envelope with Retry-After) at once, never served by a hub that is about
// to close, never left hanging. Redis is slowed (CLIENT PAUSE WRITE) during
// the shutdown, as a loaded Redis would be, which widens whatever window a
// wrong order leaves.
func TestShutdownRefusesNewRealtime(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	secret := randomHex(t, 32)
	redisAddr := testutil.StartRedis(t)
	n, cmd, exited, out := startBinary(t, bin,
		"PARLEY_REDIS_URL=redis://"+redisAddr+"/0", "PARLEY_KEY_PREFIX="+testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN="+testutil.Domain(t), "PARLEY_JWT_SECRET="+secret,
		"PARLEY_SHUTDOWN_TIMEOUT=10s")
	n.secret = secret
	tok := n.tok(t, 2, nil)
	addr := strings.TrimPrefix(n.url, "http://")
	kinds := []string{"event stream", "polling", "websocket"}
	for _, k := range kinds { // before the shutdown each of them lands
		if got := realtimeAttempt(k, addr, tok); got != "landed 200" && got != "landed 101" {
			t.Fatalf("%s before shutdown: %s", k, got)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	if err := rdb.Do(context.Background(), "CLIENT", "PAUSE", "1500", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "shutting down"); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no shutdown within 5 s of SIGTERM; output:\n%s", out.String())
		}
	}
	gone := make(chan struct{})
	var exitErr error
	go func() { exitErr = <-exited; close(gone) }()
	var (
		mu       sync.Mutex
		outcomes = map[string]int{}
		wg       sync.WaitGroup
	)
	for _, k := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
				select {
				case <-gone:
					return
				default:
				}
				got := realtimeAttempt(k, addr, tok)
				mu.Lock()
				outcomes[k+": "+got]++
				mu.Unlock()
				if got == "refused" {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-gone:
		if exitErr != nil {
			t.Errorf("exit = %v, want 0; output:\n%s", exitErr, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15 s of SIGTERM; output:\n%s", out.String())
	}
	t.Logf("attempts after SIGTERM: %v", outcomes)
	for o, count := range outcomes {
		if !strings.HasSuffix(o, ": refused") && !strings.HasSuffix(o, ": 503") {
			t.Errorf("%d attempts during shutdown: %s, want refused or 503", count, o)
		}
	}
}

// sseRecorder reads an event stream's lines until it ends.
type sseRecorder struct {
	mu    sync.Mutex
	lines []string
	ended chan struct{}
	err   error // why the stream ended: nil for a clean end
	at    time.Time
}

func recordSSE(t *testing.T, url string, header http.Header) *sseRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	r := &sseRecorder{ended: make(chan struct{})}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
		r.mu.Lock()
		r.err, r.at = sc.Err(), time.Now()
		r.mu.Unlock()
		close(r.ended)
	}()
	return r
}

// entries returns the message:new entry ids the stream delivered, in
// order, and the last event id it saw.
func (r *sseRecorder) entries(t *testing.T) (ids []string, last string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	event := ""
	for _, l := range r.lines {
		switch {
		case strings.HasPrefix(l, "id: "):
			last = l[4:]
		case strings.HasPrefix(l, "event: "):
			event = l[7:]
		case strings.HasPrefix(l, "data: ") && event == "message:new":
			var p struct {
				Entry struct{ ID string } `json:"entry"`
			}
			if err := json.Unmarshal([]byte(l[6:]), &p); err != nil {
				t.Fatalf("data %q: %v", l, err)
			}
			ids = append(ids, p.Entry.ID)
		case l == "":
			event = ""
		}
	}
	return ids, last
}

// socketEntries reads message:new events from c until it has want ids or
// the connection ends; it returns the entry ids and the last event id.
func socketEntries(t *testing.T, c *sioclient.Client, want int, wait time.Duration) (ids []string, last string) {
	t.Helper()
	timeout := time.After(wait)
	for want < 0 || len(ids) < want {
		select {
		case ev, ok := <-c.Events:
			if !ok {
				return ids, last
			}
			if ev.Name != "message:new" {
				continue
			}
			p := payload(t, ev)
			ids = append(ids, obj(t, p, "entry")["id"].(string))
			last = fmt.Sprint(p["eventId"])
		case <-timeout:
			return ids, last
		}
	}
	return ids, last
}

// TestShutdownHandsClientsToAnotherNode: while messages keep coming
// through node B, node A (the real binary) gets SIGTERM while a slow REST
// request keeps it up for 1.5 s more. A's Socket.IO and SSE clients are
// told to go at once, well before A exits: the socket is closed by the
// server and the stream ends cleanly after a retry: line. Reconnecting to
// B with their last event id, both get every message sent, none twice.
func TestShutdownHandsClientsToAnotherNode(t *testing.T) {
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
	secret, prefix, domain := randomHex(t, 32), testutil.Prefix(t), testutil.Domain(t)
	// One Redis for both nodes: RedisURL starts a new throwaway redis-server
	// per call when PARLEY_TEST_REDIS_URL is unset.
	redisEnv := testutil.RedisEnv(t)
	benv := []string{"PARLEY_KEY_PREFIX=" + prefix,
		"PARLEY_DEFAULT_DOMAIN=" + domain, "PARLEY_JWT_SECRET=" + secret, "PARLEY_SEND_RATE=0",
		"PARLEY_USER_API_URL=" + users.URL + "/users/{id}", "PARLEY_USER_API_TIMEOUT=5s",
		"PARLEY_SHUTDOWN_TIMEOUT=5s"}
	for k, v := range redisEnv {
		benv = append(benv, k+"="+v)
	}
	a, cmd, exited, out := startBinary(t, bin, benv...)
	a.secret = secret
	bvars := map[string]string{"PARLEY_KEY_PREFIX": prefix, "PARLEY_DEFAULT_DOMAIN": domain, "PARLEY_JWT_SECRET": secret}
	for k, v := range redisEnv {
		bvars[k] = v
	}
	b := startServer(t, bvars)
	t1, t2 := b.tok(t, 1, nil), b.tok(t, 2, nil)

	sock := dial(t, a, t2)
	stream := recordSSE(t, a.url+"/api/events?token="+t2, nil)

	// User 1 writes to user 2 through B until told to stop.
	var (
		mu   sync.Mutex
		sent []string
	)
	stop := make(chan struct{})
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			r := b.send(t, t1, "2", map[string]any{"type": "text", "text": fmt.Sprint("m", i)})
			if r.status != http.StatusCreated {
				t.Errorf("send through B: %d %s", r.status, r.raw)
				return
			}
			mu.Lock()
			sent = append(sent, obj(t, r.obj, "entry")["id"].(string))
			mu.Unlock()
		}
	}()
	sockIDs, sockLast := socketEntries(t, sock, 5, 10*time.Second)
	if len(sockIDs) < 5 {
		t.Fatalf("the socket on A got %d messages, want 5 before SIGTERM", len(sockIDs))
	}
	// A history read on A waits for the slow user API: A stays up for it.
	inflight := make(chan reply, 1)
	go func() { inflight <- a.get(t, a.tok(t, 7, nil), "/api/user/8") }()
	for deadline := time.Now().Add(5 * time.Second); lookups.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the history read did not reach the user API")
		}
	}
	sig := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	more, last := socketEntries(t, sock, -1, 10*time.Second)
	sockIDs = append(sockIDs, more...)
	if last != "" {
		sockLast = last
	}
	sockEnd := time.Now()
	select {
	case <-stream.ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream on A did not end within 10 s of SIGTERM")
	}
	var exitAt time.Time
	select {
	case err := <-exited:
		exitAt = time.Now()
		if err != nil {
			t.Errorf("exit = %v, want 0; output:\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("A did not exit within 10 s of SIGTERM; output:\n%s", out.String())
	}
	if r := <-inflight; r.status != http.StatusOK {
		t.Errorf("the in-flight request on A: %d %s, want 200", r.status, r.raw)
	}
	// Told, not cut when the process died: both ended while A was still up
	// for the in-flight request.
	if sockEnd.After(exitAt.Add(-hold / 2)) {
		t.Errorf("the socket ended %s after SIGTERM, A exited after %s: want it told at once", sockEnd.Sub(sig), exitAt.Sub(sig))
	}
	if stream.at.After(exitAt.Add(-hold / 2)) {
		t.Errorf("the stream ended %s after SIGTERM, A exited after %s: want it told at once", stream.at.Sub(sig), exitAt.Sub(sig))
	}
	stream.mu.Lock()
	lines, serr := append([]string(nil), stream.lines...), stream.err
	stream.mu.Unlock()
	if serr != nil {
		t.Errorf("the event stream on A was cut (%v), want a clean end", serr)
	}
	var tail []string
	for i := len(lines) - 1; i >= 0 && len(tail) < 3; i-- {
		if lines[i] != "" {
			tail = append(tail, lines[i])
		}
	}
	hasRetry := false
	for _, l := range tail {
		hasRetry = hasRetry || strings.HasPrefix(l, "retry: ")
	}
	if !hasRetry {
		t.Errorf("the event stream on A ended without a final retry: line; its last lines: %q", tail)
	}
	t.Logf("SIGTERM to A: socket told after %s, stream ended after %s, A exited after %s",
		sockEnd.Sub(sig).Round(time.Millisecond), stream.at.Sub(sig).Round(time.Millisecond), exitAt.Sub(sig).Round(time.Millisecond))

	// Messages keep coming through B for a while, then stop.
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-senderDone
	mu.Lock()
	want := append([]string(nil), sent...)
	mu.Unlock()

	sseIDs, sseLast := stream.entries(t)
	sock2 := dialAuth(t, b, map[string]any{"token": t2, "lastEventId": sockLast})
	got, _ := socketEntries(t, sock2, len(want)-len(sockIDs), 10*time.Second)
	wantTexts(t, "socket, A then B", append(sockIDs, got...), want)
	quiet(t, sock2, "socket on B", 200*time.Millisecond)

	stream2 := recordSSE(t, b.url+"/api/events?token="+t2, http.Header{"Last-Event-Id": {sseLast}})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ids, _ := stream2.entries(t)
		if len(sseIDs)+len(ids) >= len(want) || time.Now().After(deadline) {
			time.Sleep(200 * time.Millisecond) // a duplicate would show now
			ids, _ = stream2.entries(t)
			wantTexts(t, "event stream, A then B", append(sseIDs, ids...), want)
			break
		}
	}
	t.Logf("%d messages: socket got %d on A and the rest on B, stream %d on A and the rest on B; 0 lost, 0 duplicated",
		len(want), len(sockIDs), len(sseIDs))
}

// TestShutdownCutsTrickledBody: a client that sends a request body at 1
// byte/s holds a request in flight past the grace period. The node does
// not wait for it: when PARLEY_SHUTDOWN_TIMEOUT ends it cuts the
// connection, logs a warning with how many it cut, and exits 0 within the
// grace period plus a small margin.
func TestShutdownCutsTrickledBody(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	const grace = 2 * time.Second
	secret := randomHex(t, 32)
	n, cmd, exited, out := startBinary(t, bin, append(testutil.RedisEnvList(t), "PARLEY_KEY_PREFIX="+testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN="+testutil.Domain(t), "PARLEY_JWT_SECRET="+secret,
		"PARLEY_SHUTDOWN_TIMEOUT="+grace.String(),
		"GORACE=atexit_sleep_ms=0")...) // a -race binary sleeps 1 s at exit by default
	n.secret = secret
	addr := strings.TrimPrefix(n.url, "http://")
	body := `{"type":"text","text":"` + strings.Repeat("x", 100) + `"}`
	c := partialRequest(t, addr, fmt.Sprintf("POST /api/user/2 HTTP/1.1\r\nHost: %s\r\nX-Auth-Token: %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, n.tok(t, 1, nil), len(body)))
	trickled := make(chan int, 1)
	go func() {
		for i := range len(body) {
			if _, err := c.Write([]byte{body[i]}); err != nil {
				trickled <- i
				return
			}
			time.Sleep(time.Second)
		}
		trickled <- len(body)
	}()
	time.Sleep(1500 * time.Millisecond) // the handler is reading the body
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		took := time.Since(sent)
		t.Logf("trickled body: exit %v %s after SIGTERM (grace %s)", err, took.Round(time.Millisecond), grace)
		if err != nil {
			t.Errorf("exit = %v, want 0; output:\n%s", err, out.String())
		}
		if took > grace+time.Second {
			t.Errorf("exit took %s, want within the grace period %s + 1 s", took, grace)
		}
	case <-time.After(grace + 10*time.Second):
		t.Fatalf("no exit within %s of SIGTERM; output:\n%s", grace+10*time.Second, out.String())
	}
	var warned bool
	for _, l := range strings.Split(out.String(), "\n") {
		warned = warned || strings.Contains(l, "level=WARN") && strings.Contains(l, "grace period over") && strings.Contains(l, "connections=1")
	}
	if !warned {
		t.Errorf("no WARN line saying 1 connection was cut; output:\n%s", out.String())
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("the trickling client's connection is still open and answered")
	}
}

// TestDrainRefusesRealtime: once Server.Drain ran (the first step of a
// shutdown), a new event stream, a new Socket.IO session (polling or
// websocket) and an upgrade to websocket get the 503 SERVICE_UNAVAILABLE
// envelope with Retry-After, while REST requests and the requests of an
// existing polling session are still served.
func TestDrainRefusesRealtime(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	tok := n.tok(t, 2, nil)
	addr := strings.TrimPrefix(n.url, "http://")
	// A polling session opened before the drain.
	resp, err := n.hc.Get(n.url + "/socket.io/?EIO=4&transport=polling&token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	open, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hs struct{ SID string }
	if resp.StatusCode != http.StatusOK || len(open) < 2 || json.Unmarshal(open[1:], &hs) != nil || hs.SID == "" {
		t.Fatalf("polling handshake: %d %q", resp.StatusCode, open)
	}

	n.srv.Drain()
	r := n.get(t, tok, "/api/events")
	wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if r.header.Get("Retry-After") == "" {
		t.Error("refused stream: no Retry-After")
	}
	for _, k := range []string{"polling", "websocket"} {
		if got := realtimeAttempt(k, addr, tok); got != "503" {
			t.Errorf("new Socket.IO %s session while draining: %s, want 503", k, got)
		}
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if c, resp, err := d.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket&sid="+hs.SID, nil); err == nil {
		_ = c.Close()
		t.Error("upgrade of a polling session while draining: accepted, want 503")
	} else if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade of a polling session while draining: %v, want 503", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := sioclient.Dial(ctx, n.url, map[string]any{"token": tok}, nil); err == nil {
		_ = c.Close()
		t.Error("sioclient connected while draining")
	}
	// Still served: REST, and the polling session's own requests.
	mustStatus(t, n.get(t, tok, "/api/list"), http.StatusOK)
	resp, err = n.hc.Post(n.url+"/socket.io/?EIO=4&transport=polling&sid="+hs.SID, "text/plain;charset=UTF-8",
		strings.NewReader(`40{"token":"`+tok+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST of the existing polling session while draining: %d, want 200", resp.StatusCode)
	}
}
