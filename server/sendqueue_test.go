package server

import (
	"strings"
	"testing"
	"time"

	"github.com/zishang520/engine.io-go-parser/packet"
	"github.com/zishang520/engine.io/v2/transports"
	"github.com/zishang520/engine.io/v2/types"
)

// fakeTransport stands for a transport: sendQueue only uses it as a key.
type fakeTransport struct{ transports.Transport }

func textPacket(s string) *packet.Packet {
	return &packet.Packet{Type: packet.MESSAGE, Data: types.NewStringBufferString(s)}
}

// TestSendQueueAccounting: packets count from their creation until the
// transport that took them drains (or closes); admit refuses while the
// packet or byte bound is reached, and for good once the connection closed
// or was closed as slow.
func TestSendQueueAccounting(t *testing.T) {
	// A timeout that has passed by the time admit waits: "stayed full".
	q := &sendQueue{limits: sendQueueLimits{packets: 2, bytes: 100, timeout: time.Nanosecond},
		sizes: map[*packet.Packet]int64{}, inflight: map[transports.Transport][]int64{}, changed: make(chan struct{})}
	ws, polling := &fakeTransport{}, &fakeTransport{}
	p1, p2 := textPacket("a"), textPacket("b")
	q.created(p1)
	if !q.admit() {
		t.Fatal("admit refused with 1 of 2 packets queued")
	}
	q.created(p2)
	if q.admit() {
		t.Fatal("admit accepted with 2 of 2 packets queued")
	}
	q.flushed(ws, []*packet.Packet{p1, p2, textPacket("created before the watch")})
	if q.admit() || q.packets != 2 {
		t.Fatalf("after the flush: %d packets queued, admit accepted; want 2, refused (they are not written yet)", q.packets)
	}
	q.written(polling) // another transport's drain ends nothing here
	if q.packets != 2 {
		t.Fatalf("another transport's drain: %d packets, want 2", q.packets)
	}
	q.written(ws)
	if !q.admit() || q.packets != 0 || q.bytes != 0 {
		t.Fatalf("after the drain: %d packets, %d bytes; want 0, 0 and admitted", q.packets, q.bytes)
	}

	big := textPacket(strings.Repeat("x", 100))
	q.created(big)
	if q.admit() || q.bytes != 100 {
		t.Fatalf("%d bytes queued of 100: admitted", q.bytes)
	}
	q.flushed(polling, []*packet.Packet{big})
	q.written(polling)
	q.written(polling) // a second drain (a noop packet's) takes nothing more
	if q.packets != 0 || q.bytes != 0 {
		t.Fatalf("after the drains: %d packets, %d bytes; want 0", q.packets, q.bytes)
	}

	if !q.trip() || q.trip() {
		t.Fatal("trip: want true once, then false")
	}
	if q.admit() {
		t.Fatal("admit accepted after the queue was closed as slow")
	}
	q.close()
	q.waitEmpty(time.Hour) // returns at once: closed
	q.created(textPacket("late"))
	if q.packets != 0 {
		t.Fatalf("a packet created after the close counted: %d", q.packets)
	}
}

// TestSendQueueAdmitWakes: an admit waiting on a full queue goes on when a
// drain makes room, and gives up at once when the connection closes.
func TestSendQueueAdmitWakes(t *testing.T) {
	q := &sendQueue{limits: sendQueueLimits{packets: 1, bytes: 100, timeout: time.Hour},
		sizes: map[*packet.Packet]int64{}, inflight: map[transports.Transport][]int64{}, changed: make(chan struct{})}
	tr := &fakeTransport{}
	p := textPacket("a")
	q.created(p)
	q.flushed(tr, []*packet.Packet{p})
	got := make(chan bool)
	go func() { got <- q.admit() }()
	q.written(tr)
	if !<-got {
		t.Fatal("admit refused after the drain made room")
	}
	q.created(textPacket("b"))
	go func() { got <- q.admit() }()
	q.close()
	if <-got {
		t.Fatal("admit accepted on a closed connection")
	}
}

// heldTransport holds some of what it was given for later writes, as
// batchedPolling does.
type heldTransport struct {
	transports.Transport
	held int
}

func (h *heldTransport) heldPackets() int { return h.held }

// TestSendQueueHeldPackets: a drain of a transport that keeps packets back
// for its next writes (batchedPolling: at most PARLEY_POLLING_MAX_PACKETS
// per poll) ends only what it wrote; the held ones count until a later
// drain, or its close.
func TestSendQueueHeldPackets(t *testing.T) {
	q := &sendQueue{limits: sendQueueLimits{packets: 100, bytes: 1 << 20, timeout: time.Nanosecond},
		sizes: map[*packet.Packet]int64{}, inflight: map[transports.Transport][]int64{}, changed: make(chan struct{})}
	tr := &heldTransport{}
	var batch []*packet.Packet
	for i := range 40 {
		p := textPacket(strings.Repeat("p", i+1)) // sizes 1..40
		q.created(p)
		batch = append(batch, p)
	}
	q.flushed(tr, batch)
	tr.held = 24 // the first poll took 16
	q.written(tr)
	if q.packets != 24 || q.bytes != (17+40)*24/2 {
		t.Fatalf("after the first poll: %d packets, %d bytes; want 24, %d", q.packets, q.bytes, (17+40)*24/2)
	}
	tr.held = 8
	q.written(tr)
	if q.packets != 8 {
		t.Fatalf("after the second poll: %d packets, want 8", q.packets)
	}
	q.gone(tr) // closed with 8 held: they are gone
	if q.packets != 0 || q.bytes != 0 {
		t.Fatalf("after the close: %d packets, %d bytes; want 0", q.packets, q.bytes)
	}
}
