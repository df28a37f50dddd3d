package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/zishang520/engine.io-go-parser/packet"
	"github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/engine.io/v2/events"
	"github.com/zishang520/engine.io/v2/transports"
	"github.com/zishang520/engine.io/v2/types"
)

// Long-polling payloads are bounded. engine.io v2.5.0 hands a socket's
// whole write buffer to the transport at once, and its polling transport
// answers a poll with all of it in one payload: a reconnect's replay of
// 200 events was one response of 200 packets. Clients bound what they
// decode (python-engineio 4.3's max_decode_packets is 16): such a client
// dropped the connection on that payload, reconnected with the same
// lastEventId and hit the same wall forever. batchedPolling wraps the
// polling transport so that a response carries at most max packets; the
// rest wait, in order, for the next poll, and packets written meanwhile
// stay in the socket's buffer behind them. Websocket transports are not
// wrapped.

// pollingLimitKey carries a node's packet limit from its HTTP handler to
// the transport builder, which engine.io keeps in one process-wide table.
type pollingLimitKey struct{}

func init() {
	// Before any server exists: the table is read without a lock.
	t := transports.Transports()
	t[transports.POLLING] = batchedPollingBuilder{TransportCtor: t[transports.POLLING]}
}

// batchedPollingBuilder builds engine.io's polling transport, wrapped in
// batchedPolling when the handshake request carries a limit.
type batchedPollingBuilder struct{ transports.TransportCtor }

func (b batchedPollingBuilder) New(ctx *types.HttpContext) transports.Transport {
	t := b.TransportCtor.New(ctx)
	if r := ctx.Request(); r != nil {
		if n, ok := r.Context().Value(pollingLimitKey{}).(int); ok && n > 0 {
			return newBatchedPolling(t, n)
		}
	}
	return t
}

// limitPolling marks new polling sessions (the handshake creates the
// transport) with the node's limit, and hands a polling socket's held
// packets over to the websocket it upgrades to.
func limitPolling(e engine.BaseServer, h http.Handler, max int) http.Handler {
	if max <= 0 {
		return h
	}
	_ = e.On("connection", func(args ...any) {
		if s, ok := args[0].(engine.Socket); ok {
			if bp, ok := s.Transport().(*batchedPolling); ok {
				_ = s.On("upgrading", func(args ...any) {
					if next, ok := args[0].(transports.Transport); ok {
						bp.upgradingTo(next)
					}
				})
			}
		}
	})
	return markPollingHandshakes(h, max)
}

// markPollingHandshakes puts the limit on the context of polling
// handshakes, where engine.io builds the polling transport.
func markPollingHandshakes(h http.Handler, max int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("transport") == transports.POLLING && q.Get("sid") == "" {
			r = r.WithContext(context.WithValue(r.Context(), pollingLimitKey{}, max))
		}
		h.ServeHTTP(w, r)
	})
}

// batchedPolling is a polling transport that sends at most max packets
// per poll response. Invariant: held packets exist only while the inner
// transport is not writable (a poll is answered, or none is open), so the
// next poll's "ready" sends the next batch.
type batchedPolling struct {
	transports.Transport // engine.io's polling (or JSONP) transport

	max  int
	mu   sync.Mutex
	held []*packet.Packet     // older than anything in the socket's buffer
	next transports.Transport // the transport an upgrade goes to
	// An orderly close waits for the held packets, as engine.io's socket
	// waits for its own buffer: the close callbacks, and a timer that
	// closes anyway after closeWait.
	closeFns   []types.Callable
	closeTimer *time.Timer
}

// closeWait bounds how long an orderly close waits for held packets to be
// polled (engine.io's polling close timeout is 30 s too).
const closeWait = 30 * time.Second

func newBatchedPolling(t transports.Transport, max int) *batchedPolling {
	bp := &batchedPolling{Transport: t, max: max}
	// Registered before the socket's own "ready" listener (it attaches
	// after the builder returns), so held packets go out before the
	// socket flushes its buffer; the socket then finds the transport busy.
	_ = t.On("ready", events.Listener(func(...any) { bp.sendHeld() }))
	return bp
}

// Writable is false while packets are held: the socket keeps newer ones in
// its own buffer, so they cannot overtake the held ones.
func (bp *batchedPolling) Writable() bool {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	return len(bp.held) == 0 && bp.Transport.Writable()
}

// Send queues packets behind the held ones and answers the open poll, if
// any, with the first batch.
func (bp *batchedPolling) Send(packets []*packet.Packet) {
	bp.mu.Lock()
	bp.held = append(bp.held, packets...)
	closeNow := bp.sendLocked()
	bp.mu.Unlock()
	if closeNow {
		bp.closeNow()
	}
}

func (bp *batchedPolling) sendHeld() {
	bp.mu.Lock()
	closeNow := bp.sendLocked()
	bp.mu.Unlock()
	if closeNow {
		bp.closeNow()
	}
}

// sendLocked sends the next batch if a poll is open; it reports whether a
// waiting close may now proceed.
func (bp *batchedPolling) sendLocked() (closeNow bool) {
	if len(bp.held) == 0 || !bp.Transport.Writable() || bp.Transport.Discarded() {
		return false
	}
	n := min(bp.max, len(bp.held))
	batch := bp.held[:n:n]
	bp.held = bp.held[n:]
	if len(bp.held) == 0 {
		bp.held = nil
	}
	// The inner Send marks itself not writable before it returns.
	bp.Transport.Send(batch)
	return len(bp.held) == 0 && bp.closeFns != nil
}

// Close is engine.io's orderly close (the socket passes its callback once
// its own buffer is sent) or a teardown (no callback). An orderly close
// waits until the held packets are sent: the last of them may be the
// Socket.IO disconnect that tells the client why.
func (bp *batchedPolling) Close(fn ...types.Callable) {
	bp.mu.Lock()
	if len(bp.held) > 0 && len(fn) > 0 && fn[0] != nil && bp.closeTimer == nil && !bp.Transport.Discarded() {
		bp.closeFns = fn
		bp.closeTimer = time.AfterFunc(closeWait, bp.closeNow)
		bp.mu.Unlock()
		return
	}
	bp.mu.Unlock()
	bp.Transport.Close(fn...)
}

// closeNow runs a close that waited for held packets (once).
func (bp *batchedPolling) closeNow() {
	bp.mu.Lock()
	fns := bp.closeFns
	bp.closeFns = nil
	if bp.closeTimer != nil {
		bp.closeTimer.Stop()
	}
	bp.mu.Unlock()
	if fns != nil {
		bp.Transport.Close(fns...)
	}
}

func (bp *batchedPolling) upgradingTo(next transports.Transport) {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.next = next
}

// handoverWait bounds how long an upgrade waits for the new websocket to
// finish its probe write before the held packets go to it.
const handoverWait = time.Second

// Discard is called when the socket upgrades (or is dropped): the client
// polls no more, so held packets go to the new transport, ahead of the
// socket's buffer, which the socket flushes to it right after. Waiting
// until the websocket is writable keeps them behind nothing: engine.io's
// websocket Send writes from a new goroutine, and two writes issued while
// one is in flight race for its lock.
func (bp *batchedPolling) Discard() {
	bp.Transport.Discard()
	bp.mu.Lock()
	held, next := bp.held, bp.next
	bp.held = nil
	bp.mu.Unlock()
	if len(held) == 0 || next == nil {
		return
	}
	deadline := time.Now().Add(handoverWait)
	for !next.Writable() && time.Now().Before(deadline) && next.ReadyState() == "open" {
		time.Sleep(time.Millisecond)
	}
	next.Send(held)
}
