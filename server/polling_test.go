package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zishang520/engine.io-go-parser/packet"
	"github.com/zishang520/engine.io/v2/transports"
	"github.com/zishang520/engine.io/v2/types"
)

// recorder is a transport that records what it is asked to send; like
// engine.io's, Send makes it not writable until the next poll (or, for a
// websocket, until the write is done).
type recorder struct {
	transports.Transport
	mu   sync.Mutex
	sent [][]string
}

func newRecorder(writable bool) *recorder {
	r := &recorder{Transport: transports.MakeTransport()}
	r.SetWritable(writable)
	return r
}

func (r *recorder) Send(ps []*packet.Packet) {
	r.SetWritable(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	batch := make([]string, len(ps))
	for i, p := range ps {
		batch[i] = packetText(p)
	}
	r.sent = append(r.sent, batch)
}

func (r *recorder) batches() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

func packetText(p *packet.Packet) string {
	var b strings.Builder
	if p.Data != nil {
		_, _ = p.Data.(*strings.Reader).WriteTo(&b)
	}
	return b.String()
}

// fakeSocket does what engine.io's socket does with its transport: it
// buffers packets and hands the whole buffer over whenever the transport
// is writable (on write and on the transport's "ready").
type fakeSocket struct {
	mu     sync.Mutex
	t      transports.Transport
	buffer []*packet.Packet
}

func newFakeSocket(t transports.Transport) *fakeSocket {
	s := &fakeSocket{t: t}
	_ = t.On("ready", func(...any) { s.flush() })
	return s
}

func (s *fakeSocket) write(from, to int) {
	s.mu.Lock()
	for i := from; i <= to; i++ {
		s.buffer = append(s.buffer, &packet.Packet{Type: packet.MESSAGE, Data: strings.NewReader(fmt.Sprint(i))})
	}
	s.mu.Unlock()
	s.flush()
}

func (s *fakeSocket) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buffer) > 0 && s.t.Writable() {
		buf := s.buffer
		s.buffer = nil
		s.t.Send(buf)
	}
}

// poll is the client's next GET: the polling transport becomes writable
// and says so.
func poll(inner *recorder) {
	inner.SetWritable(true)
	inner.Emit("ready")
}

func numbers(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

func TestBatchedPollingBoundsEachResponse(t *testing.T) {
	inner := newRecorder(false)
	bp := newBatchedPolling(inner, 16)
	s := newFakeSocket(bp)

	s.write(1, 40) // a replay, written before any poll is open
	poll(inner)
	if got := inner.batches(); len(got) != 1 || len(got[0]) != 16 {
		t.Fatalf("first poll answered with %v, want 16 packets", got)
	}
	if bp.Writable() {
		t.Fatal("writable while 24 packets are held: newer ones would overtake them")
	}
	s.write(41, 45) // live events during the replay
	for range 10 {
		poll(inner)
	}
	var all []string
	for i, b := range inner.batches() {
		if len(b) == 0 || len(b) > 16 {
			t.Fatalf("response %d held %d packets, want 1..16", i, len(b))
		}
		all = append(all, b...)
	}
	if !slices.Equal(all, numbers(1, 45)) {
		t.Fatalf("packets went out as %v, want 1..45 in order", all)
	}
	// 16 + 16 + the last 8 held; the 5 the socket kept back go out next.
	if n := len(inner.batches()); n != 4 {
		t.Fatalf("%d responses, want 4: %v", n, inner.batches())
	}
	if !bp.Writable() {
		t.Fatal("not writable once everything is sent and a poll is open")
	}
}

func TestBatchedPollingSmallWritesPassThrough(t *testing.T) {
	inner := newRecorder(true)
	bp := newBatchedPolling(inner, 16)
	s := newFakeSocket(bp)
	s.write(1, 16)
	if got := inner.batches(); len(got) != 1 || !slices.Equal(got[0], numbers(1, 16)) {
		t.Fatalf("a 16-packet write went out as %v, want one response", got)
	}
}

func TestBatchedPollingHandsHeldPacketsToTheUpgrade(t *testing.T) {
	inner := newRecorder(false)
	bp := newBatchedPolling(inner, 16)
	s := newFakeSocket(bp)
	s.write(1, 40)
	poll(inner)     // 1..16 out, 17..40 held
	s.write(41, 45) // in the socket's buffer, behind the held ones

	// engine.io's upgrade: "upgrading" names the websocket; on the
	// client's upgrade packet the socket discards the polling transport,
	// switches to the websocket and flushes its buffer to it.
	ws := newRecorder(true)
	bp.upgradingTo(ws)
	bp.Discard()
	s.mu.Lock()
	s.t = ws
	s.mu.Unlock()
	s.flush()
	ws.SetWritable(true) // the held packets' write is done
	s.flush()
	poll(inner) // a late poll on the discarded transport sends nothing

	var all []string
	for _, b := range inner.batches() {
		all = append(all, b...)
	}
	for _, b := range ws.batches() {
		all = append(all, b...)
	}
	if !slices.Equal(all, numbers(1, 45)) {
		t.Fatalf("polling sent %v, websocket %v; want 1..45 in order, each once", inner.batches(), ws.batches())
	}
}

func TestBatchedPollingDiscardWithoutUpgradeDropsHeld(t *testing.T) {
	inner := newRecorder(false)
	bp := newBatchedPolling(inner, 4)
	s := newFakeSocket(bp)
	s.write(1, 10)
	poll(inner)
	bp.Discard() // the socket is closed with discard: nothing more goes out
	poll(inner)
	if got := inner.batches(); len(got) != 1 {
		t.Fatalf("a discarded transport sent %v", got)
	}
}

func TestPollingBuilderWrapsOnlyLimitedPolling(t *testing.T) {
	ctor := transports.Transports()[transports.POLLING]
	newCtx := func(limit int) *types.HttpContext {
		r := httptest.NewRequest(http.MethodGet, "/socket.io/?EIO=4&transport=polling", nil)
		if limit > 0 {
			var got *http.Request
			markPollingHandshakes(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r }), limit).
				ServeHTTP(httptest.NewRecorder(), r)
			r = got
		}
		return types.NewHttpContext(httptest.NewRecorder(), r)
	}
	if _, ok := ctor.New(newCtx(0)).(*batchedPolling); ok {
		t.Fatal("a polling transport without a limit was wrapped")
	}
	bp, ok := ctor.New(newCtx(16)).(*batchedPolling)
	if !ok || bp.max != 16 || bp.Name() != transports.POLLING {
		t.Fatalf("a limited polling transport is %T, want *batchedPolling with max 16", bp)
	}
	if _, ok := transports.Transports()[transports.WEBSOCKET].(batchedPollingBuilder); ok {
		t.Fatal("the websocket transport is wrapped")
	}
}

func TestBatchedPollingOrderlyCloseWaitsForHeldPackets(t *testing.T) {
	inner := newRecorder(false)
	bp := newBatchedPolling(inner, 4)
	s := newFakeSocket(bp)
	s.write(1, 10) // the last one stands for the Socket.IO disconnect
	poll(inner)    // 1..4 out, 5..10 held
	closed := func() {}
	bp.Close(closed) // engine.io: its own buffer is empty, so it closes
	if st := inner.ReadyState(); st != "open" {
		t.Fatalf("the transport is %s with 6 packets held", st)
	}
	poll(inner) // 5..8
	if st := inner.ReadyState(); st != "open" {
		t.Fatalf("the transport is %s with 2 packets held", st)
	}
	poll(inner) // 9..10, then the close goes ahead
	if st := inner.ReadyState(); st != "closing" {
		t.Fatalf("the transport is %s once everything is sent, want closing", st)
	}
	var all []string
	for _, b := range inner.batches() {
		all = append(all, b...)
	}
	if !slices.Equal(all, numbers(1, 10)) {
		t.Fatalf("sent %v, want 1..10", inner.batches())
	}
}

func TestBatchedPollingTeardownClosesAtOnce(t *testing.T) {
	inner := newRecorder(false)
	bp := newBatchedPolling(inner, 4)
	s := newFakeSocket(bp)
	s.write(1, 10)
	poll(inner)
	bp.Close() // engine.io's clearTransport: no callback, no waiting
	if st := inner.ReadyState(); st != "closing" {
		t.Fatalf("the transport is %s after a teardown, want closing", st)
	}
}
