package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/zishang520/socket.io/v2/socket"

	"parley/chat"
)

// Legacy mode (PARLEY_LEGACY_SOCKETS=true) serves apps written for the
// seed, whose server was Socket.IO 1.x with socketio-jwt, unchanged:
//
//   - Engine.IO v3 clients (socket.io-client 1.x/2.x) are accepted;
//   - a socket may connect without a token; it then emits "authenticate"
//     {token} within legacyAuthWindow and gets "authenticated", or
//     "unauthorized" {message, data:{message, code:"invalid_token",
//     type:"UnauthorizedError"}} and a disconnect. One that does not
//     authenticate in time is closed; it receives nothing before;
//   - a socket authenticated that way receives "new-message" with the
//     message entry of the REST send response, for every message of the
//     user's conversations (sent or received, from any device), fed by the
//     same hub subscription as every socket. The seed had no other event:
//     edits, deletes, read receipts, typing and presence are not sent to
//     it, nor "resync" (it has no event ids to resume from).
//
// Sockets that authenticate in the handshake are untouched: they receive
// the message:* events, with event ids and recovery. Without the flag an
// Engine.IO v3 handshake is refused with 400 and a message that names it.

// legacyAuthWindow is how long a legacy socket has to authenticate after it
// connects: socketio-jwt's default timeout.
const legacyAuthWindow = 15 * time.Second

// legacyRefusal is the message of an Engine.IO v3 handshake's 400.
const legacyRefusal = "Engine.IO v3 clients (socket.io-client 1.x/2.x) need PARLEY_LEGACY_SOCKETS=true"

// legacyMode is the realtime server's legacy setting.
type legacyMode struct {
	on     bool
	window time.Duration
}

// refuseEIO3 answers an Engine.IO v3 handshake 400 with the flat error
// envelope while legacy mode is off: the engine's own answer
// ("Unsupported protocol version") reaches socket.io-client 2 as an
// anonymous "xhr poll error". A request with a sid belongs to a session the
// engine already has (v4, since a v3 one cannot exist).
func (m legacyMode) refuseEIO3(h http.Handler) http.Handler {
	if m.on {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("sid") == "" && q.Get("EIO") != "4" {
			writeHTTPError(w, errLegacyClient)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// legacySocket is the state of a socket that connected without a token.
type legacySocket struct {
	life   *socketLife
	mu     sync.Mutex
	done   bool // authenticated, or refused
	authed bool // authenticated: the window no longer applies
	window *time.Timer
}

// acceptLegacy lets a socket without a token connect: it keeps its pending
// slot and has legacyAuthWindow to authenticate.
//
// The window ends with the connection, not the socket: a refused socket
// leaves the namespace at once ("unauthorized", then socketio-jwt's
// disconnect), and socket.io-client then closes its connection; one that
// keeps it (answering pings, which would hold it and its pending slot
// forever) is closed when the window ends.
func (rt *realtime) acceptLegacy(s *socket.Socket, next func(*socket.ExtendedError)) {
	l := &legacySocket{life: watchSocket(s)}
	rt.holdPackets(s, l.life) // until onConnect (connecthold.go)
	legacyPending(s)
	conn := s.Conn()
	l.window = time.AfterFunc(rt.legacy.window, func() {
		l.mu.Lock()
		authed := l.authed
		l.mu.Unlock()
		if !authed {
			s.Disconnect(true) // still connected: leave, then close the transport
			conn.Close(false)  // refused: the socket left, the connection stayed
		}
	})
	_ = conn.Once("close", func(...any) { l.window.Stop() })
	if conn.ReadyState() == "closed" {
		l.window.Stop()
	}
	s.SetData(l)
	_ = s.On("authenticate", func(args ...any) { rt.legacyAuthenticate(s, l, args) })
	next(nil)
}

// legacyUnauthorized is socketio-jwt's refusal.
func legacyUnauthorized(s *socket.Socket, msg, code string) {
	_ = s.Emit("unauthorized", map[string]any{"message": msg,
		"data": map[string]any{"message": msg, "code": code, "type": "UnauthorizedError"}})
	s.Disconnect(false) // the client sees "io server disconnect"
}

// legacyAuthenticate handles "authenticate" {token}; only the first counts.
func (rt *realtime) legacyAuthenticate(s *socket.Socket, l *legacySocket, args []any) {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return
	}
	l.done = true
	l.mu.Unlock()
	token := ""
	if len(args) > 0 {
		if m, ok := args[0].(map[string]any); ok {
			token, _ = m["token"].(string)
		}
	}
	if token == "" {
		legacyUnauthorized(s, "no token provided", "invalid_token")
		return
	}
	cl, err := rt.auth.authenticate(token, socketHost(s))
	if err != nil {
		legacyUnauthorized(s, classify(err).Message, "invalid_token")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	after, err := rt.hub.LastEventID(ctx, cl.Domain, cl.User)
	cancel()
	if err != nil {
		legacyUnauthorized(s, classify(err).Message, "unavailable")
		return
	}
	release, ok := rt.conns.acquire(userConnKey(cl))
	if !ok {
		legacyUnauthorized(s, classify(errTooManyConnections).Message, "too_many_connections")
		return
	}
	l.life.onClose(release)
	l.life.onClose(deviceOnline(rt.log, rt.presence, cl))
	l.mu.Lock()
	l.authed = true
	l.mu.Unlock()
	l.window.Stop()
	authenticated(s) // ends the pending slot
	// The position is fixed: what happens from here on is delivered, also
	// to a client that sends the moment it sees "authenticated".
	_ = s.Emit("authenticated")
	rt.onEmit("authenticated")
	q := watchSendQueue(s.Conn(), rt.queue)
	stop := rt.hub.Subscribe(cl.Domain, cl.User, after,
		func(ev chat.Event) {
			if ev.Type != chat.EventNew {
				return
			}
			if !q.admit() {
				if s.Connected() {
					rt.closeSlow(s, q, cl)
				}
				return
			}
			_ = s.Emit("new-message", rt.render.message(ev.Msg))
			rt.onEmit("new-message")
		},
		func(string) {})
	l.life.onClose(stop)
	if !cl.Expires.IsZero() {
		// As every socket, it lives no longer than its token.
		timer := time.AfterFunc(time.Until(cl.Expires), func() { s.Disconnect(false) })
		l.life.onClose(func() { timer.Stop() })
	}
}

// socketHost is the Host of the socket's handshake request.
func socketHost(s *socket.Socket) string {
	if hs := s.Handshake().Headers["host"]; len(hs) > 0 {
		return hs[0]
	}
	if req := s.Request(); req != nil && req.Request() != nil {
		return req.Request().Host
	}
	return ""
}
