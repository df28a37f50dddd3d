package test

import (
	"net/http"
	"testing"
)

// TestCORSOnlyConfiguredOrigins checks that the REST API answers CORS only
// for the configured origins: no look-alike, "null" or unconfigured origin
// gets an Access-Control-Allow-Origin header, and with no origins
// configured nobody does.
func TestCORSOnlyConfiguredOrigins(t *testing.T) {
	t.Parallel()
	const good = "https://app.example"
	withOrigins := startServer(t, map[string]string{"PARLEY_CORS_ORIGINS": good})
	noOrigins := startServer(t, nil)
	tests := []struct {
		name   string
		n      *node
		method string
		origin string
		allow  bool
	}{
		{"configured origin, preflight", withOrigins, "OPTIONS", good, true},
		{"configured origin, GET", withOrigins, "GET", good, true},
		{"other origin, preflight", withOrigins, "OPTIONS", "https://evil.example", false},
		{"other origin, GET", withOrigins, "GET", "https://evil.example", false},
		{"suffix look-alike", withOrigins, "GET", good + ".evil.example", false},
		{"prefix look-alike", withOrigins, "GET", "https://evilapp.example", false},
		{"http instead of https", withOrigins, "GET", "http://app.example", false},
		{"null origin", withOrigins, "OPTIONS", "null", false},
		{"no origins configured, preflight", noOrigins, "OPTIONS", good, false},
		{"no origins configured, GET", noOrigins, "GET", good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Origin": tt.origin}
			if tt.method == "OPTIONS" {
				h["Access-Control-Request-Method"] = "POST"
				h["Access-Control-Request-Headers"] = "content-type, x-auth-token"
			}
			r := tt.n.do(t, call{method: tt.method, path: "/api/list", token: tt.n.tok(t, 1, nil), header: h})
			if r.status >= 500 {
				t.Errorf("status %d", r.status)
			}
			got := r.header.Get("Access-Control-Allow-Origin")
			switch {
			case tt.allow && got != tt.origin:
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.origin)
			case !tt.allow && (got != "" || r.header.Get("Access-Control-Allow-Credentials") != ""):
				t.Errorf("origin %q got CORS headers: allow-origin %q, credentials %q", tt.origin, got, r.header.Get("Access-Control-Allow-Credentials"))
			}
			if tt.allow && tt.method == "OPTIONS" && r.status != http.StatusNoContent {
				t.Errorf("preflight status = %d, want 204", r.status)
			}
		})
	}
}
