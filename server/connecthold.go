package server

import (
	"time"

	"github.com/zishang520/socket.io/v2/socket"
)

// A workaround for zishang520/socket.io v2.5.0 (see also workarounds.go).
//
// Upstream behaviour: once the namespace middleware accepts a socket, the
// library connects it in a new goroutine (namespace.Add -> _doConnect):
// Socket._onconnect writes the CONNECT ack, and only after that does
// Client.doConnect's callback register the socket with its client
// (Client.nsps). A packet the client sends the moment it sees the ack —
// socketio-jwt's "authenticate", a typing event — can be decoded in that
// gap by the connection's reader; Client.ondecoded then finds no socket for
// the namespace ("invalid state"), and closes the transport without a
// word: the client sees its connection cut (websocket close 1006), never an
// answer. (In Node both steps run in one tick, so nothing comes between.)
// TestHostileLegacyAuthenticate, whose client emits "authenticate" as soon
// as it is connected, lost one socket in 50 to 150 to it.
//
// The hold: from the moment the middleware accepts a socket until its
// "connection" handler runs (the library registered it before) or it
// closes, each packet the engine receives on its connection waits, at
// most connectHoldLimit, in a listener of the engine's "packet" event,
// which the engine emits before "data" (socket.io's listener), on the
// same goroutine: the websocket reader, or the polling POST handler. A
// packet after that passes at the cost of a channel check.
// TestWorkaroundConnectHold constructs the race.

// connectHoldLimit bounds a hold: registration takes microseconds, and a
// socket that closes meanwhile ends the hold at once; the limit is a
// safety net only.
const connectHoldLimit = 5 * time.Second

// holdPackets holds the packets of s's connection until life's socket is
// registered with its client or closed. It is called from the middleware,
// before it accepts the socket: the next packet is read only once the
// middleware has returned (Engine.IO v4: the CONNECT's reader runs it; v3:
// the handshake, before the client can know it is connected).
func (rt *realtime) holdPackets(s *socket.Socket, life *socketLife) {
	if rt.workarounds.noConnectHold {
		return
	}
	_ = s.Conn().On("packet", func(...any) {
		if !life.awaitRegistered(connectHoldLimit) {
			rt.log.Warn("socket not registered with its client in time; releasing its packets", "limit", connectHoldLimit)
		}
	})
}
