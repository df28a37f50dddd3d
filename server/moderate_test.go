package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parley/auth"
	"parley/config"
	"parley/internal/testutil"
)

// TestAdminDeleteIsAudited: every admin deletion leaves one log line naming
// the admin, the domain, the conversation, the message and its author.
func TestAdminDeleteIsAudited(t *testing.T) {
	t.Parallel()
	secret := testutil.RandomHex(t, 32)
	domain := testutil.Domain(t)
	vars := map[string]string{"PARLEY_KEY_PREFIX": testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN": domain, "PARLEY_JWT_SECRET": secret, "PARLEY_METRICS_ADDR": ""}
	for k, v := range testutil.RedisEnv(t) { // the run's mode; the client is testutil.Redis below
		vars[k] = v
	}
	cfg, err := config.Load(vars)
	if err != nil {
		t.Fatal(err)
	}
	rdb := testutil.Redis(t)
	var logs testutil.SyncBuffer
	srv, err := New(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	tok := func(claims map[string]any) string {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
		s, err := auth.SignHS256([]byte(secret), claims)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	do := func(method, path, token, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("X-Auth-Token", token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		return w
	}
	w := do("POST", "/api/user/2", tok(map[string]any{"user_id": 1}), `{"text":"spam"}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("send: %d %s", w.Code, w.Body)
	}
	var sent struct{ Entry struct{ ID string } }
	_ = json.Unmarshal(w.Body.Bytes(), &sent)

	if w := do("DELETE", "/api/admin/dm/1/2/"+sent.Entry.ID, tok(map[string]any{"user_id": 2}), ""); w.Code != http.StatusForbidden {
		t.Fatalf("non-admin: %d %s", w.Code, w.Body)
	}
	if strings.Contains(logs.String(), "admin deleted") {
		t.Fatalf("a refused deletion was logged as done: %s", logs.String())
	}
	if w := do("DELETE", "/api/admin/dm/1/2/"+sent.Entry.ID, tok(map[string]any{"user_id": 99, "roles": "x", "role": "admin"}), ""); w.Code != http.StatusOK {
		t.Fatalf("admin: %d %s", w.Code, w.Body)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "admin deleted a message") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]any{"audit": true, "admin": "99", "domain": domain, "conversation": domain + ":dm:1-2",
		"message": sent.Entry.ID, "author": "1"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("audit line %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
}
