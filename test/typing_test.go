package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/chat"
	"parley/internal/sioclient"
	"parley/internal/testutil"
)

// waitListening waits until subs hubs (one per node with a connection of
// the user) listen on u's channel: ephemeral events published before are
// lost, as designed, so tests wait for the listeners first.
func waitListening(t *testing.T, n *node, domain string, u string, subs int64) {
	t.Helper()
	channel := chat.Keys{Prefix: n.prefix}.EventLog(chat.Domain(domain), chat.UserID(u))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := n.numSub(t, channel)
		if got[channel] >= subs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listeners on %s, want %d", got[channel], channel, subs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// typingAck emits typing {to} and returns the ack payload.
func typingAck(t *testing.T, c *sioclient.Client, to any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args, err := c.EmitWithAck(ctx, "typing", map[string]any{"to": to})
	if err != nil {
		t.Fatalf("typing ack: %v", err)
	}
	if len(args) != 1 {
		t.Fatalf("typing ack has %d args, want 1", len(args))
	}
	if err := loadContract(t).validateJSON("TypingAck", args[0]); err != nil {
		t.Errorf("typing ack violates api/openapi.yaml TypingAck: %v\npayload: %s", err, args[0])
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(args[0])))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// nextTyping returns the client's next event, which must be typing from
// with.
func nextTyping(t *testing.T, c *sioclient.Client, who, with string) map[string]any {
	t.Helper()
	ev := next(t, c, who)
	if ev.Name != "typing" {
		t.Fatalf("%s: event %s %s, want typing", who, ev.Name, ev.Args)
	}
	p := payload(t, ev)
	wantKeys(t, who+" typing", p, "with", "until")
	wantNumber(t, who+" typing.with", p["with"], with)
	return p
}

// TestTypingDelivered: a typing announcement over Socket.IO or REST reaches
// every device of the peer on every node, and nobody else; repeats within
// the interval succeed without a new event.
func TestTypingDelivered(t *testing.T) {
	t.Parallel()
	// A long interval: the repeat below is suppressed whatever the timing.
	nodes := cluster(t, 2, map[string]string{"PARLEY_JWT_DOMAIN_CLAIM": "dom", "PARLEY_TYPING_INTERVAL": "1h"})
	n1, n2 := nodes[0], nodes[1]
	d, other := n1.domain, testutil.Domain(t)
	t1, t2, t3 := n1.tok(t, 1, nil), n1.tok(t, 2, nil), n1.tok(t, 3, nil)

	u1 := dial(t, n1, t1)                                         // the typist
	u2a := dial(t, n1, t2)                                        // the peer, device A, node 1
	u2b := dial(t, n2, n1.tok(t, "2", nil))                       // the peer, device B, node 2
	u3 := dial(t, n2, t3)                                         // a bystander
	x2 := dial(t, n2, n1.tok(t, 2, map[string]any{"dom": other})) // user 2 of another domain
	x3 := dial(t, n1, n1.tok(t, 3, map[string]any{"dom": other})) // user 3 of another domain
	xt := n1.tok(t, 1, map[string]any{"dom": other})              // user 1 of another domain (REST)
	for u, subs := range map[string]int64{"1": 1, "2": 2, "3": 1} {
		waitListening(t, n1, d, u, subs)
	}
	waitListening(t, n1, other, "2", 1)

	// Socket.IO: ack {ok, until}; both devices of 2 get {with: 1, until}.
	ack := typingAck(t, u1, 2)
	wantKeys(t, "ack", ack, "ok", "until")
	wantBool(t, "ack.ok", ack["ok"], true)
	until := wantTimestamp(t, "ack.until", ack["until"])
	for _, dev := range []struct {
		name string
		c    *sioclient.Client
	}{{"user 2 on node 1", u2a}, {"user 2 on node 2", u2b}} {
		p := nextTyping(t, dev.c, dev.name, "1")
		if got := wantTimestamp(t, dev.name+" until", p["until"]); got != until {
			t.Errorf("%s: until %d, want the ack's %d", dev.name, got, until)
		}
		if left := time.Until(time.UnixMilli(until)); left <= 0 || left > 6*time.Second {
			t.Errorf("%s: until is %s from now, want about 5s", dev.name, left)
		}
	}

	// REST, within the interval: 200, but no second event. User 3's
	// announcement right after is the next event both devices get, so the
	// suppressed one never came.
	r := n2.do(t, call{method: "POST", path: "/api/user/2/typing", token: t1})
	mustStatus(t, r, http.StatusOK)
	wantKeys(t, "typing response", r.obj, "success", "until")
	wantBool(t, "success", r.obj["success"], true)
	wantTimestamp(t, "until", r.obj["until"])
	mustStatus(t, n2.do(t, call{method: "POST", path: "/api/user/2/typing", token: t3, body: map[string]any{}}), http.StatusOK)
	nextTyping(t, u2a, "user 2 on node 1", "3")
	nextTyping(t, u2b, "user 2 on node 2", "3")

	// Once the interval has passed (its key expired), the next one goes out.
	if err := n1.rdb.Del(context.Background(), chat.Keys{Prefix: n1.prefix}.Typing(chat.Domain(d), "1", "2")).Err(); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, n1.do(t, call{method: "POST", path: "/api/user/2/typing", token: t1, body: "{}"}), http.StatusOK)
	nextTyping(t, u2a, "user 2 on node 1", "1")
	nextTyping(t, u2b, "user 2 on node 2", "1")

	// Nobody else heard anything: each one's next event is one sent to them
	// now (a typing from someone else), not one of the above.
	typingAck(t, u2a, 1)
	nextTyping(t, u1, "user 1", "2")
	typingAck(t, u2b, 3)
	nextTyping(t, u3, "user 3", "2")
	mustStatus(t, n1.do(t, call{method: "POST", path: "/api/user/2/typing", token: xt}), http.StatusOK)
	nextTyping(t, x2, "user 2 of another domain", "1")
	typingAck(t, x2, 3)
	nextTyping(t, x3, "user 3 of another domain", "2")
	// Typing is never stored: user 2's event log is still empty.
	if n, err := n1.rdb.Exists(context.Background(), chat.Keys{Prefix: n1.prefix}.EventLog(chat.Domain(d), "2")).Result(); err != nil || n != 0 {
		t.Errorf("user 2's event log exists (%d, %v), want nothing stored", n, err)
	}
}

// TestTypingRefusals: bad targets and blocks are refused with the error
// envelope, over REST and in the Socket.IO ack alike, and publish nothing.
func TestTypingRefusals(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	ctx := context.Background()
	keys := chat.Keys{Prefix: n.prefix}
	d := chat.Domain(n.domain)
	// 1 blocked 4; 5 blocked 1.
	if err := n.rdb.SAdd(ctx, keys.Blocks(d, "1"), "4").Err(); err != nil {
		t.Fatal(err)
	}
	if err := n.rdb.SAdd(ctx, keys.Blocks(d, "5"), "1").Err(); err != nil {
		t.Fatal(err)
	}
	t1 := n.tok(t, 1, nil)
	u1 := dial(t, n, t1)
	tests := []struct {
		name   string
		to     any // Socket.IO "to"
		path   string
		status int
		code   string
	}{
		{"to oneself", 1, "/api/user/1/typing", 400, "BAD_REQUEST"},
		{"bad id", "a:b", "/api/user/a:b/typing", 400, "BAD_REQUEST"},
		{"fractional id", 1.5, "/api/user/%20/typing", 400, "BAD_REQUEST"},
		{"blocked by the peer", 5, "/api/user/5/typing", 403, "FORBIDDEN"},
		{"peer blocked by the caller", "4", "/api/user/4/typing", 403, "FORBIDDEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, n.do(t, call{method: "POST", path: tt.path, token: t1}), tt.status, tt.code)
			ack := typingAck(t, u1, tt.to)
			wantKeys(t, "ack", ack, "error", "code", "name", "message", "status")
			wantString(t, "ack.code", ack["code"], tt.code)
			wantNumber(t, "ack.status", ack["status"], fmt.Sprint(tt.status))
		})
	}
	t.Run("malformed emits", func(t *testing.T) {
		for _, args := range [][]any{nil, {"2"}, {map[string]any{}}, {map[string]any{"to": true}}, {map[string]any{"to": -1}}} {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			res, err := u1.EmitWithAck(c, "typing", args...)
			cancel()
			if err != nil || len(res) != 1 {
				t.Fatalf("typing %v: ack %s, %v", args, res, err)
			}
			var env apiEnvelope
			if err := json.Unmarshal(res[0], &env); err != nil || !env.Error || env.Status != 400 {
				t.Errorf("typing %v: ack %s, want the 400 envelope", args, res[0])
			}
		}
		// Without an ack the server just does nothing visible; the socket lives on.
		if err := u1.Emit("typing", map[string]any{"to": 1}); err != nil {
			t.Fatal(err)
		}
		wantBool(t, "ok after a bad emit", typingAck(t, u1, 2)["ok"], true)
	})
	t.Run("REST bodies", func(t *testing.T) {
		wantError(t, n.do(t, call{method: "POST", path: "/api/user/2/typing", token: t1, body: "x", contentType: "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE")
		wantError(t, n.do(t, call{method: "POST", path: "/api/user/2/typing", token: t1, body: "[1]"}), 400, "BAD_REQUEST")
		wantError(t, n.do(t, call{method: "POST", path: "/api/user/2/typing"}), 401, "NOT_AUTHENTICATED")
		mustStatus(t, n.do(t, call{method: "POST", path: "/api/user/2/typing", token: t1, body: `{"extra":1}`}), http.StatusOK)
	})
}
