package server

import (
	"math"
	"net/http"
	"time"

	eiotypes "github.com/zishang520/engine.io/v2/types"
	"github.com/zishang520/socket.io-go-parser/v2/parser"
	"github.com/zishang520/socket.io/v2/socket"
)

// Workarounds for zishang520/engine.io v2.5.0 bugs. Each has a test in
// workarounds_test.go in two halves: one shows the upstream behaviour is
// still there with the workaround switched off (when a library upgrade
// makes that half fail, the workaround can go), the other that the
// workaround holds. engineWorkarounds switches them off, for those tests
// only: production code never sets it, and its zero value keeps them all.
type engineWorkarounds struct {
	// noWebsocketGate serves fresh websockets without the read gate
	// (wsgate.go).
	noWebsocketGate bool
	// noDeflateSetting leaves PerMessageDeflate unset.
	noDeflateSetting bool
	// noConnectHold lets a connection's packets reach socket.io while its
	// socket is being registered (connecthold.go).
	noConnectHold bool
	// pingInterval and pingTimeout replace 25 s and 30 s when set, so a
	// test can run ping cycles quickly, or put the timeout under the
	// interval.
	pingInterval, pingTimeout time.Duration
	// beforeClientSetup, when set, runs as socket.io starts attaching its
	// listeners to a new engine connection (it creates the client's
	// decoder first): a test stalls there to construct the race the
	// websocket gate closes.
	beforeClientSetup func()
}

// Production heartbeat: see setHeartbeat.
const (
	pingInterval = 25 * time.Second
	pingTimeout  = 30 * time.Second
)

// applyEngineWorkarounds sets the engine options the workarounds need.
func applyEngineWorkarounds(opts *socket.ServerOptions, w engineWorkarounds) {
	setHeartbeat(opts, w)
	if !w.noDeflateSetting {
		setPerMessageDeflate(opts)
	}
	if w.beforeClientSetup != nil {
		opts.SetParser(hookedParser{Parser: parser.NewParser(), before: w.beforeClientSetup})
	}
}

// hookedParser runs before before each decoder it makes: socket.io makes a
// client's decoder in Client.Construct, just before Client.setup listens
// to the engine connection.
type hookedParser struct {
	parser.Parser
	before func()
}

func (p hookedParser) NewDecoder() parser.Decoder {
	p.before()
	return p.Parser.NewDecoder()
}

// setHeartbeat sets a ping timeout longer than the ping interval on
// purpose.
//
// Upstream behaviour: engine.io v2.5.0's ping timer (socket.schedulePing)
// sends the ping and only then arms the pong timer (resetPingTimeout). A
// pong handled in between — a client that answers at once while the
// pinging goroutine is descheduled, as on a busy machine — clears the old
// timer (packet.PONG in socket.onPacket), and the new one, which nothing
// clears, closes the socket with "ping timeout" pingTimeout later
// (bench/load P2 under load: close 1006, and the lost deliveries of those
// sockets). With the timeout longer than the interval, the next ping's
// resetPingTimeout clears such a timer before it fires; a dead peer is
// still noticed within interval+timeout (55 s).
//
// TestWorkaroundPingTimeoutAboveInterval holds the pinging goroutine at
// that point until the pong is handled.
func setHeartbeat(opts *socket.ServerOptions, w engineWorkarounds) {
	interval, timeout := pingInterval, pingTimeout
	if w.pingInterval > 0 {
		interval = w.pingInterval
	}
	if w.pingTimeout > 0 {
		timeout = w.pingTimeout
	}
	opts.SetPingInterval(interval)
	opts.SetPingTimeout(timeout)
}

// setPerMessageDeflate configures per-message deflate with a threshold no
// frame reaches, so frames stay uncompressed (clients' deflate offers are
// stripped before the upgrade anyway, see limitSocketPayloads: compression
// is never negotiated; only the option's presence matters here).
//
// Upstream behaviour: engine.io v2.5.0's websocket transport (websocket.send)
// writes a broadcast's pre-encoded frame (Options.WsPreEncodedFrame, set by
// socket.io's adapter for room and namespace broadcasts) and then returns,
// dropping every other packet flushed in the same batch: a socket receiving
// broadcasts faster than one write loses some (measured by bench/load P2
// when events went out through rooms). The pre-encoded path is taken only
// when PerMessageDeflate is nil; with it set, every packet takes the
// per-packet path.
//
// Parley no longer broadcasts (the hub emits to each socket, which never
// carries a pre-encoded frame), so today this guards only against a future
// room or namespace broadcast. TestWorkaroundPerMessageDeflate broadcasts
// a burst to one socket.
func setPerMessageDeflate(opts *socket.ServerOptions) {
	opts.SetPerMessageDeflate(&eiotypes.PerMessageDeflate{Threshold: math.MaxInt})
}

// gate wraps the Socket.IO handler with the websocket read gate
// (wsgate.go) unless a test switched it off.
func (w engineWorkarounds) gate(h http.Handler) http.Handler {
	if w.noWebsocketGate {
		return h
	}
	return gateWebsockets(h)
}
