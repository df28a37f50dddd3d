package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/chat"
	"parley/internal/sioclient"
	"parley/internal/testutil"
)

// cluster is several Parley nodes on one Redis, sharing secret, prefix and
// default domain, as a deployment behind a load balancer would.
func cluster(t *testing.T, n int, env map[string]string) []*node {
	t.Helper()
	shared := withRedis(t, map[string]string{
		"PARLEY_KEY_PREFIX":     testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN": testutil.Domain(t),
		"PARLEY_JWT_SECRET":     randomHex(t, 32),
	})
	for k, v := range env {
		shared[k] = v
	}
	nodes := make([]*node, n)
	for i := range nodes {
		nodes[i] = startServer(t, shared)
	}
	return nodes
}

// dial connects a Socket.IO client to n with token as auth.token.
func dial(t *testing.T, n *node, token string) *sioclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, n.url, map[string]any{"token": token}, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", n.url, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitSubscribed waits until each user's event channel (Parley's own
// per-user channel, chat.Keys.EventLog) has as many subscribers as the
// test has nodes with a socket of that user: each node's hub subscribes
// once per user, asynchronously after the socket connects.
// numSub counts the subscribers of channels in the pub/sub kind the node's
// hub uses (SSUBSCRIBE when ShardedPubSub), one channel at a time over
// every primary (testutil.NumSub): on a cluster a shard channel's
// subscribers are on its slot's primary only, and PUBSUB SHARDNUMSUB of
// channels in several slots sent to one node counts none of the others'
// (TestRealtimeAcrossTwoNodes failed so in CI's cluster pass).
func (n *node) numSub(t *testing.T, channels ...string) map[string]int64 {
	t.Helper()
	got := make(map[string]int64, len(channels))
	for _, c := range channels {
		got[c] = testutil.NumSub(t, n.rdb, n.srv.ShardedPubSub(), c)
	}
	return got
}

func waitSubscribed(t *testing.T, n *node, nodesPerUser map[string]int) {
	t.Helper()
	keys := chat.Keys{Prefix: n.prefix}
	chans := map[string]int{}
	var names []string
	for u, want := range nodesPerUser {
		c := keys.EventLog(chat.Domain(n.domain), chat.UserID(u))
		chans[c] = want
		names = append(names, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := n.numSub(t, names...)
		missing := 0
		for c, want := range chans {
			if got[c] < int64(want) {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("channels not subscribed by every node: want %v, have %v", chans, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// next returns the client's next event, checked against api/openapi.yaml,
// or fails after a timeout.
func next(t *testing.T, c *sioclient.Client, who string) sioclient.Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events:
		if !ok {
			t.Fatalf("%s: connection ended: %v", who, c.Err())
		}
		for _, a := range ev.Args {
			checkEventContract(t, ev.Name, a)
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no event within 5s", who)
	}
	return sioclient.Event{}
}

// quiet asserts c receives nothing more for d.
func quiet(t *testing.T, c *sioclient.Client, who string, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-c.Events:
		if ok {
			t.Errorf("%s received %s %s, want nothing", who, ev.Name, ev.Args)
		}
	case <-time.After(d):
	}
}

func payload(t *testing.T, ev sioclient.Event) map[string]any {
	t.Helper()
	if len(ev.Args) != 1 {
		t.Fatalf("%s: %d args, want 1", ev.Name, len(ev.Args))
	}
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(string(ev.Args[0])))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s payload: %v", ev.Name, err)
	}
	return m
}

func canon(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestRealtimeAcrossTwoNodes(t *testing.T) {
	t.Parallel()
	nodes := cluster(t, 2, map[string]string{"PARLEY_JWT_DOMAIN_CLAIM": "dom"})
	n1, n2 := nodes[0], nodes[1]
	otherDomain := testutil.Domain(t)

	u1a := dial(t, n1, n1.tok(t, 1, nil))                               // user 1, device A, node 1
	u1b := dial(t, n2, n1.tok(t, "1", nil))                             // user 1, device B, node 2 (string claim: same user)
	u2 := dial(t, n2, n1.tok(t, 2, nil))                                // user 2, node 2
	u3 := dial(t, n1, n1.tok(t, 3, nil))                                // a third user
	x1 := dial(t, n2, n1.tok(t, 1, map[string]any{"dom": otherDomain})) // user 1 of another domain
	// User 1 has sockets on both nodes, user 2 on node 2.
	waitSubscribed(t, n1, map[string]int{"1": 2, "2": 1})
	// The hub's channels are the only fan-out: no Socket.IO adapter
	// subscribes per user (sharded or not) besides them. The hub uses
	// sharded pub/sub on Redis >= 7, plain on the embedded store (which has
	// no sharded pub/sub at all): the other kind has no channel.
	if n1.srv.ShardedPubSub() {
		if plain, err := n1.rdb.PubSubChannels(context.Background(), n1.prefix+"*").Result(); err != nil || len(plain) != 0 {
			t.Errorf("plain channels of this test: %v (err %v), want none", plain, err)
		}
	} else if shard, err := n1.rdb.PubSubShardChannels(context.Background(), n1.prefix+"*").Result(); (err != nil && !testutil.OnEmbedded()) || len(shard) != 0 {
		t.Errorf("sharded channels of this test: %v (err %v), want none", shard, err)
	}

	type want struct {
		event string
		entry map[string]any // nil for deletes
		id    string
	}
	var wants []want
	t1, t2 := n1.tok(t, 1, nil), n1.tok(t, 2, nil)
	for i, from := range []string{t1, t2, t1, t2, t1} {
		peer := "2"
		if from == t2 {
			peer = "1"
		}
		e := n1.sendText(t, from, peer, "message "+string(rune('a'+i)))
		wants = append(wants, want{event: "message:new", entry: e, id: e["id"].(string)})
	}
	edit := n1.do(t, call{method: "POST", path: "/api/user/2/" + wants[0].id, token: t1, body: map[string]any{"text": "edited"}})
	mustStatus(t, edit, http.StatusOK)
	wants = append(wants, want{event: "message:edit", entry: obj(t, edit.obj, "entry"), id: wants[0].id})
	del := n1.do(t, call{method: "DELETE", path: "/api/user/1/" + wants[1].id, token: t2})
	mustStatus(t, del, http.StatusOK)
	wants = append(wants, want{event: "message:delete", id: wants[1].id})

	for _, dev := range []struct {
		name  string
		c     *sioclient.Client
		self  string
		other string
	}{{"user 1 on node 1", u1a, "1", "2"}, {"user 1 on node 2", u1b, "1", "2"}, {"user 2 on node 2", u2, "2", "1"}} {
		for i, w := range wants {
			ev := next(t, dev.c, dev.name)
			if ev.Name != w.event {
				t.Fatalf("%s event %d = %s, want %s", dev.name, i, ev.Name, w.event)
			}
			p := payload(t, ev)
			wantNumber(t, dev.name+" with", p["with"], dev.other)
			// Each user's log numbers its events 1, 2, 3… with no gap.
			wantNumber(t, dev.name+" eventId", p["eventId"], fmt.Sprint(i+1))
			state := obj(t, p, "state")
			wantString(t, "state.key", state["key"], n1.domain+":dm:1-2")
			wantString(t, "state.inbox_key", state["inbox_key"], "user-"+dev.other)
			if w.entry != nil {
				wantKeys(t, w.event, p, "state", "with", "entry", "eventId")
				if got, wantE := canon(p["entry"]), canon(w.entry); got != wantE {
					t.Errorf("%s %s entry = %s, want the REST entry %s", dev.name, w.event, got, wantE)
				}
			} else {
				wantKeys(t, w.event, p, "state", "with", "id", "eventId")
				wantString(t, "deleted id", p["id"], w.id)
			}
		}
	}
	for _, c := range []struct {
		name string
		c    *sioclient.Client
	}{{"user 1 on node 1", u1a}, {"user 1 on node 2", u1b}, {"user 2", u2}, {"user 3", u3}, {"user 1 of another domain", x1}} {
		quiet(t, c.c, c.name, 300*time.Millisecond)
	}
}

func TestRealtimeHandshakeRefusals(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_JWT_LEEWAY": "0s"})
	expired := n.tok(t, 1, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()})
	tests := []struct {
		name    string
		auth    any
		header  http.Header
		message string
	}{
		{"no token", nil, nil, "unauthorized"},
		{"empty token", map[string]any{"token": ""}, nil, "unauthorized"},
		{"garbage", map[string]any{"token": "not.a.jwt"}, nil, "unauthorized"},
		{"wrong secret", map[string]any{"token": signed(t, randomHex(t, 32), 1, nil)}, nil, "unauthorized"},
		{"alg none", map[string]any{"token": unsignedToken(map[string]any{"user_id": 1, "exp": time.Now().Add(time.Hour).Unix()})}, nil, "unauthorized"},
		{"bad user claim", map[string]any{"token": n.tok(t, "a:b", nil)}, nil, "unauthorized"},
		{"expired", map[string]any{"token": expired}, nil, "token expired"},
		{"expired in header", nil, http.Header{"X-Auth-Token": {expired}}, "token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := sioclient.Dial(ctx, n.url, tt.auth, tt.header)
			if err == nil {
				c.Close()
				t.Fatal("connected, want connect_error")
			}
			var ce *sioclient.ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a connect_error", err)
			}
			if ce.Message != tt.message {
				t.Errorf("message = %q, want %q", ce.Message, tt.message)
			}
			var data apiEnvelope
			if err := json.Unmarshal(ce.Data, &data); err != nil || !data.Error || data.Status != 401 || data.Code == "" {
				t.Errorf("data = %s (%v), want the 401 error envelope", ce.Data, err)
			}
		})
	}
	// The same token is accepted from every place a client can put it.
	good := n.tok(t, 1, nil)
	for name, dial := range map[string]func(ctx context.Context) (*sioclient.Client, error){
		"auth.token": func(ctx context.Context) (*sioclient.Client, error) {
			return sioclient.Dial(ctx, n.url, map[string]any{"token": good}, nil)
		},
		"X-Auth-Token": func(ctx context.Context) (*sioclient.Client, error) {
			return sioclient.Dial(ctx, n.url, nil, http.Header{"X-Auth-Token": {good}})
		},
		"Bearer header": func(ctx context.Context) (*sioclient.Client, error) {
			return sioclient.Dial(ctx, n.url, nil, http.Header{"Authorization": {"Bearer " + good}})
		},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := dial(ctx)
		cancel()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		c.Close()
	}
}

type apiEnvelope struct {
	Error  bool   `json:"error"`
	Code   string `json:"code"`
	Status int    `json:"status"`
}

func TestRealtimeTokenExpiryDisconnects(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_JWT_LEEWAY": "0s"})
	c := dial(t, n, n.tok(t, 1, map[string]any{"exp": time.Now().Add(1500*time.Millisecond).Unix() + 1}))
	ev := next(t, c, "expiring socket")
	if ev.Name != "session:expired" {
		t.Fatalf("event = %s, want session:expired", ev.Name)
	}
	wantString(t, "reason", payload(t, ev)["reason"], "token expired")
	select {
	case _, ok := <-c.Events:
		if ok {
			t.Fatal("socket still receiving after session:expired")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("socket not disconnected after its token expired")
	}
	if !errors.Is(c.Err(), sioclient.ErrServerDisconnect) {
		t.Errorf("end = %v, want a server disconnect", c.Err())
	}
	// A fresh token connects again and receives messages.
	fresh := dial(t, n, n.tok(t, 1, nil))
	n.sendText(t, n.tok(t, 2, nil), "1", "after reconnect")
	if ev := next(t, fresh, "reconnected socket"); ev.Name != "message:new" {
		t.Errorf("event = %s, want message:new", ev.Name)
	}
}
