package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"parley/server"
)

// shutdown stops a node in order, within grace:
//
//  1. stop accepting: realtime handshakes and streams get a 503 (srv.Drain)
//     and the listener closes (hs.Shutdown's first step);
//  2. tell connected clients to reconnect elsewhere (srv.Disconnect, run by
//     hs.Shutdown once the listener is closed): Socket.IO connections are
//     closed, event streams end with a retry: line;
//  3. drain in-flight requests (hs.Shutdown). A request still running when
//     grace ends (a body trickled in byte by byte, a client that does not
//     read) does not hold the process: its connection is cut and a warning
//     says how many were;
//  4. leave presence and close the hub (srv.Close); the caller then closes
//     Redis.
func shutdown(log *slog.Logger, hs *http.Server, conns *connTracker, srv *server.Server, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	srv.Drain()
	log.Info("shutting down", "grace", grace.String())
	hs.RegisterOnShutdown(srv.Disconnect)
	if err := hs.Shutdown(ctx); err != nil {
		cut := conns.busy()
		_ = hs.Close()
		log.Warn("shutdown: grace period over, cut the connections still busy", "connections", cut, "grace", grace.String())
	}
	srv.Close()
}

// connTracker counts the HTTP server's connections that are not idle
// (http.Server.ConnState): what Shutdown waits for.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]http.ConnState
}

func newConnTracker() *connTracker { return &connTracker{conns: map[net.Conn]http.ConnState{}} }

func (t *connTracker) track(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c)
	default:
		t.conns[c] = st
	}
}

// busy is how many connections are reading or serving a request.
func (t *connTracker) busy() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, st := range t.conns {
		if st == http.StateNew || st == http.StateActive {
			n++
		}
	}
	return n
}
