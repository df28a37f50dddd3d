package server

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

// eventLog is the slice of chat.Store the hub reads.
type eventLog interface {
	EventsAfter(ctx context.Context, d chat.Domain, u chat.UserID, after, limit int64) ([]chat.Event, int64, bool, error)
	LastEventID(ctx context.Context, d chat.Domain, u chat.UserID) (int64, error)
}

// hub delivers users' events to this node's live connections (sockets and
// SSE streams), gap-free and duplicate-free. The send/edit/delete scripts
// publish each event on the user's channel in the same atomic step that
// logs it; the hub subscribes to the channels of users connected here, and
// each connection has its own delivery loop that replays from the log,
// drops ids it has already sent, and fills any gap (a lost publish, a full
// buffer) from the log before going on. Several nodes need nothing more:
// each subscribes to Redis for its own users.
type hub struct {
	rdb  redis.UniversalClient
	keys chat.Keys
	log  eventLog
	lg   *slog.Logger
	ps   *redis.PubSub

	mu     sync.Mutex
	users  map[string]map[*subscriber]struct{} // channel -> local subscribers
	active map[string]chan struct{}            // channel -> closed once the subscription is confirmed
}

// replayBatch bounds one log read; liveBuffer is each connection's queue
// of live events.
const (
	replayBatch = 500
	liveBuffer  = 8
)

func newHub(rdb redis.UniversalClient, keys chat.Keys, log eventLog, lg *slog.Logger) *hub {
	h := &hub{rdb: rdb, keys: keys, log: log, lg: lg, ps: rdb.Subscribe(context.Background()),
		users: map[string]map[*subscriber]struct{}{}, active: map[string]chan struct{}{}}
	go h.receive()
	return h
}

func (h *hub) close() { _ = h.ps.Close() }

// receive routes published events to the subscribers of their channel.
func (h *hub) receive() {
	for msg := range h.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024)) {
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.confirmed(m.Channel)
			}
		case *redis.Message:
			ev, err := chat.DecodeEvent(m.Payload)
			if err != nil {
				h.lg.Warn("bad event on channel", "channel", m.Channel, "err", err)
				continue
			}
			h.mu.Lock()
			for s := range h.users[m.Channel] {
				s.offer(ev)
			}
			h.mu.Unlock()
		}
	}
}

// confirmed marks a channel live. Any confirmation (the first, or a second
// after the pub/sub connection was re-established when Redis restarted or
// the link dropped) makes the channel's subscribers read the log, so a
// publish they could not hear is still delivered.
func (h *hub) confirmed(channel string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.active[channel]
	if !ok {
		return
	}
	select {
	case <-ch:
	default:
		close(ch)
	}
	// Every subscriber reads the log once more: a subscriber that stopped
	// waiting for the first confirmation, or a re-established link, may have
	// missed a publish, and the log has it.
	for s := range h.users[channel] {
		s.overflow.Store(true)
		s.poke()
	}
}

// subscriber is one live connection's view of its user's events.
type subscriber struct {
	domain chat.Domain
	user   chat.UserID
	// deliver sends one event on the transport; resync tells the client the
	// log cannot fill its gap (reason), so it must refetch over REST.
	deliver func(chat.Event)
	resync  func(reason string)

	in       chan chat.Event
	overflow atomic.Bool // a live event was dropped: read the log before going on
	kick     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// offer hands a live event to the subscriber without ever blocking the
// receive loop; a full buffer is recovered from the log.
func (s *subscriber) offer(ev chat.Event) {
	select {
	case s.in <- ev:
	default:
		if ev.Ephemeral() {
			return // not in the log: a full buffer drops it (a typing hint, a presence change)
		}
		s.overflow.Store(true)
		s.poke()
	}
}

func (s *subscriber) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// subscribe starts delivering u's events to deliver. after is the last event
// id the client has (it gets everything after it), or -1 for live events
// only. The returned stop ends the delivery; it is safe to call twice.
func (h *hub) subscribe(d chat.Domain, u chat.UserID, after int64, deliver func(chat.Event), resync func(string)) (stop func()) {
	// A small buffer: every idle connection holds one, and a burst that
	// overflows it is read back from the log, never lost.
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{domain: d, user: u, deliver: deliver, resync: resync,
		in: make(chan chat.Event, liveBuffer), kick: make(chan struct{}, 1), done: make(chan struct{})}
	channel := h.keys.EventLog(d, u)
	h.mu.Lock()
	subs, ok := h.users[channel]
	if !ok {
		subs = map[*subscriber]struct{}{}
		h.users[channel] = subs
		h.active[channel] = make(chan struct{})
		if err := h.ps.Subscribe(context.Background(), channel); err != nil {
			h.lg.Warn("subscribe failed", "channel", channel, "err", err)
		}
	}
	subs[s] = struct{}{}
	ready := h.active[channel]
	h.mu.Unlock()

	go h.run(ctx, s, ready, after)
	return func() {
		s.stopOnce.Do(func() {
			close(s.done)
			cancel()
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.users[channel], s)
			if len(h.users[channel]) == 0 {
				delete(h.users, channel)
				delete(h.active, channel)
				_ = h.ps.Unsubscribe(context.Background(), channel)
			}
		})
	}
}

// run is the subscriber's delivery loop: wait until the channel is live (so
// nothing published from now on is missed), replay, then deliver live events
// in id order, filling gaps from the log.
func (h *hub) run(ctx context.Context, s *subscriber, ready chan struct{}, after int64) {
	wait := time.NewTimer(2 * time.Second)
	select {
	case <-ready:
	case <-wait.C: // gaps are still filled from the log
	case <-s.done:
		return
	}
	wait.Stop()
	last := after
	if last < 0 {
		n, err := h.log.LastEventID(ctx, s.domain, s.user)
		if err != nil {
			h.lg.Warn("event log unavailable", "user", string(s.user), "err", err)
		}
		last = n
	} else {
		last = h.catchUp(ctx, s, last, -1)
	}
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		case ev := <-s.in:
			switch {
			case ev.Ephemeral():
				s.deliver(ev)
			case ev.ID <= last: // already delivered by a replay or twice published
			case ev.ID == last+1:
				s.deliver(ev)
				last = ev.ID
			default: // a gap: the missing events are already in the log
				last = h.catchUp(ctx, s, last, ev.ID)
				if ev.ID == last+1 {
					s.deliver(ev)
					last = ev.ID
				}
			}
		}
		if s.overflow.Swap(false) {
			last = h.catchUp(ctx, s, last, -1)
		}
	}
}

// catchUp delivers events after last from the log, up to (not including)
// until, or to the end when until < 0, and returns the new last id. When
// the log no longer reaches back to last, the client is told to resync and
// delivery goes on from the log's head.
func (h *hub) catchUp(ctx context.Context, s *subscriber, last, until int64) int64 {
	for {
		evs, head, gone, err := h.log.EventsAfter(ctx, s.domain, s.user, last, replayBatch)
		if err != nil {
			h.lg.Warn("event replay failed", "user", string(s.user), "err", err)
			return last
		}
		if gone {
			s.resync("events after " + strconv.FormatInt(last, 10) + " are no longer kept; refetch over REST")
			return head
		}
		for _, ev := range evs {
			if until >= 0 && ev.ID >= until {
				return last
			}
			s.deliver(ev)
			last = ev.ID
		}
		if len(evs) < replayBatch || ctx.Err() != nil {
			return last
		}
	}
}
