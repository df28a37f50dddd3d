package server

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"parley/chat"
)

// A node shuts down in order (main.go): it stops accepting realtime
// connections (drain.start, then the listener closes), tells the connected
// ones to reconnect elsewhere (Server.Disconnect), lets in-flight requests
// finish, and only then closes presence and the hub (Server.Close). A
// handshake or stream that reaches the node once draining began is refused
// with a 503 so the client retries, on another node behind a load
// balancer; it never lands on a hub about to close.

// errDraining is the refusal of a new realtime connection during shutdown.
var errDraining = chat.E("server.drain", chat.Unavailable, "server is shutting down: reconnect (to another node)", nil)

// drain is the node's "stop accepting" switch.
type drain struct {
	once sync.Once
	ch   chan struct{}
}

func newDrain() *drain { return &drain{ch: make(chan struct{})} }

// start refuses new Socket.IO handshakes and upgrades and new event
// streams from now on; safe to call twice.
func (d *drain) start() { d.once.Do(func() { close(d.ch) }) }

func (d *drain) draining() bool {
	select {
	case <-d.ch:
		return true
	default:
		return false
	}
}

// refuse writes the 503 envelope, with Retry-After, without logging: a
// refused reconnect during shutdown is expected, not a server fault.
func refuseDraining(w http.ResponseWriter) {
	body := classify(errDraining)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	w.WriteHeader(body.Status)
	_ = json.NewEncoder(w).Encode(body)
}

// streams is the middleware of GET /api/events: no new stream once
// draining began.
func (d *drain) streams(c *gin.Context) {
	if d.draining() {
		refuseDraining(c.Writer)
		c.Abort()
		return
	}
	c.Next()
}

// socketIO wraps the Socket.IO handler: once draining began, a new session
// (a request without sid, polling or websocket) and an upgrade of an
// existing one to websocket are refused; requests of existing polling
// sessions still pass, so they receive the close packet.
func (d *drain) socketIO(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining() && (r.URL.Query().Get("sid") == "" || r.URL.Query().Get("transport") == "websocket") {
			refuseDraining(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}
