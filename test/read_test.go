package test

import (
	"net/http"
	"testing"
	"time"

	"parley/internal/sioclient"
)

// post is a JSON POST.
func (n *node) post(t testing.TB, token, path string, body any) reply {
	t.Helper()
	return n.do(t, call{method: "POST", path: path, token: token, body: body})
}

// inboxEntry returns the caller's list entry for peer and the list's total
// unread.
func inboxEntry(t *testing.T, n *node, token, peer string) (map[string]any, string) {
	t.Helper()
	r := n.get(t, token, "/api/list")
	mustStatus(t, r, http.StatusOK)
	for _, e := range objs(t, r.obj, "entries") {
		if canon(e["id"]) == peer {
			return e, canon(r.obj["unread"])
		}
	}
	t.Fatalf("no inbox entry for %s in %s", peer, r.raw)
	return nil, ""
}

func TestReadReceiptsAndUnreadCounts(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	s1, s2 := dial(t, n, t1), dial(t, n, t2)
	var ids []string
	for _, text := range []string{"one", "two", "three"} {
		ids = append(ids, n.sendText(t, t1, "2", text)["id"].(string))
	}
	n.sendText(t, n.tok(t, 3, nil), "2", "from three")
	for range 3 {
		next(t, s1, "user 1")
	}
	for range 4 {
		next(t, s2, "user 2")
	}

	e, total := inboxEntry(t, n, t2, "1")
	wantNumber(t, "unread before reading", e["unread"], "3")
	wantNull(t, "last_read before reading", e["last_read"], true)
	if total != "4" {
		t.Errorf("total unread %s, want 4 (3 from user 1, 1 from user 3)", total)
	}
	if e, _ := inboxEntry(t, n, t1, "2"); canon(e["unread"]) != "0" || obj(t, e, "last_read")["id"] != ids[2] {
		t.Errorf("sender's entry %v, want unread 0 and last_read its own last message", e)
	}

	r := n.post(t, t2, "/api/user/1/read", map[string]any{"upTo": ids[1]})
	mustStatus(t, r, http.StatusOK)
	wantBool(t, "moved", r.obj["moved"], true)
	wantNumber(t, "unread after reading two", r.obj["unread"], "1")
	wantString(t, "last_read.id", obj(t, r.obj, "last_read")["id"], ids[1])
	for _, d := range []struct {
		who, with string
		c         *sioclient.Client
	}{{"user 1", "2", s1}, {"user 2", "1", s2}} {
		ev := next(t, d.c, d.who)
		if ev.Name != "message:read" {
			t.Fatalf("%s got %s, want message:read", d.who, ev.Name)
		}
		p := payload(t, ev)
		wantString(t, d.who+" upTo", p["upTo"], ids[1])
		wantNumber(t, d.who+" by", p["by"], "2")
		wantNumber(t, d.who+" with", p["with"], d.with)
	}

	e, total = inboxEntry(t, n, t2, "1")
	wantNumber(t, "unread after reading", e["unread"], "1")
	wantString(t, "last_read", obj(t, e, "last_read")["id"], ids[1])
	if total != "2" {
		t.Errorf("total unread %s, want 2", total)
	}
	// The history agrees: the messages under the horizon are seen.
	h := n.get(t, t1, "/api/user/2")
	mustStatus(t, h, http.StatusOK)
	for i, m := range objs(t, h.obj, "messages") {
		seen := m["status"] == "seen"
		if seen != (i < 2) {
			t.Errorf("message %d status %v, want seen=%v", i, m["status"], i < 2)
		}
	}

	// Reading an older message moves nothing and sends nothing.
	r = n.post(t, t2, "/api/user/1/read", map[string]any{"upTo": ids[0]})
	mustStatus(t, r, http.StatusOK)
	wantBool(t, "moved back", r.obj["moved"], false)
	wantString(t, "horizon kept", obj(t, r.obj, "last_read")["id"], ids[1])
	quiet(t, s1, "user 1", 200*time.Millisecond)

	// A seen mark moves the same horizon.
	mustStatus(t, n.post(t, t2, "/api/user/1/"+ids[2], map[string]any{"status": "seen"}), http.StatusOK)
	for _, name := range []string{"message:edit", "message:read"} {
		if ev := next(t, s1, "user 1"); ev.Name != name {
			t.Fatalf("user 1 got %s, want %s", ev.Name, name)
		}
	}
	if e, _ := inboxEntry(t, n, t2, "1"); canon(e["unread"]) != "0" {
		t.Errorf("unread after the seen mark: %v, want 0", e["unread"])
	}

	// Bad input: clear errors, nothing changes.
	other := n.sendText(t, t1, "3", "elsewhere")["id"].(string)
	if ev := next(t, s1, "user 1"); ev.Name != "message:new" {
		t.Fatalf("user 1 got %s, want its message:new", ev.Name)
	}
	for _, c := range []struct {
		name, path string
		body       any
		status     int
		code       string
	}{
		{"unknown message", "/api/user/1/read", map[string]any{"upTo": "0190b0c0-0000-7000-8000-000000000000"}, 404, "NOT_FOUND"},
		{"not a message id", "/api/user/1/read", map[string]any{"upTo": "abc"}, 404, "NOT_FOUND"},
		{"another DM's message", "/api/user/1/read", map[string]any{"upTo": other}, 404, "NOT_FOUND"},
		{"no upTo", "/api/user/1/read", map[string]any{}, 400, "BAD_REQUEST"},
		{"upTo not a string", "/api/user/1/read", map[string]any{"upTo": 5}, 400, "BAD_REQUEST"},
		{"oneself", "/api/user/2/read", map[string]any{"upTo": ids[0]}, 400, "BAD_REQUEST"},
		{"bad peer", "/api/user/a%20b/read", map[string]any{"upTo": ids[0]}, 400, "BAD_REQUEST"},
	} {
		wantError(t, n.post(t, t2, c.path, c.body), c.status, c.code)
	}
	quiet(t, s1, "user 1 after bad reads", 200*time.Millisecond)
}
