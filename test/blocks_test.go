package test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"parley/internal/sioclient"
)

// restWrite is one kind of REST write from a user toward a peer.
type restWrite struct {
	name string
	// call builds the request from token to peer on message id (the
	// writer's own message for edit and delete, the peer's for seen and
	// read; unused for send and typing).
	call func(token, peer, id, text string) call
}

var restWrites = []restWrite{
	{"send", func(token, peer, _, text string) call {
		return call{method: "POST", path: "/api/user/" + peer, token: token, body: map[string]any{"text": text}}
	}},
	{"edit", func(token, peer, id, text string) call {
		return call{method: "POST", path: "/api/user/" + peer + "/" + id, token: token, body: map[string]any{"text": text}}
	}},
	{"seen", func(token, peer, id, _ string) call {
		return call{method: "POST", path: "/api/user/" + peer + "/" + id, token: token, body: map[string]any{"status": "seen"}}
	}},
	{"read", func(token, peer, id, _ string) call {
		return call{method: "POST", path: "/api/user/" + peer + "/read", token: token, body: map[string]any{"upTo": id}}
	}},
	{"typing", func(token, peer, _, _ string) call {
		return call{method: "POST", path: "/api/user/" + peer + "/typing", token: token}
	}},
	{"delete", func(token, peer, id, _ string) call {
		return call{method: "DELETE", path: "/api/user/" + peer + "/" + id, token: token}
	}},
}

// ownOrTheirs says which message a write of that kind acts on.
func ownOrTheirs(kind string, own, theirs string) string {
	if kind == "seen" || kind == "read" {
		return theirs
	}
	return own
}

// TestBlocksApplyToEveryWrite: while user 2 blocks user 1, every write
// between them, either way, is 403 with nothing stored and nothing pushed
// (neither socket gets an event: the next event each gets is one sent after
// the refused writes), on REST and over the socket; presence is hidden both
// ways. After the unblock the same writes go through again.
func TestBlocksApplyToEveryWrite(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	t1, t2, t3 := n.tok(t, 1, nil), n.tok(t, 2, nil), n.tok(t, 3, nil)
	from1 := n.sendText(t, t1, "2", "from 1")["id"].(string)
	from2 := n.sendText(t, t2, "1", "from 2")["id"].(string)
	s1, s2 := dial(t, n, t1), dial(t, n, t2)
	waitListening(t, n, n.domain, "1", 1)
	waitListening(t, n, n.domain, "2", 1)
	// Skip what came before (the other's presence, the first messages).
	sentinel(t, n, s1, "3", "1", "ready")
	sentinel(t, n, s2, "3", "2", "ready")
	// Each connection's own online announcement is published after its
	// connect, so it may reach the peer after the sentinel; it carries the
	// online-since time read here, and it alone is allowed through below.
	since := map[string]int64{}
	for _, c := range []struct{ token, id string }{{t1, "2"}, {t2, "1"}} {
		online, at := presenceOf(t, n, c.token, c.id)
		if !online || at == 0 {
			t.Fatalf("before the block user %s is online %v at %d, want online", c.id, online, at)
		}
		since[c.id] = at
	}
	mustStatus(t, n.post(t, t2, "/api/block/1", nil), http.StatusOK)

	sides := []struct {
		name          string
		token, peer   string
		own, theirs   string
		socket        *sioclient.Client
		peerSocketWho string
	}{
		{"blocked user 1 to user 2", t1, "2", from1, from2, s1, "user 2"},
		{"blocker user 2 to user 1", t2, "1", from2, from1, s2, "user 1"},
	}
	for _, side := range sides {
		for _, w := range restWrites {
			t.Run(side.name+"/"+w.name, func(t *testing.T) {
				before := redisSnapshot(t, n.rdb, n.prefix)
				r := n.do(t, w.call(side.token, side.peer, ownOrTheirs(w.name, side.own, side.theirs), "across the block"))
				d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
				tally.record(r.status, d != "")
				wantError(t, r, http.StatusForbidden, "FORBIDDEN")
				if d != "" {
					t.Errorf("Redis changed:\n%s", d)
				}
			})
		}
		t.Run(side.name+"/typing over the socket", func(t *testing.T) {
			before := redisSnapshot(t, n.rdb, n.prefix)
			ack := typingAck(t, side.socket, side.peer)
			d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
			status, _ := strconv.Atoi(canon(ack["status"]))
			tally.record(status, d != "")
			if status != http.StatusForbidden || ack["code"] != "FORBIDDEN" {
				t.Errorf("ack %v, want the 403 FORBIDDEN envelope", ack)
			}
			if d != "" {
				t.Errorf("Redis changed:\n%s", d)
			}
		})
	}
	// Presence is hidden both ways, and only between them.
	for _, c := range []struct{ who, token, id string }{{"user 1", t1, "2"}, {"user 2", t2, "1"}} {
		if online, at := presenceOf(t, n, c.token, c.id); online || at != 0 {
			t.Errorf("%s sees user %s online %v at %d across the block, want offline, never seen", c.who, c.id, online, at)
		}
	}
	if online, at := presenceOf(t, n, t3, "2"); !online || at == 0 {
		t.Errorf("a bystander sees user 2 online %v at %d, want online", online, at)
	}
	// Neither socket got anything from the refused writes: the next event
	// each gets is this one from user 3.
	for _, c := range []struct {
		who    string
		token  string
		socket *sioclient.Client
		peer   string
	}{{"user 1", "1", s1, "2"}, {"user 2", "2", s2, "1"}} {
		n.sendText(t, t3, c.token, "from a bystander")
		ev := next(t, c.socket, c.who)
		if ev.Name == "presence" && isAnnouncement(t, ev, c.peer, since[c.peer]) {
			ev = next(t, c.socket, c.who)
		}
		if ev.Name != "message:new" || canon(payload(t, ev)["with"]) != "3" {
			t.Errorf("%s's next event is %s %s, want message:new from user 3", c.who, ev.Name, ev.Args)
		}
	}

	// After the unblock, an edit from user 1 reaches user 2 again.
	mustStatus(t, n.do(t, call{method: "DELETE", path: "/api/block/1", token: t2}), http.StatusOK)
	mustStatus(t, n.post(t, t1, "/api/user/2/"+from1, map[string]any{"text": "after the unblock"}), http.StatusOK)
	if ev := next(t, s2, "user 2"); ev.Name != "message:edit" || obj(t, payload(t, ev), "entry")["text"] != "after the unblock" {
		t.Errorf("user 2 got %s %s, want the message:edit", ev.Name, ev.Args)
	}
	if online, _ := presenceOf(t, n, t1, "2"); !online {
		t.Error("after the unblock user 1 still sees user 2 offline")
	}
}

// sentinel sends text to peer from user from and skips peer's socket's
// events up to it.
func sentinel(t *testing.T, n *node, c *sioclient.Client, from, peer, text string) {
	t.Helper()
	n.sendText(t, n.tok(t, from, nil), peer, text)
	for {
		ev := next(t, c, "user "+peer)
		if ev.Name == "message:new" && obj(t, payload(t, ev), "entry")["text"] == text {
			return
		}
	}
}

// TestWriteBudgetREST: every kind of write spends from the writer's budget
// (PARLEY_WRITE_RATE/BURST; sends from PARLEY_SEND_RATE/BURST); over it the
// answer is 429 with Retry-After, nothing is stored and the peer gets
// nothing; the Socket.IO typing ack carries retryAfter.
func TestWriteBudgetREST(t *testing.T) {
	t.Parallel()
	// One token per 100 s: none comes back while the test runs. The typing
	// interval outlasts the test, so no typing key of an earlier subtest
	// expires between two snapshots of a later one.
	n := startServer(t, map[string]string{"PARLEY_WRITE_RATE": "0.01", "PARLEY_WRITE_BURST": "2",
		"PARLEY_SEND_RATE": "0.01", "PARLEY_SEND_BURST": "5", "PARLEY_TYPING_INTERVAL": "5m"})
	for i, w := range restWrites {
		// In turn: each subtest compares snapshots of the whole keyspace.
		t.Run(w.name, func(t *testing.T) {
			writer, peer := strconv.Itoa(100+i), strconv.Itoa(200+i)
			tw, tp := n.tok(t, writer, nil), n.tok(t, peer, nil)
			var own, theirs []string
			for k := range 3 {
				own = append(own, n.sendText(t, tw, peer, fmt.Sprint("own ", k))["id"].(string))
			}
			for k := range 3 {
				theirs = append(theirs, n.sendText(t, tp, writer, fmt.Sprint("theirs ", k))["id"].(string))
			}
			sp := dial(t, n, tp)
			waitListening(t, n, n.domain, peer, 1)
			target := func(int) string { return peer }
			if w.name == "typing" { // repeats within the interval are free: one peer per announcement
				target = func(k int) string { return []string{strconv.Itoa(300 + i), strconv.Itoa(400 + i), peer}[k] }
			}
			for k := range 2 { // the burst (the send burst is 5: 3 went into the seed)
				r := n.do(t, w.call(tw, target(k), ownOrTheirs(w.name, own[k], theirs[k]), fmt.Sprint("write ", k)))
				if r.status >= 300 {
					t.Fatalf("%s %d within the budget: %d %s", w.name, k, r.status, r.raw)
				}
			}
			third := strconv.Itoa(900 + i) // sends the sentinels
			sentinel(t, n, sp, third, peer, "before")
			before := redisSnapshot(t, n.rdb, n.prefix)
			r := n.do(t, w.call(tw, target(2), ownOrTheirs(w.name, own[2], theirs[2]), "one too many"))
			d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
			tally.record(r.status, d != "")
			wantError(t, r, http.StatusTooManyRequests, "TOO_MANY_REQUESTS")
			if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > 100 {
				t.Errorf("Retry-After %q, want 1..100 seconds", r.header.Get("Retry-After"))
			}
			if d != "" {
				t.Errorf("Redis changed:\n%s", d)
			}
			// The peer got nothing from the refused write: its next event
			// is a message sent after it.
			n.sendText(t, n.tok(t, third, nil), peer, "after")
			if ev := next(t, sp, "peer"); ev.Name != "message:new" || obj(t, payload(t, ev), "entry")["text"] != "after" {
				t.Errorf("peer's next event %s %s, want the message sent after the refused write", ev.Name, ev.Args)
			}
		})
	}
	t.Run("typing over the socket", func(t *testing.T) {
		tw := n.tok(t, 500, nil)
		sw := dial(t, n, tw)
		for k, to := range []string{"501", "502"} {
			if ack := typingAck(t, sw, to); ack["ok"] != true {
				t.Fatalf("typing %d within the budget: ack %v", k, ack)
			}
		}
		before := redisSnapshot(t, n.rdb, n.prefix)
		ack := typingAck(t, sw, "503")
		d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
		status, _ := strconv.Atoi(canon(ack["status"]))
		tally.record(status, d != "")
		if status != http.StatusTooManyRequests || ack["code"] != "TOO_MANY_REQUESTS" {
			t.Errorf("ack %v, want the 429 envelope", ack)
		}
		if ra, err := strconv.Atoi(canon(ack["retryAfter"])); err != nil || ra < 1 || ra > 100 {
			t.Errorf("ack retryAfter %v, want 1..100 seconds", ack["retryAfter"])
		}
		if d != "" {
			t.Errorf("Redis changed:\n%s", d)
		}
	})
}

// isAnnouncement reports whether ev is the online announcement of peer's
// connection made before the block: online, since the time at.
func isAnnouncement(t *testing.T, ev sioclient.Event, peer string, at int64) bool {
	t.Helper()
	p := payload(t, ev)
	online, _ := p["online"].(bool)
	return canon(p["id"]) == peer && online && p["at"] != nil && wantTimestamp(t, "presence at", p["at"]) == at
}
