package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/zishang520/socket.io/v2/socket"

	"parley/auth"
	"parley/chat"
)

// realtime is the Socket.IO transport: it authenticates handshakes with the
// same authenticator as REST and subscribes each socket to its user's
// events in the hub, which delivers them on every node (each node
// subscribes to the Redis channels of its own users).
type realtime struct {
	io     *socket.Server
	log    *slog.Logger
	auth   authenticator
	render renderer
	hub    *hub
	onEmit func(event string) // counts events delivered to sockets
	// typing relays the typing event; presence counts sockets as devices.
	typing   typist
	presence presenceTracker
	// conns counts the user's sockets and SSE streams on this node;
	// pending caps and times out sessions that have not authenticated.
	conns   *connCounter
	pending pendingSessions
	origins []string // PARLEY_CORS_ORIGINS, for the websocket Origin check
	// workarounds are the engine.io workarounds in force (all, outside tests).
	workarounds engineWorkarounds

	pollingMax int // packets per long-polling response (polling.go)
	// queue bounds each connection's unwritten packets; closedSlow counts
	// the sockets closed because theirs stayed full (sendqueue.go).
	queue      sendQueueLimits
	closedSlow func()
	// legacy is PARLEY_LEGACY_SOCKETS: the seed's clients (legacy.go).
	legacy legacyMode
}

// realtimeOptions configure the Socket.IO server.
type realtimeOptions struct {
	corsOrigins []string
	onEmit      func(event string) // called once per event emitted to a socket; nil = no-op
	typing      typist
	presence    presenceTracker
	conns       *connCounter // per-user connections of this node, shared with SSE; nil = no cap
	// maxPending and authTimeout bound sessions that have not authenticated;
	// 0 = no cap, no timeout.
	maxPending  int
	authTimeout time.Duration
	// pollingMaxPackets bounds the packets of one long-polling response
	// (polling.go); 0 = unbounded.
	pollingMaxPackets int
	workarounds       engineWorkarounds // tests only: the zero value keeps every workaround
	// queue bounds each connection's unwritten packets (zero: the
	// defaults); closedSlow is called per socket closed as slow.
	queue      sendQueueLimits
	closedSlow func()
	// legacy accepts the seed's Engine.IO v3 clients and their
	// post-connect authenticate flow (legacy.go).
	legacy bool
}

func newRealtime(log *slog.Logger, a authenticator, r renderer, h *hub, o realtimeOptions) *realtime {
	opts := socket.DefaultServerOptions()
	// Workarounds for engine.io v2.5.0 bugs: a ping timeout above the
	// interval and a per-message-deflate setting (workarounds.go).
	applyEngineWorkarounds(opts, o.workarounds)
	opts.SetMaxHttpBufferSize(socketMaxPayload) // enforced by limitSocketPayloads
	opts.SetAllowEIO3(o.legacy)                 // legacy.go
	// No engine.io CORS: its answer to a disallowed origin is
	// "Access-Control-Allow-Origin: false"; the cors middleware answers
	// /socket.io/ like every route, and checkOrigin guards websockets.
	//
	// No Redis adapter: nothing is sent through rooms (the hub delivers to
	// each socket), so the in-memory adapter's per-socket room is all there is.
	if o.conns == nil {
		o.conns = newConnCounter(math.MaxInt)
	}
	if o.maxPending <= 0 {
		o.maxPending = math.MaxInt
	}
	rt := &realtime{io: socket.NewServer(nil, opts), log: log, auth: a, render: r, hub: h, onEmit: o.onEmit,
		typing: o.typing, presence: o.presence, conns: o.conns, origins: o.corsOrigins, workarounds: o.workarounds,
		pending:    pendingSessions{count: newConnCounter(o.maxPending), timeout: o.authTimeout},
		pollingMax: o.pollingMaxPackets,
		queue:      o.queue.withDefaults(), closedSlow: o.closedSlow,
		legacy: legacyMode{on: o.legacy, window: legacyAuthWindow}}
	if rt.onEmit == nil {
		rt.onEmit = func(string) {}
	}
	if rt.closedSlow == nil {
		rt.closedSlow = func() {}
	}
	rt.io.Use(rt.authenticate)
	_ = rt.io.On("connection", func(args ...any) { rt.onConnect(args[0].(*socket.Socket)) })
	return rt
}

// handler serves /socket.io/ (polling and websocket).
func (rt *realtime) handler() http.Handler {
	h := rt.io.ServeHandler(nil)
	_ = rt.io.Engine().On("connection", openGate)
	_ = rt.io.Engine().On("connection", rt.pending.onSession)
	return limitSocketPayloads(socketMaxPayload, checkOrigin(rt.origins, rt.pending.capHandshakes(rt.legacy.refuseEIO3(rt.workarounds.gate(limitPolling(rt.io.Engine(), h, rt.pollingMax))))))
}

func (rt *realtime) close() { rt.io.Close(nil) }

// handshakeToken finds the token with the same rule as REST: auth.token
// (socket.io-client v4), ?token= and the X-Auth-Token / Authorization
// headers of native clients are all sources, and two different tokens are
// refused (auth.ErrAmbiguousToken).
func handshakeToken(h *socket.Handshake) (string, error) {
	var extra []string
	if m, ok := h.Auth.(map[string]any); ok {
		if t, ok := m["token"].(string); ok {
			extra = append(extra, t)
		}
	}
	extra = append(extra, h.Query["token"]...)
	hdr := http.Header{}
	for k, v := range h.Headers {
		ck := http.CanonicalHeaderKey(k)
		hdr[ck] = append(hdr[ck], v...)
	}
	return auth.RequestToken(hdr, extra...)
}

// authenticate is the handshake middleware: a socket without a valid token
// is refused with a connect_error whose message says why and whose data is
// the REST error envelope; it joins nothing.
func (rt *realtime) authenticate(s *socket.Socket, next func(*socket.ExtendedError)) {
	h := s.Handshake()
	host := ""
	if hs := h.Headers["host"]; len(hs) > 0 {
		host = hs[0]
	} else if req := s.Request(); req != nil && req.Request() != nil {
		host = req.Request().Host
	}
	token, err := handshakeToken(h)
	if rt.legacy.on && err == nil && token == "" {
		rt.acceptLegacy(s, next) // authenticates after the connect (legacy.go)
		return
	}
	cl := caller{}
	if err == nil {
		cl, err = rt.auth.authenticate(token, host)
	}
	if err != nil {
		body := classify(err)
		msg := "unauthorized"
		switch {
		case errors.Is(err, auth.ErrExpiredToken):
			msg = "token expired"
		case errors.Is(err, auth.ErrAmbiguousToken):
			msg = "ambiguous token"
		}
		next(socket.NewExtendedError(msg, toJSONMap(body)))
		return
	}
	// The client's position in its event log is fixed before the CONNECT
	// ack: a client without lastEventId gets every event from this moment on.
	after := lastEventID(h)
	if after < 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := rt.hub.LastEventID(ctx, cl.Domain, cl.User)
		if err != nil {
			next(socket.NewExtendedError("unavailable", toJSONMap(classify(err))))
			return
		}
		after = n
	}
	// The socket is a device for presence from before the CONNECT ack, so
	// a client that sees "connect" is online for everyone (and its peers'
	// presence events never race its first requests). It counts toward the
	// user's connections on this node from here too. Both are released by
	// the socket's one cleanup path (socketLife), whichever way it closes,
	// also before the connect completes.
	release, ok := rt.conns.acquire(userConnKey(cl))
	if !ok {
		next(socket.NewExtendedError("too many connections", toJSONMap(classify(errTooManyConnections))))
		return
	}
	life := watchSocket(s)
	rt.holdPackets(s, life) // until onConnect (connecthold.go)
	life.onClose(release)
	life.onClose(deviceOnline(rt.log, rt.presence, cl))
	s.SetData(socketState{caller: cl, after: after, life: life})
	// Client events are handled from before the CONNECT ack too: a client
	// may emit the moment it sees "connect", before onConnect has run.
	_ = s.On(chat.EventTyping, rt.onTyping(cl))
	authenticated(s)
	next(nil)
}

func (rt *realtime) onConnect(s *socket.Socket) {
	// The library has registered the socket with its client: the packets
	// held since the middleware accepted it may go (connecthold.go).
	if l, ok := s.Data().(*legacySocket); ok {
		l.life.markRegistered()
		l.life.settle(s)
		return
	}
	st, ok := s.Data().(socketState)
	if !ok {
		s.Disconnect(true)
		return
	}
	st.life.markRegistered()
	cl := st.caller
	// Events come from the user's event log: a client that reconnects with
	// auth.lastEventId first gets what it missed, then live events. Each
	// waits for room in the connection's queue; one that stays full closes
	// the socket as slow (sendqueue.go).
	q := watchSendQueue(s.Conn(), rt.queue)
	stop := rt.hub.Subscribe(cl.Domain, cl.User, st.after,
		func(ev chat.Event) {
			if !q.admit() {
				if s.Connected() { // not a socket that left meanwhile
					rt.closeSlow(s, q, cl)
				}
				return
			}
			_ = s.Emit(ev.Type, rt.render.event(cl.Domain, cl.User, ev))
			rt.onEmit(ev.Type)
		},
		func(reason string) { _ = s.Emit("resync", map[string]any{"reason": reason}) })
	st.life.onClose(stop)
	if !cl.Expires.IsZero() {
		// A socket lives no longer than its token: tell the client why, then
		// close; it reconnects with a fresh token.
		timer := time.AfterFunc(time.Until(cl.Expires), func() {
			_ = s.Emit("session:expired", map[string]any{"reason": "token expired"})
			rt.onEmit("session:expired")
			// false: leave the namespace with a disconnect packet the client
			// sees ("io server disconnect") instead of cutting the transport.
			s.Disconnect(false)
		})
		st.life.onClose(func() { timer.Stop() })
	}
	st.life.settle(s)
}

// socketState is what the handshake settles for a socket.
type socketState struct {
	caller caller
	after  int64       // the last event id the client has
	life   *socketLife // releases what the socket holds, once, however it closes
}

// lastEventID reads auth.lastEventId (or ?lastEventId=): the last event id
// the client has, as a number or a decimal string; -1 when absent or bad,
// which means live events only.
func lastEventID(h *socket.Handshake) int64 {
	var v any
	if m, ok := h.Auth.(map[string]any); ok {
		v = m["lastEventId"]
	}
	if v == nil {
		if q := h.Query["lastEventId"]; len(q) > 0 {
			v = q[0]
		}
	}
	return parseEventID(v)
}

// toJSONMap turns a JSON-tagged value into plain maps, so a payload reads
// the same whichever encoder the Socket.IO parser uses (msgpack knows
// nothing of json tags).
func toJSONMap(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(b)))
	if err := d.Decode(&m); err != nil {
		return nil
	}
	return m
}
