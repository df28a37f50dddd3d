package test

import (
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"parley/internal/testutil"
)

// redisProc is a private redis-server the test can stop and restart.
type redisProc struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startRedisProc(t *testing.T, port int, dir string) *redisProc {
	t.Helper()
	p := &redisProc{t: t, port: port, dir: dir}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *redisProc) start() {
	p.t.Helper()
	p.cmd = exec.Command("redis-server", "--port", fmt.Sprint(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", p.dir)
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start redis-server: %v", err)
	}
	testutil.WaitTCP(p.t, p.addr(), 5*time.Second)
}

func (p *redisProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_, _ = p.cmd.Process.Wait()
	p.cmd = nil
}

func (p *redisProc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func TestRedisDown(t *testing.T) {
	t.Parallel()
	testutil.NeedRedisServer(t)
	rp := startRedisProc(t, testutil.FreePort(t), t.TempDir())
	n := startServer(t, map[string]string{"PARLEY_REDIS_URL": "redis://" + rp.addr()})
	u1 := n.tok(t, 1, nil)
	id := n.sendText(t, u1, "2", "before")["id"].(string)
	mustStatus(t, n.get(t, "", "/readyz"), http.StatusOK)

	rp.stop()
	requests := []call{
		{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text","text":"during"}`},
		{method: "GET", path: "/api/user/2", token: u1},
		{method: "GET", path: "/api/list", token: u1},
		{method: "POST", path: "/api/user/2/" + id, token: u1, body: `{"text":"edit"}`},
		{method: "DELETE", path: "/api/user/2/" + id, token: u1},
		{method: "POST", path: "/api/user/2", token: u1, body: `{"text":"retry me","client_id":"c-1"}`},
		{method: "POST", path: "/api/user/1/read", token: n.tok(t, 2, nil), body: `{"upTo":"` + id + `"}`},
		{method: "GET", path: "/api/block", token: u1},
		{method: "POST", path: "/api/block/2", token: u1},
		{method: "DELETE", path: "/api/block/2", token: u1},
		{method: "DELETE", path: "/api/admin/dm/1/2/" + id, token: n.tok(t, 9, map[string]any{"role": "admin"})},
		{method: "GET", path: "/readyz"},
	}
	for _, c := range requests {
		start := time.Now()
		r := n.do(t, c)
		took := time.Since(start)
		t.Logf("%s %s with Redis down: %d in %s", c.method, c.path, r.status, took.Round(time.Millisecond))
		if took > 2*time.Second {
			t.Errorf("%s %s took %s with Redis down, want under 2s", c.method, c.path, took)
		}
		wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	}
	mustStatus(t, n.get(t, "", "/healthz"), http.StatusOK) // liveness does not depend on Redis

	rp.start()
	// After a burst of failed dials go-redis re-dials in the background
	// about once a second before it hands out connections again.
	deadline := time.Now().Add(5 * time.Second)
	for n.get(t, "", "/readyz").status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 200 within 5s of Redis returning")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.sendText(t, u1, "2", "after") // scripts are reloaded into the fresh server
	r := n.get(t, u1, "/api/user/2")
	mustStatus(t, r, http.StatusOK)
	wantNumber(t, "total after restart", obj(t, r.obj, "state")["total"], "1") // no persistence: only "after"
	r = n.get(t, u1, "/api/list")
	mustStatus(t, r, http.StatusOK)
	wantNumber(t, "list total after restart", obj(t, r.obj, "state")["total"], "1")
}
