package test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"parley/internal/sioclient"
)

// badInputs tallies every bad input the end-to-end tests send, so the
// package can print one computed summary line (see TestMain).
type badInputs struct {
	mu                 sync.Mutex
	tried, fivexx, chg int
}

func (b *badInputs) record(status int, changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tried++
	if status >= 500 {
		b.fivexx++
	}
	if changed {
		b.chg++
	}
}

func (b *badInputs) summary() (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("%d bad inputs, %d server errors, %d state changes", b.tried, b.fivexx, b.chg), b.fivexx == 0 && b.chg == 0
}

// tally is shared by TestErrors and TestHostileInput; test-only state.
var tally badInputs

func TestMain(m *testing.M) {
	code := m.Run()
	if line, ok := tally.summary(); tally.tried > 0 {
		fmt.Println("bad-input summary:", line)
		if !ok && code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// rsaNode starts a node that only accepts RS256 tokens verified with a
// public key file, and returns it with the private key.
func rsaNode(t *testing.T) (*node, *rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	file := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(file, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	n := startServer(t, map[string]string{"PARLEY_JWT_SECRET": "", "PARLEY_JWT_ALGORITHMS": "RS256",
		"PARLEY_JWT_PUBLIC_KEY_FILE": file})
	return n, key, pemBytes
}

func jwtSign(t *testing.T, m jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestHostileInput adds the hostile cases the TestErrors table
// lacks (algorithm confusion, oversized and other-domain tokens, dot and
// space ids, huge pages, combining marks, 10 MB edits) and runs every
// token case against the Socket.IO handshake too. Each bad input must get
// its 4xx envelope and leave Redis unchanged.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_MAX_TEXT": "10",
		"PARLEY_DOMAINS": "a.example=tena", "PARLEY_JWT_DOMAIN_CLAIM": "dom"})
	rn, rsaKey, pemBytes := rsaNode(t)
	u1 := n.tok(t, 1, nil)
	m12 := n.sendText(t, u1, "2", "hello")["id"].(string)
	exp := time.Now().Add(time.Hour).Unix()
	ok := `{"type":"text","text":"hi"}`

	// Tokens that must be refused, on REST and on the handshake.
	rsaClaims := jwt.MapClaims{"user_id": 1, "exp": exp}
	type badToken struct {
		name, token, host string
		on                *node
		code              string
	}
	tokens := []badToken{
		{"alg none", unsignedToken(map[string]any{"user_id": 1, "exp": exp}), "", n, "UNAUTHORIZED"},
		{"alg none on the RS256 node", unsignedToken(map[string]any{"user_id": 1, "exp": exp}), "", rn, "UNAUTHORIZED"},
		{"HS256 signed with the RS256 public key", jwtSign(t, jwt.SigningMethodHS256, pemBytes, rsaClaims), "", rn, "UNAUTHORIZED"},
		{"HS256 with the public key DER", jwtSign(t, jwt.SigningMethodHS256, []byte(strings.TrimSpace(string(pemBytes))), rsaClaims), "", rn, "UNAUTHORIZED"},
		{"RS256 token on the HS256 node", jwtSign(t, jwt.SigningMethodRS256, rsaKey, rsaClaims), "", n, "UNAUTHORIZED"},
		{"RS512 not allowed", jwtSign(t, jwt.SigningMethodRS512, rsaKey, rsaClaims), "", rn, "UNAUTHORIZED"},
		{"wrong key", signed(t, randomHex(t, 32), 1, nil), "", n, "UNAUTHORIZED"},
		{"not yet valid", n.tok(t, 1, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), "", n, "UNAUTHORIZED"},
		{"expired", n.tok(t, 1, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), "", n, "TOKEN_EXPIRED"},
		{"missing user claim", n.tok(t, nil, nil), "", n, "UNAUTHORIZED"},
		{"user claim array", n.tok(t, []any{1}, nil), "", n, "UNAUTHORIZED"},
		{"user claim bool", n.tok(t, false, nil), "", n, "UNAUTHORIZED"},
		{"user claim null", n.tok(t, 1, map[string]any{"user_id": json.RawMessage("null")}), "", n, "UNAUTHORIZED"},
		{"user claim exponent overflow", n.tok(t, json.Number("1e999"), nil), "", n, "UNAUTHORIZED"},
		{"user claim ..", n.tok(t, "..", nil), "", n, "UNAUTHORIZED"},
		{"oversized token", n.tok(t, 1, map[string]any{"pad": strings.Repeat("x", 9<<10)}), "", n, "UNAUTHORIZED"},
		{"token for another domain", n.tok(t, 1, map[string]any{"dom": "tenb"}), "a.example", n, "UNAUTHORIZED"},
		{"domain claim not a handle", n.tok(t, 1, map[string]any{"dom": "Ten:A*"}), "", n, "UNAUTHORIZED"},
		{"domain claim number", n.tok(t, 1, map[string]any{"dom": 7}), "", n, "UNAUTHORIZED"},
		{"empty", "", "", n, "UNAUTHORIZED"},
		{"garbage", "garbage", "", n, "UNAUTHORIZED"},
		{"two dots", "..", "", n, "UNAUTHORIZED"},
	}
	if len(tokens[15].token) <= 8<<10 {
		t.Fatalf("oversized token is only %d bytes", len(tokens[15].token))
	}

	type tc struct {
		name   string
		on     *node
		c      call
		status int
		code   string
	}
	tests := []tc{}
	for _, b := range tokens {
		tests = append(tests,
			tc{"token " + b.name + " (history)", b.on, call{method: "GET", path: "/api/user/2", token: b.token, host: b.host}, 401, b.code},
			tc{"token " + b.name + " (send)", b.on, call{method: "POST", path: "/api/user/2", token: b.token, host: b.host, body: ok}, 401, b.code})
	}
	bad := func(name, method, path, body string, status int, code string) tc {
		c := call{method: method, path: path, token: u1}
		if body != "" {
			c.body = body
		}
		return tc{name, n, c, status, code}
	}
	tests = append(tests,
		bad("id ..", "POST", "/api/user/..", ok, 400, "BAD_REQUEST"),
		bad("id .", "POST", "/api/user/.", ok, 400, "BAD_REQUEST"),
		bad("id %2E%2E", "POST", "/api/user/%2E%2E", ok, 400, "BAD_REQUEST"),
		bad("history id ..", "GET", "/api/user/..", "", 400, "BAD_REQUEST"),
		bad("edit via ../", "POST", "/api/user/..%2F2/"+m12, `{"text":"x"}`, 404, "NOT_FOUND"),
		bad("delete id ..", "DELETE", "/api/user/../"+m12, "", 400, "BAD_REQUEST"),
		bad("id with leading space", "POST", "/api/user/%202", ok, 400, "BAD_REQUEST"),
		bad("id with trailing space", "GET", "/api/user/2%20", "", 400, "BAD_REQUEST"),
		bad("id with tab", "GET", "/api/user/2%09", "", 400, "BAD_REQUEST"),
		bad("id with NUL", "POST", "/api/user/2%00", ok, 400, "BAD_REQUEST"),
		bad("id with newline", "POST", "/api/user/2%0Ax", ok, 400, "BAD_REQUEST"),
		bad("id with percent", "POST", "/api/user/2%252D3", ok, 400, "BAD_REQUEST"),
		bad("id with braces and star", "GET", "/api/user/%7B*%7D", "", 400, "BAD_REQUEST"),
		bad("page huge", "GET", "/api/user/2?page=1073741825", "", 400, "BAD_REQUEST"),
		bad("page int64 overflow", "GET", "/api/user/2?page=9223372036854775808", "", 400, "BAD_REQUEST"),
		bad("page zero", "GET", "/api/user/2?page=0", "", 400, "BAD_REQUEST"),
		bad("page negative", "GET", "/api/user/2?page=-3", "", 400, "BAD_REQUEST"),
		bad("page not numeric", "GET", "/api/user/2?page=two", "", 400, "BAD_REQUEST"),
		bad("page hex", "GET", "/api/user/2?page=0x10", "", 400, "BAD_REQUEST"),
		bad("limit huge", "GET", "/api/user/2?limit=99999999999999999999", "", 400, "BAD_REQUEST"),
		bad("limit zero", "GET", "/api/user/2?limit=0", "", 400, "BAD_REQUEST"),
		bad("per_page negative", "GET", "/api/user/2?per_page=-1", "", 400, "BAD_REQUEST"),
		bad("per_page not numeric", "GET", "/api/user/2?per_page=all", "", 400, "BAD_REQUEST"),
		bad("list page huge", "GET", "/api/list?page=99999999999", "", 400, "BAD_REQUEST"),
		bad("list limit over max", "GET", "/api/list?limit=101", "", 400, "BAD_REQUEST"),
		bad("list per_page zero", "GET", "/api/list?per_page=0", "", 400, "BAD_REQUEST"),
		bad("combining marks one over the limit", "POST", "/api/user/2", `{"type":"text","text":"`+strings.Repeat("e\u0301", 5)+`e"}`, 400, "BAD_REQUEST"),
		bad("zero-width only text", "POST", "/api/user/2", `{"type":"text","text":"\u00a0\u3000"}`, 400, "BAD_REQUEST"),
		bad("text is an escaped lone surrogate plus over the limit", "POST", "/api/user/2", `{"type":"text","text":"\ud800`+strings.Repeat("a", 10)+`"}`, 400, "BAD_REQUEST"),
		bad("deeply nested body", "POST", "/api/user/2", strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000), 400, "BAD_REQUEST"),
		bad("edit combining marks over the limit", "POST", "/api/user/2/"+m12, `{"text":"`+strings.Repeat("a\u0308", 6)+`"}`, 400, "BAD_REQUEST"),
		// Issue 6 routes.
		bad("read: upTo of another DM", "POST", "/api/user/3/read", `{"upTo":"`+m12+`"}`, 404, "NOT_FOUND"),
		bad("read: upTo a Redis pattern", "POST", "/api/user/2/read", `{"upTo":"*"}`, 404, "NOT_FOUND"),
		bad("read: upTo an object", "POST", "/api/user/2/read", `{"upTo":{"$gt":""}}`, 400, "BAD_REQUEST"),
		bad("read: empty upTo", "POST", "/api/user/2/read", `{"upTo":""}`, 400, "BAD_REQUEST"),
		bad("read: id ..", "POST", "/api/user/../read", `{"upTo":"`+m12+`"}`, 400, "BAD_REQUEST"),
		bad("read: not JSON", "POST", "/api/user/2/read", `upTo=1`, 400, "BAD_REQUEST"),
		bad("client_id with a newline", "POST", "/api/user/2", `{"text":"hi","client_id":"a\nb"}`, 400, "BAD_REQUEST"),
		bad("client_id 10 KB", "POST", "/api/user/2", `{"text":"hi","client_id":"`+strings.Repeat("c", 10<<10)+`"}`, 400, "BAD_REQUEST"),
		bad("client_id a glob", "POST", "/api/user/2", `{"text":"","client_id":"*"}`, 400, "BAD_REQUEST"),
		bad("block id ..", "POST", "/api/block/..", "", 400, "BAD_REQUEST"),
		bad("block id with braces", "POST", "/api/block/%7Ba%7D", "", 400, "BAD_REQUEST"),
		bad("block oneself", "POST", "/api/block/1", "", 400, "BAD_REQUEST"),
		bad("unblock id with space", "DELETE", "/api/block/a%20b", "", 400, "BAD_REQUEST"),
		bad("typing: id ..", "POST", "/api/user/../typing", "", 400, "BAD_REQUEST"),
		bad("typing: id a glob", "POST", "/api/user/*/typing", "", 400, "BAD_REQUEST"),
		bad("typing: oneself", "POST", "/api/user/1/typing", "", 400, "BAD_REQUEST"),
		bad("typing: body not an object", "POST", "/api/user/2/typing", `["x"]`, 400, "BAD_REQUEST"),
		bad("presence: ids a glob", "GET", "/api/presence?ids=*", "", 400, "BAD_REQUEST"),
		bad("presence: ids with braces", "GET", "/api/presence?ids=1,%7Ba%7D", "", 400, "BAD_REQUEST"),
		bad("presence: 1000 ids", "GET", "/api/presence?ids="+strings.Repeat("1,", 999)+"1", "", 400, "BAD_REQUEST"),
		bad("admin delete without the claim", "DELETE", "/api/admin/dm/1/2/"+m12, "", 403, "FORBIDDEN"),
	)
	admin := n.tok(t, 9, map[string]any{"role": "admin"})
	for _, c := range []struct {
		name, path string
		status     int
		code       string
	}{
		{"admin delete: id ..", "/api/admin/dm/../2/" + m12, 400, "BAD_REQUEST"},
		{"admin delete: same user twice", "/api/admin/dm/2/2/" + m12, 400, "BAD_REQUEST"},
		{"admin delete: wrong pair", "/api/admin/dm/1/3/" + m12, 404, "NOT_FOUND"},
		{"admin delete: not a message id", "/api/admin/dm/1/2/*", 404, "NOT_FOUND"},
	} {
		tests = append(tests, tc{c.name, n, call{method: "DELETE", path: c.path, token: admin}, c.status, c.code})
	}
	otherAdmin := n.tok(t, 9, map[string]any{"role": "admin", "dom": "tenb"})
	tests = append(tests,
		tc{"admin of another domain (its own)", n, call{method: "DELETE", path: "/api/admin/dm/1/2/" + m12, token: otherAdmin}, 404, "NOT_FOUND"},
		tc{"admin of another domain (this host's)", n, call{method: "DELETE", path: "/api/admin/dm/1/2/" + m12, token: otherAdmin, host: "a.example"}, 401, "UNAUTHORIZED"})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := redisSnapshot(t, tt.on.rdb, tt.on.prefix)
			r := tt.on.do(t, tt.c)
			d := diffSnapshots(before, redisSnapshot(t, tt.on.rdb, tt.on.prefix))
			tally.record(r.status, d != "")
			wantError(t, r, tt.status, tt.code)
			if d != "" {
				t.Errorf("Redis changed:\n%s", d)
			}
		})
	}

	t.Run("10 MB edit", func(t *testing.T) {
		before := redisSnapshot(t, n.rdb, n.prefix)
		r := rawPost(t, n, "/api/user/2/"+m12, u1, 10<<20)
		d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
		tally.record(r.status, d != "")
		wantError(t, r, 413, "PAYLOAD_TOO_LARGE")
		if d != "" {
			t.Errorf("Redis changed:\n%s", d)
		}
	})

	// The same tokens against the Socket.IO handshake: a connect_error with
	// the 401 envelope, nothing joined, nothing written.
	for _, b := range tokens {
		t.Run("handshake "+b.name, func(t *testing.T) {
			before := redisSnapshot(t, b.on.rdb, b.on.prefix)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var hdr http.Header
			if b.host != "" {
				hdr = http.Header{"Host": {b.host}}
			}
			c, err := sioclient.Dial(ctx, b.on.url, map[string]any{"token": b.token}, hdr)
			status := 0
			var ce *sioclient.ConnectError
			switch {
			case err == nil:
				c.Close()
				status = 200
				t.Error("connected, want connect_error")
			case !errors.As(err, &ce):
				t.Fatalf("err = %v, want a connect_error", err)
			default:
				var data apiEnvelope
				if err := json.Unmarshal(ce.Data, &data); err != nil || !data.Error || data.Status != 401 || data.Code != b.code {
					t.Errorf("data = %s (%v), want the 401 %s envelope", ce.Data, err, b.code)
				}
				status = data.Status
			}
			d := diffSnapshots(before, redisSnapshot(t, b.on.rdb, b.on.prefix))
			tally.record(status, d != "")
			if d != "" {
				t.Errorf("Redis changed:\n%s", d)
			}
		})
	}

	// Good inputs at the edges still work: combining marks exactly at the
	// limit (characters are code points), and a real RS256 token.
	for _, text := range []string{strings.Repeat("e\u0301", 5), strings.Repeat("a\u0308", 5), "\U0001F469\u200d\U0001F4BB" + strings.Repeat("x", 7)} {
		r := n.send(t, u1, "2", map[string]any{"type": "text", "text": text})
		mustStatus(t, r, http.StatusCreated)
		wantString(t, "text at the limit", obj(t, r.obj, "entry")["text"], text)
	}
	rt := jwtSign(t, jwt.SigningMethodRS256, rsaKey, rsaClaims)
	mustStatus(t, rn.send(t, rt, "2", map[string]any{"type": "text", "text": "signed with RS256"}), http.StatusCreated)
	assertConsistent(t, n, n.domain, "1", "2")
	line, _ := tally.summary()
	t.Logf("so far: %s", line)
}

// TestHostileTransport is the hostile-input suite for the realtime
// transports: oversized Engine.IO payloads (polling bodies with a length,
// chunked, websocket frames plain and deflated), websocket handshakes from
// disallowed origins and connections beyond the per-user cap. Each is
// refused (413, 403, close 1009, 429 / TOO_MANY_CONNECTIONS) and leaves
// Redis unchanged.
func TestHostileTransport(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_CORS_ORIGINS": "https://app.example", "PARLEY_MAX_CONNECTIONS_PER_USER": "1"})
	u1 := n.tok(t, 1, nil)
	dial(t, n, u1) // user 1's one connection
	check := func(t *testing.T, send func() int, want int) {
		t.Helper()
		before := redisSnapshot(t, n.rdb, n.prefix)
		status := send()
		d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix))
		tally.record(status, d != "")
		if status != want {
			t.Errorf("status %d, want %d", status, want)
		}
		if d != "" {
			t.Errorf("Redis changed:\n%s", d)
		}
	}
	post := func(body io.Reader, length int64) int {
		sid, status := pollingSID(t, n, nil)
		if status != http.StatusOK {
			t.Fatalf("polling handshake: %d %s", status, sid)
		}
		req, _ := http.NewRequest("POST", n.url+"/socket.io/?EIO=4&transport=polling&sid="+sid, body)
		req.ContentLength = length
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		res, err := n.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if !strings.Contains(string(b), `"PAYLOAD_TOO_LARGE"`) {
			t.Errorf("body %q, want the PAYLOAD_TOO_LARGE envelope", b)
		}
		return res.StatusCode
	}
	for _, size := range []int64{64<<10 + 1, 1 << 20, 8 << 20} {
		t.Run(fmt.Sprintf("polling body of %d bytes with a length", size), func(t *testing.T) {
			check(t, func() int { return post(&hugeBody{left: size}, size) }, 413)
		})
		t.Run(fmt.Sprintf("chunked polling body of %d bytes", size), func(t *testing.T) {
			check(t, func() int { return post(&hugeBody{left: size}, -1) }, 413)
		})
	}
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("websocket frame of 8 MB, deflate %v", deflate), func(t *testing.T) {
			check(t, func() int {
				if err := bigFrame(n, 8<<20, deflate); err != nil {
					t.Error(err)
					return 0
				}
				return 413 // closed 1009, the websocket's "too large"
			}, 413)
		})
	}
	for _, origin := range []string{"https://evil.example", "null", "https://app.example.evil.example", "http://app.example"} {
		t.Run("websocket from origin "+origin, func(t *testing.T) {
			check(t, func() int {
				ws, res, err := websocket.DefaultDialer.Dial(strings.Replace(n.url, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket",
					http.Header{"Origin": {origin}})
				if err == nil {
					ws.Close()
					return 101
				}
				if res == nil {
					t.Fatal(err)
				}
				return res.StatusCode
			}, 403)
		})
	}
	t.Run("socket beyond the per-user cap", func(t *testing.T) {
		check(t, func() int {
			_, err := tryDial(t, n, u1)
			refusedTooMany(t, err, "2nd socket")
			return 429
		}, 429)
	})
	t.Run("SSE stream beyond the per-user cap", func(t *testing.T) {
		check(t, func() int {
			r := n.do(t, call{method: "GET", path: "/api/events", token: u1})
			wantError(t, r, 429, "TOO_MANY_CONNECTIONS")
			return r.status
		}, 429)
	})
}
