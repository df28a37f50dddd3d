package test

import (
	"net/http"
	"strings"
	"testing"
)

func TestNumericAndStringIDsShareAConversation(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	asNumber, asString := n.tok(t, 42, nil), n.tok(t, "42", nil)
	asSub := n.tok(t, nil, map[string]any{"sub": "42"})
	u43 := n.tok(t, 43, nil)
	for _, tok := range []string{asNumber, asString, asSub} {
		r := n.send(t, tok, "43", map[string]any{"type": "text", "text": "hi"})
		mustStatus(t, r, http.StatusCreated)
		wantString(t, "key", obj(t, r.obj, "state")["key"], n.domain+":dm:42-43")
		wantNumber(t, "author", obj(t, r.obj, "entry")["author"], "42")
	}
	n.sendText(t, u43, "42", "back")
	r := n.get(t, u43, "/api/user/42")
	mustStatus(t, r, http.StatusOK)
	wantNumber(t, "total", obj(t, r.obj, "state")["total"], "4")
	for i, m := range objs(t, r.obj, "messages") {
		want := "42"
		if i == 3 {
			want = "43"
		}
		wantNumber(t, "author.id", obj(t, m, "author")["id"], want)
	}
	for _, tok := range []string{asNumber, asString} {
		r := n.get(t, tok, "/api/list")
		entries := objs(t, r.obj, "entries")
		if len(entries) != 1 {
			t.Fatalf("inbox of 42 has %d entries, want 1", len(entries))
		}
		wantNumber(t, "entry id", entries[0]["id"], "43")
	}
	assertConsistent(t, n, n.domain, "42", "43")
}

func TestIDsSortNumericallyInKeys(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	tests := []struct {
		from     any
		to, want string
	}{
		{9, "10", "dm:9-10"},
		{10, "9", "dm:9-10"},
		{100, "99", "dm:99-100"},
		{"bob", "alice", "dm:alice-bob"},
		{7, "alice", "dm:7-alice"},
		{"042", "42", "dm:042-42"}, // a leading zero is a different (string) id
	}
	for _, tt := range tests {
		r := n.send(t, n.tok(t, tt.from, nil), tt.to, map[string]any{"type": "text", "text": "hi"})
		mustStatus(t, r, http.StatusCreated)
		wantString(t, "key", obj(t, r.obj, "state")["key"], n.domain+":"+tt.want)
		if got := n.rdb.Exists(t.Context(), n.prefix+"{"+n.domain+":"+tt.want+"}").Val(); got != 1 {
			t.Errorf("Redis key %s%s:%s missing", n.prefix, n.domain, tt.want)
		}
	}
	r := n.get(t, n.tok(t, "042", nil), "/api/list")
	entries := objs(t, r.obj, "entries")
	if len(entries) != 1 {
		t.Fatalf("inbox of 042: %d entries, want 1", len(entries))
	}
	wantNumber(t, "peer 42", entries[0]["id"], "42")
	wantString(t, "author 042", obj(t, entries[0], "latest")["author"], "042")
}

func TestStringIDEndToEnd(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	alice, bob := n.tok(t, "alice", nil), n.tok(t, "bob", nil)
	e := n.sendText(t, alice, "bob", "hi bob")
	wantString(t, "author", e["author"], "alice")
	id := e["id"].(string)
	mustStatus(t, n.do(t, call{method: "POST", path: "/api/user/alice/" + id, token: bob, body: `{"status":"seen"}`}), http.StatusOK)
	mustStatus(t, n.do(t, call{method: "POST", path: "/api/user/bob/" + id, token: alice, body: `{"text":"hi Bob"}`}), http.StatusOK)
	r := n.get(t, bob, "/api/user/alice")
	mustStatus(t, r, http.StatusOK)
	wantString(t, "key", obj(t, r.obj, "state")["key"], n.domain+":dm:alice-bob")
	m := objs(t, r.obj, "messages")[0]
	wantString(t, "author.id", obj(t, m, "author")["id"], "alice")
	wantString(t, "text", m["text"], "hi Bob")
	wantString(t, "status", m["status"], "seen")
	r = n.get(t, bob, "/api/list")
	ent := objs(t, r.obj, "entries")[0]
	wantString(t, "entry id", ent["id"], "alice")
	wantString(t, "entry user.id", obj(t, ent, "user")["id"], "alice")
	wantString(t, "list key", obj(t, r.obj, "state")["key"], n.domain+":inbox:bob")
	mustStatus(t, n.do(t, call{method: "DELETE", path: "/api/user/bob/" + id, token: alice}), http.StatusOK)
	if got := assertConsistent(t, n, n.domain, "alice", "bob"); got != 0 {
		t.Errorf("%d messages left", got)
	}

	// Ids with dashes are escaped in the key so pairs cannot collide.
	n.sendText(t, n.tok(t, "a-b", nil), "c", "x")
	r = n.send(t, n.tok(t, "a", nil), "b-c", map[string]any{"type": "text", "text": "y"})
	mustStatus(t, r, http.StatusCreated)
	if k := obj(t, r.obj, "state")["key"].(string); !strings.HasSuffix(k, ":dm:a-b%2Dc") {
		t.Errorf("key = %q, want suffix :dm:a-b%%2Dc", k)
	}
	wantNumber(t, "a-b/c total", obj(t, n.get(t, n.tok(t, "c", nil), "/api/user/a-b").obj, "state")["total"], "1")
}

func TestNumericIDsOff(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_NUMERIC_IDS": "false"})
	u1, u2 := n.tok(t, 1, nil), n.tok(t, "2", nil)
	e := n.sendText(t, u1, "2", "hi")
	wantString(t, "entry.author", e["author"], "1")
	id := e["id"].(string)
	r := n.do(t, call{method: "POST", path: "/api/user/1/" + id, token: u2, body: `{"status":"seen"}`})
	mustStatus(t, r, http.StatusOK)
	wantString(t, "seen author", obj(t, r.obj, "entry")["author"], "1")
	r = n.get(t, u2, "/api/user/1")
	wantString(t, "history author.id", obj(t, objs(t, r.obj, "messages")[0], "author")["id"], "1")
	r = n.get(t, u2, "/api/list")
	ent := objs(t, r.obj, "entries")[0]
	wantString(t, "list id", ent["id"], "1")
	wantString(t, "list user.id", obj(t, ent, "user")["id"], "1")
	wantString(t, "list latest.author", obj(t, ent, "latest")["author"], "1")
	r = n.get(t, u2, "/api/")
	mustStatus(t, r, http.StatusOK)
}

func TestLongNumericIDsStayStrings(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	big := "1234567890123456" // 16 digits: not exact as a JSON number
	e := n.sendText(t, n.tok(t, big, nil), "1", "hi")
	wantString(t, "author", e["author"], big)
	r := n.get(t, n.tok(t, 1, nil), "/api/list")
	wantString(t, "peer", objs(t, r.obj, "entries")[0]["id"], big)
}
