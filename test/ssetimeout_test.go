package test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"parley/config"
	"parley/internal/testutil"
	"parley/server"
)

// TestSSEOutlivesReadTimeout: main.go's http.Server has a ReadTimeout (for
// slow clients); an event stream must keep delivering after it passes.
func TestSSEOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	secret := randomHex(t, 32)
	cfg, err := config.Load(withRedis(t, map[string]string{"PARLEY_KEY_PREFIX": testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN": testutil.Domain(t), "PARLEY_JWT_SECRET": secret, "PARLEY_METRICS_ADDR": ""}))
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := server.OpenRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), rdb)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadTimeout: 300 * time.Millisecond}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); _ = hs.Shutdown(context.Background()); _ = rdb.Close() })
	n := &node{url: "http://" + ln.Addr().String(), secret: secret, hc: &http.Client{Timeout: 10 * time.Second}}

	frames, _, _ := sseStream(t, n, "token="+n.tok(t, 2, nil), nil)
	if f := nextFrame(t, frames, true); f.event != "ready" {
		t.Fatalf("first event %q, want ready", f.event)
	}
	time.Sleep(time.Second) // well past the read timeout
	n.sendText(t, n.tok(t, 1, nil), "2", "still streaming")
	if f := nextFrame(t, frames, true); f.event != "message:new" {
		t.Fatalf("after the read timeout: %q, want message:new", f.event)
	}
}
