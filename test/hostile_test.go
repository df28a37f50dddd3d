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
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"parley/config"
	"parley/internal/sioclient"
	"parley/internal/testutil"
	"parley/server"
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

// quietRedis drops go-redis's own log lines (raw "pool.go:NNN" dial
// failures on stderr), which the fault tests cause on purpose; the server
// under test logs through slog, and main routes them there too.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// TestMain prints the bad-input summary and which Redis the tests used.
func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	code := testutil.Reporting(m).Run()
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
		{"alg none", unsignedToken(map[string]any{"user_id": 1, "exp": exp}), "", n, "INVALID_TOKEN_ERR"},
		{"alg none on the RS256 node", unsignedToken(map[string]any{"user_id": 1, "exp": exp}), "", rn, "INVALID_TOKEN_ERR"},
		{"HS256 signed with the RS256 public key", jwtSign(t, jwt.SigningMethodHS256, pemBytes, rsaClaims), "", rn, "INVALID_TOKEN_ERR"},
		{"HS256 with the public key DER", jwtSign(t, jwt.SigningMethodHS256, []byte(strings.TrimSpace(string(pemBytes))), rsaClaims), "", rn, "INVALID_TOKEN_ERR"},
		{"RS256 token on the HS256 node", jwtSign(t, jwt.SigningMethodRS256, rsaKey, rsaClaims), "", n, "INVALID_TOKEN_ERR"},
		{"RS512 not allowed", jwtSign(t, jwt.SigningMethodRS512, rsaKey, rsaClaims), "", rn, "INVALID_TOKEN_ERR"},
		{"wrong key", signed(t, randomHex(t, 32), 1, nil), "", n, "INVALID_TOKEN_ERR"},
		{"not yet valid", n.tok(t, 1, map[string]any{"nbf": time.Now().Add(time.Hour).Unix()}), "", n, "INVALID_TOKEN_ERR"},
		{"expired", n.tok(t, 1, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}), "", n, "INVALID_TOKEN_ERR"},
		{"missing user claim", n.tok(t, nil, nil), "", n, "INVALID_TOKEN_ERR"},
		{"user claim array", n.tok(t, []any{1}, nil), "", n, "INVALID_TOKEN_ERR"},
		{"user claim bool", n.tok(t, false, nil), "", n, "INVALID_TOKEN_ERR"},
		{"user claim null", n.tok(t, 1, map[string]any{"user_id": json.RawMessage("null")}), "", n, "INVALID_TOKEN_ERR"},
		{"user claim exponent overflow", n.tok(t, json.Number("1e999"), nil), "", n, "INVALID_TOKEN_ERR"},
		{"user claim ..", n.tok(t, "..", nil), "", n, "INVALID_TOKEN_ERR"},
		{"oversized token", n.tok(t, 1, map[string]any{"pad": strings.Repeat("x", 9<<10)}), "", n, "INVALID_TOKEN_ERR"},
		{"token for another domain", n.tok(t, 1, map[string]any{"dom": "tenb"}), "a.example", n, "INVALID_TOKEN_ERR"},
		{"domain claim not a handle", n.tok(t, 1, map[string]any{"dom": "Ten:A*"}), "", n, "INVALID_TOKEN_ERR"},
		{"domain claim number", n.tok(t, 1, map[string]any{"dom": 7}), "", n, "INVALID_TOKEN_ERR"},
		{"empty", "", "", n, "NOT_AUTHENTICATED"},
		{"garbage", "garbage", "", n, "INVALID_TOKEN_ERR"},
		{"two dots", "..", "", n, "INVALID_TOKEN_ERR"},
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
		// Text of invisible characters only is blank, on send and on edit.
		bad("zero-width space only", "POST", "/api/user/2", `{"type":"text","text":"\u200b"}`, 400, "BAD_REQUEST"),
		bad("joiners and BOM only", "POST", "/api/user/2", `{"type":"text","text":"\u200c\u200d\u2060\ufeff"}`, 400, "BAD_REQUEST"),
		bad("bidi controls only", "POST", "/api/user/2", `{"type":"text","text":"\u202a\u202e\u2066\u2069"}`, 400, "BAD_REQUEST"),
		bad("NUL and controls only", "POST", "/api/user/2", `{"type":"text","text":"\u0000\u0001\u007f \u0085"}`, 400, "BAD_REQUEST"),
		bad("tag characters and Hangul filler only", "POST", "/api/user/2", `{"type":"text","text":"\udb40\udc41\u3164\ufe0f"}`, 400, "BAD_REQUEST"),
		bad("edit to zero-width only", "POST", "/api/user/2/"+m12, `{"text":"\u200b\u200d\ufeff"}`, 400, "BAD_REQUEST"),
		bad("edit to bidi controls only", "POST", "/api/user/2/"+m12, `{"text":"\u2067\u202c"}`, 400, "BAD_REQUEST"),
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
		tc{"admin of another domain (this host's)", n, call{method: "DELETE", path: "/api/admin/dm/1/2/" + m12, token: otherAdmin, host: "a.example"}, 401, "INVALID_TOKEN_ERR"},
		// The seed's routes for other conversation kinds: 400, nothing touched.
		tc{"target villain (history)", n, call{method: "GET", path: "/api/villain/1", token: u1}, 400, "MESSAGES_INVALID_TARGET"},
		tc{"target topic (send)", n, call{method: "POST", path: "/api/topic/2", token: u1, body: ok}, 400, "MESSAGES_INVALID_TARGET"},
		tc{"target topic (edit)", n, call{method: "POST", path: "/api/topic/2/" + m12, token: u1, body: `{"text":"x"}`}, 400, "MESSAGES_INVALID_TARGET"},
		tc{"target villain (delete)", n, call{method: "DELETE", path: "/api/villain/2/" + m12, token: u1}, 400, "MESSAGES_INVALID_TARGET"},
		tc{"target villain without a token", n, call{method: "DELETE", path: "/api/villain/2/" + m12}, 401, "NOT_AUTHENTICATED"},
		tc{"unknown message type", n, call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"video","text":"x"}`}, 400, "MESSAGES_INVALID_TYPE"},
		tc{"message type empty", n, call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"","text":"x"}`}, 400, "MESSAGES_INVALID_TYPE"})

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

// TestHostileTenantInput sends what an attacker would try against tenant
// binding and token extraction: two different tokens in one request, a
// crit header, tokens without or with an empty domain claim, another
// tenant's token under Host spellings (case, trailing dot, port), another
// tenant's admin, and a token signed with another domain's key. Each must
// get its 4xx envelope (on REST, SSE and the Socket.IO handshake) and
// leave Redis unchanged.
func TestHostileTenantInput(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_DOMAINS": "a.example=tena,b.example=tenb", "PARLEY_JWT_DOMAIN_CLAIM": "dom"})
	dir, keys := keysDir(t, "tena", "tenb")
	kn := startServer(t, map[string]string{"PARLEY_DOMAINS": "a.example=tena,b.example=tenb",
		"PARLEY_JWT_SECRET": "", "PARLEY_JWT_DOMAIN_KEYS_DIR": dir})
	tenA := func(user any, extra map[string]any) string {
		with := map[string]any{"dom": "tena"}
		for k, v := range extra {
			with[k] = v
		}
		return n.tok(t, user, with)
	}
	u1, u3 := tenA(1, nil), tenA(3, nil)
	crit := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"user_id": 1, "dom": "tena", "exp": time.Now().Add(time.Hour).Unix()})
	crit.Header["crit"] = []string{"exp2"}
	crit.Header["exp2"] = 1
	critTok, err := crit.SignedString([]byte(n.secret))
	if err != nil {
		t.Fatal(err)
	}
	mid := n.do(t, call{method: "POST", path: "/api/user/2", token: u1, host: "a.example", body: `{"type":"text","text":"x"}`})
	mustStatus(t, mid, http.StatusCreated)
	m12 := obj(t, mid.obj, "entry")["id"].(string)
	send := `{"type":"text","text":"hi"}`

	type tc struct {
		name   string
		on     *node
		c      call
		status int
		code   string
	}
	tests := []tc{
		{"X-Auth-Token and Authorization differ", n, call{method: "POST", path: "/api/user/2", token: u1, host: "a.example", body: send,
			header: map[string]string{"Authorization": "Bearer " + u3}}, 400, "AMBIGUOUS_TOKEN"},
		{"X-Auth-Token twice", n, call{method: "POST", path: "/api/user/2", host: "a.example", body: send,
			addHeader: http.Header{"X-Auth-Token": {u1, u3}}}, 400, "AMBIGUOUS_TOKEN"},
		{"X-Auth-Token folded", n, call{method: "POST", path: "/api/user/2", host: "a.example", body: send,
			header: map[string]string{"X-Auth-Token": u1 + ", " + u3}}, 400, "AMBIGUOUS_TOKEN"},
		{"Authorization twice", n, call{method: "POST", path: "/api/user/2", host: "a.example", body: send,
			addHeader: http.Header{"Authorization": {"Bearer " + u1, "bearer " + u3}}}, 400, "AMBIGUOUS_TOKEN"},
		{"valid and invalid token", n, call{method: "DELETE", path: "/api/user/2/" + m12, token: u1, host: "a.example",
			header: map[string]string{"Authorization": "Bearer garbage"}}, 400, "AMBIGUOUS_TOKEN"},
		{"SSE ?token= and header differ", n, call{method: "GET", path: "/api/events?token=" + u3, token: u1, host: "a.example"}, 400, "AMBIGUOUS_TOKEN"},
		{"SSE ?token= twice", n, call{method: "GET", path: "/api/events?token=" + u1 + "&token=" + u3, host: "a.example"}, 400, "AMBIGUOUS_TOKEN"},
		{"crit header", n, call{method: "POST", path: "/api/user/2", token: critTok, host: "a.example", body: send}, 401, "INVALID_TOKEN_ERR"},
		{"no domain claim", n, call{method: "POST", path: "/api/user/2", token: n.tok(t, 1, map[string]any{"dom": nil}), host: "a.example", body: send}, 401, "INVALID_TOKEN_ERR"},
		{"no domain claim, unmapped host", n, call{method: "POST", path: "/api/user/2", token: n.tok(t, 1, map[string]any{"dom": nil}), host: "c.example", body: send}, 401, "INVALID_TOKEN_ERR"},
		{"empty domain claim", n, call{method: "POST", path: "/api/user/2", token: tenA(1, map[string]any{"dom": ""}), host: "a.example", body: send}, 401, "INVALID_TOKEN_ERR"},
		{"tena token on B.EXAMPLE.", n, call{method: "POST", path: "/api/user/2", token: u1, host: "B.EXAMPLE.", body: send}, 401, "INVALID_TOKEN_ERR"},
		{"tena token on b.example:9", n, call{method: "DELETE", path: "/api/user/2/" + m12, token: u1, host: "b.example:9"}, 401, "INVALID_TOKEN_ERR"},
		{"tena token on B.example.:443", n, call{method: "POST", path: "/api/block/2", token: u1, host: "B.example.:443"}, 401, "INVALID_TOKEN_ERR"},
		{"tena admin on b.example", n, call{method: "DELETE", path: "/api/admin/dm/1/2/" + m12, token: tenA(9, map[string]any{"role": "admin"}), host: "b.example"}, 401, "INVALID_TOKEN_ERR"},
		{"tenb admin on a.example", n, call{method: "DELETE", path: "/api/admin/dm/1/2/" + m12, token: n.tok(t, 9, map[string]any{"role": "admin", "dom": "tenb"}), host: "a.example"}, 401, "INVALID_TOKEN_ERR"},
		{"key of tena on b.example", kn, call{method: "POST", path: "/api/user/2", token: signed(t, keys["tena"], 1, nil), host: "b.example", body: send}, 401, "INVALID_TOKEN_ERR"},
		{"key of tena, admin, on b.example", kn, call{method: "DELETE", path: "/api/admin/dm/1/2/" + m12, token: signed(t, keys["tena"], 9, map[string]any{"role": "admin"}), host: "B.Example."}, 401, "INVALID_TOKEN_ERR"},
		{"key of tena on an unmapped host", kn, call{method: "POST", path: "/api/user/2", token: signed(t, keys["tena"], 1, nil), host: "c.example", body: send}, 401, "INVALID_TOKEN_ERR"},
		{"the old shared secret on a keyed node", kn, call{method: "POST", path: "/api/user/2", token: n.tok(t, 1, nil), host: "a.example", body: send}, 401, "INVALID_TOKEN_ERR"},
	}
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

	// The Socket.IO handshake takes the token from auth.token, ?token= and
	// headers with the same rule.
	handshakes := []struct {
		name, query, host string
		on                *node
		auth              any
		header            http.Header
		status            int
		code              string
	}{
		{"auth.token and ?token= differ", "?token=" + u3, "a.example", n, map[string]any{"token": u1}, nil, 400, "AMBIGUOUS_TOKEN"},
		{"auth.token and X-Auth-Token differ", "", "a.example", n, map[string]any{"token": u1}, http.Header{"X-Auth-Token": {u3}}, 400, "AMBIGUOUS_TOKEN"},
		{"?token= and Authorization differ", "?token=" + u1, "a.example", n, nil, http.Header{"Authorization": {"Bearer " + u3}}, 400, "AMBIGUOUS_TOKEN"},
		{"crit header", "", "a.example", n, map[string]any{"token": critTok}, nil, 401, "INVALID_TOKEN_ERR"},
		{"no domain claim", "", "a.example", n, map[string]any{"token": n.tok(t, 1, map[string]any{"dom": nil})}, nil, 401, "INVALID_TOKEN_ERR"},
		{"tena token on B.EXAMPLE.:80", "", "B.EXAMPLE.:80", n, map[string]any{"token": u1}, nil, 401, "INVALID_TOKEN_ERR"},
		{"key of tena on b.example", "", "b.example", kn, map[string]any{"token": signed(t, keys["tena"], 1, nil)}, nil, 401, "INVALID_TOKEN_ERR"},
	}
	for _, h := range handshakes {
		t.Run("handshake "+h.name, func(t *testing.T) {
			before := redisSnapshot(t, h.on.rdb, h.on.prefix)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			hdr := http.Header{"Host": {h.host}}
			for k, v := range h.header {
				hdr[k] = v
			}
			c, err := sioclient.Dial(ctx, h.on.url+"/"+h.query, h.auth, hdr)
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
				if err := json.Unmarshal(ce.Data, &data); err != nil || !data.Error || data.Status != h.status || data.Code != h.code {
					t.Errorf("data = %s (%v), want the %d %s envelope", ce.Data, err, h.status, h.code)
				}
				status = data.Status
			}
			d := diffSnapshots(before, redisSnapshot(t, h.on.rdb, h.on.prefix))
			tally.record(status, d != "")
			if d != "" {
				t.Errorf("Redis changed:\n%s", d)
			}
		})
	}
}

// TestHostileClientIDKeys sends client ids made of Redis key syntax
// (separators, glob and hash-tag characters): each is accepted, a retry
// with it is recognised, and no Redis key holds the id verbatim, so nothing
// from a request picks a key's shape or Cluster slot.
func TestHostileClientIDKeys(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1 := n.tok(t, 1, nil)
	ids := []string{"a:b*c{x}", "{x}", "*", "?[a-z]", `a\b`, "..:..", "1:cid:2", strings.Repeat("}", 64)}
	for i, cid := range ids {
		body := map[string]any{"type": "text", "text": fmt.Sprintf("m%d", i), "client_id": cid}
		first := n.send(t, u1, "2", body)
		mustStatus(t, first, http.StatusCreated)
		again := n.send(t, u1, "2", body)
		mustStatus(t, again, http.StatusOK)
		if got, want := obj(t, again.obj, "entry")["id"], obj(t, first.obj, "entry")["id"]; got != want {
			t.Errorf("client_id %q: retry answered %v, want the first message %v", cid, got, want)
		}
	}
	keys := testutil.ScanKeys(t, n.rdb, n.prefix+"*")
	cidKeys := 0
	for _, k := range keys {
		if strings.Contains(k, ":cid:") {
			cidKeys++
		}
		// The one hash tag Keys puts ("{<domain>:u:<id>}" and the like)
		// is the only brace pair; a client_id never adds one.
		tag, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(k, n.prefix), "{"), "}")
		if !ok || strings.ContainsAny(tag+rest, "*{}?[]\\") {
			t.Errorf("key %q holds a character from a client_id", k)
		}
		for _, cid := range ids {
			if strings.HasSuffix(k, ":"+cid) {
				t.Errorf("key %q ends with the client_id %q verbatim", k, cid)
			}
		}
	}
	// Two keys per id since sends run as per-slot steps (issue 16): the
	// sender's record (its fingerprint, in the sender's slot) and the full
	// record in the conversation's slot.
	if cidKeys != 2*len(ids) {
		t.Errorf("%d client id keys, want %d (two per id)", cidKeys, 2*len(ids))
	}
}

// TestHostileMethodsBoundSeries sends 200 requests with invented methods
// and paths: each is a 404/405 envelope that changes nothing, and the HTTP
// metrics gain a bounded set of series, because the method label only takes
// known methods (others are "other") and the route label only route
// templates (no match is "unmatched").
func TestHostileMethodsBoundSeries(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1 := n.tok(t, 1, nil)
	n.sendText(t, u1, "2", "before")
	paths := []string{"/api/user/2", "/nope/%d", "/api/user/2/x/y/%d", "/socket.io/%d", "/readyz/%d"}
	before := redisSnapshot(t, n.rdb, n.prefix)
	for i := 0; i < 200; i++ {
		method := fmt.Sprintf("INVENTED%03d", i)
		if i%10 == 0 {
			method = []string{"get", "Post", "PROPFIND", "M-SEARCH", "BREW"}[i/10%5]
		}
		path := paths[i%len(paths)]
		if strings.Contains(path, "%d") {
			path = fmt.Sprintf(path, i)
		}
		req, err := http.NewRequest(method, n.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Auth-Token", u1)
		resp, err := n.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		tally.record(resp.StatusCode, false)
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 404 or 405", method, path, resp.StatusCode)
		}
	}
	if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
		tally.record(0, true)
		t.Errorf("Redis changed:\n%s", d)
	}

	known := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
		"DELETE": true, "OPTIONS": true, "other": true}
	series := 0
	for s := range scrape(t, n.srv.MetricsHandler()) {
		name, labels, _ := strings.Cut(s, "{")
		if name != "parley_http_requests_total" && name != "parley_http_request_duration_seconds_count" {
			continue
		}
		series++
		for _, l := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
			k, v, _ := strings.Cut(l, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "method":
				if !known[v] {
					t.Errorf("series %s: method label %q, want a known method or other", s, v)
				}
			case "route":
				// Every invented path holds a digit; no route template does.
				if v != "unmatched" && (!strings.HasPrefix(v, "/") || strings.ContainsAny(v, "0123456789")) {
					t.Errorf("series %s: route label %q, want a route template or unmatched", s, v)
				}
			}
		}
	}
	// One send (POST 201), then at most {other} x {unmatched, /socket.io
	// route} x {404, 405}, counted twice (requests and latency).
	if series > 16 {
		t.Errorf("%d HTTP series after 200 invented methods and paths, want at most 16", series)
	}
	t.Logf("%d HTTP request series after 200 requests with invented methods and paths", series)
}

// TestHostileClientGoesAway sends requests whose client has already gone
// (their context is canceled) to every kind of route that reaches Redis:
// none is a storage failure. Each is logged at info as a client
// cancellation (status 499 in the log and the request metrics), no error
// is logged, parley_redis_errors_total stays 0 and no 5xx is counted.
func TestHostileClientGoesAway(t *testing.T) {
	t.Parallel()
	vars := withRedis(t, map[string]string{
		"PARLEY_KEY_PREFIX":     testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN": testutil.Domain(t),
		"PARLEY_JWT_SECRET":     randomHex(t, 32),
	})
	cfg, err := config.Load(vars)
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := server.OpenRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	srv, err := server.New(cfg, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})), rdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(); _ = rdb.Close() })
	u1 := signed(t, cfg.JWTSecret, 1, nil)

	// A message to edit, sent by a client that stays.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/user/2", strings.NewReader(`{"type":"text","text":"hi"}`))
	req.Header.Set("X-Auth-Token", u1)
	req.Header.Set("Content-Type", "application/json")
	srv.Handler().ServeHTTP(rec, req)
	var sent struct{ Entry struct{ ID string } }
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &sent) != nil {
		t.Fatalf("send: %d %s", rec.Code, rec.Body)
	}

	calls := []call{
		{method: "POST", path: "/api/user/2", body: `{"type":"text","text":"gone"}`},
		{method: "GET", path: "/api/user/2"},
		{method: "GET", path: "/api/list"},
		{method: "POST", path: "/api/user/2/" + sent.Entry.ID, body: `{"text":"gone"}`},
		{method: "POST", path: "/api/block/2"},
		{method: "POST", path: "/api/user/2/typing"},
		{method: "GET", path: "/readyz"},
	}
	for _, c := range calls {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the client is gone before the handler reaches Redis
		var body io.Reader
		if s, ok := c.body.(string); ok {
			body = strings.NewReader(s)
		}
		req := httptest.NewRequest(c.method, c.path, body).WithContext(ctx)
		req.Header.Set("X-Auth-Token", u1)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		tally.record(rec.Code, false)
		if rec.Code >= 500 || rec.Code < 400 {
			t.Errorf("%s %s with the client gone: status %d %s, want a 4xx (499)", c.method, c.path, rec.Code, rec.Body)
		}
	}

	var cancellations int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["level"] == "ERROR" || rec["level"] == "WARN" {
			t.Errorf("logged at %s: %s", rec["level"], line)
		}
		if rec["msg"] == "request canceled by the client" {
			cancellations++
			if rec["level"] != "INFO" {
				t.Errorf("client cancellation logged at %v, want INFO", rec["level"])
			}
		}
	}
	if cancellations != len(calls) {
		t.Errorf("%d client cancellations logged, want %d:\n%s", cancellations, len(calls), logs.String())
	}
	m := scrape(t, srv.MetricsHandler())
	for series, v := range m {
		if strings.HasPrefix(series, "parley_redis_errors_total{") && v > 0 {
			t.Errorf("%s = %v after canceled requests, want 0", series, v)
		}
		if strings.HasPrefix(series, "parley_http_requests_total{") && strings.Contains(series, `status="5`) && v > 0 {
			t.Errorf("%s = %v, want no 5xx for canceled requests", series, v)
		}
	}
	if got, _ := sum(m, "parley_http_requests_total", `status="499"`); got != float64(len(calls)) {
		t.Errorf("499 requests = %v, want %d", got, len(calls))
	}
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
