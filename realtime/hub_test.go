package realtime

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"parley/chat"
	"parley/internal/testutil"
)

// memLog is an in-memory event log: events 1..n, of which the first
// trimmed are no longer kept.
type memLog struct {
	mu      sync.Mutex
	n       int64
	trimmed int64
}

func (l *memLog) append(k int64) []chat.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := make([]chat.Event, k)
	for i := range evs {
		l.n++
		evs[i] = chat.Event{ID: l.n, Type: chat.EventNew}
	}
	return evs
}

func (l *memLog) EventsAfter(_ context.Context, _ chat.Domain, _ chat.UserID, after, limit int64) ([]chat.Event, int64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after > l.n || after < l.trimmed {
		return nil, l.n, true, nil
	}
	var evs []chat.Event
	for id := after + 1; id <= l.n && int64(len(evs)) < limit; id++ {
		evs = append(evs, chat.Event{ID: id, Type: chat.EventNew})
	}
	return evs, l.n, false, nil
}

func (l *memLog) LastEventID(context.Context, chat.Domain, chat.UserID) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, nil
}

// hubFixture is a hub on real Redis pub/sub (for the subscription
// confirmation) whose events the test offers directly.
type hubFixture struct {
	h   *Hub
	log *memLog
	got chan chat.Event
}

func newHubFixture(t *testing.T) *hubFixture {
	t.Helper()
	f := &hubFixture{log: &memLog{}, got: make(chan chat.Event, 10_000)}
	f.h = New(testutil.Redis(t), chat.Keys{Prefix: testutil.Prefix(t)}, f.log, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(f.h.Close)
	return f
}

// sub subscribes user u after the given id and returns the subscriber.
func (f *hubFixture) sub(t *testing.T, u chat.UserID, after int64, deliver func(chat.Event), resync func(string)) (*subscriber, func()) {
	t.Helper()
	if deliver == nil {
		deliver = func(ev chat.Event) { f.got <- ev }
	}
	if resync == nil {
		resync = func(string) { f.got <- chat.Event{ID: -1, Type: "resync"} }
	}
	stop := f.h.Subscribe("d", u, after, deliver, resync)
	t.Cleanup(stop)
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	for s := range f.h.chans[f.h.keys.EventLog("d", u)].subs {
		if s.user == u { // one subscriber per user in these tests
			return s, stop
		}
	}
	t.Fatal("subscriber not registered")
	return nil, nil
}

// want reads ids from got in order.
func (f *hubFixture) want(t *testing.T, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		select {
		case ev := <-f.got:
			if ev.ID != id {
				t.Fatalf("delivered event %d (%s), want %d", ev.ID, ev.Type, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d never delivered", id)
		}
	}
}

// idle waits until the subscriber's work goroutine has exited.
func idle(t *testing.T, s *subscriber) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); s.running.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("work goroutine still running with nothing to do")
		}
	}
}

func seq(from, to int64) []int64 {
	var ids []int64
	for id := from; id <= to; id++ {
		ids = append(ids, id)
	}
	return ids
}

func TestHubBurstWhileBusyOverflowsToLog(t *testing.T) {
	f := newHubFixture(t)
	f.log.append(1)
	entered, release := make(chan struct{}), make(chan struct{})
	s, _ := f.sub(t, "1", 0, func(ev chat.Event) {
		if ev.ID == 2 {
			close(entered)
			<-release // hold the work goroutine while the burst arrives
		}
		f.got <- ev
	}, nil)
	f.want(t, 1) // the replay
	idle(t, s)
	evs := f.log.append(60)
	s.offer(evs[0])
	<-entered
	for _, ev := range evs[1:] { // far more than liveBuffer
		s.offer(ev)
	}
	close(release)
	f.want(t, seq(2, 61)...)
	idle(t, s)
	if len(f.got) != 0 {
		t.Fatalf("%d events delivered twice", len(f.got))
	}
}

func TestHubManyEventsInOrderAcrossWakeups(t *testing.T) {
	f := newHubFixture(t)
	s, _ := f.sub(t, "1", 0, nil, nil)
	idle(t, s)
	// The work goroutine comes and goes between offers: no wakeup may be
	// lost, no event reordered.
	for _, ev := range f.log.append(3000) {
		s.offer(ev)
	}
	f.want(t, seq(1, 3000)...)
	idle(t, s)
	if len(f.got) != 0 {
		t.Fatalf("%d events delivered twice", len(f.got))
	}
}

func TestHubGapFilledFromLogAndEphemeralDelivered(t *testing.T) {
	f := newHubFixture(t)
	s, _ := f.sub(t, "1", 0, nil, nil)
	idle(t, s)
	evs := f.log.append(5)
	s.offer(evs[4]) // 1..4 were never published here
	f.want(t, 1, 2, 3, 4, 5)
	s.offer(evs[2]) // published twice
	s.offer(chat.Event{Type: chat.EventTyping})
	f.want(t, 0)
	idle(t, s)
	if len(f.got) != 0 {
		t.Fatalf("%d events delivered twice", len(f.got))
	}
}

func TestHubReplayAndResync(t *testing.T) {
	f := newHubFixture(t)
	f.log.append(10)
	s, _ := f.sub(t, "1", 7, nil, nil)
	f.want(t, 8, 9, 10)
	idle(t, s)

	f.log.mu.Lock()
	f.log.trimmed = 12 // the log keeps 13.. only
	f.log.mu.Unlock()
	f.log.append(10)
	s2, _ := f.sub(t, "2", 3, nil, nil)
	f.want(t, -1) // resync, then on from the head
	idle(t, s2)
	s2.offer(f.log.append(1)[0])
	f.want(t, 21)
}

func TestHubNoDeliveryAfterStop(t *testing.T) {
	f := newHubFixture(t)
	s, stop := f.sub(t, "1", 0, nil, nil)
	idle(t, s)
	stop()
	stop() // idempotent
	for _, ev := range f.log.append(20) {
		s.offer(ev)
	}
	s.readLog()
	if s.running.Load() || len(f.got) != 0 {
		t.Fatalf("stopped subscriber: running %v, %d events delivered", s.running.Load(), len(f.got))
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if len(f.h.chans) != 0 {
		t.Fatalf("channels still subscribed: %d", len(f.h.chans))
	}
}
