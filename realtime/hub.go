package realtime

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

// EventLog is the slice of chat.Store the hub reads.
type EventLog interface {
	EventsAfter(ctx context.Context, d chat.Domain, u chat.UserID, after, limit int64) ([]chat.Event, int64, bool, error)
	LastEventID(ctx context.Context, d chat.Domain, u chat.UserID) (int64, error)
}

// Hub delivers users' events to this node's live connections (sockets and
// SSE streams), gap-free and duplicate-free. The send/edit/delete scripts
// publish each event on the user's channel in the same atomic step that
// logs it; the hub subscribes to the channels of users connected here and
// queues each event on every local subscriber of the channel. A
// subscriber's queue is worked by a short-lived goroutine that replays from
// the log, drops ids it has already sent and fills any gap (a lost publish,
// an overflowed queue) from the log before going on; it exits when the
// queue is empty, so an idle connection costs the hub no goroutine.
// Several nodes need nothing more: each subscribes to Redis for its own
// users.
//
// A log read that fails is retried with backoff until it succeeds or the
// connection stops; at most Options.MaxReads run at once on the node (the
// work goroutines of the others wait for a turn). No Redis call runs under
// h.mu, which delivery needs.
type Hub struct {
	keys chat.Keys
	log  EventLog
	lg   *slog.Logger
	ps   pubSub
	// ctx bounds the log reads and their retries; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	// reads holds a token per log read under way: at most cap(reads) run
	// at once on the node, however many connections need one (all of them
	// after the pub/sub connection comes back).
	reads              chan struct{}
	retryMin, retryMax time.Duration
	metrics            Metrics

	mu    sync.Mutex
	chans map[string]*channel
}

// channel is one user's pub/sub channel on this node.
type channel struct {
	subs      map[*subscriber]struct{}
	confirmed bool // Redis confirmed the subscription: nothing published from now on is missed
	// subscribed is what the hub last asked Redis for (SUBSCRIBE or
	// UNSUBSCRIBE); syncing is set while a caller brings it in line with
	// subs, outside h.mu (see sync). The channel leaves h.chans when it has
	// no subscriber and is unsubscribed.
	subscribed, syncing bool
}

// replayBatch bounds one log read; liveBuffer bounds each connection's
// queue of live events; readyWait bounds the wait for a new channel's
// confirmation, after which delivery starts anyway (gaps are still filled
// from the log).
const (
	replayBatch = 500
	liveBuffer  = 8
	readyWait   = 2 * time.Second
)

// Defaults of Options.
const (
	DefaultMaxReads = 8
	DefaultRetryMin = 50 * time.Millisecond
	DefaultRetryMax = 2 * time.Second
)

// Options configure a Hub. Zero values take the defaults.
type Options struct {
	// MaxReads bounds the event log reads the hub runs at once.
	MaxReads int
	// A failed log read is retried after a delay that starts at RetryMin
	// and doubles up to RetryMax, each drawn at random from its upper half.
	RetryMin, RetryMax time.Duration
	Log                *slog.Logger
	Metrics            Metrics // nil: not counted
}

// Metrics receives the hub's counts; the server exports them.
type Metrics interface {
	// LogReadRetried counts a failed log read that will be tried again.
	LogReadRetried()
	// LogReadsPending moves the number of log reads asked for and not yet
	// done (waiting for a turn, running, or waiting to retry).
	LogReadsPending(delta int)
	// Resubscribed counts a channel subscribed again: moved to another
	// pub/sub connection (slot migration, failover), or asked again after
	// Redis dropped it or never confirmed it.
	Resubscribed()
}

type noMetrics struct{}

func (noMetrics) LogReadRetried()     {}
func (noMetrics) LogReadsPending(int) {}
func (noMetrics) Resubscribed()       {}

// New starts a hub on rdb's pub/sub that reads missed events from log. It
// subscribes with SSUBSCRIBE when keys.Sharded (one connection per primary
// on a Redis Cluster; see router), with SUBSCRIBE otherwise.
func New(rdb redis.UniversalClient, keys chat.Keys, log EventLog, o Options) *Hub {
	lg := o.Log
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	m := o.Metrics
	if m == nil {
		m = noMetrics{}
	}
	return newHub(newRouter(rdb, keys.Sharded, lg, m), keys, log, o)
}

// pubSub is the slice of *redis.PubSub the hub uses.
type pubSub interface {
	Subscribe(ctx context.Context, channels ...string) error
	Unsubscribe(ctx context.Context, channels ...string) error
	ChannelWithSubscriptions(opts ...redis.ChannelOption) <-chan any
	Close() error
}

func newHub(ps pubSub, keys chat.Keys, log EventLog, o Options) *Hub {
	if o.MaxReads <= 0 {
		o.MaxReads = DefaultMaxReads
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{keys: keys, log: log, lg: o.Log, ps: ps,
		ctx: ctx, cancel: cancel, chans: map[string]*channel{},
		reads: make(chan struct{}, o.MaxReads), retryMin: o.RetryMin, retryMax: o.RetryMax, metrics: o.Metrics}
	go h.receive()
	return h
}

// Close stops the hub: no log read starts after it returns.
func (h *Hub) Close() {
	h.cancel()
	_ = h.ps.Close()
}

// receive routes published events to the subscribers of their channel.
func (h *Hub) receive() {
	for msg := range h.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024)) {
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" || m.Kind == "ssubscribe" {
				h.confirmed(m.Channel)
			}
		case *redis.Message:
			ev, err := chat.DecodeEvent(m.Payload)
			if err != nil {
				h.lg.Warn("bad event on channel", "channel", m.Channel, "err", err)
				continue
			}
			h.mu.Lock()
			if c := h.chans[m.Channel]; c != nil {
				for s := range c.subs {
					s.offer(ev)
				}
			}
			h.mu.Unlock()
		}
	}
}

// confirmed marks a channel live. Any confirmation (the first, or a second
// after the pub/sub connection was re-established when Redis restarted or
// the link dropped) makes the channel's subscribers read the log, so a
// publish they could not hear is still delivered.
func (h *Hub) confirmed(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.chans[name]
	if c == nil {
		return
	}
	c.confirmed = true
	for s := range c.subs {
		s.readLog()
	}
}

// subscriber is one live connection's view of its user's events.
type subscriber struct {
	h      *Hub
	domain chat.Domain
	user   chat.UserID
	// deliver sends one event on the transport; resync tells the client the
	// log cannot fill its gap (reason), so it must refetch over REST.
	deliver func(chat.Event)
	resync  func(reason string)

	// running is set while a work goroutine exists; whoever sets it starts
	// one, so there is at most one and events stay in order.
	running atomic.Bool
	// done is closed by stop: it ends a wait for a log read or its retry.
	done chan struct{}

	mu      sync.Mutex
	ready   bool         // the replay may start: the channel is live, or readyWait passed
	wait    *time.Timer  // readyWait, until ready
	queue   []chat.Event // live events not yet handled; nil when idle
	reread  bool         // read the log before going on: an event was dropped, or a confirmation came
	stopped bool

	// Owned by the work goroutine of the moment (the running flag hands
	// them from one to the next).
	started bool  // the initial replay is done
	last    int64 // the last event id delivered (before the start: the client's position)
}

// offer queues a live event without ever blocking the receive loop; an
// event that finds the queue full is read back from the log instead.
func (s *subscriber) offer(ev chat.Event) {
	s.mu.Lock()
	switch {
	case s.stopped:
	case len(s.queue) < liveBuffer:
		s.queue = append(s.queue, ev)
	case ev.Ephemeral():
		// Not in the log: a full queue drops it (a typing hint, a presence change).
	default:
		s.reread = true
	}
	wake := s.ready && !s.stopped
	s.mu.Unlock()
	if wake {
		s.wake()
	}
}

// readLog makes the subscriber ready (if it was waiting) and read the log
// once more.
func (s *subscriber) readLog() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.ready, s.reread = true, true
	if s.wait != nil {
		s.wait.Stop()
		s.wait = nil
	}
	s.mu.Unlock()
	s.wake()
}

// wake starts the work goroutine unless one is already running; a running
// one re-checks the queue before it exits (see work).
func (s *subscriber) wake() {
	if s.running.CompareAndSwap(false, true) {
		go s.work()
	}
}

// work delivers what is pending, then exits. Clearing running and then
// looking again closes the race with an offer that came after the last
// look but still saw running set, and so started nothing.
func (s *subscriber) work() {
	for {
		for s.step() {
		}
		s.running.Store(false)
		if !s.pending() || !s.running.CompareAndSwap(false, true) {
			return
		}
	}
}

func (s *subscriber) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready && !s.stopped && (len(s.queue) > 0 || s.reread)
}

// step handles what was pending at its start and reports whether there was
// anything: first the replay from the client's position, then live events
// in id order, each gap filled from the log, then a log read when one was
// asked for.
func (s *subscriber) step() bool {
	s.mu.Lock()
	if !s.ready || s.stopped {
		s.mu.Unlock()
		return false
	}
	evs, reread := s.queue, s.reread
	s.queue, s.reread = nil, false
	s.mu.Unlock()
	if !s.started {
		s.started = true
		s.last = s.catchUp(s.last, -1)
		reread = false // the replay read the log after every event taken above was logged
	} else if len(evs) == 0 && !reread {
		return false
	}
	for _, ev := range evs {
		switch {
		case ev.Ephemeral():
			s.emit(ev)
		case ev.ID <= s.last: // already delivered by a replay or twice published
		case ev.ID == s.last+1:
			s.emit(ev)
			s.last = ev.ID
		default: // a gap: the missing events are already in the log
			s.last = s.catchUp(s.last, ev.ID)
			if ev.ID == s.last+1 {
				s.emit(ev)
				s.last = ev.ID
			}
		}
	}
	if reread {
		s.last = s.catchUp(s.last, -1)
	}
	return true
}

// emit delivers ev unless the subscriber was stopped: after stop returns no
// delivery starts (one already under way may finish; stop does not wait for
// it, as a transport's deliver may block on the connection being torn down).
func (s *subscriber) emit(ev chat.Event) {
	if !s.isStopped() {
		s.deliver(ev)
	}
}

func (s *subscriber) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// Subscribe starts delivering u's events to deliver. after is the last event
// id the client has, 0 for none: it gets everything after it. A client that
// wants live events only passes LastEventID, read before it is told it is
// connected, so nothing logged after that moment escapes it. The returned
// stop ends the delivery; it is safe to call twice.
func (h *Hub) Subscribe(d chat.Domain, u chat.UserID, after int64, deliver func(chat.Event), resync func(string)) (stop func()) {
	s := &subscriber{h: h, domain: d, user: u, deliver: deliver, resync: resync, last: after, done: make(chan struct{})}
	name := h.keys.EventLog(d, u)
	h.mu.Lock()
	c := h.chans[name]
	if c == nil {
		c = &channel{subs: map[*subscriber]struct{}{}}
		h.chans[name] = c
	}
	// Set up before s is visible to receive and confirmed (both hold h.mu).
	ready := c.confirmed
	s.ready = ready
	if !ready {
		s.wait = time.AfterFunc(readyWait, s.readLog)
	}
	c.subs[s] = struct{}{}
	h.sync(name, c)
	if ready {
		s.wake()
	}

	return func() {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		s.stopped, s.queue = true, nil
		close(s.done)
		if s.wait != nil {
			s.wait.Stop()
			s.wait = nil
		}
		s.mu.Unlock()
		h.mu.Lock()
		delete(c.subs, s)
		h.sync(name, c)
	}
}

// sync brings Redis in line with c: subscribed while it has subscribers,
// unsubscribed when it has none. It is called with h.mu held and returns
// with it released. The SUBSCRIBE and UNSUBSCRIBE calls run outside h.mu
// (they may wait on the network, or on go-redis re-establishing the
// pub/sub connection, and receive needs h.mu to deliver), one at a time per
// channel: whoever finds a sync under way leaves the work to its caller,
// which looks at c again after each call. A subscriber that joins while the
// call is out waits for the confirmation like any other on a new channel.
func (h *Hub) sync(name string, c *channel) {
	if c.syncing {
		h.mu.Unlock()
		return
	}
	c.syncing = true
	for {
		want := len(c.subs) > 0
		if want == c.subscribed {
			c.syncing = false
			if !want && h.chans[name] == c {
				delete(h.chans, name)
			}
			h.mu.Unlock()
			return
		}
		c.subscribed = want
		if !want {
			c.confirmed = false
		}
		h.mu.Unlock()
		var err error
		if want {
			err = h.ps.Subscribe(context.Background(), name)
		} else {
			err = h.ps.Unsubscribe(context.Background(), name)
		}
		if err != nil {
			// go-redis keeps the channel in its set either way and
			// subscribes it again when it reconnects.
			h.lg.Warn("pub/sub change failed", "channel", name, "subscribe", want, "err", err)
		}
		h.mu.Lock()
	}
}

// LastEventID is the id of u's last logged event (0 when none): the
// position of a client that wants live events only.
func (h *Hub) LastEventID(ctx context.Context, d chat.Domain, u chat.UserID) (int64, error) {
	return h.log.LastEventID(ctx, d, u)
}

// catchUp delivers events after last from the log, up to (not including)
// until, or to the end when until < 0, and returns the new last id. When
// the log no longer reaches back to last, the client is told to resync and
// delivery goes on from the log's head.
func (s *subscriber) catchUp(last, until int64) int64 {
	for {
		evs, head, gone, ok := s.eventsAfter(last)
		if !ok {
			return last // stopped
		}
		if gone {
			if !s.isStopped() {
				s.resync("events after " + strconv.FormatInt(last, 10) + " are no longer kept; refetch over REST")
			}
			return head
		}
		for _, ev := range evs {
			if until >= 0 && ev.ID >= until {
				return last
			}
			s.emit(ev)
			last = ev.ID
		}
		if len(evs) < replayBatch || s.isStopped() {
			return last
		}
	}
}

// eventsAfter reads the log after id after, retrying a failed read with
// backoff until one succeeds: a read that failed once must not leave the
// client without the events it missed, or drop the live event that exposed
// a gap. ok is false when the subscriber stopped or the hub closed first.
func (s *subscriber) eventsAfter(after int64) (evs []chat.Event, head int64, gone, ok bool) {
	h := s.h
	h.metrics.LogReadsPending(1)
	defer h.metrics.LogReadsPending(-1)
	for attempt := 0; ; attempt++ {
		select {
		case h.reads <- struct{}{}:
		case <-s.done:
			return nil, 0, false, false
		case <-h.ctx.Done():
			return nil, 0, false, false
		}
		evs, head, gone, err := h.log.EventsAfter(h.ctx, s.domain, s.user, after, replayBatch)
		<-h.reads
		if err == nil {
			return evs, head, gone, true
		}
		if attempt == 0 {
			h.lg.Warn("event log read failed; retrying", "user", string(s.user), "err", err)
		}
		h.metrics.LogReadRetried()
		t := time.NewTimer(h.backoff(attempt))
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return nil, 0, false, false
		case <-h.ctx.Done():
			t.Stop()
			return nil, 0, false, false
		}
	}
}

// backoff is the delay before retry attempt+1: retryMin doubled attempt
// times, capped at retryMax, drawn at random from its upper half so that
// the connections of one outage do not retry in step.
func (h *Hub) backoff(attempt int) time.Duration {
	d := h.retryMax
	if attempt < 30 {
		d = min(h.retryMin<<attempt, h.retryMax)
	}
	return d/2 + rand.N(d/2+1)
}
