package test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// platformAPI serves the platform's user API at /api/users/{id}.
func platformAPI(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/api/users/{id}"
}

func TestUserAPIObjectsAreVerbatim(t *testing.T) {
	t.Parallel()
	api := platformAPI(t, func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/api/users/")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%s,"username":"Barry from Earth-%s","role":{"id":3,"handle":"registered","value":"Registered"}}`, id, id)
	})
	n := startServer(t, map[string]string{"PARLEY_USER_API_URL": api})
	u1 := n.tok(t, 388636, nil)
	n.sendText(t, u1, "524376", "Whaddup Barry!")
	n.sendText(t, n.tok(t, 524376, nil), "388636", "Hey, Barry!!")

	wantUser := func(what string, u map[string]any, id string) {
		t.Helper()
		wantKeys(t, what, u, "id", "username", "role")
		wantNumber(t, what+".id", u["id"], id)
		wantString(t, what+".username", u["username"], "Barry from Earth-"+id)
		role := obj(t, u, "role")
		wantKeys(t, what+".role", role, "id", "handle", "value")
		wantNumber(t, what+".role.id", role["id"], "3")
		wantString(t, what+".role.handle", role["handle"], "registered")
		wantString(t, what+".role.value", role["value"], "Registered")
	}
	r := n.get(t, u1, "/api/user/524376")
	mustStatus(t, r, http.StatusOK)
	msgs := objs(t, r.obj, "messages")
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	wantUser("messages[0].author", obj(t, msgs[0], "author"), "388636")
	wantUser("messages[1].author", obj(t, msgs[1], "author"), "524376")
	wantUser("entry", obj(t, r.obj, "entry"), "524376") // the seed's other user

	r = n.get(t, u1, "/api/list")
	mustStatus(t, r, http.StatusOK)
	entries := objs(t, r.obj, "entries")
	if len(entries) != 1 {
		t.Fatalf("%d entries, want 1", len(entries))
	}
	wantUser("entries[0].user", obj(t, entries[0], "user"), "524376")
	wantNumber(t, "entries[0].latest.author", obj(t, entries[0], "latest")["author"], "524376")
}

func TestUserAPIFailureFallsBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
		}},
		{"hangs past the timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>") }},
		{"404", http.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := startServer(t, map[string]string{"PARLEY_USER_API_URL": platformAPI(t, tt.handler), "PARLEY_USER_API_TIMEOUT": "200ms"})
			u1 := n.tok(t, 1, nil)
			n.sendText(t, u1, "2", "hi")
			for _, path := range []string{"/api/user/2", "/api/list"} {
				start := time.Now()
				r := n.get(t, u1, path)
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("%s took %s with a failing user API", path, took)
				}
				mustStatus(t, r, http.StatusOK)
				var u map[string]any
				if path == "/api/list" {
					u = obj(t, objs(t, r.obj, "entries")[0], "user")
					wantNumber(t, "user.id", u["id"], "2")
				} else {
					u = obj(t, objs(t, r.obj, "messages")[0], "author")
					wantNumber(t, "author.id", u["id"], "1")
				}
				wantKeys(t, "user", u, "id", "username", "role")
				name, ok := u["username"]
				wantNull(t, "username", name, ok)
				role, ok := u["role"]
				wantNull(t, "role", role, ok)
			}
		})
	}
}
