package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"parley/chat"
	delivery "parley/realtime"
	"parley/userapi"
	"parley/webhook"
)

// userStats is the slice of userapi.Client the metrics read.
type userStats interface {
	Stats() userapi.Stats
}

// metrics are one server's Prometheus series, on a registry the server owns
// (never the process-wide default one, so several servers in one process,
// as in tests, each count only their own traffic).
type metrics struct {
	// repair is the store whose repair loop the fan-out metrics read (set
	// once the store exists; 0 until then).
	repair       atomic.Pointer[chat.Store]
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	events       *prometheus.CounterVec
	redisErrors  *prometheus.CounterVec
	redisLatency *prometheus.HistogramVec
	// rateLimited counts sends refused by the per-user send rate limit.
	rateLimited prometheus.Counter
	sseStreams  prometheus.Gauge
	// The hub's event log reads: retries of failed ones, and those asked
	// for and not yet done.
	logReadRetries  prometheus.Counter
	resubscribed    prometheus.Counter
	logReadsPending prometheus.Gauge
	// closedSlow counts connections closed as slow consumers, by transport.
	closedSlow *prometheus.CounterVec
	// webhooks is the node's event-webhook queue (nil: webhooks off).
	webhooks atomic.Pointer[webhook.Queue]
	// hookResults counts the before-send hook's screenings by result.
	hookResults *prometheus.CounterVec
}

// unmatchedRoute labels requests no route matched (404s and 405s), so raw
// paths never become label values.
const unmatchedRoute = "unmatched"

// newMetrics registers every series; users feeds the user API cache
// counters and sockets the connected-sockets gauge.
func newMetrics(users userStats, sockets func() int) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_http_requests_total",
			Help: "HTTP requests by route (the route pattern, e.g. /api/user/:id; \"unmatched\" when none matched), method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or \"other\") and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method (Socket.IO long-polling and websocket requests included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_events_emitted_total",
			Help: "Events delivered to live connections (Socket.IO sockets and SSE streams) by type: one per connection that received it (replays included).",
		}, []string{"type"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_redis_errors_total",
			Help: "Redis commands that failed (not counting nil replies, a script cache miss or a command whose client went away), by command; dial = a failed connection.",
		}, []string{"command"}),
		redisLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_redis_command_duration_seconds",
			Help:    "Redis command latency by command; pipeline = one pipelined or MULTI/EXEC round trip.",
			Buckets: prometheus.ExponentialBuckets(.00025, 2, 14), // 0.25 ms .. 2 s
		}, []string{"command"}),
		sseStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_sse_streams_connected",
			Help: "SSE event streams (GET /api/events) open on this node.",
		}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_send_rate_limited_total",
			Help: "Sends refused by the per-user send rate limit (PARLEY_SEND_RATE).",
		}),
		logReadRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_log_read_retries_total",
			Help: "Event log reads (a connection's replay or gap fill) that failed and are retried with backoff.",
		}),
		resubscribed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_pubsub_resubscribed_total",
			Help: "Users' event channels subscribed again by the hub: moved to another pub/sub connection (slot migration, failover on a Redis Cluster), or asked again because Redis dropped or never confirmed them.",
		}),
		logReadsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_log_reads_pending",
			Help: "Event log reads asked for and not yet done on this node: waiting for one of the few concurrent slots, running, or waiting to retry.",
		}),
		closedSlow: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_connections_closed_slow_total",
			Help: "Connections closed as slow consumers, by transport: socketio (its queue of unwritten packets stayed at PARLEY_CONN_QUEUE_MAX or PARLEY_CONN_QUEUE_BYTES for PARLEY_CONN_WRITE_TIMEOUT) or sse (a write blocked that long).",
		}, []string{"transport"}),
		hookResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_hook_before_send_total",
			Help: "Messages and text edits screened by the before-send hook (PARLEY_HOOK_BEFORE_SEND_URL), by result: allow, reject, replace (the platform's answer), failed_open (the hook failed and the message was stored as sent) or failed_closed (it failed and the message was refused, 503 MODERATION_UNAVAILABLE).",
		}, []string{"result"}),
	}
	// Export the known label values at 0, so dashboards and alerts see the
	// series before the first event or failure.
	for _, e := range []string{"message:new", "message:edit", "message:delete", "session:expired"} {
		m.events.WithLabelValues(e)
	}
	m.redisErrors.WithLabelValues("dial")
	for _, tr := range []string{transportSocketIO, transportSSE} {
		m.closedSlow.WithLabelValues(tr)
	}
	for _, r := range webhook.Results() {
		m.hookResults.WithLabelValues(string(r))
	}
	stat := func(name, help string, v func(userapi.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(users.Stats())) })
	}
	m.reg.MustRegister(
		m.requests, m.latency, m.events, m.redisErrors, m.redisLatency, m.rateLimited, m.sseStreams,
		m.logReadRetries, m.logReadsPending, m.resubscribed, m.closedSlow, m.hookResults,
		newWebhookCollector(&m.webhooks),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_fanout_repaired_ops_total",
			Help: "Ops of writes left half-done between their per-slot steps (a node died or lost Redis) whose fan-out this node's repair loop completed."},
			func() float64 {
				if r := m.repair.Load(); r != nil {
					n, _ := r.RepairStats()
					return float64(n)
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_fanout_pending_age_seconds",
			Help: "Age of the oldest stale pending write the repair loop's last pass saw (0: none older than the repair window)."},
			func() float64 {
				if r := m.repair.Load(); r != nil {
					_, age := r.RepairStats()
					return age.Seconds()
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_sockets_connected",
			Help: "Socket.IO sockets connected to this node.",
		}, func() float64 { return float64(sockets()) }),
		stat("parley_userapi_cache_hits_total", "User ids answered from the user API cache (cached failures included).",
			func(s userapi.Stats) uint64 { return s.Hits }),
		stat("parley_userapi_cache_misses_total", "User ids not answered from the user API cache.",
			func(s userapi.Stats) uint64 { return s.Misses }),
		stat("parley_userapi_failures_total", "User API requests that produced no user (404, other statuses, errors, timeouts).",
			func(s userapi.Stats) uint64 { return s.Failures }),
		stat("parley_userapi_requests_total", "HTTP requests sent to the user API.",
			func(s userapi.Stats) uint64 { return s.Requests }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// instrument counts and times every request by its route pattern.
func (m *metrics) instrument(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = unmatchedRoute
	}
	method := methodLabel(c.Request.Method)
	m.requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
	m.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
}

// methodLabel bounds the method label: a client may send any token as a
// method, and each new label value would be a new series.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// eventEmitted counts one emitted Socket.IO event.
func (m *metrics) eventEmitted(event string) { m.events.WithLabelValues(event).Inc() }

// hookScreened counts one screening of the before-send hook.
func (m *metrics) hookScreened(r webhook.Result) { m.hookResults.WithLabelValues(string(r)).Inc() }

// Transport labels of parley_connections_closed_slow_total.
const (
	transportSocketIO = "socketio"
	transportSSE      = "sse"
)

// slowClosed returns the counter of connections of transport closed as
// slow consumers.
func (m *metrics) slowClosed(transport string) func() {
	return m.closedSlow.WithLabelValues(transport).Inc
}

// hubMetrics feeds the delivery engine's counts to these series.
func (m *metrics) hubMetrics() hubMetrics { return hubMetrics{m} }

// hubMetrics is the realtime.Metrics behind metrics.hubMetrics.
type hubMetrics struct{ m *metrics }

var _ delivery.Metrics = hubMetrics{}

func (h hubMetrics) LogReadRetried()           { h.m.logReadRetries.Inc() }
func (h hubMetrics) LogReadsPending(delta int) { h.m.logReadsPending.Add(float64(delta)) }
func (h hubMetrics) Resubscribed()             { h.m.resubscribed.Inc() }

// redisHook returns a go-redis hook recording command latency and errors.
func (m *metrics) redisHook() redis.Hook { return redisMetrics{m} }

// redisMetrics is the go-redis hook behind metrics.redisHook.
type redisMetrics struct{ m *metrics }

func (h redisMetrics) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil {
			h.m.redisErrors.WithLabelValues("dial").Inc()
		}
		return conn, err
	}
}

func (h redisMetrics) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		name := strings.ToLower(cmd.Name())
		h.m.redisLatency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		if redisFailed(cmd.Err()) {
			h.m.redisErrors.WithLabelValues(name).Inc()
		}
		return err
	}
}

func (h redisMetrics) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.m.redisLatency.WithLabelValues("pipeline").Observe(time.Since(start).Seconds())
		for _, cmd := range cmds {
			if redisFailed(cmd.Err()) && !setInfoRefused(cmd) {
				h.m.redisErrors.WithLabelValues(strings.ToLower(cmd.Name())).Inc()
			}
		}
		return err
	}
}

// setInfoRefused reports a CLIENT SETINFO that Redis before 7.2 does not
// know: go-redis sends it on every new connection and ignores the refusal,
// so it is no failure (it would count two per connection).
func setInfoRefused(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) < 2 || cmd.Name() != "client" {
		return false
	}
	sub, _ := args[1].(string)
	var rerr redis.Error
	return strings.EqualFold(sub, "setinfo") && errors.As(cmd.Err(), &rerr)
}

// redisFailed tells real failures from a nil reply, the NOSCRIPT miss that
// Script.Run answers with EVAL, and a command dropped because its caller
// went away (a client that disconnected is no Redis error).
func redisFailed(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "NOSCRIPT") &&
		!errors.Is(err, context.Canceled)
}

// MetricsHandler serves GET /metrics (Prometheus text format) and, when
// PARLEY_PPROF is on, net/http/pprof under /debug/pprof/. Serve it on its
// own listener (PARLEY_METRICS_ADDR), never on the public one.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{Registry: s.metrics.reg}))
	if s.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// connectedSockets counts the sockets of this node's main namespace.
func (rt *realtime) connectedSockets() int { return rt.io.Sockets().Sockets().Len() }
