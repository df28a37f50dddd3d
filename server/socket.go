package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	eiotypes "github.com/zishang520/engine.io/v2/types"
	sioadapter "github.com/zishang520/socket.io-go-redis/adapter"
	siotypes "github.com/zishang520/socket.io-go-redis/types"
	"github.com/zishang520/socket.io/v2/socket"

	"parley/auth"
	"parley/chat"
)

// realtime is the Socket.IO transport: it authenticates handshakes with the
// same authenticator as REST, puts each socket in its user's room, and turns
// successful writes into events for both parties' rooms on every node.
type realtime struct {
	io     *socket.Server
	log    *slog.Logger
	auth   authenticator
	render renderer
	onEmit func(event string) // counts emitted events
}

var _ eventSink = (*realtime)(nil)

// realtimeOptions configure the Socket.IO server.
type realtimeOptions struct {
	corsOrigins []string
	// rdb, when set, fans events out to every node through Redis sharded
	// pub/sub; nil keeps the in-memory adapter (one node).
	rdb           redis.UniversalClient
	channelPrefix string
	onEmit        func(event string) // called once per event emitted; nil = no-op
}

func newRealtime(log *slog.Logger, a authenticator, r renderer, o realtimeOptions) *realtime {
	opts := socket.DefaultServerOptions()
	opts.SetPingInterval(25 * time.Second)
	opts.SetPingTimeout(20 * time.Second)
	opts.SetMaxHttpBufferSize(64 << 10)
	if len(o.corsOrigins) > 0 {
		origins := make([]any, len(o.corsOrigins))
		for i, s := range o.corsOrigins {
			origins[i] = s
		}
		var origin any = origins
		if len(o.corsOrigins) == 1 && o.corsOrigins[0] == "*" {
			origin = true // reflect the request's origin, as credentials forbid "*"
		}
		opts.SetCors(&eiotypes.Cors{Origin: origin, Credentials: true})
	}
	if o.rdb != nil {
		ao := sioadapter.DefaultShardedRedisAdapterOptions()
		ao.SetChannelPrefix(o.channelPrefix)
		opts.SetAdapter(&sioadapter.ShardedRedisAdapterBuilder{
			Redis: siotypes.NewRedisClient(context.Background(), o.rdb),
			Opts:  ao,
		})
	}
	rt := &realtime{io: socket.NewServer(nil, opts), log: log, auth: a, render: r, onEmit: o.onEmit}
	if rt.onEmit == nil {
		rt.onEmit = func(string) {}
	}
	rt.io.Use(rt.authenticate)
	_ = rt.io.On("connection", func(args ...any) { rt.onConnect(args[0].(*socket.Socket)) })
	return rt
}

// handler serves /socket.io/ (polling and websocket).
func (rt *realtime) handler() http.Handler {
	h := rt.io.ServeHandler(nil)
	_ = rt.io.Engine().On("connection", openGate)
	return gateWebsockets(h)
}

func (rt *realtime) close() { rt.io.Close(nil) }

// userRoom is the one room a user's sockets join.
func userRoom(d chat.Domain, u chat.UserID) socket.Room {
	return socket.Room(string(d) + ":user:" + string(u))
}

// handshakeToken finds the token: auth.token (socket.io-client v4), then
// ?token=, then the X-Auth-Token / Authorization headers of native clients.
func handshakeToken(h *socket.Handshake) string {
	if m, ok := h.Auth.(map[string]any); ok {
		if t, ok := m["token"].(string); ok && t != "" {
			return t
		}
	}
	if q := h.Query["token"]; len(q) > 0 && q[0] != "" {
		return q[0]
	}
	hdr := http.Header{}
	for k, v := range h.Headers {
		hdr[http.CanonicalHeaderKey(k)] = v
	}
	return auth.TokenFromHeader(hdr)
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
	cl, err := rt.auth.authenticate(handshakeToken(h), host)
	if err != nil {
		body := classify(err)
		msg := "unauthorized"
		if errors.Is(err, auth.ErrExpiredToken) {
			msg = "token expired"
		}
		next(socket.NewExtendedError(msg, toJSONMap(body)))
		return
	}
	s.SetData(cl)
	// Join before the CONNECT ack goes out, so an event emitted the moment
	// the client sees "connect" already reaches it.
	s.Join(userRoom(cl.Domain, cl.User))
	next(nil)
}

func (rt *realtime) onConnect(s *socket.Socket) {
	cl, ok := s.Data().(caller)
	if !ok {
		s.Disconnect(true)
		return
	}
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
		_ = s.On("disconnect", func(...any) { timer.Stop() })
	}
}

// emitBoth sends one event to both parties' rooms; with is the other
// party's id as each receiver sees it.
func (rt *realtime) emitBoth(event string, conv chat.Conversation, payload func(with chat.UserID) map[string]any) {
	rt.onEmit(event)
	for _, u := range []chat.UserID{conv.Lo, conv.Hi} {
		peer := conv.Peer(u)
		if err := rt.io.To(userRoom(conv.Domain, u)).Emit(event, payload(peer)); err != nil {
			rt.log.Warn("emit failed", "event", event, "room", string(userRoom(conv.Domain, u)), "err", err)
		}
	}
}

func (rt *realtime) messageNew(conv chat.Conversation, m chat.Message) {
	rt.emitMessage("message:new", conv, m)
}

func (rt *realtime) messageEdit(conv chat.Conversation, m chat.Message) {
	rt.emitMessage("message:edit", conv, m)
}

func (rt *realtime) emitMessage(event string, conv chat.Conversation, m chat.Message) {
	entry := toJSONMap(rt.render.message(m))
	rt.emitBoth(event, conv, func(with chat.UserID) map[string]any {
		return map[string]any{"state": toJSONMap(writeState(conv, conv.Peer(with))), "with": rt.render.id(with), "entry": entry}
	})
}

func (rt *realtime) messageDelete(conv chat.Conversation, m chat.Message) {
	rt.emitBoth("message:delete", conv, func(with chat.UserID) map[string]any {
		return map[string]any{"state": toJSONMap(writeState(conv, conv.Peer(with))), "with": rt.render.id(with), "id": m.ID}
	})
}

// toJSONMap turns a JSON-tagged value into plain maps: the Redis adapter
// ships payloads between nodes as msgpack, which knows nothing of json tags.
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
