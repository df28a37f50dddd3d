package test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSeedErrorCodes: where the seed answered with its own code and name,
// Parley answers with the same code, the same name and the same status, in
// its flat envelope; a refused token's message says why.
func TestSeedErrorCodes(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_JWT_ISSUER": "platform"})
	iss := map[string]any{"iss": "platform"}
	u1 := n.tok(t, 1, iss)
	ok := `{"type":"text","text":"hi"}`
	type tc struct {
		name     string
		c        call
		status   int
		code     string
		errName  string
		contains string // in the message, lower case
	}
	tests := []tc{
		{"no token (list)", call{method: "GET", path: "/api/list"}, 401, "NOT_AUTHENTICATED", "UnauthenticatedError", "not authenticated"},
		{"no token (send)", call{method: "POST", path: "/api/user/2", body: ok}, 401, "NOT_AUTHENTICATED", "UnauthenticatedError", "not authenticated"},
		{"no token (history)", call{method: "GET", path: "/api/user/2"}, 401, "NOT_AUTHENTICATED", "UnauthenticatedError", "not authenticated"},
		{"malformed token", call{method: "GET", path: "/api/list", token: "lol"}, 401, "INVALID_TOKEN_ERR", "JsonWebTokenError", "malformed"},
		{"expired token", call{method: "GET", path: "/api/list", token: n.tok(t, 1, map[string]any{"iss": "platform", "exp": time.Now().Add(-time.Hour).Unix()})}, 401, "INVALID_TOKEN_ERR", "TokenExpiredError", "expired"},
		{"bad signature", call{method: "GET", path: "/api/list", token: signed(t, "another-secret-of-32-bytes-xxxxx", 1, iss)}, 401, "INVALID_TOKEN_ERR", "JsonWebTokenError", "signature"},
		{"no exp", call{method: "GET", path: "/api/list", token: n.tok(t, 1, map[string]any{"iss": "platform", "exp": nil})}, 401, "INVALID_TOKEN_ERR", "JsonWebTokenError", "exp"},
		{"wrong issuer", call{method: "GET", path: "/api/list", token: n.tok(t, 1, map[string]any{"iss": "elsewhere"})}, 401, "INVALID_TOKEN_ERR", "JsonWebTokenError", "issuer"},
		{"alg none", call{method: "GET", path: "/api/list", token: unsignedToken(map[string]any{"user_id": 1, "iss": "platform", "exp": time.Now().Add(time.Hour).Unix()})}, 401, "INVALID_TOKEN_ERR", "JsonWebTokenError", "signing method"},
		{"no user claim", call{method: "GET", path: "/api/list", token: n.tok(t, nil, iss)}, 401, "INVALID_TOKEN_ERR", "UnauthenticatedError", "user"},
		{"bad token on /api/", call{method: "GET", path: "/api/", token: "lol"}, 401, "INVALID_TOKEN_ERR", "JsonWebTokenError", "malformed"},
		{"unknown type", call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"video","text":"x"}`}, 400, "MESSAGES_INVALID_TYPE", "ArgumentError", "type"},
		{"villain history", call{method: "GET", path: "/api/villain/1", token: u1}, 400, "MESSAGES_INVALID_TARGET", "ArgumentError", `invalid target "villain"`},
		{"villain send", call{method: "POST", path: "/api/villain/skynet", token: u1, body: ok}, 400, "MESSAGES_INVALID_TARGET", "ArgumentError", `invalid target "villain"`},
		{"topic edit", call{method: "POST", path: "/api/topic/5/0190a0a0-0000-7000-8000-000000000000", token: u1, body: `{"text":"x"}`}, 400, "MESSAGES_INVALID_TARGET", "ArgumentError", `invalid target "topic"`},
		{"villain without token", call{method: "GET", path: "/api/villain/1"}, 401, "NOT_AUTHENTICATED", "UnauthenticatedError", "not authenticated"},
		{"no route", call{method: "GET", path: "/nope"}, 404, "NOT_FOUND", "RouteNotFoundError", "not found"},
		{"no route under /api", call{method: "GET", path: "/api/user/2/x/y", token: u1}, 404, "NOT_FOUND", "RouteNotFoundError", "not found"},
		{"no message", call{method: "DELETE", path: "/api/user/2/0190a0a0-0000-7000-8000-000000000000", token: u1}, 404, "NOT_FOUND", "NotFound", "not found"},
		{"missing text", call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text"}`}, 400, "BAD_REQUEST", "ArgumentError", "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := n.do(t, tt.c)
			wantError(t, r, tt.status, tt.code)
			wantString(t, "name", r.obj["name"], tt.errName)
			if m, _ := r.obj["message"].(string); !strings.Contains(strings.ToLower(m), tt.contains) {
				t.Errorf("message %q does not say %q", m, tt.contains)
			}
		})
	}
}

// TestSeedRootWithoutToken: GET /api/ answers without a token, as the seed
// did, so a client can probe the service and its token separately.
func TestSeedRootWithoutToken(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	for _, path := range []string{"/api/", "/api"} {
		r := n.get(t, "", path)
		mustStatus(t, r, http.StatusOK)
		wantKeys(t, path, r.obj, "authenticated", "message", "success")
		wantBool(t, "authenticated", r.obj["authenticated"], false)
		wantBool(t, "success", r.obj["success"], true)
		r = n.get(t, n.tok(t, 1, nil), path)
		mustStatus(t, r, http.StatusOK)
		wantBool(t, "authenticated", r.obj["authenticated"], true)
	}
}
