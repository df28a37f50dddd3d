package test

import (
	"net/http"
	"strings"
	"testing"
)

func TestDomainsAreDisjoint(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_DOMAINS": "a.example=tena,B.Example=tenb"})
	u1, u2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	onA := func(c call) reply { c.host = "a.example"; return n.do(t, c) }
	onB := func(c call) reply { c.host = "b.example:8080"; return n.do(t, c) } // port and case are ignored

	r := onA(call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text","text":"on a"}`})
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "a key", obj(t, r.obj, "state")["key"], "tena:dm:1-2")
	idA := obj(t, r.obj, "entry")["id"].(string)
	r = onB(call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text","text":"on b"}`})
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "b key", obj(t, r.obj, "state")["key"], "tenb:dm:1-2")
	onB(call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text","text":"on b again"}`})

	for _, tc := range []struct {
		do    func(call) reply
		dom   string
		texts string
	}{{onA, "tena", "on a"}, {onB, "tenb", "on b,on b again"}} {
		r := tc.do(call{method: "GET", path: "/api/user/1", token: u2})
		mustStatus(t, r, http.StatusOK)
		wantString(t, tc.dom+" key", obj(t, r.obj, "state")["key"], tc.dom+":dm:1-2")
		var texts []string
		for _, m := range objs(t, r.obj, "messages") {
			texts = append(texts, m["text"].(string))
		}
		if got := strings.Join(texts, ","); got != tc.texts {
			t.Errorf("%s history = %q, want %q", tc.dom, got, tc.texts)
		}
		r = tc.do(call{method: "GET", path: "/api/list", token: u2})
		wantString(t, tc.dom+" list key", obj(t, r.obj, "state")["key"], tc.dom+":inbox:2")
		wantNumber(t, tc.dom+" list total", obj(t, r.obj, "state")["total"], "1")
	}
	// A message of domain a cannot be edited or deleted through domain b.
	wantError(t, onB(call{method: "POST", path: "/api/user/2/" + idA, token: u1, body: `{"text":"x"}`}), 404, "NOT_FOUND")
	wantError(t, onB(call{method: "DELETE", path: "/api/user/2/" + idA, token: u1}), 404, "NOT_FOUND")
	// An unmapped host uses the default domain, which is empty.
	r = n.get(t, u2, "/api/list")
	wantString(t, "default list key", obj(t, r.obj, "state")["key"], n.domain+":inbox:2")
	wantNumber(t, "default list total", obj(t, r.obj, "state")["total"], "0")

	snap := redisSnapshot(t, n.rdb, n.prefix)
	var a, b int
	for key := range snap {
		switch {
		case strings.HasPrefix(key, n.prefix+"tena:"):
			a++
		case strings.HasPrefix(key, n.prefix+"tenb:"):
			b++
		default:
			t.Errorf("key %s is outside both domains", key)
		}
	}
	if a == 0 || b == 0 {
		t.Errorf("keys: %d under tena, %d under tenb; want both", a, b)
	}
	// dm, msgs, seq, time index, two inboxes, each user's event log and
	// counter, the sender's read horizons and the recipient's unread total
	if got := len(redisSnapshot(t, n.rdb, n.prefix+"tena:")); got != 12 {
		t.Errorf("tena has %d keys, want 12", got)
	}
}

func TestDomainClaim(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_DOMAINS": "a.example=tena,b.example=tenb", "PARLEY_JWT_DOMAIN_CLAIM": "dom"})
	body := `{"type":"text","text":"hi"}`
	send := func(tok, host string) reply {
		return n.do(t, call{method: "POST", path: "/api/user/2", token: tok, body: body, host: host})
	}
	// A token for tenb on a.example is refused, and writes nothing.
	before := redisSnapshot(t, n.rdb, n.prefix)
	wantError(t, send(n.tok(t, 1, map[string]any{"dom": "tenb"}), "a.example"), 401, "UNAUTHORIZED")
	wantError(t, n.do(t, call{method: "GET", path: "/api/list", token: n.tok(t, 1, map[string]any{"dom": "tena"}), host: "b.example"}), 401, "UNAUTHORIZED")
	// A domain claim of the wrong type or shape is refused.
	wantError(t, send(n.tok(t, 1, map[string]any{"dom": 5}), "a.example"), 401, "UNAUTHORIZED")
	wantError(t, send(n.tok(t, 1, map[string]any{"dom": "Bad:Dom"}), "unmapped.example"), 401, "UNAUTHORIZED")
	if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
		t.Errorf("refused tokens changed Redis:\n%s", d)
	}

	// A matching claim works; a claim on an unmapped host picks the domain.
	r := send(n.tok(t, 1, map[string]any{"dom": "tena"}), "a.example")
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "tena key", obj(t, r.obj, "state")["key"], "tena:dm:1-2")
	r = send(n.tok(t, 1, map[string]any{"dom": "tenc"}), "unmapped.example")
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "tenc key", obj(t, r.obj, "state")["key"], "tenc:dm:1-2")
	// No claim: the host's domain, else the default.
	r = send(n.tok(t, 1, nil), "b.example")
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "tenb key", obj(t, r.obj, "state")["key"], "tenb:dm:1-2")
	r = send(n.tok(t, 1, nil), "")
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "default key", obj(t, r.obj, "state")["key"], n.domain+":dm:1-2")

	for key := range redisSnapshot(t, n.rdb, n.prefix) {
		ok := false
		for _, d := range []string{"tena", "tenb", "tenc", n.domain} {
			ok = ok || strings.HasPrefix(key, n.prefix+d+":")
		}
		if !ok {
			t.Errorf("key %s is not under <prefix><domain>:", key)
		}
	}
	for _, d := range []string{"tena", "tenb", "tenc", n.domain} {
		assertConsistent(t, n, d, "1", "2")
	}
}
