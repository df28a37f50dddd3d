package server

import (
	"sync"
	"time"

	"github.com/zishang520/engine.io-go-parser/packet"
	"github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/engine.io/v2/transports"
	"github.com/zishang520/socket.io/v2/socket"
)

// Slow consumers over Socket.IO. engine.io v2.5.0 never refuses a packet:
// Socket.sendPacket appends it to the connection's writeBuffer, flush hands
// the whole buffer to the transport when the transport is writable, and the
// websocket transport writes that batch in a goroutine that blocks as long
// as the peer does not read (no write deadline), while the writeBuffer keeps
// growing. So an Emit never blocks and the hub's own backpressure (its small
// per-connection queue, then re-reading the log) never applies to a socket:
// a client that stops reading made the node hold its replay and every live
// event until the ping timeout, ~55 s later (TestSlowSocketConsumer: +5.4 MiB
// of heap for 5 000 events to one stalled client).
//
// sendQueue measures what one Engine.IO connection holds and has not yet
// written, from the engine's own events: "packetCreate" (a packet entered
// the writeBuffer), "flush" (the buffer went to the transport as one batch)
// and the transport's "drain" (that batch was written; a transport writes
// one batch at a time, so a drain ends the transport's only batch in
// flight, except for the packets batchedPolling holds for the next polls). Delivery waits while the queue holds sendQueueLimits.packets
// packets or .bytes bytes; a queue that stays full for .timeout is a slow
// consumer, and the socket is closed (see realtime.closeSlow).

// sendQueueLimits bound one connection's queue (PARLEY_CONN_QUEUE_MAX,
// PARLEY_CONN_QUEUE_BYTES, PARLEY_CONN_WRITE_TIMEOUT).
type sendQueueLimits struct {
	packets int
	bytes   int64
	timeout time.Duration
}

type sendQueue struct {
	limits sendQueueLimits

	mu      sync.Mutex
	packets int   // created and not yet written
	bytes   int64 // their payload bytes
	sizes   map[*packet.Packet]int64
	// inflight holds the sizes of the packets flushed to each transport
	// and not yet written, oldest first.
	inflight map[transports.Transport][]int64
	// changed is closed (and replaced) when the queue shrinks or closes.
	changed chan struct{}
	closed  bool // the connection closed
	tripped bool // closed as slow: nothing more is admitted
}

// watchSendQueue starts measuring conn's queue.
func watchSendQueue(conn engine.Socket, l sendQueueLimits) *sendQueue {
	q := &sendQueue{limits: l, sizes: map[*packet.Packet]int64{},
		inflight: map[transports.Transport][]int64{}, changed: make(chan struct{})}
	_ = conn.On("packetCreate", func(a ...any) {
		if p, ok := arg[*packet.Packet](a); ok {
			q.created(p)
		}
	})
	_ = conn.On("flush", func(a ...any) {
		if wbuf, ok := arg[[]*packet.Packet](a); ok {
			q.flushed(conn.Transport(), wbuf)
		}
	})
	_ = conn.On("upgrade", func(a ...any) {
		if t, ok := arg[transports.Transport](a); ok {
			q.watchTransport(t)
		}
	})
	_ = conn.Once("close", func(...any) { q.close() })
	if t := conn.Transport(); t != nil {
		q.watchTransport(t)
	}
	if conn.ReadyState() == "closed" {
		q.close()
	}
	return q
}

func arg[T any](a []any) (T, bool) {
	var zero T
	if len(a) == 0 {
		return zero, false
	}
	v, ok := a[0].(T)
	return v, ok
}

// watchTransport follows the batches written by t. A transport that closes
// writes nothing more: what it had in flight is gone either way.
func (q *sendQueue) watchTransport(t transports.Transport) {
	_ = t.On("drain", func(...any) { q.written(t) })
	_ = t.Once("close", func(...any) { q.gone(t) })
}

// holder is a transport that may keep some flushed packets back for its
// next writes (batchedPolling): they are the newest in flight.
type holder interface{ heldPackets() int }

// heldPackets is the number of packets waiting for the next polls.
func (bp *batchedPolling) heldPackets() int {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	return len(bp.held)
}

// packetSize is the payload size of p (0 for a packet without data, such as
// a ping).
func packetSize(p *packet.Packet) int64 {
	if l, ok := p.Data.(interface{ Len() int }); ok {
		return int64(l.Len())
	}
	return 0
}

func (q *sendQueue) created(p *packet.Packet) {
	n := packetSize(p)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.sizes[p] = n
	q.packets++
	q.bytes += n
}

func (q *sendQueue) flushed(t transports.Transport, wbuf []*packet.Packet) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || t == nil {
		return
	}
	for _, p := range wbuf {
		if n, ok := q.sizes[p]; ok {
			delete(q.sizes, p)
			q.inflight[t] = append(q.inflight[t], n)
		}
	}
}

// written ends t's write in flight: everything t was given, except what it
// still holds for later writes.
func (q *sendQueue) written(t transports.Transport) {
	held := 0
	if h, ok := t.(holder); ok {
		held = h.heldPackets()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done(t, len(q.inflight[t])-held)
}

// gone ends everything t had in flight: it closed.
func (q *sendQueue) gone(t transports.Transport) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done(t, len(q.inflight[t]))
}

// done counts the oldest n packets in flight on t as written; q.mu is held.
func (q *sendQueue) done(t transports.Transport, n int) {
	sizes := q.inflight[t]
	if n <= 0 || len(sizes) == 0 {
		return
	}
	n = min(n, len(sizes))
	for _, b := range sizes[:n] {
		q.bytes -= b
	}
	q.packets -= n
	q.packets, q.bytes = max(0, q.packets), max(0, q.bytes)
	if n == len(sizes) {
		delete(q.inflight, t)
	} else {
		q.inflight[t] = sizes[n:]
	}
	q.signal()
}

func (q *sendQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	q.sizes, q.inflight = nil, nil
	q.signal()
}

// signal wakes the waiters; q.mu is held.
func (q *sendQueue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// admit waits until the queue has room for one more event, for
// limits.timeout at most. It reports false when the queue stayed full that
// long, and at once when the connection closed or was closed as slow.
func (q *sendQueue) admit() bool {
	var timeout <-chan time.Time
	for {
		q.mu.Lock()
		if q.closed || q.tripped {
			q.mu.Unlock()
			return false
		}
		if q.packets < q.limits.packets && q.bytes < q.limits.bytes {
			q.mu.Unlock()
			return true
		}
		changed := q.changed
		q.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(q.limits.timeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-changed:
		case <-timeout:
			return false
		}
	}
}

// trip marks the queue as closed for slowness; it reports false when it
// already was, or when the connection closed on its own.
func (q *sendQueue) trip() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.tripped {
		return false
	}
	q.tripped = true
	return true
}

// waitEmpty waits until everything queued was written, the connection
// closed, or d passed.
func (q *sendQueue) waitEmpty(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		q.mu.Lock()
		if q.closed || q.packets == 0 {
			q.mu.Unlock()
			return
		}
		changed := q.changed
		q.mu.Unlock()
		select {
		case <-changed:
		case <-t.C:
			return
		}
	}
}

// disconnectReasonEvent tells a socket why the server is about to close it.
const disconnectReasonEvent = "disconnect_reason"

// closeSlow closes a socket whose queue stayed full. It is told why (an
// event queued behind what it has not read yet), gets until the queue is
// written, limits.timeout at most, to read it, and then its connection is
// closed: the client reconnects (a transport close, so socket.io-client
// does on its own) with its lastEventId and loses nothing, as the log
// replays what it missed. Meanwhile nothing more is admitted.
func (rt *realtime) closeSlow(s *socket.Socket, q *sendQueue, cl caller) {
	if !q.trip() {
		return
	}
	rt.closedSlow()
	rt.log.Warn("closing a slow socket: its queue stayed full", "user", string(cl.User), "timeout", q.limits.timeout)
	_ = s.Emit(disconnectReasonEvent, map[string]any{"code": "SLOW_CONSUMER",
		"message": "the connection fell too far behind its events; reconnect with lastEventId to get what it missed"})
	conn := s.Conn()
	go func() {
		q.waitEmpty(q.limits.timeout)
		conn.Close(true)
	}()
}

// Defaults of sendQueueLimits, as config's.
const (
	defaultQueuePackets = 1000
	defaultQueueBytes   = 1 << 20
	defaultQueueTimeout = 10 * time.Second
)

func (l sendQueueLimits) withDefaults() sendQueueLimits {
	if l.packets <= 0 {
		l.packets = defaultQueuePackets
	}
	if l.bytes <= 0 {
		l.bytes = defaultQueueBytes
	}
	if l.timeout <= 0 {
		l.timeout = defaultQueueTimeout
	}
	return l
}
