package test

import (
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"parley/internal/sioclient"
	"parley/internal/testutil"
)

// nextPresence returns the client's next event, which must be presence
// about id, online or not; it returns the event's at (epoch ms).
func nextPresence(t *testing.T, c *sioclient.Client, who, id string, online bool) int64 {
	t.Helper()
	ev := next(t, c, who)
	if ev.Name != "presence" {
		t.Fatalf("%s: event %s %s, want presence", who, ev.Name, ev.Args)
	}
	p := payload(t, ev)
	wantKeys(t, who+" presence", p, "id", "online", "at")
	wantNumber(t, who+" presence.id", p["id"], id)
	wantBool(t, who+" presence.online", p["online"], online)
	return wantTimestamp(t, who+" presence.at", p["at"])
}

// presenceOf reads GET /api/presence?ids=id on n as token: online, and at
// (0 when null).
func presenceOf(t *testing.T, n *node, token, id string) (bool, int64) {
	t.Helper()
	r := n.get(t, token, "/api/presence?ids="+id)
	mustStatus(t, r, http.StatusOK)
	list := objs(t, r.obj, "presence")
	if len(list) != 1 {
		t.Fatalf("presence has %d entries, want 1", len(list))
	}
	wantKeys(t, "presence entry", list[0], "id", "online", "at")
	if id[0] >= '0' && id[0] <= '9' {
		wantNumber(t, "presence id", list[0]["id"], id)
	} else {
		wantString(t, "presence id", list[0]["id"], id)
	}
	online, _ := list[0]["online"].(bool)
	if list[0]["at"] == nil {
		return online, 0
	}
	return online, wantTimestamp(t, "presence at", list[0]["at"])
}

// TestPresenceAcrossNodes: a user is online while any device (socket or
// SSE stream) is connected to any node; their DM peers get one event per
// transition, and GET /api/presence agrees on every node.
func TestPresenceAcrossNodes(t *testing.T) {
	t.Parallel()
	nodes := cluster(t, 2, map[string]string{"PARLEY_JWT_DOMAIN_CLAIM": "dom"})
	n1, n2 := nodes[0], nodes[1]
	t1, t2, t3 := n1.tok(t, 1, nil), n1.tok(t, 2, nil), n1.tok(t, 3, nil)
	n1.sendText(t, t1, "2", "we have a DM") // 2 is a peer of 1; 3 is not

	if online, at := presenceOf(t, n2, t2, "1"); online || at != 0 {
		t.Fatalf("user 1 before connecting: online %v, at %d; want offline, never seen", online, at)
	}
	watcher := dial(t, n2, t2) // user 2 watches on node 2
	bystander := dial(t, n2, t3)
	waitListening(t, n1, n1.domain, "2", 1)
	waitListening(t, n1, n1.domain, "3", 1)

	// Device A on node 1: online.
	a := dial(t, n1, t1)
	onAt := nextPresence(t, watcher, "user 2", "1", true)
	for _, n := range nodes {
		if online, at := presenceOf(t, n, t3, "1"); !online || at != onAt {
			t.Errorf("GET on %s: online %v at %d, want online since %d", n.url, online, at, onAt)
		}
	}
	// Device B on node 2 and an SSE stream on node 1: no transition.
	b := dial(t, n2, t1)
	frames, stopSSE, _ := sseStream(t, n1, "token="+t1, nil)
	if f := nextFrame(t, frames, true); f.event != "ready" {
		t.Fatalf("first SSE frame %q, want ready", f.event)
	}
	// A and B leave; the SSE stream still holds user 1 online.
	_ = a.Close()
	_ = b.Close()
	waitOnline(t, n2, t3, "1", true)
	// The stream ends: offline, as the next event the watcher gets; so
	// none came for B, the stream, or A and B leaving.
	stopSSE()
	offAt := nextPresence(t, watcher, "user 2", "1", false)
	if offAt < onAt {
		t.Errorf("offline at %d before online at %d", offAt, onAt)
	}
	if online, at := presenceOf(t, n2, t2, "1"); online || at != offAt {
		t.Errorf("after leaving: online %v at %d, want offline, last seen %d", online, at, offAt)
	}

	// A node that closes gracefully announces its users offline at once.
	dial(t, n1, t1)
	nextPresence(t, watcher, "user 2", "1", true)
	n1.srv.Close()
	nextPresence(t, watcher, "user 2", "1", false)
	if online, _ := presenceOf(t, n2, t2, "1"); online {
		t.Error("user 1 online after their node closed")
	}

	// The bystander without a DM heard nothing: its next event is a typing
	// sent to it now.
	mustStatus(t, n2.do(t, call{method: "POST", path: "/api/user/3/typing", token: t2}), http.StatusOK)
	nextTyping(t, bystander, "user 3", "2")
}

// waitOnline polls GET /api/presence until id's state is online.
func waitOnline(t *testing.T, n *node, token, id string, online bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := presenceOf(t, n, token, id); got == online {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("user %s online != %v after 5s", id, online)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPresenceNodeKilled runs a real parley process, SIGKILLs it while a
// user is connected to it (no disconnect hook runs), and checks that the
// surviving node sweeps it once its heartbeat expires: the user goes
// offline and their DM peer gets the presence event.
func TestPresenceNodeKilled(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	secret := randomHex(t, 32)
	shared := withRedis(t, map[string]string{"PARLEY_KEY_PREFIX": testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN": testutil.Domain(t), "PARLEY_JWT_SECRET": secret, "PARLEY_PRESENCE_HEARTBEAT": "200ms"})
	var env []string
	for k, v := range shared {
		env = append(env, k+"="+v)
	}
	a, cmdA, exitedA, _ := startBinary(t, bin, env...)
	b := startServer(t, shared)
	a.secret = secret
	t1, t2 := b.tok(t, 1, nil), b.tok(t, 2, nil)
	b.sendText(t, t1, "2", "we have a DM")

	watcher := dial(t, b, t2)
	waitListening(t, b, b.domain, "2", 1)
	c := dialAuth(t, a, map[string]any{"token": t1})
	onAt := nextPresence(t, watcher, "user 2", "1", true)

	if err := cmdA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case <-exitedA:
	case <-time.After(5 * time.Second):
		t.Fatal("node A did not die")
	}
	if online, _ := presenceOf(t, b, t2, "1"); !online {
		t.Log("user 1 already offline right after the kill (expiry passed while waiting for the exit)")
	}
	offAt := nextPresence(t, watcher, "user 2", "1", false)
	took := time.Since(killed)
	if offAt < onAt || offAt > killed.UnixMilli() {
		t.Errorf("offline at %d, want the last sign of life (A's last heartbeat, or the connect after it): between %d (online) and %d (kill)", offAt, onAt, killed.UnixMilli())
	}
	if online, at := presenceOf(t, b, t2, "1"); online || at != offAt {
		t.Errorf("after the sweep: online %v at %d, want offline, last seen %d", online, at, offAt)
	}
	// The dead node's socket is gone too.
	select {
	case _, ok := <-c.Events:
		if ok {
			t.Error("event from a killed node")
		}
	case <-time.After(5 * time.Second):
		t.Error("connection to the killed node still open")
	}
	t.Logf("node SIGKILL: peer got presence offline %s after the kill (heartbeat 200ms, expiry 600ms)", took.Round(time.Millisecond))
}

// TestPresenceQuery: ?ids= takes 1 to 100 valid ids of the caller's domain
// and answers in request order.
func TestPresenceQuery(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_JWT_DOMAIN_CLAIM": "dom"})
	tok := n.tok(t, 1, nil)
	ids := func(k int) string {
		s := make([]string, k)
		for i := range s {
			s[i] = fmt.Sprint(i + 1)
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct{ name, query string }{
		{"no ids", ""},
		{"empty ids", "?ids="},
		{"101 ids", "?ids=" + ids(101)},
		{"bad id", "?ids=1,a:b"},
		{"empty id", "?ids=1,,2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, n.get(t, tok, "/api/presence"+tt.query), 400, "BAD_REQUEST")
		})
	}
	wantError(t, n.get(t, "", "/api/presence?ids=1"), 401, "NOT_AUTHENTICATED")

	// User 7 of another domain is online; 7 of this domain is not.
	dial(t, n, n.tok(t, 7, map[string]any{"dom": testutil.Domain(t)}))
	dial(t, n, n.tok(t, "a.b", nil))
	waitOnline(t, n, tok, "a.b", true)
	r := n.get(t, tok, "/api/presence?ids="+ids(100))
	mustStatus(t, r, http.StatusOK)
	if list := objs(t, r.obj, "presence"); len(list) != 100 {
		t.Errorf("%d entries for 100 ids", len(list))
	}
	r = n.get(t, tok, "/api/presence?ids=a.b,7,1,7")
	mustStatus(t, r, http.StatusOK)
	list := objs(t, r.obj, "presence")
	if len(list) != 4 {
		t.Fatalf("%d entries, want 4", len(list))
	}
	wantString(t, "id 0", list[0]["id"], "a.b")
	wantBool(t, "a.b online", list[0]["online"], true)
	wantTimestamp(t, "a.b at", list[0]["at"])
	for i, id := range []string{"7", "1", "7"} {
		wantNumber(t, "id", list[i+1]["id"], id)
		wantBool(t, id+" online", list[i+1]["online"], false)
		wantNull(t, id+" at", list[i+1]["at"], true)
	}
}
