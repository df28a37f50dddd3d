package test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
)

// TestRandomWritesKeepRedisConsistent runs a random mix of sends, edits,
// seen marks and deletes between three users, then concurrent sends, and
// checks every conversation's invariants in Redis and through the API.
func TestRandomWritesKeepRedisConsistent(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	users := []string{"1", "2", "3"}
	toks := map[string]string{}
	for _, u := range users {
		toks[u] = n.tok(t, u, nil)
	}
	type msg struct{ id, author, peer string }
	var live []msg
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 150 {
		switch op := rng.IntN(11); {
		case op < 5 || len(live) == 0:
			from := users[rng.IntN(3)]
			to := users[(rng.IntN(2)+1+indexOf(users, from))%3]
			e := n.sendText(t, toks[from], to, fmt.Sprint("m", i))
			live = append(live, msg{e["id"].(string), from, to})
		case op < 7:
			m := live[rng.IntN(len(live))]
			r := n.do(t, call{method: "POST", path: "/api/user/" + m.peer + "/" + m.id, token: toks[m.author], body: map[string]any{"text": fmt.Sprint("e", i)}})
			mustStatus(t, r, http.StatusOK)
		case op < 8:
			m := live[rng.IntN(len(live))]
			r := n.do(t, call{method: "POST", path: "/api/user/" + m.author + "/" + m.id, token: toks[m.peer], body: `{"status":"seen"}`})
			mustStatus(t, r, http.StatusOK)
		case op == 10:
			m := live[rng.IntN(len(live))]
			reader, peer := m.peer, m.author
			if rng.IntN(2) == 0 {
				reader, peer = peer, reader
			}
			mustStatus(t, n.post(t, toks[reader], "/api/user/"+peer+"/read", map[string]any{"upTo": m.id}), http.StatusOK)
		default:
			k := rng.IntN(len(live))
			m := live[k]
			mustStatus(t, n.do(t, call{method: "DELETE", path: "/api/user/" + m.peer + "/" + m.id, token: toks[m.author]}), http.StatusOK)
			live = append(live[:k], live[k+1:]...)
		}
	}

	// Concurrent sends in every direction.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 6 {
		from, to := users[w%3], users[(w+1+w/3)%3]
		wg.Go(func() {
			for i := range 10 {
				r := n.send(t, toks[from], to, map[string]any{"type": "text", "text": fmt.Sprint("c", w, "-", i)})
				if r.status != http.StatusCreated {
					t.Errorf("concurrent send: %d %s", r.status, r.raw)
					return
				}
				mu.Lock()
				live = append(live, msg{obj(t, r.obj, "entry")["id"].(string), from, to})
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	// Concurrent deletes empty the conversation of 2 and 3.
	var rest []msg
	for _, m := range live {
		if (m.author == "1") || (m.peer == "1") {
			rest = append(rest, m)
			continue
		}
		wg.Go(func() {
			r := n.do(t, call{method: "DELETE", path: "/api/user/" + m.peer + "/" + m.id, token: toks[m.author]})
			if r.status != http.StatusOK {
				t.Errorf("delete: %d %s", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	live = rest

	// Every user's unread total (a counter the scripts keep) is the sum of
	// the per-conversation counts (recomputed from the horizons).
	for _, u := range users {
		r := n.get(t, toks[u], "/api/list")
		mustStatus(t, r, http.StatusOK)
		var sum int64
		for _, e := range objs(t, r.obj, "entries") {
			var c int64
			fmt.Sscan(canon(e["unread"]), &c)
			sum += c
		}
		wantNumber(t, "user "+u+" unread total", r.obj["unread"], fmt.Sprint(sum))
	}

	for _, pair := range [][2]string{{"1", "2"}, {"1", "3"}, {"2", "3"}} {
		want := 0
		for _, m := range live {
			if (m.author == pair[0] && m.peer == pair[1]) || (m.author == pair[1] && m.peer == pair[0]) {
				want++
			}
		}
		if got := assertConsistent(t, n, n.domain, pair[0], pair[1]); got != want {
			t.Errorf("%v: %d messages in Redis, want %d", pair, got, want)
		}
		r := n.get(t, toks[pair[0]], "/api/user/"+pair[1]+"?limit=100")
		mustStatus(t, r, http.StatusOK)
		wantNumber(t, fmt.Sprint(pair, " total"), obj(t, r.obj, "state")["total"], fmt.Sprint(want))
		if got := len(arr(t, r.obj, "messages")); got != want {
			t.Errorf("%v: history has %d messages, want %d", pair, got, want)
		}
	}
	// The inboxes agree: 2 and 3 only see user 1.
	for _, u := range []string{"2", "3"} {
		r := n.get(t, toks[u], "/api/list")
		es := objs(t, r.obj, "entries")
		if len(es) != 1 {
			t.Fatalf("inbox of %s has %d entries, want 1", u, len(es))
		}
		wantNumber(t, "peer", es[0]["id"], "1")
		if es[0]["latest"] == nil {
			t.Errorf("inbox of %s: latest is null", u)
		}
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
