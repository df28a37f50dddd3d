package test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"parley/internal/testutil"
)

// scrape fetches the metrics handler's /metrics and returns every sample
// keyed by its series as printed, e.g.
// parley_http_requests_total{method="GET",route="/api/list",status="200"}.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// sum adds every sample of the series whose name is name and whose labels
// include all of labels (`key="value"` strings).
func sum(samples map[string]float64, name string, labels ...string) (total float64, found bool) {
	for series, v := range samples {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if ok {
			total += v
			found = true
		}
	}
	return total, found
}

func TestMetricsAfterTraffic(t *testing.T) {
	t.Parallel()
	platform := platformAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/2") {
			http.NotFound(w, r) // a failure the cache counts
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":1,"username":"one","role":"user"}`)
	})
	n := startServer(t, map[string]string{"PARLEY_USER_API_URL": platform})
	u1, u2 := n.tok(t, 1, nil), n.tok(t, 2, nil)

	c := dial(t, n, u2)
	for i := range 2 {
		n.sendText(t, u1, "2", fmt.Sprint("hello ", i))
		if ev := next(t, c, "user 2"); ev.Name != "message:new" {
			t.Fatalf("event = %s, want message:new", ev.Name)
		}
	}
	for range 2 { // the second round is answered from the user cache
		mustStatus(t, n.get(t, u2, "/api/user/1"), http.StatusOK)
		mustStatus(t, n.get(t, u2, "/api/list"), http.StatusOK)
	}
	mustStatus(t, n.get(t, "", "/nope/12345"), http.StatusNotFound)
	mustStatus(t, n.do(t, call{method: "PUT", path: "/api/user/2", token: u1}), http.StatusMethodNotAllowed)

	m := scrape(t, n.srv.MetricsHandler())
	atLeast := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"parley_http_requests_total", []string{`route="/api/user/:id"`, `method="POST"`, `status="201"`}, 2},
		{"parley_http_requests_total", []string{`route="/api/user/:id"`, `method="GET"`, `status="200"`}, 2},
		{"parley_http_requests_total", []string{`route="/api/list"`, `method="GET"`, `status="200"`}, 2},
		{"parley_http_requests_total", []string{`route="unmatched"`, `method="GET"`, `status="404"`}, 1},
		{"parley_http_requests_total", []string{`route="unmatched"`, `method="PUT"`, `status="405"`}, 1},
		{"parley_http_requests_total", []string{`route="/socket.io/*any"`}, 1},
		{"parley_http_request_duration_seconds_count", []string{`route="/api/user/:id"`, `method="POST"`}, 2},
		{"parley_http_request_duration_seconds_bucket", []string{`route="/api/list"`, `le="+Inf"`}, 2},
		{"parley_sockets_connected", nil, 1},
		{"parley_events_emitted_total", []string{`type="message:new"`}, 2},
		{"parley_redis_command_duration_seconds_count", nil, 1},
		{"parley_userapi_cache_hits_total", nil, 1},
		{"parley_userapi_cache_misses_total", nil, 1},
		{"parley_userapi_failures_total", nil, 1},
		{"parley_userapi_requests_total", nil, 2},
		{"go_goroutines", nil, 1},
	}
	for _, tt := range atLeast {
		if got, ok := sum(m, tt.name, tt.labels...); !ok || got < tt.min {
			t.Errorf("%s%v = %v (present %v), want >= %v", tt.name, tt.labels, got, ok, tt.min)
		}
	}
	exactly := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"parley_events_emitted_total", []string{`type="message:new"`}, 2},
		{"parley_events_emitted_total", []string{`type="message:delete"`}, 0},
		{"parley_events_emitted_total", []string{`type="session:expired"`}, 0},
		{"parley_redis_errors_total", []string{`command="dial"`}, 0},
		{"parley_send_rate_limited_total", nil, 0},
		{"parley_sockets_connected", nil, 1},
	}
	for _, tt := range exactly {
		if got, ok := sum(m, tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	for series := range m {
		if strings.Contains(series, "/nope") || strings.Contains(series, `route="/api/user/2"`) {
			t.Errorf("series %s has a raw path as a label", series)
		}
	}

	// The gauge follows disconnects.
	_ = c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := sum(scrape(t, n.srv.MetricsHandler()), "parley_sockets_connected")
		if got == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("parley_sockets_connected = %v 5s after the socket closed, want 0", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMetricsCountRedisErrors(t *testing.T) {
	t.Parallel()
	dead := fmt.Sprintf("redis://127.0.0.1:%d/0", testutil.FreePort(t)) // nothing listens
	n := startServer(t, map[string]string{"PARLEY_REDIS_URL": dead})
	wantError(t, n.get(t, "", "/readyz"), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	m := scrape(t, n.srv.MetricsHandler())
	if got, _ := sum(m, "parley_redis_errors_total"); got < 1 {
		t.Errorf("parley_redis_errors_total = %v after a failed PING, want >= 1", got)
	}
	if got, _ := sum(m, "parley_http_requests_total", `route="/readyz"`, `status="503"`); got != 1 {
		t.Errorf("readyz 503 requests = %v, want 1", got)
	}
}

func TestPprofOnMetricsListener(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		pprof      string
		wantStatus int
	}{
		{"off by default", "", http.StatusNotFound},
		{"on", "true", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := startServer(t, map[string]string{"PARLEY_PPROF": tt.pprof})
			h := n.srv.MetricsHandler()
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				if rec.Code != tt.wantStatus {
					t.Errorf("GET %s: status %d, want %d", path, rec.Code, tt.wantStatus)
				}
			}
			// pprof is never on the public listener.
			mustStatus(t, n.get(t, "", "/debug/pprof/"), http.StatusNotFound)
			mustStatus(t, n.get(t, "", "/metrics"), http.StatusNotFound)
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	tests := []struct {
		path, want string
	}{
		{"/healthz", "ok"},
		{"/readyz", "ready"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := n.get(t, "", tt.path) // no token needed
			mustStatus(t, r, http.StatusOK)
			wantKeys(t, tt.path, r.obj, "status")
			wantString(t, tt.path+" status", r.obj["status"], tt.want)
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	r := n.get(t, "", "/openapi.json")
	mustStatus(t, r, http.StatusOK)
	doc, err := openapi3.NewLoader().LoadFromData(r.raw)
	if err != nil {
		t.Fatalf("/openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("/openapi.json is not valid: %v", err)
	}
	if got, want := doc.OpenAPI, "3.1.0"; got != want {
		t.Errorf("openapi = %q, want %q", got, want)
	}
	want := loadContract(t).doc
	if got, want := doc.Paths.Len(), want.Paths.Len(); got != want {
		t.Errorf("/openapi.json has %d paths, api/openapi.yaml %d", got, want)
	}
	for _, ev := range []string{"MessageNewEvent", "MessageEditEvent", "MessageDeleteEvent", "SessionExpiredEvent", "Error"} {
		if doc.Components.Schemas[ev] == nil {
			t.Errorf("/openapi.json lacks component schema %s", ev)
		}
	}
	// Every route of server/routes.go (Socket.IO aside) is documented.
	for _, p := range []string{"/", "/demo", "/healthz", "/readyz", "/openapi.json", "/api", "/api/", "/api/list", "/api/user/{id}", "/api/user/{id}/{messageId}"} {
		if doc.Paths.Value(p) == nil {
			t.Errorf("/openapi.json lacks path %s", p)
		}
	}
	if !bytes.HasPrefix(r.raw, []byte("{")) {
		t.Errorf("/openapi.json is not a JSON object: %.40s", r.raw)
	}
}
