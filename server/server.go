package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	neturl "net/url"
	"os"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"parley/auth"
	"parley/chat"
	"parley/config"
	"parley/inbox"
	"parley/userapi"
)

// ginRelease sets Gin's process-wide mode once: gin.SetMode writes package
// variables without a lock, so servers built concurrently (tests) would race.
var ginRelease sync.Once

// Server is a wired Parley node: REST API and realtime on one handler.
type Server struct {
	handler http.Handler
	closers []func()
}

// New wires a server from cfg on the Redis client rdb.
func New(cfg config.Config, log *slog.Logger, rdb redis.UniversalClient) (*Server, error) {
	verifier, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	hostDomains := make(map[string]chat.Domain, len(cfg.Domains))
	for host, handle := range cfg.Domains {
		hostDomains[host] = chat.Domain(handle)
	}
	keys := chat.Keys{Prefix: cfg.KeyPrefix}
	users := userapi.New(userapi.Options{URLTemplate: cfg.UserAPIURL, Header: cfg.UserAPIHeader,
		Timeout: cfg.UserAPITimeout, TTL: cfg.UserCacheTTL, Logger: log})

	authn := authenticator{verifier: verifier, hostDomains: hostDomains, defaultDomain: chat.Domain(cfg.DefaultDomain)}
	render := renderer{numericIDs: cfg.NumericIDs}
	rtOpts := realtimeOptions{corsOrigins: cfg.CORSOrigins, channelPrefix: cfg.KeyPrefix + "sio"}
	if !cfg.Embedded() {
		rtOpts.rdb = rdb // several nodes share one Redis; the embedded store is one node
	}
	rt := newRealtime(log, authn, render, rtOpts)

	ginRelease.Do(func() { gin.SetMode(gin.ReleaseMode) })
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.Use(accessLog(log), cors(cfg.CORSOrigins))
	addRoutes(r, routeDeps{
		log:     log,
		auth:    authn,
		chats:   chat.NewStore(rdb, keys, chat.Limits{MaxText: cfg.MaxText}, time.Now),
		inboxes: inbox.NewStore(rdb, keys),
		users:   users,
		events:  rt,
		ready:   redisPinger{rdb},
		render:  render,
		sio:     rt.handler(),
		limits:  limits{maxBody: cfg.MaxBody, perPage: min(10, cfg.MaxPerPage), maxPerPage: cfg.MaxPerPage},
	})
	return &Server{handler: r, closers: []func(){rt.close}}, nil
}

// Handler is the HTTP handler serving every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases what the server holds (realtime connections); the caller
// closes the Redis client.
func (s *Server) Close() {
	for _, c := range s.closers {
		c()
	}
}

func newVerifier(cfg config.Config) (*auth.Verifier, error) {
	ac := auth.Config{Algorithms: cfg.JWTAlgorithms, UserClaim: cfg.JWTUserClaim, DomainClaim: cfg.JWTDomainClaim,
		RequireExp: cfg.JWTRequireExp, Leeway: cfg.JWTLeeway, Secret: []byte(cfg.JWTSecret)}
	if cfg.JWTSecret == "" {
		ac.Secret = nil
	}
	if cfg.JWTPublicKeyFile != "" {
		pem, err := os.ReadFile(cfg.JWTPublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("PARLEY_JWT_PUBLIC_KEY_FILE: %w", err)
		}
		ac.PublicKeyPEM = pem
	}
	v, err := auth.NewVerifier(ac)
	if err != nil {
		return nil, fmt.Errorf("jwt: %w", err)
	}
	return v, nil
}

// OpenRedis connects to url with timeouts short enough that a dead Redis
// turns into a fast 503, never a hung request.
func OpenRedis(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		// A *url.Error quotes the whole URL, password included: keep the cause.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("PARLEY_REDIS_URL: %w", err)
	}
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	opt.PoolTimeout = time.Second
	opt.MaxRetries = 1
	opt.DialerRetries = 1 // one dial, no backoff loop: a dead Redis is a 503 at once
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt), nil
}

type redisPinger struct{ rdb redis.UniversalClient }

func (p redisPinger) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return p.rdb.Ping(ctx).Err()
}
