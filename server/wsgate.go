package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zishang520/engine.io/v2/engine"
)

// A workaround for zishang520/engine.io v2.5.0 (see also workarounds.go).
//
// Upstream behaviour: the engine's handshake (baseServer.Handshake) creates
// the websocket transport, which reads from the connection at once, and the
// engine socket (NewSocket -> socket.onOpen sends the Engine.IO open
// packet) before it emits "connection", in whose handler socket.io's
// Client.setup starts listening for "data". A client that answers the open
// packet at once (any websocket-only client) sometimes has its CONNECT read
// and emitted with no listener, i.e. dropped, and waits forever. The gate
// holds back reads from a new websocket until the engine has announced the
// connection (by then socket.io is listening), or gateLimit at most.
// TestWorkaroundWebsocketGate constructs the race.

const gateLimit = 250 * time.Millisecond

type gateKey struct{}

type gate struct {
	once sync.Once
	ch   chan struct{}
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// gateWebsockets wraps the Socket.IO handler: fresh websocket handshakes
// (transport=websocket without a sid) get a gated connection.
func gateWebsockets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		hj, ok := w.(http.Hijacker)
		if !ok || q.Get("transport") != "websocket" || q.Get("sid") != "" {
			h.ServeHTTP(w, r)
			return
		}
		g := &gate{ch: make(chan struct{})}
		t := time.AfterFunc(gateLimit, g.open)
		defer t.Stop()
		h.ServeHTTP(gatedWriter{ResponseWriter: w, hj: hj, g: g}, r.WithContext(context.WithValue(r.Context(), gateKey{}, g)))
	})
}

// openGate is the engine's "connection" listener; registered after
// socket.io's own, it runs once socket.io is ready for packets.
func openGate(args ...any) {
	if len(args) == 0 {
		return
	}
	s, ok := args[0].(engine.Socket)
	if !ok || s.Request() == nil || s.Request().Request() == nil {
		return
	}
	if g, ok := s.Request().Request().Context().Value(gateKey{}).(*gate); ok {
		g.open()
	}
}

type gatedWriter struct {
	http.ResponseWriter
	hj http.Hijacker
	g  *gate
}

func (w gatedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	gc := &gatedConn{Conn: c, g: w.g}
	// Reads must go through the gate, so the websocket library may not reuse
	// the server's buffered reader (it refuses buffered client data anyway).
	return gc, bufio.NewReadWriter(bufio.NewReader(gc), rw.Writer), nil
}

type gatedConn struct {
	net.Conn
	g *gate
}

func (c *gatedConn) Read(p []byte) (int, error) {
	<-c.g.ch
	return c.Conn.Read(p)
}

// checkOrigin refuses (403) a websocket handshake whose Origin
// PARLEY_CORS_ORIGINS does not allow: browsers apply no CORS to
// websockets, so without it any page could open one. The rule is the one
// the cors middleware applies to polling: a configured origin, any with
// "*", or the page's own origin; a client that sends no Origin is no
// browser page and passes.
func checkOrigin(origins []string, h http.Handler) http.Handler {
	anyOrigin := slices.Contains(origins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || anyOrigin || !websocket.IsWebSocketUpgrade(r) ||
			slices.Contains(origins, origin) || sameOrigin(origin, r.Host) {
			h.ServeHTTP(w, r)
			return
		}
		writeHTTPError(w, errOriginRefused)
	})
}

// sameOrigin reports whether origin names the host the request came to.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, host)
}
