package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/socket.io/v2/socket"
)

// An Engine.IO session is pending from its handshake until a Socket.IO
// CONNECT with a valid token: it holds memory but no user. A node holds at
// most PARLEY_MAX_PENDING_SESSIONS of them (a handshake beyond is refused
// 503), and each lasts PARLEY_SOCKET_AUTH_TIMEOUT at most before it is
// closed.

type pendingKey struct{}

// pendingSession is one handshake's slot, held by the request until the
// engine creates the session, then by the session until it authenticates
// or closes.
type pendingSession struct {
	release func() // uncounts the slot; idempotent
	mu      sync.Mutex
	claimed bool // a session owns the slot
	ended   bool
	timer   *time.Timer
	legacy  bool // connected without a token in legacy mode: no timeout here
}

// end releases the slot and stops the timeout; safe to call more than once.
func (p *pendingSession) end() {
	p.mu.Lock()
	p.ended = true
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
	p.release()
}

// pendingOf finds the slot of the handshake request r.
func pendingOf(ctx context.Context) *pendingSession {
	p, _ := ctx.Value(pendingKey{}).(*pendingSession)
	return p
}

// pendingSessions caps and times out unauthenticated sessions.
type pendingSessions struct {
	count   *connCounter
	timeout time.Duration
}

// capHandshakes wraps the Engine.IO handler: a handshake (a request without
// a sid) takes a slot or is refused with 503 and Retry-After.
func (ps pendingSessions) capHandshakes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("sid") != "" {
			h.ServeHTTP(w, r)
			return
		}
		release, ok := ps.count.acquire("")
		if !ok {
			writeHTTPError(w, errTooManyPending)
			return
		}
		p := &pendingSession{release: release}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pendingKey{}, p)))
		// The engine created its session while serving the handshake, or
		// refused it: then nothing holds the slot any more.
		p.mu.Lock()
		claimed := p.claimed
		p.mu.Unlock()
		if !claimed {
			p.end()
		}
	})
}

// onSession is an Engine.IO "connection" listener: the new session takes
// over its handshake's slot, and is closed unless it authenticates within
// the timeout.
func (ps pendingSessions) onSession(args ...any) {
	if len(args) == 0 {
		return
	}
	s, ok := args[0].(engine.Socket)
	if !ok || s.Request() == nil || s.Request().Request() == nil {
		return
	}
	p := pendingOf(s.Request().Request().Context())
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	p.claimed = true
	if ps.timeout > 0 && !p.legacy {
		p.timer = time.AfterFunc(ps.timeout, func() { s.Close(true) })
	}
	p.mu.Unlock()
	_ = s.Once("close", func(...any) { p.end() })
	if s.ReadyState() == "closed" {
		p.end()
	}
}

// authenticated ends the pending state of the session under socket s.
func authenticated(s *socket.Socket) {
	if req := s.Request(); req != nil && req.Request() != nil {
		if p := pendingOf(req.Request().Context()); p != nil {
			p.end()
		}
	}
}

// legacyPending stops the timeout of the session under s and keeps its
// slot: in legacy mode the socket connects without a token and has its own
// window to authenticate (legacy.go), after which authenticated ends it.
// An Engine.IO v3 client's socket connects before the session's
// "connection" listener here has run (the library connects it from its own
// listener): the mark keeps onSession from starting the timer.
func legacyPending(s *socket.Socket) {
	if req := s.Request(); req != nil && req.Request() != nil {
		if p := pendingOf(req.Request().Context()); p != nil {
			p.mu.Lock()
			p.legacy = true
			if p.timer != nil {
				p.timer.Stop()
			}
			p.mu.Unlock()
		}
	}
}
