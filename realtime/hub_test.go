package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

// memLog is an in-memory event log: events 1..n, of which the first
// trimmed are no longer kept.
type memLog struct {
	mu      sync.Mutex
	n       int64
	trimmed int64
	fails   int // the next fails reads fail
	reads   int // reads so far, failed ones included
}

// failNext makes the next k reads fail.
func (l *memLog) failNext(k int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fails = k
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
	l.reads++
	if l.fails > 0 {
		l.fails--
		return nil, 0, false, errors.New("log unavailable")
	}
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
	rdb redis.UniversalClient
	h   *Hub
	log *memLog
	got chan chat.Event
}

func newHubFixture(t *testing.T) *hubFixture {
	t.Helper()
	f := &hubFixture{log: &memLog{}, got: make(chan chat.Event, 10_000)}
	f.rdb = testutil.Redis(t)
	f.h = New(f.rdb, testKeys(t), f.log, Options{})
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

func TestHubReplayRetriedAfterFailedReads(t *testing.T) {
	f := newHubFixture(t)
	f.log.append(10)
	f.log.failNext(3)
	s, _ := f.sub(t, "1", 4, nil, nil)
	f.want(t, seq(5, 10)...) // with no new event to prompt a read
	idle(t, s)
	if len(f.got) != 0 {
		t.Fatalf("%d events delivered twice", len(f.got))
	}
	f.log.mu.Lock()
	defer f.log.mu.Unlock()
	if f.log.reads != 4 {
		t.Fatalf("%d log reads, want 3 failed and 1 good", f.log.reads)
	}
}

func TestHubGapFillRetriedAfterFailedReads(t *testing.T) {
	f := newHubFixture(t)
	s, _ := f.sub(t, "1", 0, nil, nil)
	idle(t, s)
	evs := f.log.append(5)
	f.log.failNext(2)
	s.offer(evs[4]) // exposes the gap 1..4, which the log cannot fill at once
	f.want(t, 1, 2, 3, 4, 5)
	idle(t, s)
	if len(f.got) != 0 {
		t.Fatalf("%d events delivered twice", len(f.got))
	}
}

// gatedLog holds every read until the test opens the gate, and records
// how many ran at once.
type gatedLog struct {
	*memLog
	gate            chan struct{}
	mu              sync.Mutex
	running, maxRun int
}

func (l *gatedLog) EventsAfter(ctx context.Context, d chat.Domain, u chat.UserID, after, limit int64) ([]chat.Event, int64, bool, error) {
	l.mu.Lock()
	l.running++
	l.maxRun = max(l.maxRun, l.running)
	l.mu.Unlock()
	<-l.gate
	l.mu.Lock()
	l.running--
	l.mu.Unlock()
	return l.memLog.EventsAfter(ctx, d, u, after, limit)
}

func (l *gatedLog) counts() (running, maxRun int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.running, l.maxRun
}

// countMetrics records the hub's counts.
type countMetrics struct {
	retries, pending, resubscribed atomic.Int64
}

func (m *countMetrics) LogReadRetried()           { m.retries.Add(1) }
func (m *countMetrics) LogReadsPending(delta int) { m.pending.Add(int64(delta)) }
func (m *countMetrics) Resubscribed()             { m.resubscribed.Add(1) }

func TestHubBoundsConcurrentLogReads(t *testing.T) {
	const users, maxReads = 20, 3
	log := &gatedLog{memLog: &memLog{}, gate: make(chan struct{})}
	log.append(1)
	m := &countMetrics{}
	h := New(testutil.Redis(t), testKeys(t), log, Options{MaxReads: maxReads, Metrics: m})
	t.Cleanup(h.Close)
	got := make(chan chat.UserID, users)
	for i := range users {
		u := chat.UserID(strconv.Itoa(i + 1))
		t.Cleanup(h.Subscribe("d", u, 0, func(chat.Event) { got <- u }, func(string) {}))
	}
	// Every connection has asked for its replay; only maxReads run.
	for deadline := time.Now().Add(10 * time.Second); m.pending.Load() < users; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d replays asked for", m.pending.Load(), users)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if running, _ := log.counts(); running == maxReads {
			break
		}
		if time.Now().After(deadline) {
			running, _ := log.counts()
			t.Fatalf("%d log reads running, want %d", running, maxReads)
		}
	}
	if _, maxRun := log.counts(); maxRun != maxReads {
		t.Fatalf("%d log reads ran at once, want at most %d", maxRun, maxReads)
	}
	close(log.gate)
	for range users {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("a replay never finished")
		}
	}
	if _, maxRun := log.counts(); maxRun > maxReads {
		t.Fatalf("%d log reads ran at once, want at most %d", maxRun, maxReads)
	}
	for deadline := time.Now().Add(10 * time.Second); m.pending.Load() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d log reads still pending", m.pending.Load())
		}
	}
}

func TestHubCountsRetries(t *testing.T) {
	m := &countMetrics{}
	log := &memLog{}
	h := New(testutil.Redis(t), testKeys(t), log, Options{Metrics: m})
	t.Cleanup(h.Close)
	log.append(2)
	log.failNext(2)
	got := make(chan chat.Event, 10)
	t.Cleanup(h.Subscribe("d", "1", 0, func(ev chat.Event) { got <- ev }, func(string) {}))
	for range 2 {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("replay never delivered")
		}
	}
	if n := m.retries.Load(); n != 2 {
		t.Fatalf("%d retries counted, want 2", n)
	}
}

// slowPubSub holds SUBSCRIBE of one channel until released, as a Redis
// that answers slowly (or a pub/sub connection being re-established) would.
type slowPubSub struct {
	*redis.PubSub
	slow    string
	entered chan struct{} // closed when the slow SUBSCRIBE started
	release chan struct{}
}

func (p *slowPubSub) Subscribe(ctx context.Context, channels ...string) error {
	for _, c := range channels {
		if c == p.slow {
			close(p.entered)
			<-p.release
		}
	}
	return p.PubSub.Subscribe(ctx, channels...)
}

func TestHubSlowSubscribeDoesNotBlockDelivery(t *testing.T) {
	rdb := testutil.Redis(t)
	keys := chat.Keys{Prefix: testutil.Prefix(t)}
	ps := &slowPubSub{PubSub: rdb.Subscribe(context.Background()), slow: keys.EventLog("d", "2"),
		entered: make(chan struct{}), release: make(chan struct{})}
	log := &memLog{}
	h := newHub(ps, keys, log, Options{})
	t.Cleanup(h.Close)
	got := make(chan chat.Event, 10)
	log.append(1)
	t.Cleanup(h.Subscribe("d", "1", 0, func(ev chat.Event) { got <- ev }, func(string) {}))
	select {
	case <-got: // the replay: user 1's channel is confirmed or its wait is over
	case <-time.After(10 * time.Second):
		t.Fatal("replay never delivered")
	}
	name := keys.EventLog("d", "1")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		h.mu.Lock()
		live := h.chans[name] != nil && h.chans[name].confirmed
		h.mu.Unlock()
		if live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("user 1's channel never confirmed")
		}
	}

	subscribed := make(chan struct{})
	go func() {
		defer close(subscribed)
		t.Cleanup(h.Subscribe("d", "2", 0, func(chat.Event) {}, func(string) {}))
	}()
	<-ps.entered
	defer func() { close(ps.release); <-subscribed }()
	ev := log.append(1)[0]
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Publish(context.Background(), name, b).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-got:
		if got.ID != ev.ID {
			t.Fatalf("delivered event %d, want %d", got.ID, ev.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("user 1's live event not delivered while user 2's SUBSCRIBE was in flight")
	}
}

// numsub is how many subscriptions Redis has on the channel, once it has
// settled at want (the hub's commands go over another connection).
func numsub(t *testing.T, rdb redis.UniversalClient, name string, want int64) int64 {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		n := testutil.NumSub(t, rdb, shardedPass, name)
		if n == want || time.Now().After(deadline) {
			return n
		}
	}
}

func TestHubSubscribeStopChurnLeavesRedisInStep(t *testing.T) {
	f := newHubFixture(t)
	rdb := f.rdb // the hub's Redis (a second testutil.Redis may start another redis-server)
	name := f.h.keys.EventLog("d", "1")
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				f.h.Subscribe("d", "1", 0, func(chat.Event) {}, func(string) {})()
			}
		}()
	}
	wg.Wait()
	f.h.mu.Lock()
	left := len(f.h.chans)
	f.h.mu.Unlock()
	if n := numsub(t, rdb, name, 0); left != 0 || n != 0 {
		t.Fatalf("after churn: %d channels on the hub, %d subscriptions in Redis, want 0", left, n)
	}
	// One that stays, joining while others come and go.
	var stay func()
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.h.Subscribe("d", "1", 0, func(chat.Event) {}, func(string) {})()
		}()
		if i == 20 {
			stay = f.h.Subscribe("d", "1", 0, func(ev chat.Event) { f.got <- ev }, func(string) {})
		}
	}
	wg.Wait()
	if n := numsub(t, rdb, name, 1); n != 1 {
		t.Fatalf("%d subscriptions in Redis with one subscriber left, want 1", n)
	}
	ev := f.log.append(1)[0]
	b, _ := json.Marshal(ev)
	if err := publish(rdb, f.h.keys, name, b); err != nil {
		t.Fatal(err)
	}
	f.want(t, ev.ID)
	stay()
	if n := numsub(t, rdb, name, 0); n != 0 {
		t.Fatalf("%d subscriptions in Redis after the last stop, want 0", n)
	}
	// The router keeps nothing either: no channel, no connection.
	r := f.h.ps.(*router)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		chans, links := len(r.chans), len(r.links)
		r.mu.Unlock()
		if chans == 0 && links == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("router keeps %d channels and %d connections after the last stop", chans, links)
		}
	}
}

// shardedPass is set while TestHubSharded runs the hub's tests a second
// time with Keys.Sharded (SSUBSCRIBE/SPUBLISH); the tests are not parallel.
var shardedPass bool

// testKeys is a fresh keyspace in the pass's pub/sub mode.
func testKeys(t testing.TB) chat.Keys {
	return chat.Keys{Prefix: testutil.Prefix(t), Sharded: shardedPass}
}

// publish publishes payload on name as the scripts do in keys' mode.
func publish(rdb redis.UniversalClient, keys chat.Keys, name string, payload any) error {
	if keys.Sharded {
		return rdb.SPublish(context.Background(), name, payload).Err()
	}
	return rdb.Publish(context.Background(), name, payload).Err()
}

// TestHubSharded runs the hub's tests again with sharded pub/sub
// (SSUBSCRIBE), as on Redis >= 7 and Redis Cluster.
func TestHubSharded(t *testing.T) {
	testutil.NeedRealRedis(t, "sharded pub/sub (SSUBSCRIBE/SPUBLISH); miniredis has none")
	shardedPass = true
	defer func() { shardedPass = false }()
	for _, tt := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"BurstWhileBusyOverflowsToLog", TestHubBurstWhileBusyOverflowsToLog},
		{"ManyEventsInOrderAcrossWakeups", TestHubManyEventsInOrderAcrossWakeups},
		{"GapFilledFromLogAndEphemeralDelivered", TestHubGapFilledFromLogAndEphemeralDelivered},
		{"ReplayAndResync", TestHubReplayAndResync},
		{"NoDeliveryAfterStop", TestHubNoDeliveryAfterStop},
		{"ReplayRetriedAfterFailedReads", TestHubReplayRetriedAfterFailedReads},
		{"GapFillRetriedAfterFailedReads", TestHubGapFillRetriedAfterFailedReads},
		{"BoundsConcurrentLogReads", TestHubBoundsConcurrentLogReads},
		{"CountsRetries", TestHubCountsRetries},
		{"SubscribeStopChurnLeavesRedisInStep", TestHubSubscribeStopChurnLeavesRedisInStep},
	} {
		t.Run(tt.name, tt.f)
	}
}
