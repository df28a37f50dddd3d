package test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
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

// TestSocketIOCORS checks /socket.io/ against PARLEY_CORS_ORIGINS: a
// polling handshake from a disallowed origin gets no
// Access-Control-Allow-Origin header at all (engine.io sent "false"), and a
// websocket handshake from one is refused 403; the configured origin, the
// page's own origin (which needs no CORS header) and a client without
// Origin are served.
func TestSocketIOCORS(t *testing.T) {
	t.Parallel()
	const good = "https://app.example"
	n := startServer(t, map[string]string{"PARLEY_CORS_ORIGINS": good})
	noOrigins := startServer(t, nil)
	wsURL := func(n *node) string {
		return strings.Replace(n.url, "http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
	}
	tests := []struct {
		name   string
		n      *node
		origin string
		allow  bool
	}{
		{"configured origin", n, good, true},
		{"other origin", n, "https://evil.example", false},
		{"look-alike", n, good + ".evil.example", false},
		{"null origin", n, "null", false},
		{"no origins configured, other origin", noOrigins, good, false},
		{"no origins configured, own origin", noOrigins, noOrigins.url, true},
		{"no Origin header", n, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			req, _ := http.NewRequest("GET", tt.n.url+"/socket.io/?EIO=4&transport=polling", nil)
			req.Header = h.Clone()
			res, err := tt.n.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			acao, has := res.Header["Access-Control-Allow-Origin"]
			switch {
			case res.StatusCode != http.StatusOK:
				t.Errorf("polling handshake: %d", res.StatusCode)
			case tt.allow && tt.origin == good && (len(acao) != 1 || acao[0] != tt.origin):
				t.Errorf("polling: Access-Control-Allow-Origin = %q, want %q", acao, tt.origin)
			case !tt.allow && has:
				t.Errorf("polling from %q: Access-Control-Allow-Origin = %q, want no header", tt.origin, acao)
			}

			ws, wres, err := websocket.DefaultDialer.Dial(wsURL(tt.n), h)
			if tt.allow {
				if err != nil {
					t.Fatalf("websocket from %q: %v", tt.origin, err)
				}
				ws.Close()
				return
			}
			if err == nil {
				ws.Close()
				t.Fatalf("websocket from %q was upgraded, want 403", tt.origin)
			}
			if wres == nil || wres.StatusCode != http.StatusForbidden {
				t.Fatalf("websocket from %q: %v, want 403", tt.origin, err)
			}
			tally.record(wres.StatusCode, false)
		})
	}
}
