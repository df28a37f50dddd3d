package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"parley/api"
	"parley/chat"
	"parley/config"
	"parley/inbox"
	"parley/presence"
	delivery "parley/realtime"
	"parley/userapi"
	"parley/webhook"
)

// hub is the delivery engine the Socket.IO and SSE transports feed from.
// The package is imported as delivery: server's Socket.IO transport is a
// type named realtime.
type hub = delivery.Hub

// ginRelease sets Gin's process-wide mode once: gin.SetMode writes package
// variables without a lock, so servers built concurrently (tests) would race.
var ginRelease sync.Once

// Server is a wired Parley node: REST API and realtime on one handler.
type Server struct {
	handler        http.Handler
	drain          *drain
	disconnect     []func() // tell connected clients to go (Disconnect)
	disconnectOnce sync.Once
	closers        []func() // after the connections: presence, hub (Close)
	closeOnce      sync.Once
	metrics        *metrics
	pprof          bool // serve net/http/pprof with the metrics
	sharded        bool // events use SPUBLISH/SSUBSCRIBE (chat.Keys.Sharded)
}

// DevUser is a dev-mode user whose ready token the demo page may offer.
type DevUser struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// Option adjusts a server beyond its config.
type Option func(*routeDeps)

// WithDevUsers lets the demo page offer these users' tokens: only for the
// dev mode of the embedded store.
func WithDevUsers(users []DevUser) Option { return func(d *routeDeps) { d.devTokens = users } }

// New wires a server from cfg on the Redis client rdb. It adds a metrics
// hook to rdb.
func New(cfg config.Config, log *slog.Logger, rdb redis.UniversalClient, opts ...Option) (*Server, error) {
	authn, err := newAuthenticator(cfg)
	if err != nil {
		return nil, err
	}
	// One Keys value for every consumer (chat store, inboxes, presence,
	// hub): they must agree on the pub/sub commands.
	keys := chat.Keys{Prefix: cfg.KeyPrefix}
	keys.Sharded = shardedPubSub(context.Background(), rdb, keys.ReadyProbe())
	users := userapi.New(userapi.Options{URLTemplate: cfg.UserAPIURL, Header: cfg.UserAPIHeader,
		Timeout: cfg.UserAPITimeout, TTL: cfg.UserCacheTTL, Logger: log})

	render := renderer{numericIDs: cfg.NumericIDs}
	spec, err := openAPIJSON(api.SpecYAML())
	if err != nil {
		return nil, err
	}
	var rt *realtime
	m := newMetrics(users, func() int { return rt.connectedSockets() })
	rdb.AddHook(m.redisHook())
	// One count of each user's sockets and SSE streams on this node.
	conns := newConnCounter(cfg.MaxConnectionsPerUser)
	rtOpts := realtimeOptions{corsOrigins: cfg.CORSOrigins, onEmit: m.eventEmitted,
		conns: conns, maxPending: cfg.MaxPendingSessions, authTimeout: cfg.SocketAuthTimeout,
		legacy:            cfg.LegacySockets,
		pollingMaxPackets: cfg.PollingMaxPackets,
		queue:             sendQueueLimits{packets: cfg.ConnQueueMax, bytes: cfg.ConnQueueBytes, timeout: cfg.ConnWriteTimeout},
		closedSlow:        m.slowClosed(transportSocketIO)}
	chats := chat.NewStore(rdb, keys, chat.Limits{MaxText: cfg.MaxText,
		EventLogMax: int64(cfg.EventLogMax), EventLogAge: cfg.EventLogAge,
		SendRate: cfg.SendRate, SendBurst: cfg.SendBurst, WriteRate: cfg.WriteRate, WriteBurst: cfg.WriteBurst,
		ClientIDWindow: cfg.ClientIDWindow, WaitReplicas: cfg.RedisWaitReplicas, WaitTimeout: cfg.RedisWaitTimeout,
		SingleNode: chat.SingleNode(rdb)}, time.Now)
	// The before-send hook, when configured, screens every new message and
	// text edit inside the store, so no transport can bypass it.
	if cfg.HookBeforeSendURL != "" {
		chats.SetScreener(webhook.NewHook(cfg.HookBeforeSendURL, []byte(cfg.WebhookSecret), cfg.HookTimeout,
			cfg.HookFailOpen, nil, webhook.WithLogger(log), webhook.WithObserver(m.hookScreened)))
		log.Info("before-send hook on: every new message and text edit is screened", "timeout", cfg.HookTimeout,
			"fail_open", cfg.HookFailOpen)
	}
	events := delivery.New(rdb, keys, chats, delivery.Options{Log: log, Metrics: m.hubMetrics()})
	// Presence: this node's devices, kept in Redis and heartbeated, so
	// every node agrees and a dead node's users go offline after expiry.
	tracker := presence.New(rdb, keys, presence.Options{Heartbeat: cfg.PresenceHeartbeat, Log: log})
	startCtx, startCancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := tracker.Start(startCtx); err != nil {
		log.Warn("presence: node registration failed; the first heartbeat retries", "err", err)
	}
	startCancel()
	beatCtx, stopBeat := context.WithCancel(context.Background())
	beating := make(chan struct{})
	go func() { defer close(beating); tracker.Run(beatCtx) }()
	// Every node completes the fan-out of writes left half-done by a node
	// that died between steps (chat.RunRepair).
	m.repair.Store(chats)
	repairing := make(chan struct{})
	go func() {
		defer close(repairing)
		chats.RunRepair(beatCtx, tracker.NodeID(), 0, 0, func(err error) { log.Warn("chat: repairing pending writes failed", "err", err) })
	}()
	// Event webhooks: queued by the store's notifier as part of each
	// write, delivered by every node's queue.
	webhooking := make(chan struct{})
	if cfg.WebhookURL != "" {
		q := webhook.New(rdb, keys, webhook.Options{URL: cfg.WebhookURL, Secret: []byte(cfg.WebhookSecret),
			MaxAge: cfg.WebhookMaxAge, Timeout: cfg.WebhookTimeout, Concurrency: cfg.WebhookConcurrency,
			Node: tracker.NodeID(), Logger: log})
		chats.SetNotifier(&webhookNotifier{queue: q, types: setOf(cfg.WebhookEvents), offlineOnly: cfg.WebhookOfflineOnly,
			online: tracker, unread: chats, render: render})
		m.webhooks.Store(q)
		go func() { defer close(webhooking); q.Run(beatCtx) }()
		log.Info("event webhooks on", "events", cfg.WebhookEvents, "offline_only", cfg.WebhookOfflineOnly)
	} else {
		close(webhooking)
	}
	rtOpts.typing = chat.NewTyping(chats, cfg.TypingTTL, cfg.TypingInterval)
	rtOpts.presence = tracker
	rt = newRealtime(log, authn, render, events, rtOpts)

	closing := make(chan struct{})
	dr := newDrain()
	ginRelease.Do(func() { gin.SetMode(gin.ReleaseMode) })
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(m.instrument, accessLog(log), cors(cfg.CORSOrigins))
	deps := routeDeps{
		log:         log,
		auth:        authn,
		chats:       chats,
		inboxes:     inbox.NewStore(rdb, keys),
		users:       users,
		ready:       redisPinger{rdb, keys.ReadyProbe()},
		render:      render,
		sio:         dr.socketIO(rt.handler()),
		drain:       dr,
		openapi:     spec,
		limits:      limits{maxBody: cfg.MaxBody, perPage: min(10, cfg.MaxPerPage), maxPerPage: cfg.MaxPerPage},
		blocks:      chats,
		hub:         events,
		rateLimited: m.rateLimited.Inc,
		sse: sseOptions{heartbeat: cfg.SSEHeartbeat, retry: 2 * time.Second, closing: closing,
			streams: m.sseStreams.Add, emitted: m.eventEmitted, presence: tracker, conns: conns,
			writeTimeout: cfg.ConnWriteTimeout, closedSlow: m.slowClosed(transportSSE)},
		typing:   rtOpts.typing,
		presence: tracker,
	}
	for _, o := range opts {
		o(&deps)
	}
	addRoutes(r, deps)
	// Presence leaves after the connections are gone: this node's users who
	// have no device elsewhere go offline at once, not after the expiry.
	leave := func() {
		stopBeat()
		<-beating
		<-repairing
		<-webhooking
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracker.Close(ctx); err != nil {
			log.Warn("presence: leaving failed; the other nodes sweep this one after the expiry", "err", err)
		}
	}
	return &Server{handler: r, drain: dr, disconnect: []func(){func() { close(closing) }, rt.close},
		closers: []func(){leave, events.Close}, metrics: m, pprof: cfg.PProf, sharded: keys.Sharded}, nil
}

// ShardedPubSub reports whether this node's events go out with sharded
// pub/sub (SPUBLISH/SSUBSCRIBE: a Redis Cluster, or Redis >= 7) rather than
// PUBLISH/SUBSCRIBE (the embedded store).
func (s *Server) ShardedPubSub() bool { return s.sharded }

// Handler is the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain is the first step of a shutdown: from now on new Socket.IO
// handshakes and upgrades and new event streams are refused with a 503
// (SERVICE_UNAVAILABLE), so no client lands on a node about to close. REST
// requests are still served. Safe to call twice.
func (s *Server) Drain() { s.drain.start() }

// Disconnect drains the server and tells every connected realtime client to
// reconnect elsewhere: Socket.IO connections are closed (the client sees
// "transport close" and reconnects), event streams end after a retry: line
// (EventSource reconnects). Their presence and hub subscriptions end with
// them. Safe to call twice.
func (s *Server) Disconnect() {
	s.Drain()
	s.disconnectOnce.Do(func() {
		for _, c := range s.disconnect {
			c()
		}
	})
}

// Close disconnects the clients (Disconnect), then leaves presence and
// closes the hub; the caller closes the Redis client. Call it after the
// HTTP server stopped (http.Server.Shutdown), so no request is in flight.
func (s *Server) Close() {
	s.Disconnect()
	s.closeOnce.Do(func() {
		for _, c := range s.closers {
			c()
		}
	})
}
