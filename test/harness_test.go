package test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"parley/auth"
	"parley/chat"
	"parley/config"
	"parley/internal/testutil"
	"parley/server"
)

// node is one running Parley server with a raw Redis client for state
// assertions.
type node struct {
	url    string
	secret string
	cfg    config.Config
	rdb    redis.UniversalClient
	prefix string // PARLEY_KEY_PREFIX
	domain string // PARLEY_DEFAULT_DOMAIN
	hc     *http.Client
	srv    *server.Server
}

// startServer runs server.New on a free loopback port with test defaults
// (real Redis, unique prefix and domain, random secret, error logging),
// overridden by env; an empty value in env removes the variable. It stops
// in t.Cleanup.
func startServer(t *testing.T, env map[string]string) *node {
	t.Helper()
	n, err := tryStartServer(t, env)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tryStartServer is startServer returning the configuration or wiring
// error instead of failing the test.
func tryStartServer(t *testing.T, env map[string]string) (*node, error) {
	t.Helper()
	vars := map[string]string{
		"PARLEY_KEY_PREFIX":     testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN": testutil.Domain(t),
		"PARLEY_JWT_SECRET":     randomHex(t, 32),
		"PARLEY_LOG_LEVEL":      "error",
		// Tests send bursts from one user; the budgets have their own tests.
		"PARLEY_SEND_RATE":  "0",
		"PARLEY_WRITE_RATE": "0",
	}
	ownRedis := false
	for _, k := range testutil.RedisEnvKeys {
		_, given := env[k]
		ownRedis = ownRedis || given
	}
	if !ownRedis { // the run's Redis: single, cluster or Sentinel (testutil.Mode)
		for k, v := range testutil.RedisEnv(t) {
			vars[k] = v
		}
	}
	for k, v := range env {
		if v == "" {
			delete(vars, k)
			continue
		}
		vars[k] = v
	}
	cfg, err := config.Load(vars)
	if err != nil {
		return nil, fmt.Errorf("config.Load: %w", err)
	}
	rdb, err := server.OpenRedis(cfg)
	if err != nil {
		return nil, fmt.Errorf("OpenRedis: %w", err)
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), rdb)
	if err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("server.New: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()

	raw := rawClient(t, cfg)
	hc := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		srv.Close()
		_ = rdb.Close()
		_ = raw.Close()
		hc.CloseIdleConnections()
	})
	return &node{url: "http://" + ln.Addr().String(), secret: cfg.JWTSecret, cfg: cfg, rdb: raw,
		prefix: cfg.KeyPrefix, domain: cfg.DefaultDomain, hc: hc, srv: srv}, nil
}

// withRedis adds to vars the variables that put a node on this run's
// Redis (testutil.RedisEnv: single, cluster or Sentinel).
func withRedis(t testing.TB, vars map[string]string) map[string]string {
	t.Helper()
	for k, v := range testutil.RedisEnv(t) {
		vars[k] = v
	}
	return vars
}

// rawClient is a plain client (no Parley timeouts) on the Redis cfg
// names, in its mode, for the tests' state assertions.
func rawClient(t testing.TB, cfg config.Config) redis.UniversalClient {
	t.Helper()
	switch cfg.RedisMode() {
	case config.RedisCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: cfg.RedisClusterAddrs})
	case config.RedisSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: cfg.RedisSentinelMaster, SentinelAddrs: cfg.RedisSentinelAddrs})
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	return redis.NewClient(opt)
}

func randomHex(t testing.TB, n int) string { return testutil.RandomHex(t, n) }

// tok mints an HS256 token for user (a number or a string; nil leaves the
// user claim out) with exp one hour ahead. When the node reads a domain
// claim, the token names the node's default domain in it. extra adds or
// overrides claims; a nil value removes one.
func (n *node) tok(t testing.TB, user any, extra map[string]any) string {
	t.Helper()
	if claim := n.cfg.JWTDomainClaim; claim != "" {
		if _, given := extra[claim]; !given {
			with := map[string]any{claim: n.domain}
			for k, v := range extra {
				with[k] = v
			}
			extra = with
		}
	}
	return signed(t, n.secret, user, extra)
}

func signed(t testing.TB, secret string, user any, extra map[string]any) string {
	t.Helper()
	claims := map[string]any{"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	if user != nil {
		claims["user_id"] = user
	}
	for k, v := range extra {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	s, err := auth.SignHS256([]byte(secret), claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedToken builds an alg "none" token, which must never be accepted.
func unsignedToken(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

// reply is a decoded HTTP response. JSON numbers decode as json.Number so
// tests can tell 42 from "42".
type reply struct {
	status int
	header http.Header
	raw    []byte
	obj    map[string]any // nil unless the body is a JSON object
}

// call describes one request. body may be nil (no body), a string or
// []byte (sent verbatim) or any other value (JSON-encoded).
type call struct {
	method, path string
	token        string
	body         any
	contentType  string // default application/json when there is a body; "-" sends none
	host         string
	header       map[string]string
	addHeader    http.Header // added after header, repeated names kept
}

// do sends c and checks the response against api/openapi.yaml.
func (n *node) do(t testing.TB, c call) reply {
	t.Helper()
	var body io.Reader
	switch b := c.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	case io.Reader:
		body = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(c.method, n.url+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	switch {
	case c.contentType == "-":
	case c.contentType != "":
		req.Header.Set("Content-Type", c.contentType)
	case c.body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	for k, vs := range c.addHeader {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.host != "" {
		req.Host = c.host
	}
	resp, err := n.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", c.method, c.path, err)
	}
	checkContract(t, req, resp.StatusCode, resp.Header, raw)
	return decodeReply(t, resp.StatusCode, resp.Header, raw)
}

func decodeReply(t testing.TB, status int, h http.Header, raw []byte) reply {
	t.Helper()
	r := reply{status: status, header: h, raw: raw}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil {
		r.obj, _ = v.(map[string]any)
	}
	return r
}

// Shorthands for the common routes.

func (n *node) send(t testing.TB, token, peer string, body any) reply {
	t.Helper()
	return n.do(t, call{method: "POST", path: "/api/user/" + peer, token: token, body: body})
}

func (n *node) sendText(t testing.TB, token, peer, text string) map[string]any {
	t.Helper()
	r := n.send(t, token, peer, map[string]any{"type": "text", "text": text})
	if r.status != http.StatusCreated {
		t.Fatalf("send to %s: status %d, body %s", peer, r.status, r.raw)
	}
	return obj(t, r.obj, "entry")
}

func (n *node) get(t testing.TB, token, path string) reply {
	t.Helper()
	return n.do(t, call{method: "GET", path: path, token: token})
}

// mustStatus fails unless r has status want.
func mustStatus(t testing.TB, r reply, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body %s", r.status, want, r.raw)
	}
}

// JSON assertion helpers.

func obj(t testing.TB, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%q = %#v, want an object", key, m[key])
	}
	return v
}

func arr(t testing.TB, m map[string]any, key string) []any {
	t.Helper()
	v, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%q = %#v, want an array", key, m[key])
	}
	return v
}

func objs(t testing.TB, m map[string]any, key string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, v := range arr(t, m, key) {
		o, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s[%d] = %#v, want an object", key, i, v)
		}
		out = append(out, o)
	}
	return out
}

// wantKeys fails unless m has exactly the keys want.
func wantKeys(t testing.TB, what string, m map[string]any, want ...string) {
	t.Helper()
	got := make([]string, 0, len(m))
	for k := range m {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys = %v, want %v", what, got, want)
	}
}

func wantString(t testing.TB, what string, v any, want string) {
	t.Helper()
	s, ok := v.(string)
	if !ok || s != want {
		t.Errorf("%s = %#v (%T), want string %q", what, v, v, want)
	}
}

// wantNumber fails unless v is the JSON number want (exact text).
func wantNumber(t testing.TB, what string, v any, want string) {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok || n.String() != want {
		t.Errorf("%s = %#v (%T), want number %s", what, v, v, want)
	}
}

func wantBool(t testing.TB, what string, v any, want bool) {
	t.Helper()
	b, ok := v.(bool)
	if !ok || b != want {
		t.Errorf("%s = %#v (%T), want bool %v", what, v, v, want)
	}
}

func wantNull(t testing.TB, what string, v any, present bool) {
	t.Helper()
	if !present || v != nil {
		t.Errorf("%s = %#v (present %v), want null", what, v, present)
	}
}

// wantTimestamp checks a {epoch, iso} object and returns the epoch.
func wantTimestamp(t testing.TB, what string, v any) int64 {
	t.Helper()
	ts, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s = %#v, want a timestamp object", what, v)
	}
	wantKeys(t, what, ts, "epoch", "iso")
	n, ok := ts["epoch"].(json.Number)
	if !ok {
		t.Fatalf("%s.epoch = %#v, want a number", what, ts["epoch"])
	}
	epoch, err := n.Int64()
	if err != nil {
		t.Fatalf("%s.epoch = %s, want an integer", what, n)
	}
	iso, ok := ts["iso"].(string)
	if !ok {
		t.Fatalf("%s.iso = %#v, want a string", what, ts["iso"])
	}
	parsed, err := time.Parse("2006-01-02T15:04:05.000Z", iso)
	if err != nil {
		t.Errorf("%s.iso = %q: %v", what, iso, err)
	} else if parsed.UnixMilli() != epoch {
		t.Errorf("%s.iso = %q is %d ms, epoch %d", what, iso, parsed.UnixMilli(), epoch)
	}
	if d := time.Since(time.UnixMilli(epoch)); d < -time.Minute || d > time.Hour {
		t.Errorf("%s.epoch = %d is %s from now", what, epoch, d)
	}
	return epoch
}

// wantUUIDv7 fails unless v is a canonical UUID v7 string.
func wantUUIDv7(t testing.TB, what string, v any) string {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s = %#v, want a string", what, v)
	}
	u, err := uuid.Parse(s)
	if err != nil || u.Version() != 7 || u.String() != s {
		t.Errorf("%s = %q, want a canonical UUID v7 (%v)", what, s, err)
	}
	return s
}

// wantError checks the flat error envelope, exactly.
func wantError(t testing.TB, r reply, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	if r.obj == nil {
		t.Fatalf("body %q is not a JSON object", r.raw)
	}
	wantKeys(t, "error envelope", r.obj, "error", "code", "name", "message", "status")
	wantBool(t, "error", r.obj["error"], true)
	if m, ok := r.obj["name"].(string); !ok || !strings.HasSuffix(m, "Error") && m != "NotFound" {
		t.Errorf("name = %#v, want a name ending in Error (or the seed's NotFound)", r.obj["name"])
	}
	wantString(t, "code", r.obj["code"], code)
	wantNumber(t, "status", r.obj["status"], fmt.Sprint(r.status))
	if m, ok := r.obj["message"].(string); !ok || m == "" {
		t.Errorf("message = %#v, want a non-empty string", r.obj["message"])
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

// redisSnapshot dumps every key under prefix: type (marked when the key
// has a TTL) and content. Presence
// entries are left out: heartbeats move them on their own, whatever the
// requests do.
func redisSnapshot(t testing.TB, rdb redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, key := range testutil.ScanKeys(t, rdb, prefix+"*") { // every primary of a cluster
		if strings.HasPrefix(key, prefix+"{node") || strings.Contains(key, ":presence") {
			continue
		}
		typ := rdb.Type(ctx, key).Val()
		var dump string
		switch typ {
		case "string":
			dump = rdb.Get(ctx, key).Val()
		case "hash":
			h := rdb.HGetAll(ctx, key).Val()
			fields := make([]string, 0, len(h))
			for f, v := range h {
				fields = append(fields, f+"="+v)
			}
			sort.Strings(fields)
			dump = strings.Join(fields, "\n")
		case "zset":
			for _, z := range rdb.ZRangeWithScores(ctx, key, 0, -1).Val() {
				dump += fmt.Sprintf("%v:%v\n", z.Member, z.Score)
			}
		case "list":
			dump = strings.Join(rdb.LRange(ctx, key, 0, -1).Val(), "\n")
		case "set":
			m := rdb.SMembers(ctx, key).Val()
			sort.Strings(m)
			dump = strings.Join(m, "\n")
		}
		if rdb.PTTL(ctx, key).Val() > 0 {
			typ = expiring + typ
		}
		out[key] = typ + "\n" + dump
	}
	return out
}

// expiring marks a snapshot entry whose key has a TTL.
const expiring = "(expires) "

// diffSnapshots describes how two snapshots differ, or returns "". A key
// with a TTL that is gone has expired (a typing mark outliving its
// interval while a slow test runs): that is time, not a write.
func diffSnapshots(before, after map[string]string) string {
	var b strings.Builder
	for k, v := range before {
		if w, ok := after[k]; !ok {
			if strings.HasPrefix(v, expiring) {
				continue
			}
			fmt.Fprintf(&b, "deleted %s\n", k)
		} else if w != v {
			fmt.Fprintf(&b, "changed %s:\n%s\n->\n%s\n", k, v, w)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			fmt.Fprintf(&b, "added %s\n", k)
		}
	}
	return b.String()
}

// assertConsistent checks Redis for the conversation of a and b: the DM
// sorted set and the message hash hold the same ids, both inbox entries
// score the newest message's epoch, and an empty conversation has neither
// inbox entry. It returns the number of messages.
func assertConsistent(t testing.TB, n *node, domain string, a, b string) int {
	t.Helper()
	ctx := context.Background()
	keys := chat.Keys{Prefix: n.prefix}
	conv, err := chat.NewConversation(chat.Domain(domain), chat.UserID(a), chat.UserID(b))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := n.rdb.ZRange(ctx, keys.DM(conv), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	fields, err := n.rdb.HKeys(ctx, keys.Messages(conv)).Result()
	if err != nil {
		t.Fatal(err)
	}
	zs, hs := append([]string(nil), ids...), append([]string(nil), fields...)
	sort.Strings(zs)
	sort.Strings(hs)
	if strings.Join(zs, ",") != strings.Join(hs, ",") {
		t.Errorf("%s: sorted set members %v != hash fields %v", conv.Key(), zs, hs)
	}
	var newest int64
	if len(ids) > 0 {
		m, err := chat.DecodeMessage(n.rdb.HGet(ctx, keys.Messages(conv), ids[len(ids)-1]).Val())
		if err != nil {
			t.Fatal(err)
		}
		newest = m.Epoch
	}
	for _, p := range [][2]string{{a, b}, {b, a}} {
		score, err := n.rdb.ZScore(ctx, keys.Inbox(chat.Domain(domain), chat.UserID(p[0])), chat.InboxMember(chat.UserID(p[1]))).Result()
		switch {
		case len(ids) == 0 && err != redis.Nil:
			t.Errorf("%s: empty, but the inbox of %s lists %s (score %v, err %v)", conv.Key(), p[0], p[1], score, err)
		case len(ids) > 0 && (err != nil || int64(score) != newest):
			t.Errorf("%s: inbox of %s scores %v (err %v), want newest epoch %d", conv.Key(), p[0], score, err, newest)
		}
	}
	return len(ids)
}
