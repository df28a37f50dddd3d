package test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/sioclient"
)

// historyTotal is the number of messages in the DM as token's user sees it.
func historyTotal(t *testing.T, n *node, token, peer string) string {
	t.Helper()
	r := n.get(t, token, "/api/user/"+peer)
	mustStatus(t, r, http.StatusOK)
	return canon(obj(t, r.obj, "state")["total"])
}

// TestIdempotentSendAcrossNodes: a mobile client retries a send (same
// client_id) on another node after losing the answer; it gets the original
// message with 200 and the peer sees it once.
func TestIdempotentSendAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := cluster(t, 2, nil)
	n1, n2 := nodes[0], nodes[1]
	t1, t2 := n1.tok(t, 1, nil), n1.tok(t, 2, nil)
	peer := dial(t, n2, t2)
	body := map[string]any{"type": "text", "text": "hello", "client_id": "7f1c9a2e-retry-1"}

	first := n1.send(t, t1, "2", body)
	mustStatus(t, first, http.StatusCreated)
	for i, n := range []*node{n1, n2, n2} {
		again := n.send(t, t1, "2", body)
		mustStatus(t, again, http.StatusOK)
		if got, want := canon(again.obj), canon(first.obj); got != want {
			t.Errorf("retry %d = %s, want the original %s", i, got, want)
		}
	}
	if ev := next(t, peer, "user 2"); ev.Name != "message:new" || payload(t, ev)["entry"].(map[string]any)["id"] != obj(t, first.obj, "entry")["id"] {
		t.Fatalf("user 2 got %s %s, want the one message:new", ev.Name, ev.Args)
	}
	quiet(t, peer, "user 2 after retries", 300*time.Millisecond)
	if total := historyTotal(t, n1, t1, "2"); total != "1" {
		t.Errorf("history holds %s messages, want 1", total)
	}

	for _, c := range []struct {
		name   string
		peer   string
		body   map[string]any
		status int
		code   string
	}{
		{"same id, other text", "2", map[string]any{"text": "hello!", "client_id": body["client_id"]}, 409, "CONFLICT"},
		{"same id, other peer", "3", body, 409, "CONFLICT"},
		{"empty id", "2", map[string]any{"text": "x", "client_id": ""}, 400, "BAD_REQUEST"},
		{"65 characters", "2", map[string]any{"text": "x", "client_id": strings.Repeat("a", 65)}, 400, "BAD_REQUEST"},
		{"a space", "2", map[string]any{"text": "x", "client_id": "a b"}, 400, "BAD_REQUEST"},
		{"not a string", "2", map[string]any{"text": "x", "client_id": 12}, 400, "BAD_REQUEST"},
	} {
		t.Run(c.name, func(t *testing.T) { wantError(t, n1.send(t, t1, c.peer, c.body), c.status, c.code) })
	}
	quiet(t, peer, "user 2 after refused sends", 200*time.Millisecond)
	// 64 characters is fine, and client ids are per sender.
	mustStatus(t, n1.send(t, t1, "2", map[string]any{"text": "x", "client_id": strings.Repeat("a", 64)}), http.StatusCreated)
	mustStatus(t, n1.send(t, t2, "1", body), http.StatusCreated)
}

func TestBlocking(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	n.sendText(t, t1, "2", "before")
	s2 := dial(t, n, t2)

	r := n.post(t, t2, "/api/block/1", nil)
	mustStatus(t, r, http.StatusOK)
	wantNumber(t, "blocked user", r.obj["user"], "1")
	wantBool(t, "blocked", r.obj["blocked"], true)
	mustStatus(t, n.post(t, t2, "/api/block/1", nil), http.StatusOK) // idempotent
	l := n.get(t, t2, "/api/block")
	mustStatus(t, l, http.StatusOK)
	if got := canon(l.obj["blocked"]); got != "[1]" {
		t.Errorf("blocked list %s, want [1]", got)
	}

	wantError(t, n.send(t, t1, "2", map[string]any{"text": "let me in"}), http.StatusForbidden, "FORBIDDEN")
	wantError(t, n.send(t, t2, "1", map[string]any{"text": "blocked them"}), http.StatusForbidden, "FORBIDDEN")
	quiet(t, s2, "the blocker", 300*time.Millisecond)
	if total := historyTotal(t, n, t2, "1"); total != "1" {
		t.Errorf("history holds %s messages, want only the one before the block", total)
	}
	// Others still reach the blocker.
	n.sendText(t, n.tok(t, 3, nil), "2", "not blocked")
	if ev := next(t, s2, "the blocker"); ev.Name != "message:new" {
		t.Errorf("got %s, want message:new from user 3", ev.Name)
	}

	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"POST", "/api/block/2", 400, "BAD_REQUEST"},
		{"POST", "/api/block/a%20b", 400, "BAD_REQUEST"},
		{"DELETE", "/api/block/" + strings.Repeat("9", 200), 400, "BAD_REQUEST"},
	} {
		wantError(t, n.do(t, call{method: c.method, path: c.path, token: t2}), c.status, c.code)
	}

	r = n.do(t, call{method: "DELETE", path: "/api/block/1", token: t2})
	mustStatus(t, r, http.StatusOK)
	wantBool(t, "blocked after unblock", r.obj["blocked"], false)
	n.sendText(t, t1, "2", "after unblock")
	if ev := next(t, s2, "the blocker"); ev.Name != "message:new" {
		t.Errorf("got %s, want message:new after the unblock", ev.Name)
	}
}

// TestSendRateLimitAcrossNodes: the bucket lives in Redis, so sends spread
// over two nodes share it.
func TestSendRateLimitAcrossNodes(t *testing.T) {
	t.Parallel()
	// 0.01/s: no token comes back during the test, whatever its speed.
	nodes := cluster(t, 2, map[string]string{"PARLEY_SEND_RATE": "0.01", "PARLEY_SEND_BURST": "3"})
	t1 := nodes[0].tok(t, 1, nil)
	for i := range 3 {
		nodes[i%2].sendText(t, t1, "2", "burst "+strconv.Itoa(i))
	}
	for i, n := range nodes {
		r := n.send(t, t1, "2", map[string]any{"text": "one too many"})
		wantError(t, r, http.StatusTooManyRequests, "TOO_MANY_REQUESTS")
		ra, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 100 {
			t.Errorf("node %d: Retry-After %q, want 1..100 seconds", i, r.header.Get("Retry-After"))
		}
	}
	if total := historyTotal(t, nodes[0], t1, "2"); total != "3" {
		t.Errorf("history holds %s messages, want the 3 allowed", total)
	}
	for i, n := range nodes {
		if got, _ := sum(scrape(t, n.srv.MetricsHandler()), "parley_send_rate_limited_total"); got != 1 {
			t.Errorf("node %d counted %v rate-limited sends, want 1", i, got)
		}
	}
	// Another user has a bucket of their own; a retry of a send that went
	// through is not a new send.
	nodes[1].sendText(t, nodes[0].tok(t, 2, nil), "1", "my own bucket")
}

func TestAdminDelete(t *testing.T) {
	t.Parallel()
	nodes := cluster(t, 1, map[string]string{"PARLEY_JWT_DOMAIN_CLAIM": "dom"})
	n := nodes[0]
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	admin := n.tok(t, 99, map[string]any{"role": "admin"})
	s1, s2 := dial(t, n, t1), dial(t, n, t2)
	id := n.sendText(t, t1, "2", "spam")["id"].(string)
	next(t, s1, "user 1")
	next(t, s2, "user 2")
	path := "/api/admin/dm/1/2/" + id

	wantError(t, n.do(t, call{method: "DELETE", path: path, token: t2}), http.StatusForbidden, "FORBIDDEN")
	wantError(t, n.do(t, call{method: "DELETE", path: path, token: n.tok(t, 7, map[string]any{"role": "user"})}), http.StatusForbidden, "FORBIDDEN")
	// An admin of another domain cannot reach this domain's messages.
	otherAdmin := n.tok(t, 99, map[string]any{"role": "admin", "dom": "elsewhere"})
	wantError(t, n.do(t, call{method: "DELETE", path: path, token: otherAdmin}), http.StatusNotFound, "NOT_FOUND")
	wantError(t, n.do(t, call{method: "DELETE", path: "/api/admin/dm/1/1/" + id, token: admin}), http.StatusBadRequest, "BAD_REQUEST")
	wantError(t, n.do(t, call{method: "DELETE", path: "/api/admin/dm/1/3/" + id, token: admin}), http.StatusNotFound, "NOT_FOUND")
	quiet(t, s2, "user 2 before the admin delete", 200*time.Millisecond)

	r := n.do(t, call{method: "DELETE", path: "/api/admin/dm/2/1/" + id, token: admin})
	mustStatus(t, r, http.StatusOK)
	for who, c := range map[string]*sioclient.Client{"user 1": s1, "user 2": s2} {
		ev := next(t, c, who)
		if ev.Name != "message:delete" || payload(t, ev)["id"] != id {
			t.Errorf("%s got %s %s, want message:delete of %s", who, ev.Name, ev.Args, id)
		}
	}
	if total := historyTotal(t, n, t1, "2"); total != "0" {
		t.Errorf("history holds %s messages after the admin delete, want 0", total)
	}
	wantError(t, n.do(t, call{method: "DELETE", path: path, token: admin}), http.StatusNotFound, "NOT_FOUND")
}
