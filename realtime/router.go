package realtime

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// router is the hub's pub/sub: it keeps each channel the hub wants
// subscribed on the right Redis connection and hands the hub one stream of
// messages and confirmations, whatever the deployment.
//
//   - Plain (Keys.Sharded false, the embedded store): one connection,
//     SUBSCRIBE/UNSUBSCRIBE.
//   - Sharded on a single Redis (>= 7) or a Sentinel-managed primary: one
//     connection, SSUBSCRIBE/SUNSUBSCRIBE.
//   - Sharded on a Redis Cluster: a shard channel can only be subscribed on
//     the primary that owns its slot, and a go-redis PubSub of a
//     ClusterClient is pinned to one node (the owner of the slot of
//     whichever channel it happens to name first when it (re)connects). So
//     the router keeps one PubSub ("link") per primary and puts each
//     channel on the link of its slot's owner.
//
// A channel is subscribed until Redis confirms it: the router re-checks an
// unconfirmed one after confirmWait (doubling up to confirmMax), reloading
// the cluster's slot map first, so a SSUBSCRIBE that hit a stale owner
// (Redis answers MOVED, which go-redis's receive loop drops silently) or a
// connection that never came up is retried. Redis 7 unsubscribes a shard
// channel itself (a "sunsubscribe" nobody asked for) when its slot migrates
// to another node: the router subscribes it again where the slot now lives.
// Every recheck interval it also compares each channel's link with its
// slot's owner in the (reloaded) slot map, which moves the channels of a
// failed-over primary to the promoted replica's link and closes links left
// with no channel.
//
// Every confirmation reaches the hub, which makes the channel's
// subscribers read the log: whatever was published while a channel was
// between two connections is delivered from the log, in order.
//
// No network call runs under r.mu; calls for one channel run one at a time
// (the busy flag, as in Hub.sync).
type router struct {
	sharded bool
	cluster *redis.ClusterClient // nil off a cluster (or when not sharded: plain SUBSCRIBE works on any node)
	newPS   func(ctx context.Context) *redis.PubSub
	lg      *slog.Logger
	out     chan any
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	confirmWait, confirmMax, recheck, tick, health time.Duration
	metrics                                        Metrics

	mu      sync.Mutex
	links   map[string]*link // by primary address ("" off a cluster)
	chans   map[string]*rchan
	pending map[string]struct{} // channels not confirmed yet (the watchdog looks at these only)
	closed  bool
}

// link is one pub/sub connection (a go-redis PubSub, which reconnects and
// resubscribes its channels by itself).
type link struct {
	addr    string
	ps      *redis.PubSub
	refs    int // channels on it or on their way to it
	started sync.Once
	seen    atomic.Int64 // unix ns of the last reply or message (health check)
	// down is set while the connection is broken (go-redis reconnects it
	// and resubscribes by itself): asking it to subscribe one channel at a
	// time then would only queue dials to a node that may be gone.
	down atomic.Bool
}

// rchan is one channel's state in the router.
type rchan struct {
	want      bool  // the hub wants it subscribed
	on        *link // the link last asked to subscribe it (nil: none)
	confirmed bool  // on confirmed it after the last ask
	stale     bool  // subscribe again even where it is (no confirmation came, or Redis dropped it)
	busy      bool  // a sync is under way
	due       time.Time
	tries     int
}

// Router timings (see router).
const (
	confirmWait = 2 * time.Second
	confirmMax  = 30 * time.Second
	// health: a link that heard nothing for this long is pinged; one that
	// heard nothing (not even the pong) for three times as long is
	// replaced by a new connection (a half-open TCP connection never
	// errors by itself).
	health     = 5 * time.Second
	routerTick = 100 * time.Millisecond
)

// recheck is how often the router compares each channel's link with its
// slot's owner on a cluster (a variable: tests shorten it).
var recheck = 5 * time.Second

func newRouter(rdb redis.UniversalClient, sharded bool, lg *slog.Logger, m Metrics) *router {
	ctx, cancel := context.WithCancel(context.Background())
	r := &router{sharded: sharded, lg: lg, out: make(chan any, 1024), ctx: ctx, cancel: cancel,
		confirmWait: confirmWait, confirmMax: confirmMax, recheck: recheck, tick: routerTick, health: health, metrics: m,
		links: map[string]*link{}, chans: map[string]*rchan{}, pending: map[string]struct{}{}}
	if cc, ok := rdb.(*redis.ClusterClient); ok && sharded {
		r.cluster = cc
	}
	// No channel given: go-redis makes no connection until the first
	// subscribe, which then goes to the owner of that channel's slot.
	if sharded {
		r.newPS = func(ctx context.Context) *redis.PubSub { return rdb.SSubscribe(ctx) }
	} else {
		r.newPS = func(ctx context.Context) *redis.PubSub { return rdb.Subscribe(ctx) }
	}
	r.wg.Add(1)
	go r.watch()
	return r
}

// Subscribe asks for the channels; errors are also retried by the router.
func (r *router) Subscribe(_ context.Context, channels ...string) error {
	return r.set(channels, true)
}

// Unsubscribe drops the channels.
func (r *router) Unsubscribe(_ context.Context, channels ...string) error {
	return r.set(channels, false)
}

func (r *router) set(channels []string, want bool) error {
	var firstErr error
	for _, name := range channels {
		r.mu.Lock()
		c := r.chans[name]
		if c == nil {
			if !want {
				r.mu.Unlock()
				continue
			}
			c = &rchan{}
			r.chans[name] = c
		}
		c.want = want
		if want {
			// A subscribe after an unsubscribe whose reply is still on its
			// way: ask again so the confirmation is this one's.
			c.stale = true
		}
		r.mu.Unlock()
		if err := r.sync(name); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// ChannelWithSubscriptions is the stream of messages and subscribe
// confirmations of every link.
func (r *router) ChannelWithSubscriptions(...redis.ChannelOption) <-chan any { return r.out }

// Close closes every link and ends the stream.
func (r *router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	links := make([]*link, 0, len(r.links))
	for _, l := range r.links {
		links = append(links, l)
	}
	clear(r.links)
	r.mu.Unlock()
	r.cancel()
	for _, l := range links {
		_ = l.ps.Close()
	}
	r.wg.Wait()
	close(r.out)
	return nil
}

// owner is the address of the primary that owns name's slot ("" off a
// cluster). It reads go-redis's cached slot map.
func (r *router) owner(name string) (string, error) {
	if r.cluster == nil {
		return "", nil
	}
	c, err := r.cluster.MasterForKey(r.ctx, name)
	if err != nil {
		return "", err
	}
	return c.Options().Addr, nil
}

// sync brings name's subscription in line with what the hub wants and
// where its slot lives. A caller that finds another sync under way leaves
// it the work (it looks at the channel again after each call).
func (r *router) sync(name string) error {
	r.mu.Lock()
	c := r.chans[name]
	if c == nil || c.busy || r.closed {
		r.mu.Unlock()
		return nil
	}
	c.busy = true
	var firstErr error
	var toClose []*link
	for !r.closed {
		if !c.want {
			if c.on == nil {
				delete(r.chans, name)
				delete(r.pending, name)
				break
			}
			old := c.on
			c.on, c.confirmed, c.stale = nil, false, false
			r.mu.Unlock()
			err := r.unsubscribe(old, name)
			r.mu.Lock()
			if l := r.release(old); l != nil {
				toClose = append(toClose, l)
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
			continue
		}
		r.mu.Unlock()
		addr, err := r.owner(name)
		r.mu.Lock()
		if err != nil {
			// No slot map (the cluster is unreachable): the watchdog tries again.
			if firstErr == nil {
				firstErr = err
			}
			r.retryLater(name, c)
			break
		}
		if !c.want || r.closed {
			continue
		}
		if c.on != nil && c.on.addr == addr && !c.stale {
			break // in place (confirmed, or waiting for it)
		}
		old := c.on
		if old != nil && old.addr == addr && r.links[addr] == old && old.down.Load() {
			// Where it belongs, on a connection being re-established:
			// its resubscribe confirms the channel (or is refused, and
			// the channel is asked for alone then). Look again later.
			r.retryLater(name, c)
			break
		}
		target := old
		if old == nil || old.addr != addr || r.links[addr] != old {
			target = r.linkFor(addr)
			if old != nil {
				r.resubscribed()
			}
		}
		c.on, c.confirmed, c.stale = target, false, false
		r.retryLater(name, c)
		r.mu.Unlock()
		// Subscribe where it goes before leaving where it was: no window
		// without a subscription (a duplicate is dropped by its id).
		err = r.subscribe(target, name)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if old != nil && old != target {
			_ = r.unsubscribe(old, name)
		}
		r.mu.Lock()
		if old != nil && old != target {
			if l := r.release(old); l != nil {
				toClose = append(toClose, l)
			}
		}
	}
	c.busy = false
	r.mu.Unlock()
	for _, l := range toClose {
		_ = l.ps.Close()
	}
	return firstErr
}

// backoff is the wait before re-asking a refused channel: tick doubled by
// the tries so far, up to confirmMax.
func (r *router) backoff(tries int) time.Duration {
	if tries >= 20 {
		return r.confirmMax
	}
	return min(r.tick<<tries, r.confirmMax)
}

// retryLater schedules the watchdog's look at an unconfirmed channel.
// Called with r.mu held.
func (r *router) retryLater(name string, c *rchan) {
	wait := r.confirmMax
	if c.tries < 30 {
		wait = min(r.confirmWait<<c.tries, r.confirmMax)
	}
	c.tries++
	c.due = time.Now().Add(wait)
	r.pending[name] = struct{}{}
}

// linkFor returns the link to addr, made on first use (no I/O: go-redis
// connects on the first subscribe). Called with r.mu held.
func (r *router) linkFor(addr string) *link {
	l := r.links[addr]
	if l == nil {
		l = &link{addr: addr, ps: r.newPS(r.ctx)}
		r.links[addr] = l
	}
	l.refs++
	return l
}

// release drops one channel's reference to l and returns l when it has
// none left, for the caller to close outside r.mu. Called with r.mu held.
func (r *router) release(l *link) *link {
	l.refs--
	if l.refs > 0 {
		return nil
	}
	if r.links[l.addr] == l {
		delete(r.links, l.addr)
	}
	return l
}

func (r *router) subscribe(l *link, name string) error {
	var err error
	if r.sharded {
		err = l.ps.SSubscribe(r.ctx, name)
	} else {
		err = l.ps.Subscribe(r.ctx, name)
	}
	// The receive loop starts after the first subscribe: started on an
	// empty PubSub, go-redis would connect it to a random node.
	l.started.Do(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return
		}
		l.seen.Store(time.Now().UnixNano())
		r.wg.Add(1)
		go r.receive(l)
	})
	if err != nil {
		r.lg.Debug("pub/sub subscribe failed; retrying", "channel", name, "node", l.addr, "err", err)
	}
	return err
}

// unsubscribe drops name from l. go-redis forgets the channel before it
// writes the command, so that l's next resubscribe does not name it (a
// channel of another slot there would make a cluster refuse all of them,
// or pin l to the wrong node). On a link that is down the command is not
// worth a dial to a node that may be gone: it goes with a done context,
// which fails at once after go-redis forgot the channel (the new
// connection has no subscription to drop).
func (r *router) unsubscribe(l *link, name string) error {
	ctx := r.ctx
	if l.down.Load() {
		done, cancel := context.WithCancel(ctx)
		cancel()
		ctx = done
	}
	if r.sharded {
		return l.ps.SUnsubscribe(ctx, name)
	}
	return l.ps.Unsubscribe(ctx, name)
}

// receive hands l's messages and confirmations to the hub until l
// closes. It reads go-redis's Receive rather than its Go channel, which
// drops error replies: on a cluster those matter. go-redis resubscribes a
// reconnected PubSub with one SSUBSCRIBE naming every channel, which a
// cluster refuses (CROSSSLOT) when they span slots, and a SSUBSCRIBE sent
// to a node that no longer owns the slot is refused with MOVED. Either way
// the router subscribes the link's channels again, one command each, where
// their slots live.
func (r *router) receive(l *link) {
	defer r.wg.Done()
	fails := 0
	for {
		msg, err := l.ps.Receive(r.ctx)
		if err != nil {
			if errors.Is(err, redis.ErrClosed) || r.ctx.Err() != nil {
				return
			}
			var refused redis.Error
			if errors.As(err, &refused) {
				r.refused(l, err)
				continue
			}
			// The connection broke: go-redis reconnects on the next
			// Receive and resubscribes. Expect every channel of l to be
			// confirmed again; any that is not is subscribed again.
			if fails == 0 {
				r.lg.Warn("pub/sub connection lost; reconnecting", "node", l.addr, "err", err)
				l.down.Store(true)
				r.unconfirm(l, false)
			}
			fails++
			t := time.NewTimer(min(100*time.Millisecond*time.Duration(fails), time.Second))
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		fails = 0
		l.down.Store(false)
		l.seen.Store(time.Now().UnixNano())
		switch m := msg.(type) {
		case *redis.Message:
			r.emit(m)
		case *redis.Subscription:
			if r.confirmation(l, m) {
				r.emit(m)
			}
		}
	}
}

// refused handles an error reply on l: a MOVED or ASK (a subscribe sent to
// a node that no longer owns the slot) concerns the channels of l not yet
// confirmed; anything else (CROSSSLOT of go-redis's all-channel resubscribe
// after a reconnect, CLUSTERDOWN, ...) every channel of l.
//
// A MOVED that points at l's own address means l's connection is not on
// the node it is meant for (go-redis routed its reconnect by a channel
// whose slot had moved): l is replaced.
func (r *router) refused(l *link, err error) {
	msg := err.Error()
	onlyUnconfirmed := strings.HasPrefix(msg, "MOVED") || strings.HasPrefix(msg, "ASK")
	r.lg.Info("pub/sub subscribe refused; subscribing again", "node", l.addr, "err", err)
	r.reload()
	if f := strings.Fields(msg); len(f) == 3 && f[0] == "MOVED" && f[2] == l.addr {
		r.lg.Warn("pub/sub connection on the wrong node; replacing it", "node", l.addr)
		r.replace(l)
		return
	}
	r.unconfirm(l, !onlyUnconfirmed)
}

// unconfirm marks l's channels (all, or only those not confirmed yet) to
// be subscribed again: now when now, else when no confirmation comes
// within confirmWait.
func (r *router) unconfirm(l *link, now bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, c := range r.chans {
		if c.on != l || !c.want {
			continue
		}
		if now || !c.confirmed {
			// Soon, but backing off: a refusal that repeats (a slot map
			// not reloaded yet) must not spin.
			c.stale = true
			c.due = time.Now().Add(r.backoff(c.tries))
		} else {
			c.confirmed = false
			c.tries = 0
			c.due = time.Now().Add(r.confirmWait)
		}
		r.pending[name] = struct{}{}
	}
}

func (r *router) emit(msg any) {
	select {
	case r.out <- msg:
	case <-r.ctx.Done():
	}
}

// confirmation records a subscribe or unsubscribe reply from l and reports
// whether the hub should see it (a confirmation of the channel's current
// link: go-redis resubscribing after a reconnect sends these too).
func (r *router) confirmation(l *link, m *redis.Subscription) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.chans[m.Channel]
	if c == nil || !c.want || c.on != l {
		return false // an old link's reply, or a channel the hub dropped
	}
	switch m.Kind {
	case "subscribe", "ssubscribe":
		c.confirmed, c.tries = true, 0
		if !c.stale {
			delete(r.pending, m.Channel)
		}
		return true
	case "unsubscribe", "sunsubscribe":
		// Nobody asked (the router unsubscribes only after moving the
		// channel off l): Redis dropped it, as Redis 7 does when the slot
		// migrates. Subscribe again where the slot now lives, once the
		// slot map is reloaded.
		c.confirmed, c.stale = false, true
		c.due = time.Now().Add(r.tick)
		r.pending[m.Channel] = struct{}{}
		r.reload()
		r.lg.Info("pub/sub channel dropped by Redis; subscribing again", "channel", m.Channel, "node", l.addr)
	}
	return false
}

// reload asks go-redis to reload the cluster's slot map (in the
// background, at most every 200 ms).
func (r *router) reload() {
	if r.cluster != nil {
		r.cluster.ReloadState(r.ctx)
	}
}

func (r *router) resubscribed() {
	r.metrics.Resubscribed()
}

// watch retries unconfirmed channels when due and, on a cluster, moves
// channels whose slot changed owner.
func (r *router) watch() {
	defer r.wg.Done()
	tick := time.NewTicker(r.tick)
	defer tick.Stop()
	nextCheck := time.Now().Add(r.recheck)
	nextHealth := time.Now().Add(r.health)
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-tick.C:
			due := r.due(now)
			if len(due) > 0 {
				r.reload()
			}
			if r.cluster != nil && now.After(nextCheck) {
				nextCheck = now.Add(r.recheck)
				r.reload()
				due = append(due, r.moved()...)
			}
			if now.After(nextHealth) {
				nextHealth = now.Add(r.health)
				due = append(due, r.checkHealth(now)...)
			}
			for _, name := range due {
				if r.ctx.Err() != nil {
					return
				}
				_ = r.sync(name)
			}
		}
	}
}

// due lists the pending channels whose wait is over, marked to be
// subscribed again, and forgets those that need nothing.
func (r *router) due(now time.Time) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for name := range r.pending {
		c := r.chans[name]
		switch {
		case c == nil || !c.want:
			delete(r.pending, name)
		case c.confirmed && !c.stale:
			delete(r.pending, name)
		case c.busy || now.Before(c.due):
		default:
			if !c.stale {
				r.lg.Debug("pub/sub subscription not confirmed; subscribing again", "channel", name)
				r.resubscribed()
			}
			c.stale = true
			out = append(out, name)
		}
	}
	return out
}

// moved lists the channels whose link is not their slot's owner in the
// slot map (a failover promoted a replica, a slot migrated). A link that
// is down and has such channels (its node died and another took its
// slots) is replaced first: closing it once is cheaper than unsubscribing
// its channels one by one behind go-redis's dials to the dead node.
func (r *router) moved() []string {
	r.mu.Lock()
	type placed struct {
		name string
		l    *link
	}
	all := make([]placed, 0, len(r.chans))
	for name, c := range r.chans {
		if c.want && c.on != nil {
			all = append(all, placed{name, c.on})
		}
	}
	r.mu.Unlock()
	var out []string
	dead := map[*link]bool{}
	for _, p := range all {
		if addr, err := r.owner(p.name); err == nil && addr != p.l.addr {
			out = append(out, p.name)
			if p.l.down.Load() {
				dead[p.l] = true
			}
		}
	}
	for l := range dead {
		r.lg.Warn("pub/sub connection down and its slots served elsewhere; replacing it", "node", l.addr)
		out = append(out, r.replace(l)...)
	}
	return out
}

// linkCount is the number of pub/sub connections (tests).
func (r *router) linkCount() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for addr, l := range r.links {
		out[addr] = l.refs
	}
	return out
}

// checkHealth pings the links that were quiet for a health interval and
// replaces those quiet for three; it returns the channels to move.
func (r *router) checkHealth(now time.Time) []string {
	r.mu.Lock()
	links := make([]*link, 0, len(r.links))
	for _, l := range r.links {
		if l.seen.Load() != 0 {
			links = append(links, l)
		}
	}
	r.mu.Unlock()
	var out []string
	for _, l := range links {
		quiet := now.Sub(time.Unix(0, l.seen.Load()))
		switch {
		case quiet > 3*r.health:
			r.lg.Warn("pub/sub connection silent; replacing it", "node", l.addr, "quiet", quiet)
			out = append(out, r.replace(l)...)
		case quiet > r.health:
			ctx, cancel := context.WithTimeout(r.ctx, r.health)
			_ = l.ps.Ping(ctx)
			cancel()
		}
	}
	return out
}

// replace takes l out of use and closes it; its channels (returned) are
// to be subscribed on a new link.
func (r *router) replace(l *link) []string {
	r.mu.Lock()
	if r.links[l.addr] == l {
		delete(r.links, l.addr)
	}
	var out []string
	for name, c := range r.chans {
		if c.on == l && c.want {
			c.stale, c.confirmed = true, false
			c.due = time.Now()
			r.pending[name] = struct{}{}
			out = append(out, name)
		}
	}
	r.mu.Unlock()
	_ = l.ps.Close()
	return out
}
