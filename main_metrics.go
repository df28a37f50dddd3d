package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"parley/config"
	"parley/server"
)

// serveMetrics starts the metrics (and, with PARLEY_PPROF, pprof) listener
// on PARLEY_METRICS_ADDR; it does nothing when that is empty. The returned
// function stops the listener and is always safe to call.
func serveMetrics(cfg config.Config, srv *server.Server, log *slog.Logger) (stop func(context.Context), err error) {
	if cfg.MetricsAddr == "" {
		return func(context.Context) {}, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("PARLEY_METRICS_ADDR: %w", err)
	}
	log.Info("metrics listening", "addr", ln.Addr().String(), "pprof", cfg.PProf)
	// pprof's profile and trace endpoints stream for ?seconds=, so no write timeout.
	hs := &http.Server{Handler: srv.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "err", err)
		}
	}()
	return func(ctx context.Context) {
		if err := hs.Shutdown(ctx); err != nil {
			_ = hs.Close()
		}
	}, nil
}
