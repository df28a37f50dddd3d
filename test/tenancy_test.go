package test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"parley/internal/sioclient"
	"parley/internal/testutil"
)

func TestDomainsAreDisjoint(t *testing.T) {
	t.Parallel()
	def := testutil.Domain(t)
	dir, keys := keysDir(t, "tena", "tenb", def)
	n := startServer(t, map[string]string{"PARLEY_DOMAINS": "a.example=tena,B.Example=tenb", "PARLEY_DEFAULT_DOMAIN": def,
		"PARLEY_JWT_SECRET": "", "PARLEY_JWT_DOMAIN_KEYS_DIR": dir})
	// Each domain's users hold tokens signed with that domain's key; the
	// call's token names the user, the host picks the key.
	onHost := func(host, domain string) func(call) reply {
		return func(c call) reply {
			c.host, c.token = host, signed(t, keys[domain], c.token, nil)
			return n.do(t, c)
		}
	}
	u1, u2 := "1", "2"
	onA := onHost("a.example", "tena")
	onB := onHost("b.example:8080", "tenb") // port and case are ignored

	r := onA(call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text","text":"on a"}`})
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "a key", obj(t, r.obj, "state")["key"], "tena:dm:1-2")
	idA := obj(t, r.obj, "entry")["id"].(string)
	r = onB(call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text","text":"on b"}`})
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "b key", obj(t, r.obj, "state")["key"], "tenb:dm:1-2")
	onB(call{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text","text":"on b again"}`})

	for _, tc := range []struct {
		do    func(call) reply
		dom   string
		texts string
	}{{onA, "tena", "on a"}, {onB, "tenb", "on b,on b again"}} {
		r := tc.do(call{method: "GET", path: "/api/user/1", token: u2})
		mustStatus(t, r, http.StatusOK)
		wantString(t, tc.dom+" key", obj(t, r.obj, "state")["key"], tc.dom+":dm:1-2")
		var texts []string
		for _, m := range objs(t, r.obj, "messages") {
			texts = append(texts, m["text"].(string))
		}
		if got := strings.Join(texts, ","); got != tc.texts {
			t.Errorf("%s history = %q, want %q", tc.dom, got, tc.texts)
		}
		r = tc.do(call{method: "GET", path: "/api/list", token: u2})
		wantString(t, tc.dom+" list key", obj(t, r.obj, "state")["key"], tc.dom+":inbox:2")
		wantNumber(t, tc.dom+" list total", obj(t, r.obj, "state")["total"], "1")
	}
	// A message of domain a cannot be edited or deleted through domain b.
	wantError(t, onB(call{method: "POST", path: "/api/user/2/" + idA, token: u1, body: `{"text":"x"}`}), 404, "NOT_FOUND")
	wantError(t, onB(call{method: "DELETE", path: "/api/user/2/" + idA, token: u1}), 404, "NOT_FOUND")
	// An unmapped host uses the default domain, which is empty.
	r = n.get(t, signed(t, keys[def], 2, nil), "/api/list")
	wantString(t, "default list key", obj(t, r.obj, "state")["key"], n.domain+":inbox:2")
	wantNumber(t, "default list total", obj(t, r.obj, "state")["total"], "0")

	snap := redisSnapshot(t, n.rdb, n.prefix)
	var a, b int
	for key := range snap {
		switch {
		case strings.HasPrefix(key, n.prefix+"{tena:"):
			a++
		case strings.HasPrefix(key, n.prefix+"{tenb:"):
			b++
		default:
			t.Errorf("key %s is outside both domains", key)
		}
	}
	if a == 0 || b == 0 {
		t.Errorf("keys: %d under tena, %d under tenb; want both", a, b)
	}
	// dm, msgs, seq, time index, two inboxes, each user's event log and
	// counter, the sender's read horizons and the recipient's unread per
	// peer (whose sum is the unread total); since writes run as per-slot
	// steps (issue 16) also the conversation's op counter and each user's
	// applied-ops hash (the fan-out hash, pending set and index are gone
	// once done)
	if got := len(redisSnapshot(t, n.rdb, n.prefix+"{tena:")); got != 15 {
		t.Errorf("tena has %d keys, want 15", got)
	}
}

func TestDomainClaim(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_DOMAINS": "a.example=tena,b.example=tenb", "PARLEY_JWT_DOMAIN_CLAIM": "dom"})
	body := `{"type":"text","text":"hi"}`
	send := func(tok, host string) reply {
		return n.do(t, call{method: "POST", path: "/api/user/2", token: tok, body: body, host: host})
	}
	// A token for tenb on a.example is refused, and writes nothing.
	before := redisSnapshot(t, n.rdb, n.prefix)
	wantError(t, send(n.tok(t, 1, map[string]any{"dom": "tenb"}), "a.example"), 401, "INVALID_TOKEN_ERR")
	wantError(t, n.do(t, call{method: "GET", path: "/api/list", token: n.tok(t, 1, map[string]any{"dom": "tena"}), host: "b.example"}), 401, "INVALID_TOKEN_ERR")
	// A domain claim of the wrong type or shape is refused.
	wantError(t, send(n.tok(t, 1, map[string]any{"dom": 5}), "a.example"), 401, "INVALID_TOKEN_ERR")
	wantError(t, send(n.tok(t, 1, map[string]any{"dom": "Bad:Dom"}), "unmapped.example"), 401, "INVALID_TOKEN_ERR")
	if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
		t.Errorf("refused tokens changed Redis:\n%s", d)
	}

	// A matching claim works; a claim on an unmapped host picks the domain.
	r := send(n.tok(t, 1, map[string]any{"dom": "tena"}), "a.example")
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "tena key", obj(t, r.obj, "state")["key"], "tena:dm:1-2")
	r = send(n.tok(t, 1, map[string]any{"dom": "tenc"}), "unmapped.example")
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "tenc key", obj(t, r.obj, "state")["key"], "tenc:dm:1-2")
	// No claim: valid in no domain, whatever the host (the claim is
	// required once configured).
	before = redisSnapshot(t, n.rdb, n.prefix)
	for _, host := range []string{"b.example", "a.example", "unmapped.example", ""} {
		wantError(t, send(n.tok(t, 1, map[string]any{"dom": nil}), host), 401, "INVALID_TOKEN_ERR")
	}
	if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
		t.Errorf("tokens without a domain claim changed Redis:\n%s", d)
	}
	// A claim naming the default domain on no host acts there.
	r = send(n.tok(t, 1, nil), "")
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "default key", obj(t, r.obj, "state")["key"], n.domain+":dm:1-2")

	for key := range redisSnapshot(t, n.rdb, n.prefix) {
		ok := false
		for _, d := range []string{"tena", "tenb", "tenc", n.domain} {
			ok = ok || strings.HasPrefix(key, n.prefix+"{"+d+":")
		}
		if !ok {
			t.Errorf("key %s is not under <prefix>{<domain>:", key)
		}
	}
	for _, d := range []string{"tena", "tenb", "tenc", n.domain} {
		assertConsistent(t, n, d, "1", "2")
	}
}

// keysDir writes one fresh HMAC key per handle, as <handle>.key, into a new
// directory and returns the directory and the keys by handle.
func keysDir(t *testing.T, handles ...string) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	keys := map[string]string{}
	for _, h := range handles {
		keys[h] = randomHex(t, 32)
		if err := os.WriteFile(filepath.Join(dir, h+".key"), []byte(keys[h]+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, keys
}

// access is how one node answered one token on one host, on each
// transport: the HTTP status, 200 for a socket that connected.
type access struct{ rest, socket, sse int }

func (a access) String() string {
	b, _ := json.Marshal(map[string]int{"rest": a.rest, "socket": a.socket, "sse": a.sse})
	return string(b)
}

// probe tries token on host over REST (GET /api/list), the Socket.IO
// handshake (auth.token) and SSE (GET /api/events?token=).
func probe(t *testing.T, n *node, token, host string) access {
	t.Helper()
	var a access
	a.rest = n.do(t, call{method: "GET", path: "/api/list", token: token, host: host}).status

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, n.url, map[string]any{"token": token}, http.Header{"Host": {host}})
	var ce *sioclient.ConnectError
	switch {
	case err == nil:
		a.socket = 200
		_ = c.Close()
	case errors.As(err, &ce):
		var env apiEnvelope
		_ = json.Unmarshal(ce.Data, &env)
		a.socket = env.Status
	default:
		t.Fatalf("handshake on %s: %v", host, err)
	}

	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/api/events?token="+token, nil)
	req.Host = host
	resp, err := n.hc.Do(req)
	if err != nil {
		t.Fatalf("SSE on %s: %v", host, err)
	}
	a.sse = resp.StatusCode
	cancel()
	_ = resp.Body.Close()
	return a
}

var (
	accepted = access{200, 200, 200}
	refused  = access{401, 401, 401}
)

// TestTokenBoundToTenant holds the rule that a token is never valid in a
// tenant it was not issued for, on REST, the Socket.IO handshake and SSE,
// whatever Host the client sends.
func TestTokenBoundToTenant(t *testing.T) {
	t.Parallel()
	const domains = "acme.test=acme,Beta.Test.:8443=beta"

	// Host mapping on one shared key without a domain claim let acme's
	// token act as beta's user of the same id. Such a node must not start;
	// if it does, it must at least refuse the token.
	t.Run("shared key, no domain claim", func(t *testing.T) {
		n, err := tryStartServer(t, map[string]string{"PARLEY_DOMAINS": domains})
		if err != nil {
			for _, want := range []string{"PARLEY_DOMAINS", "PARLEY_JWT_DOMAIN_CLAIM", "PARLEY_JWT_DOMAIN_KEYS_DIR"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("start-up error %q does not mention %s", err, want)
				}
			}
			return
		}
		mustStatus(t, n.do(t, call{method: "POST", path: "/api/user/1", token: n.tok(t, 2, nil), host: "beta.test",
			body: `{"type":"text","text":"beta's secret"}`}), http.StatusCreated)
		acme := n.tok(t, 1, nil)
		if r := n.do(t, call{method: "GET", path: "/api/user/2", token: acme, host: "beta.test"}); r.status == 200 {
			t.Errorf("acme's token read beta's DM: %s", r.raw)
		}
		if got := probe(t, n, acme, "beta.test"); got != refused {
			t.Errorf("acme's token on beta.test: %s, want %s", got, refused)
		}
	})

	t.Run("domain claim", func(t *testing.T) {
		n := startServer(t, map[string]string{"PARLEY_DOMAINS": domains, "PARLEY_JWT_DOMAIN_CLAIM": "dom"})
		acme := n.tok(t, 1, map[string]any{"dom": "acme"})
		if got := probe(t, n, acme, "ACME.test.:8080"); got != accepted {
			t.Errorf("acme's token on acme.test: %s, want %s", got, accepted)
		}
		for _, host := range []string{"beta.test", "BETA.TEST.", "beta.test:443"} {
			if got := probe(t, n, acme, host); got != refused {
				t.Errorf("acme's token on %s: %s, want %s", host, got, refused)
			}
		}
		// The claim is required: a token without it (or with it empty) is
		// valid in no tenant, whatever the host.
		for _, tok := range []string{n.tok(t, 1, map[string]any{"dom": nil}), n.tok(t, 1, map[string]any{"dom": ""})} {
			for _, host := range []string{"beta.test", "acme.test", "other.test", ""} {
				if got := probe(t, n, tok, host); got != refused {
					t.Errorf("token without a domain claim on %q: %s, want %s", host, got, refused)
				}
			}
		}
	})

	t.Run("per-domain keys", func(t *testing.T) {
		dir, keys := keysDir(t, "acme", "beta")
		n := startServer(t, map[string]string{"PARLEY_DOMAINS": domains, "PARLEY_JWT_SECRET": "", "PARLEY_JWT_DOMAIN_KEYS_DIR": dir})
		acme, beta := signed(t, keys["acme"], 1, nil), signed(t, keys["beta"], 1, nil)
		if got := probe(t, n, acme, "acme.test"); got != accepted {
			t.Errorf("acme's token on acme.test: %s, want %s", got, accepted)
		}
		if got := probe(t, n, beta, "beta.test:8443"); got != accepted {
			t.Errorf("beta's token on beta.test: %s, want %s", got, accepted)
		}
		for _, host := range []string{"beta.test", "Beta.Test.", "beta.test:1"} {
			if got := probe(t, n, acme, host); got != refused {
				t.Errorf("acme's token on %s: %s, want %s", host, got, refused)
			}
		}
		if got := probe(t, n, beta, "acme.test"); got != refused {
			t.Errorf("beta's token on acme.test: %s, want %s", got, refused)
		}
		// An unmapped host is the default domain, which has no key here:
		// no token is valid there.
		if got := probe(t, n, acme, "unmapped.test"); got != refused {
			t.Errorf("acme's token on an unmapped host: %s, want %s", got, refused)
		}
	})
}

// The default domain verifies with its own key file too.
func TestDomainKeysDefaultDomain(t *testing.T) {
	t.Parallel()
	def := "d" + strings.ToLower(randomHex(t, 6))
	dir, keys := keysDir(t, "acme", def)
	n := startServer(t, map[string]string{"PARLEY_DOMAINS": "acme.test=acme", "PARLEY_DEFAULT_DOMAIN": def,
		"PARLEY_JWT_SECRET": "", "PARLEY_JWT_DOMAIN_KEYS_DIR": dir})
	home, acme := signed(t, keys[def], 1, nil), signed(t, keys["acme"], 1, nil)
	if got := probe(t, n, home, "unmapped.test"); got != accepted {
		t.Errorf("default domain token on an unmapped host: %s, want %s", got, accepted)
	}
	if got := probe(t, n, acme, ""); got != refused {
		t.Errorf("acme's token on no host: %s, want %s", got, refused)
	}
	if got := probe(t, n, home, "acme.test"); got != refused {
		t.Errorf("default domain token on acme.test: %s, want %s", got, refused)
	}
	r := n.do(t, call{method: "POST", path: "/api/user/2", token: home, body: `{"type":"text","text":"hi"}`})
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "key", obj(t, r.obj, "state")["key"], def+":dm:1-2")
}

// A keys directory that cannot bind every domain refuses to start, naming
// the variable.
func TestDomainKeysDirInvalid(t *testing.T) {
	t.Parallel()
	same := t.TempDir()
	for _, h := range []string{"acme", "beta"} {
		if err := os.WriteFile(filepath.Join(same, h+".key"), []byte("0123456789abcdef0123456789abcdef"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing, _ := keysDir(t, "acme")
	stray, _ := keysDir(t, "acme", "beta", "gamma")
	short := t.TempDir()
	_ = os.WriteFile(filepath.Join(short, "acme.key"), []byte("short"), 0o600)
	_ = os.WriteFile(filepath.Join(short, "beta.key"), []byte("0123456789abcdef0123456789abcdef"), 0o600)
	both, _ := keysDir(t, "acme", "beta")
	_ = os.WriteFile(filepath.Join(both, "acme.pem"), []byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"), 0o600)
	for name, tc := range map[string]struct{ dir, want string }{
		"two domains, one key":  {same, "same key"},
		"a domain without key":  {missing, "beta"},
		"a key for no domain":   {stray, "gamma"},
		"a key too short":       {short, "acme"},
		"two keys for a domain": {both, "acme"},
		"no such directory":     {filepath.Join(missing, "nope"), "nope"},
	} {
		_, err := tryStartServer(t, map[string]string{"PARLEY_DOMAINS": "acme.test=acme,beta.test=beta",
			"PARLEY_JWT_SECRET": "", "PARLEY_JWT_DOMAIN_KEYS_DIR": tc.dir})
		if err == nil || !strings.Contains(err.Error(), "PARLEY_JWT_DOMAIN_KEYS_DIR") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming PARLEY_JWT_DOMAIN_KEYS_DIR and %q", name, err, tc.want)
		}
	}
}

// PARLEY_JWT_ISSUER and PARLEY_JWT_AUDIENCE, when set, must match on every
// transport.
func TestIssuerAudienceRequired(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_JWT_ISSUER": "https://id.acme.test", "PARLEY_JWT_AUDIENCE": "parley"})
	good := n.tok(t, 1, map[string]any{"iss": "https://id.acme.test", "aud": "parley"})
	if got := probe(t, n, good, ""); got != accepted {
		t.Errorf("matching iss and aud: %s, want %s", got, accepted)
	}
	for name, extra := range map[string]map[string]any{
		"no iss":    {"aud": "parley"},
		"no aud":    {"iss": "https://id.acme.test"},
		"other iss": {"iss": "https://id.beta.test", "aud": "parley"},
		"other aud": {"iss": "https://id.acme.test", "aud": []string{"billing"}},
	} {
		if got := probe(t, n, n.tok(t, 1, extra), ""); got != refused {
			t.Errorf("%s: %s, want %s", name, got, refused)
		}
	}
}
