// Command parley runs the Parley direct-message server. Configuration comes
// from PARLEY_* environment variables only; see README.md or `parley --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"parley/auth"
	"parley/config"
	"parley/internal/embedded"
	"parley/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(exitCode(err))
	}
}

// run starts the server and blocks until ctx ends. environ nil means the
// process environment. The listener's address is logged as "listening".
func run(ctx context.Context, args []string, environ map[string]string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
		return usage(stdout)
	}
	if len(args) > 0 {
		if cmd, ok := commands()[args[0]]; ok {
			return cmd(args[1:], environ, stdout, stderr)
		}
		return fmt.Errorf("unknown argument %q (try --help)", args[0])
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	adoptStartupLogging(log, environ)

	devMode := cfg.JWTSecret == "" && cfg.JWTPublicKeyFile == "" && cfg.JWTDomainKeysDir == ""
	if devMode && !cfg.Embedded() {
		return errors.New("no JWT key: set PARLEY_JWT_SECRET or PARLEY_JWT_PUBLIC_KEY_FILE (dev mode with a random secret is only allowed on the embedded store)")
	}
	// Listen first: a dev server's first line is where to point a browser.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("PARLEY_HTTP_ADDR: %w", err)
	}
	defer ln.Close()
	var secretFile string
	if devMode {
		fmt.Fprintf(stdout, "Parley dev server: open http://127.0.0.1:%d/demo (tokens below)\n", ln.Addr().(*net.TCPAddr).Port)
		var serr error
		if cfg.JWTSecret, secretFile, serr = devSecret(); cfg.JWTSecret == "" {
			return serr
		} else if serr != nil {
			log.Warn("dev secret not saved: tokens printed now stop working when this process restarts", "err", serr.Error())
		}
	}

	rcfg := cfg // the Redis to open: cfg's, or the embedded store
	if cfg.Embedded() {
		store, err := embedded.Start()
		if err != nil {
			return err
		}
		defer store.Close()
		rcfg.RedisURL = store.URL()
		log.Warn("PARLEY_REDIS_URL is not set: using the EMBEDDED in-memory store; all data is lost when the process stops and only one node can run. Set PARLEY_REDIS_URL for production.")
	}

	rdb, err := server.OpenRedis(rcfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	var opts []server.Option
	var devUsers []server.DevUser
	if devMode {
		if devUsers, err = mintDevUsers(cfg.JWTSecret); err != nil {
			return err
		}
		opts = append(opts, server.WithDevUsers(devUsers))
	}
	srv, err := server.New(cfg, log, rdb, opts...)
	if err != nil {
		return err
	}
	defer srv.Close()
	stopMetrics, err := serveMetrics(cfg, srv, log)
	if err != nil {
		return err
	}

	log.Info("listening", "addr", ln.Addr().String(), "redis", string(cfg.RedisMode()), "sharded_pubsub", srv.ShardedPubSub())
	if devMode {
		if err := printDevTokens(stdout, cfg, secretFile, devUsers, ln.Addr()); err != nil {
			return err
		}
	}
	// ReadTimeout bounds slow request bodies. It must outlast a long-poll
	// GET (held up to the 25 s ping interval): when it fires mid-handler,
	// net/http cancels the request. Websockets are unaffected (the upgrade
	// clears the deadlines). No WriteTimeout: it would cut long-polls and
	// event streams; handlers bound their own work (Redis 1 s, user API).
	conns := newConnTracker()
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ConnState: conns.track}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	start := time.Now()
	shutdown(log, hs, conns, srv, cfg.ShutdownTimeout)
	// The metrics listener serves until the node is down, then gets what
	// is left of the grace period.
	mctx, cancel := context.WithTimeout(context.Background(), max(cfg.ShutdownTimeout-time.Since(start), time.Second))
	defer cancel()
	stopMetrics(mctx)
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevelValue()}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// mintDevUsers signs 24-hour tokens for users 1 and 2 with the dev secret.
func mintDevUsers(secret string) ([]server.DevUser, error) {
	users := make([]server.DevUser, 2)
	for i := range users {
		t, err := auth.SignHS256([]byte(secret), map[string]any{
			"user_id": i + 1, "exp": time.Now().Add(24 * time.Hour).Unix(), "iat": time.Now().Unix()})
		if err != nil {
			return nil, err
		}
		users[i] = server.DevUser{ID: fmt.Sprint(i + 1), Token: t}
	}
	return users, nil
}

// printDevTokens prints the dev secret and the dev users' tokens so a
// newcomer can try the API, and the demo page, at once.
func printDevTokens(w io.Writer, cfg config.Config, secretFile string, users []server.DevUser, addr net.Addr) error {
	tokens := []string{users[0].Token, users[1].Token}
	port := addr.(*net.TCPAddr).Port
	kept := "kept in " + secretFile + " (0600), so these tokens survive a restart; the embedded data does not"
	if secretFile == "" {
		kept = "not saved (see the warning above): restarting makes a new one"
	}
	_, err := fmt.Fprintf(w, `
DEV MODE: no PARLEY_JWT_SECRET, so this process uses a random HS256 secret,
%s:
  PARLEY_JWT_SECRET=%s
Tokens (valid 24h):
  user 1: %s
  user 2: %s
Try:
  curl -s -X POST http://127.0.0.1:%d/api/user/2 -H 'X-Auth-Token: %s' -H 'Content-Type: application/json' -d '{"type":"text","text":"Hello, world!"}'
  curl -s http://127.0.0.1:%d/api/list -H 'X-Auth-Token: %s'
Demo page (pick user 1 in one tab, user 2 in another): http://127.0.0.1:%d/demo

`, kept, cfg.JWTSecret, tokens[0], tokens[1], port, tokens[0], port, tokens[1], port)
	return err
}

func usage(w io.Writer) error {
	fmt.Fprintln(w, subcommandUsage+"\nParley serves direct-message chat for a platform's JWTs. Configuration (environment):")
	for _, v := range config.Variables() {
		def := v.Default
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(w, "  %-28s %-10s %s\n", v.Name, def, v.Description)
	}
	return nil
}
