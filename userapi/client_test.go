package userapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/userapi"
)

// server is a stand-in for the platform's user API that records what it saw.
type server struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	uris     []string
	headers  []http.Header
}

// newServer starts an httptest server whose handler h runs after the request
// is recorded. It is closed when the test ends.
func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		s.uris = append(s.uris, r.RequestURI)
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// template is the URL template pointing at s.
func (s *server) template() string { return s.URL + "/api/users/{id}" }

func (s *server) lastURI() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.uris) == 0 {
		return ""
	}
	return s.uris[len(s.uris)-1]
}

// reply answers every request with status and body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// userReply answers with a user whose username is derived from the path.
func userReply(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	fmt.Fprintf(w, `{"id":1,"username":"user %s","role":{"id":3,"handle":"registered"}}`, id)
}

// clock is an injectable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// assertUser compares got field by field with the wanted JSON texts.
func assertUser(t *testing.T, got userapi.User, id, username, role string, found bool) {
	t.Helper()
	if got.ID != id {
		t.Errorf("ID = %q, want %q", got.ID, id)
	}
	if string(got.Username) != username {
		t.Errorf("Username = %s, want %s", got.Username, username)
	}
	if string(got.Role) != role {
		t.Errorf("Role = %s, want %s", got.Role, role)
	}
	if got.Found != found {
		t.Errorf("Found = %v, want %v", got.Found, found)
	}
}

func assertFallback(t *testing.T, got userapi.User, id string) {
	t.Helper()
	assertUser(t, got, id, "null", "null", false)
}

func TestFallback(t *testing.T) {
	got := userapi.Fallback("42")
	assertFallback(t, got, "42")
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if got, want := string(b), `{"id":"42","username":null,"role":null}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
}

func TestGetResponses(t *testing.T) {
	const role = `{"id":3,"handle":"registered","value":"Registered"}`
	tests := []struct {
		name         string
		status       int
		body         string
		wantUsername string
		wantRole     string
		wantFound    bool
	}{
		{"found user", 200, `{"id": 342676, "username": "Barry from Earth-342676", "role": ` + role + `, "email": "x"}`,
			`"Barry from Earth-342676"`, role, true},
		{"api id is ignored", 200, `{"id": 1, "username": "someone else"}`, `"someone else"`, "null", true},
		{"whitespace is compacted", 200, `{"username": "b", "role": { "id" : 3 }}`, `"b"`, `{"id":3}`, true},
		{"non-string username verbatim", 200, `{"username": 12.50, "role": [1,"x"]}`, `12.50`, `[1,"x"]`, true},
		{"wrapped in user", 200, `{"user": {"id": 342676, "username": "Barry", "role": ` + role + `}}`, `"Barry"`, role, true},
		{"wrapped in data", 200, `{"data": {"username": "Barry", "role": ` + role + `}, "meta": {}}`, `"Barry"`, role, true},
		{"missing fields are null", 200, `{"id": 342676}`, "null", "null", true},
		{"explicit nulls", 200, `{"username": null, "role": null}`, "null", "null", true},
		{"not found", 404, `{"error": "not found"}`, "null", "null", false},
		{"server error", 500, `{"username": "Barry"}`, "null", "null", false},
		{"created is not ok", 201, `{"username": "Barry"}`, "null", "null", false},
		{"bad json", 200, `{"username": "Barry"`, "null", "null", false},
		{"empty body", 200, ``, "null", "null", false},
		{"html body", 200, `<html>oops</html>`, "null", "null", false},
		{"array body", 200, `[{"username": "Barry"}]`, "null", "null", false},
		{"string body", 200, `"Barry"`, "null", "null", false},
		{"null body", 200, `null`, "null", "null", false},
		{"wrapper is not an object", 200, `{"user": null}`, "null", "null", false},
		{"oversized body", 200, `{"username": "Barry", "pad": "` + strings.Repeat("x", userapi.MaxBodyBytes) + `"}`, "null", "null", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, reply(tt.status, tt.body))
			c := userapi.New(userapi.Options{URLTemplate: srv.template()})
			got := c.Get(t.Context(), "342676")
			assertUser(t, got, "342676", tt.wantUsername, tt.wantRole, tt.wantFound)
			if got, want := srv.lastURI(), "/api/users/342676"; got != want {
				t.Errorf("request URI = %q, want %q", got, want)
			}
			st := c.Stats()
			if got, want := st.Requests, uint64(1); got != want {
				t.Errorf("Stats.Requests = %d, want %d", got, want)
			}
			wantFailures := uint64(0)
			if !tt.wantFound {
				wantFailures = 1
			}
			if got := st.Failures; got != wantFailures {
				t.Errorf("Stats.Failures = %d, want %d", got, wantFailures)
			}
		})
	}
}

func TestGetPathEscaping(t *testing.T) {
	tests := []struct {
		id      string
		wantURI string
	}{
		{"a.b-c_d", "/api/users/a.b-c_d"},
		{"342676", "/api/users/342676"},
		{"a/b", "/api/users/a%2Fb"},
		{"x y", "/api/users/x%20y"},
		{"q?x=1#f", "/api/users/q%3Fx=1%23f"},
		{"../admin", "/api/users/..%2Fadmin"},
		{"ü", "/api/users/%C3%BC"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, reply(200, `{"username":"u"}`))
			c := userapi.New(userapi.Options{URLTemplate: srv.template()})
			got := c.Get(t.Context(), tt.id)
			assertUser(t, got, tt.id, `"u"`, "null", true)
			if got := srv.lastURI(); got != tt.wantURI {
				t.Errorf("request URI = %q, want %q", got, tt.wantURI)
			}
		})
	}
}

func TestGetUnsendableIDs(t *testing.T) {
	srv := newServer(t, reply(200, `{"username":"u"}`))
	c := userapi.New(userapi.Options{URLTemplate: srv.template()})
	for _, id := range []string{"", ".", ".."} {
		assertFallback(t, c.Get(t.Context(), id), id)
	}
	if got := srv.requests.Load(); got != 0 {
		t.Errorf("server requests = %d, want 0", got)
	}
}

func TestGetSlowServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	log, logs := newLogger(t)
	const timeout = 200 * time.Millisecond
	c := userapi.New(userapi.Options{URLTemplate: srv.template(), Timeout: timeout, Logger: log})

	start := time.Now()
	got := c.Get(t.Context(), "7")
	elapsed := time.Since(start)

	assertFallback(t, got, "7")
	if elapsed > 5*timeout {
		t.Errorf("Get took %v, want about %v (bound %v)", elapsed, timeout, 5*timeout)
	}
	if got, want := c.Stats().Failures, uint64(1); got != want {
		t.Errorf("Stats.Failures = %d, want %d", got, want)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("log = %q, want a WARN line", logs.String())
	}
	if strings.Contains(logs.String(), srv.URL) {
		t.Errorf("log = %q, want no request URL", logs.String())
	}
}

func TestGetCacheHit(t *testing.T) {
	srv := newServer(t, userReply)
	c := userapi.New(userapi.Options{URLTemplate: srv.template()})
	for range 3 {
		assertUser(t, c.Get(t.Context(), "5"), "5", `"user 5"`, `{"id":3,"handle":"registered"}`, true)
	}
	if got, want := srv.requests.Load(), int64(1); got != want {
		t.Errorf("server requests = %d, want %d", got, want)
	}
	if got, want := c.Stats(), (userapi.Stats{Hits: 2, Misses: 1, Requests: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestGetTTL(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		ttl     time.Duration
		wantTTL time.Duration // how long the answer stays cached
	}{
		{"found user uses TTL", userReply, 5 * time.Minute, 5 * time.Minute},
		{"default TTL", userReply, 0, userapi.DefaultTTL},
		{"failure capped at 30s", reply(500, ""), 5 * time.Minute, userapi.MaxNegativeTTL},
		{"not found capped at 30s", reply(404, ""), 5 * time.Minute, userapi.MaxNegativeTTL},
		{"failure with short TTL", reply(503, ""), 10 * time.Second, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tt.handler)
			clk := newClock()
			c := userapi.New(userapi.Options{URLTemplate: srv.template(), TTL: tt.ttl, Now: clk.Now})

			want := c.Get(t.Context(), "9")
			clk.Advance(tt.wantTTL - time.Second)
			if got := c.Get(t.Context(), "9"); string(got.Username) != string(want.Username) || got.Found != want.Found {
				t.Errorf("cached Get = %+v, want %+v", got, want)
			}
			if got, want := srv.requests.Load(), int64(1); got != want {
				t.Errorf("server requests before expiry = %d, want %d", got, want)
			}
			clk.Advance(time.Second)
			c.Get(t.Context(), "9")
			if got, want := srv.requests.Load(), int64(2); got != want {
				t.Errorf("server requests after expiry = %d, want %d", got, want)
			}
		})
	}
}

func TestGetFailureLoggedOncePerPeriod(t *testing.T) {
	srv := newServer(t, reply(500, "boom"))
	clk := newClock()
	log, logs := newLogger(t)
	c := userapi.New(userapi.Options{URLTemplate: srv.template(), Now: clk.Now, Logger: log})

	for range 5 {
		assertFallback(t, c.Get(t.Context(), "1"), "1")
	}
	if got, want := strings.Count(logs.String(), "level=WARN"), 1; got != want {
		t.Errorf("WARN lines = %d, want %d; log:\n%s", got, want, logs)
	}
	clk.Advance(userapi.MaxNegativeTTL)
	c.Get(t.Context(), "1")
	if got, want := strings.Count(logs.String(), "level=WARN"), 2; got != want {
		t.Errorf("WARN lines after expiry = %d, want %d", got, want)
	}
	if got, want := c.Stats(), (userapi.Stats{Hits: 4, Misses: 2, Failures: 2, Requests: 2}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestGetCoalescesConcurrentCallers(t *testing.T) {
	const callers = 20
	var c *userapi.Client
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		// Hold the one request until every caller has joined it.
		deadline := time.Now().Add(5 * time.Second)
		for c.Stats().Misses < callers && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		userReply(w, r)
	})
	c = userapi.New(userapi.Options{URLTemplate: srv.template(), Timeout: 10 * time.Second})

	results := make([]userapi.User, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { results[i] = c.Get(t.Context(), "77") })
	}
	wg.Wait()

	for i, got := range results {
		if !got.Found || string(got.Username) != `"user 77"` {
			t.Errorf("caller %d got %+v, want found user 77", i, got)
		}
	}
	if got, want := srv.requests.Load(), int64(1); got != want {
		t.Errorf("server requests = %d, want %d", got, want)
	}
	if got, want := c.Stats(), (userapi.Stats{Misses: callers, Requests: 1}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestLookupBatch(t *testing.T) {
	const maxConcurrent = 4
	var inFlight, peak atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		// Hold requests until the limit has been reached once, so an
		// unbounded client would overshoot it.
		deadline := time.Now().Add(2 * time.Second)
		for peak.Load() < maxConcurrent && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond)
		userReply(w, r)
	})
	c := userapi.New(userapi.Options{URLTemplate: srv.template(), MaxConcurrent: maxConcurrent, Timeout: 10 * time.Second})

	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprint(i))
	}
	ids = append(ids, "3", "3", "0") // duplicates are looked up once
	got := c.Lookup(t.Context(), ids)

	if len(got) != 10 {
		t.Errorf("len(Lookup) = %d, want 10", len(got))
	}
	for i := range 10 {
		id := fmt.Sprint(i)
		assertUser(t, got[id], id, fmt.Sprintf(`"user %d"`, i), `{"id":3,"handle":"registered"}`, true)
	}
	if got, want := srv.requests.Load(), int64(10); got != want {
		t.Errorf("server requests = %d, want %d", got, want)
	}
	if p := peak.Load(); p < 2 || p > maxConcurrent {
		t.Errorf("peak in-flight requests = %d, want 2..%d", p, maxConcurrent)
	}
}

func TestLookupMixesCacheAndFetch(t *testing.T) {
	srv := newServer(t, userReply)
	c := userapi.New(userapi.Options{URLTemplate: srv.template()})
	c.Get(t.Context(), "a")
	got := c.Lookup(t.Context(), []string{"a", "b"})
	for _, id := range []string{"a", "b"} {
		assertUser(t, got[id], id, `"user `+id+`"`, `{"id":3,"handle":"registered"}`, true)
	}
	if got, want := c.Stats(), (userapi.Stats{Hits: 1, Misses: 2, Requests: 2}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name      string
		header    string
		wantName  string // "" = no configured header expected
		wantValue string
		wantWarn  bool
	}{
		{"bearer token", "Authorization: Bearer xyz", "Authorization", "Bearer xyz", false},
		{"no space, canonicalized", "x-api-key:k1", "X-Api-Key", "k1", false},
		{"none", "", "", "", false},
		{"CRLF injection", "X-Token: a\r\nX-Injected: b", "", "", true},
		{"LF injection", "X-Token: a\nX-Injected: b", "", "", true},
		{"NUL in value", "X-Token: a\x00b", "", "", true},
		{"no colon", "Authorization Bearer xyz", "", "", true},
		{"bad name", "X Token: a", "", "", true},
		{"empty name", ": a", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, userReply)
			log, logs := newLogger(t)
			c := userapi.New(userapi.Options{URLTemplate: srv.template(), Header: tt.header, Logger: log})
			if got := c.Get(t.Context(), "1"); !got.Found {
				t.Errorf("Get = %+v, want found (an invalid header must not break lookups)", got)
			}
			srv.mu.Lock()
			h := srv.headers[0]
			srv.mu.Unlock()
			if tt.wantName != "" {
				if got := h.Get(tt.wantName); got != tt.wantValue {
					t.Errorf("header %s = %q, want %q", tt.wantName, got, tt.wantValue)
				}
			}
			for _, name := range []string{"X-Token", "X-Injected"} {
				if got := h.Get(name); got != "" {
					t.Errorf("header %s = %q, want none", name, got)
				}
			}
			if got := strings.Contains(logs.String(), "level=WARN"); got != tt.wantWarn {
				t.Errorf("warned = %v, want %v; log: %s", got, tt.wantWarn, logs)
			}
		})
	}
}

// failTransport fails the test if any request is attempted.
type failTransport struct{ t *testing.T }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
	return nil, fmt.Errorf("no network in this test")
}

func TestDisabled(t *testing.T) {
	tests := []struct {
		name     string
		template string
	}{
		{"empty template", ""},
		{"template without id", "http://127.0.0.1:1/api/users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := userapi.New(userapi.Options{
				URLTemplate: tt.template,
				HTTPClient:  &http.Client{Transport: failTransport{t}},
			})
			got := c.Lookup(t.Context(), []string{"1", "2", "1"})
			if len(got) != 2 {
				t.Errorf("len(Lookup) = %d, want 2", len(got))
			}
			assertFallback(t, got["1"], "1")
			assertFallback(t, got["2"], "2")
			assertFallback(t, c.Get(t.Context(), "3"), "3")
			if got, want := c.Stats(), (userapi.Stats{}); got != want {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}
		})
	}
}

func TestZeroOptions(t *testing.T) {
	c := userapi.New(userapi.Options{})
	assertFallback(t, c.Get(context.Background(), "1"), "1")
}

func TestMaxEntries(t *testing.T) {
	srv := newServer(t, userReply)
	clk := newClock()
	c := userapi.New(userapi.Options{URLTemplate: srv.template(), MaxEntries: 3, Now: clk.Now})
	requests := func() int64 { return srv.requests.Load() }

	for i := range 10 {
		c.Get(t.Context(), fmt.Sprint(i))
		clk.Advance(time.Second) // keeps insertion and expiry order apart from ties
	}
	if got, want := requests(), int64(10); got != want {
		t.Fatalf("server requests = %d, want %d", got, want)
	}
	// Only the three newest survive.
	c.Lookup(t.Context(), []string{"7", "8", "9"})
	if got, want := requests(), int64(10); got != want {
		t.Errorf("server requests after re-reading newest = %d, want %d", got, want)
	}
	c.Get(t.Context(), "0") // evicts 7, the oldest
	if got, want := requests(), int64(11); got != want {
		t.Errorf("server requests after re-reading evicted = %d, want %d", got, want)
	}
	c.Lookup(t.Context(), []string{"8", "9", "0"})
	if got, want := requests(), int64(11); got != want {
		t.Errorf("server requests after re-reading survivors = %d, want %d", got, want)
	}
}

func TestMaxEntriesEvictsExpiredFirst(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/gone") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		userReply(w, r)
	})
	clk := newClock()
	c := userapi.New(userapi.Options{URLTemplate: srv.template(), MaxEntries: 3, Now: clk.Now})

	c.Get(t.Context(), "a")    // found: cached 5m
	c.Get(t.Context(), "gone") // 404: cached 30s, inserted after a
	c.Get(t.Context(), "b")
	clk.Advance(time.Minute) // "gone" has expired; a and b have not
	c.Get(t.Context(), "c")  // full: must drop "gone", not the older "a"
	if got, want := srv.requests.Load(), int64(4); got != want {
		t.Fatalf("server requests = %d, want %d", got, want)
	}
	c.Lookup(t.Context(), []string{"a", "b", "c"})
	if got, want := srv.requests.Load(), int64(4); got != want {
		t.Errorf("server requests after re-reading a, b, c = %d, want %d", got, want)
	}
}

func TestContextCancelled(t *testing.T) {
	srv := newServer(t, userReply)
	c := userapi.New(userapi.Options{URLTemplate: srv.template()})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	got := c.Lookup(ctx, []string{"1", "2"})
	assertFallback(t, got["1"], "1")
	assertFallback(t, got["2"], "2")
	if got := srv.requests.Load(); got != 0 {
		t.Errorf("server requests = %d, want 0", got)
	}
	// Cancellation is the caller's doing, not the API's: nothing is cached.
	assertUser(t, c.Get(t.Context(), "1"), "1", `"user 1"`, `{"id":3,"handle":"registered"}`, true)
}

func TestContextCancelledInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	aborted := make(chan struct{}, 1)
	var first atomic.Bool
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			arrived <- struct{}{}
			select {
			case <-r.Context().Done():
				aborted <- struct{}{}
			case <-time.After(5 * time.Second):
			}
			return
		}
		userReply(w, r)
	})
	c := userapi.New(userapi.Options{URLTemplate: srv.template(), Timeout: 10 * time.Second})

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	start := time.Now()
	assertFallback(t, c.Get(ctx, "1"), "1")
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Errorf("Get took %v after cancel, want prompt return", elapsed)
	}
	select {
	case <-aborted:
	case <-time.After(5 * time.Second):
		t.Errorf("server request was not aborted after the only caller left")
	}
	// The abandoned request is neither cached nor counted as a failure.
	assertUser(t, c.Get(t.Context(), "1"), "1", `"user 1"`, `{"id":3,"handle":"registered"}`, true)
	if got := c.Stats().Failures; got != 0 {
		t.Errorf("Stats.Failures = %d, want 0", got)
	}
}

func TestContextCancelledOtherWaiterUnaffected(t *testing.T) {
	release := make(chan struct{})
	var c *userapi.Client
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
			userReply(w, r)
		case <-r.Context().Done():
		}
	})
	c = userapi.New(userapi.Options{URLTemplate: srv.template(), Timeout: 10 * time.Second})

	patient := make(chan userapi.User, 1)
	go func() { patient <- c.Get(t.Context(), "1") }()
	for c.Stats().Misses < 1 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	impatient := make(chan userapi.User, 1)
	go func() { impatient <- c.Get(ctx, "1") }()
	for c.Stats().Misses < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	assertFallback(t, <-impatient, "1")
	close(release)
	assertUser(t, <-patient, "1", `"user 1"`, `{"id":3,"handle":"registered"}`, true)
	if got, want := srv.requests.Load(), int64(1); got != want {
		t.Errorf("server requests = %d, want %d", got, want)
	}
}
