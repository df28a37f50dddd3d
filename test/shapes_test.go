package test

import (
	"net/http"
	"testing"
)

// TestSeedShapes checks every response of the seed API field for field and
// type for type.
func TestSeedShapes(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1, u2 := n.tok(t, 388636, nil), n.tok(t, 524376, nil)
	convKey := n.domain + ":dm:388636-524376"

	// Send a text.
	r := n.send(t, u1, "524376", map[string]any{"type": "text", "text": "Hello, world!"})
	mustStatus(t, r, http.StatusCreated)
	wantKeys(t, "send", r.obj, "state", "entry")
	state := obj(t, r.obj, "state")
	wantKeys(t, "send state", state, "key", "inbox_key")
	wantString(t, "state.key", state["key"], convKey)
	wantString(t, "state.inbox_key", state["inbox_key"], "user-524376")
	entry := obj(t, r.obj, "entry")
	wantKeys(t, "entry", entry, "id", "author", "timestamp", "type", "text")
	id := wantUUIDv7(t, "entry.id", entry["id"])
	wantNumber(t, "entry.author", entry["author"], "388636")
	sentAt := wantTimestamp(t, "entry.timestamp", entry["timestamp"])
	wantString(t, "entry.type", entry["type"], "text")
	wantString(t, "entry.text", entry["text"], "Hello, world!")

	// The reply from the peer: inbox_key names the other party.
	r = n.send(t, u2, "388636", map[string]any{"type": "text", "text": "Hey, Barry!!"})
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "reply state.key", obj(t, r.obj, "state")["key"], convKey)
	wantString(t, "reply state.inbox_key", obj(t, r.obj, "state")["inbox_key"], "user-388636")

	// An image.
	r = n.send(t, u1, "524376", map[string]any{"type": "image", "image": "https://cdn.example/a.png"})
	mustStatus(t, r, http.StatusCreated)
	img := obj(t, r.obj, "entry")
	wantKeys(t, "image entry", img, "id", "author", "timestamp", "type", "image")
	wantUUIDv7(t, "image id", img["id"])
	wantString(t, "image type", img["type"], "image")
	wantString(t, "image image", img["image"], "https://cdn.example/a.png")
	imgEpoch := wantTimestamp(t, "image timestamp", img["timestamp"])

	// The inbox.
	r = n.get(t, u1, "/api/list")
	mustStatus(t, r, http.StatusOK)
	// The seed's keys, plus the unread counts (issue 6).
	wantKeys(t, "list", r.obj, "state", "entries", "unread")
	wantNumber(t, "list unread", r.obj["unread"], "0")
	ls := obj(t, r.obj, "state")
	wantKeys(t, "list state", ls, "key", "page", "per_page", "total", "total_pages", "next", "prev")
	wantString(t, "list state.key", ls["key"], n.domain+":inbox:388636")
	wantNumber(t, "list state.page", ls["page"], "1")
	wantNumber(t, "list state.per_page", ls["per_page"], "10")
	wantNumber(t, "list state.total", ls["total"], "1")
	wantNumber(t, "list state.total_pages", ls["total_pages"], "1")
	entries := objs(t, r.obj, "entries")
	if len(entries) != 1 {
		t.Fatalf("list has %d entries, want 1", len(entries))
	}
	e := entries[0]
	wantKeys(t, "list entry", e, "type", "id", "latest", "timestamp", "user", "unread", "last_read")
	wantNumber(t, "list entry unread", e["unread"], "0")
	wantString(t, "list entry last_read.id (the sender's own last message)", obj(t, e, "last_read")["id"], img["id"].(string))
	wantString(t, "list entry type", e["type"], "user")
	wantNumber(t, "list entry id", e["id"], "524376")
	latest := obj(t, e, "latest")
	wantKeys(t, "latest", latest, "id", "author", "timestamp", "type", "image")
	wantString(t, "latest.id", latest["id"], img["id"].(string))
	wantNumber(t, "latest.author", latest["author"], "388636")
	if got := wantTimestamp(t, "list entry timestamp", e["timestamp"]); got != imgEpoch {
		t.Errorf("list entry epoch = %d, want the latest message's %d", got, imgEpoch)
	}
	user := obj(t, e, "user")
	wantKeys(t, "list user", user, "id", "username", "role")
	wantNumber(t, "user.id", user["id"], "524376")
	un, ok := user["username"]
	wantNull(t, "user.username", un, ok)
	role, ok := user["role"]
	wantNull(t, "user.role", role, ok)

	// The history, oldest first, authors as user objects.
	r = n.get(t, u2, "/api/user/388636")
	mustStatus(t, r, http.StatusOK)
	wantKeys(t, "history", r.obj, "state", "entry", "messages")
	wantKeys(t, "history entry", obj(t, r.obj, "entry"), "id", "username", "role")
	wantNumber(t, "history entry.id", obj(t, r.obj, "entry")["id"], "388636")
	hs := obj(t, r.obj, "state")
	wantKeys(t, "history state", hs, "key", "page", "per_page", "total", "total_pages", "next", "prev")
	wantString(t, "history state.key", hs["key"], convKey)
	wantNumber(t, "history total", hs["total"], "3")
	wantNumber(t, "history total_pages", hs["total_pages"], "1")
	msgs := objs(t, r.obj, "messages")
	if len(msgs) != 3 {
		t.Fatalf("history has %d messages, want 3", len(msgs))
	}
	wantString(t, "history[0].id", msgs[0]["id"], id)
	wantString(t, "history[0].text", msgs[0]["text"], "Hello, world!")
	wantString(t, "history[1].text", msgs[1]["text"], "Hey, Barry!!")
	wantString(t, "history[2].image", msgs[2]["image"], "https://cdn.example/a.png")
	for i, want := range []string{"388636", "524376", "388636"} {
		a := obj(t, msgs[i], "author")
		wantKeys(t, "history author", a, "id", "username", "role")
		wantNumber(t, "history author.id", a["id"], want)
	}
	if got := wantTimestamp(t, "history[0].timestamp", msgs[0]["timestamp"]); got != sentAt {
		t.Errorf("history epoch %d != send epoch %d", got, sentAt)
	}

	// Edit by the author: same id and timestamp, new text, edited stamp.
	edited := "Can't believe I started this chat with \"Hello, world!\" 😢"
	r = n.do(t, call{method: "POST", path: "/api/user/524376/" + id, token: u1, body: map[string]any{"text": edited}})
	mustStatus(t, r, http.StatusOK)
	wantKeys(t, "edit", r.obj, "state", "entry")
	wantString(t, "edit state.key", obj(t, r.obj, "state")["key"], convKey)
	wantString(t, "edit state.inbox_key", obj(t, r.obj, "state")["inbox_key"], "user-524376")
	ed := obj(t, r.obj, "entry")
	wantKeys(t, "edited entry", ed, "id", "author", "timestamp", "type", "text", "edited")
	wantString(t, "edited id", ed["id"], id)
	wantNumber(t, "edited author", ed["author"], "388636")
	wantString(t, "edited text", ed["text"], edited)
	if got := wantTimestamp(t, "edited timestamp", ed["timestamp"]); got != sentAt {
		t.Errorf("edit moved the timestamp: %d, want %d", got, sentAt)
	}
	if at := wantTimestamp(t, "edited.edited", ed["edited"]); at < sentAt {
		t.Errorf("edited %d before sent %d", at, sentAt)
	}

	// Seen by the recipient.
	r = n.do(t, call{method: "POST", path: "/api/user/388636/" + id, token: u2, body: map[string]any{"status": "seen"}})
	mustStatus(t, r, http.StatusOK)
	seen := obj(t, r.obj, "entry")
	wantKeys(t, "seen entry", seen, "id", "author", "timestamp", "type", "text", "edited", "status", "seen")
	wantString(t, "seen status", seen["status"], "seen")
	wantString(t, "seen text", seen["text"], edited)
	wantTimestamp(t, "seen.seen", seen["seen"])
	wantString(t, "seen state.inbox_key", obj(t, r.obj, "state")["inbox_key"], "user-388636")

	// The history shows the edit and the seen status.
	msgs = objs(t, n.get(t, u1, "/api/user/524376").obj, "messages")
	wantString(t, "history after edit text", msgs[0]["text"], edited)
	wantString(t, "history after seen status", msgs[0]["status"], "seen")

	// Delete.
	r = n.do(t, call{method: "DELETE", path: "/api/user/524376/" + id, token: u1})
	mustStatus(t, r, http.StatusOK)
	wantKeys(t, "delete", r.obj, "state", "message", "success")
	ds := obj(t, r.obj, "state")
	wantKeys(t, "delete state", ds, "key", "inbox_key")
	wantString(t, "delete state.key", ds["key"], convKey)
	wantString(t, "delete state.inbox_key", ds["inbox_key"], "user-524376")
	wantString(t, "delete message", r.obj["message"], "Message deleted")
	wantBool(t, "delete success", r.obj["success"], true)
	wantNumber(t, "total after delete", obj(t, n.get(t, u1, "/api/user/524376").obj, "state")["total"], "2")
	assertConsistent(t, n, n.domain, "388636", "524376")

	// The token check, health and readiness.
	for _, path := range []string{"/api/", "/api"} {
		r = n.get(t, u1, path)
		mustStatus(t, r, http.StatusOK)
		wantBool(t, path+" authenticated", r.obj["authenticated"], true)
		wantBool(t, path+" success", r.obj["success"], true)
		if m, ok := r.obj["message"].(string); !ok || m == "" {
			t.Errorf("%s message = %#v, want a string", path, r.obj["message"])
		}
	}
	mustStatus(t, n.get(t, "", "/healthz"), http.StatusOK)
	mustStatus(t, n.get(t, "", "/readyz"), http.StatusOK)

	// Bearer works as well as X-Auth-Token.
	r = n.do(t, call{method: "GET", path: "/api/list", header: map[string]string{"Authorization": "Bearer " + u2}})
	mustStatus(t, r, http.StatusOK)
	wantString(t, "bearer list key", obj(t, r.obj, "state")["key"], n.domain+":inbox:524376")
}

// TestUnknownFieldsAreIgnored checks that extra fields in a send body are
// accepted but neither stored nor echoed, and cannot forge the author, id
// or time.
func TestUnknownFieldsAreIgnored(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	r := n.send(t, n.tok(t, 1, nil), "2", map[string]any{"type": "text", "text": "hi", "extra": "x",
		"author": 999, "id": "00000000-0000-7000-8000-000000000000", "epoch": 1, "timestamp": 1, "seen": 5, "edited": 5})
	mustStatus(t, r, http.StatusCreated)
	entry := obj(t, r.obj, "entry")
	wantKeys(t, "entry", entry, "id", "author", "timestamp", "type", "text")
	wantNumber(t, "author", entry["author"], "1")
	id := wantUUIDv7(t, "id", entry["id"])
	if id == "00000000-0000-7000-8000-000000000000" {
		t.Error("client chose the message id")
	}
	wantTimestamp(t, "timestamp", entry["timestamp"])
	raw := n.rdb.HGet(t.Context(), n.prefix+"{"+n.domain+":dm:1-2}:msgs", id).Val()
	stored := decodeReply(t, 0, nil, []byte(raw)).obj
	wantKeys(t, "stored message", stored, "id", "author", "epoch", "type", "text")
	wantString(t, "stored author", stored["author"], "1")
}
