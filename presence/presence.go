package presence

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

var (
	//go:embed join.lua
	joinLua string
	//go:embed connect.lua
	connectLua string
	//go:embed disconnect.lua
	disconnectLua string
	//go:embed beat.lua
	beatLua string
	//go:embed claim.lua
	claimLua string
	//go:embed evict.lua
	evictLua string
)

// Defaults of Options.
const (
	DefaultHeartbeat = 10 * time.Second
	DefaultMaxPeers  = 1000
	DefaultBatch     = 200
	// keyTTL bounds how long a user's presence keys outlive their last
	// change; "at" (last seen) is forgotten after it.
	keyTTL = 30 * 24 * time.Hour
	// ttlRenewal is how often a heartbeat also renews the keyTTL of this
	// node's users' keys (connect.lua sets it when a user registers): a
	// 30-day TTL renewed every 10 s was half of a heartbeat's Redis
	// commands, 2 000 a second at 10 000 connected users.
	ttlRenewal = time.Hour
)

// Options configure a Tracker. Zero values take the defaults.
type Options struct {
	NodeID    string           // this node's id; "" = random
	Now       func() time.Time // clock; nil = time.Now
	Heartbeat time.Duration    // how often Run refreshes and sweeps
	Expiry    time.Duration    // how long an entry lives without a heartbeat; 0 = 3 × Heartbeat
	MaxPeers  int              // DM peers told of one change, most recent first
	Batch     int              // users per Redis script call
	Log       *slog.Logger
}

// Status is one user's presence: At is since when they are online, or when
// they were last seen when offline; zero when never seen.
type Status struct {
	User   chat.UserID
	Online bool
	At     int64 // epoch ms
}

// Tracker counts this node's devices per user and keeps the shared
// presence state in Redis. Its methods are safe for concurrent use.
type Tracker struct {
	rdb      redis.UniversalClient
	keys     chat.Keys
	now      func() time.Time
	beat     time.Duration
	expiry   time.Duration
	maxPeers int
	batch    int
	log      *slog.Logger

	join, connect, disconnect, beatScript, claim, evict *redis.Script

	// stripes serialise the Redis writes of one user on this node, so a
	// connect and a disconnect racing each other reach Redis in the order
	// of their local counts.
	stripes [64]sync.Mutex

	mu     sync.Mutex
	id     string            // this node's current id (renewed when declared dead)
	local  map[string]*entry // member "<domain>:<user>" -> devices here
	closed bool
	// refreshed is when this node's last heartbeat reached Redis (zero
	// before the first).
	refreshed time.Time
	// renewed is when a heartbeat last renewed the users' key TTLs (zero
	// before the first).
	renewed time.Time
}

// entry is one user's devices on this node.
type entry struct {
	count      int
	registered bool   // Redis holds this node's entry for the user
	node       string // the node id it was registered under
}

// New returns a Tracker on rdb whose keys start with keys.Prefix. It does
// not touch Redis: Start registers the node.
func New(rdb redis.UniversalClient, keys chat.Keys, o Options) *Tracker {
	if o.NodeID == "" {
		o.NodeID = randomID()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Expiry <= 0 {
		o.Expiry = 3 * o.Heartbeat
	}
	if o.MaxPeers <= 0 {
		o.MaxPeers = DefaultMaxPeers
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Tracker{rdb: rdb, keys: keys, now: o.Now, beat: o.Heartbeat, expiry: o.Expiry,
		maxPeers: o.MaxPeers, batch: o.Batch, log: o.Log, id: o.NodeID, local: map[string]*entry{},
		join: redis.NewScript(joinLua), connect: redis.NewScript(connectLua), disconnect: redis.NewScript(disconnectLua),
		beatScript: redis.NewScript(beatLua), claim: redis.NewScript(claimLua), evict: redis.NewScript(evictLua)}
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// NodeID is this node's current id.
func (t *Tracker) NodeID() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.id
}

// Start registers this node: its heartbeat key (the node's slot) and its
// entry in the registry (another slot). A failure is not fatal: the first
// heartbeat or connect that finds the node unregistered takes a new id and
// registers it again.
func (t *Tracker) Start(ctx context.Context) error {
	id := t.NodeID()
	now := ms(t.now())
	// The heartbeat key first: a registry entry without it is swept as a
	// node that left.
	if err := t.rdb.Set(ctx, t.keys.NodeBeat(id), now, keyTTL).Err(); err != nil {
		return chat.StoreError("presence.Start", err)
	}
	return chat.StoreError("presence.Start", t.rdb.ZAdd(ctx, t.nodes(), redis.Z{Score: float64(now), Member: id}).Err())
}

// Run beats every heartbeat interval until ctx ends.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.beat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Beat(ctx)
		}
	}
}

// Connect records one more device of u on this node. The first one makes
// the node hold u in Redis, and when no other node held u, u's DM peers
// get a presence online event. Errors: Unavailable when Redis is down
// (the next heartbeat retries the registration).
func (t *Tracker) Connect(ctx context.Context, d chat.Domain, u chat.UserID) error {
	m := member(d, u)
	lk := t.stripe(m)
	lk.Lock()
	defer lk.Unlock()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	e := t.local[m]
	if e == nil {
		e = &entry{}
		t.local[m] = e
	}
	e.count++
	first := e.count == 1
	t.mu.Unlock()
	if !first {
		return nil
	}
	return t.register(ctx, m, e)
}

// Disconnect records that one device of u left this node. The last one
// removes the node from u in Redis, and when no other node holds u, u's DM
// peers get a presence offline event and u's last-seen time is recorded.
func (t *Tracker) Disconnect(ctx context.Context, d chat.Domain, u chat.UserID) error {
	m := member(d, u)
	lk := t.stripe(m)
	lk.Lock()
	defer lk.Unlock()
	t.mu.Lock()
	e := t.local[m]
	if e == nil || t.closed {
		t.mu.Unlock()
		return nil
	}
	e.count--
	if e.count > 0 {
		t.mu.Unlock()
		return nil
	}
	delete(t.local, m)
	t.mu.Unlock()
	return t.unregister(ctx, m, e)
}

// register writes this node's entry for m (whose stripe the caller holds)
// and announces m online when it was offline. Two steps, each atomic in
// its slot: the node step (join.lua: the node is alive and holds m), then
// the user step (connect.lua: the node's entry in m's presence). The node
// step goes first so that a sweeper that claims this node after it finds
// m in the node's set and evicts it. Window: a node declared dead between
// the two steps leaves an entry of its old id in m's presence, which no
// sweep removes; it expires by itself after Expiry (its score), and the
// node registers m again under its new id on its next heartbeat, so m
// stays online; only m's offline event can be missed if m leaves before
// that entry expires.
func (t *Tracker) register(ctx context.Context, m string, e *entry) error {
	const op = "presence.Connect"
	id := t.NodeID()
	now := t.now()
	d, u := split(m)
	ok, err := t.join.Run(ctx, t.rdb, []string{t.keys.NodeBeat(id), t.nodeUsers(id)}, m).Int64()
	if err != nil {
		return chat.StoreError(op, err)
	}
	if ok < 0 {
		t.renew(ctx, id) // the next heartbeat registers every user under the new id
		return nil
	}
	res, err := t.connect.Run(ctx, t.rdb, []string{t.userNodes(d, u), t.userAt(d, u)},
		id, ms(now), ms(now.Add(t.expiry)), keyTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return chat.StoreError(op, err)
	}
	if len(res) != 2 {
		return chat.E(op, chat.Internal, "", fmt.Errorf("connect script: unexpected reply %v", res))
	}
	t.mu.Lock()
	// An entry registered under an id renewed meanwhile stays unregistered:
	// the old id is swept, the heartbeat registers it under the new one.
	if t.id == id {
		e.registered, e.node = true, id
	}
	t.mu.Unlock()
	if res[0] == 1 {
		t.announce(ctx, d, u, true, res[1])
	}
	return nil
}

// unregister removes this node's entry for m (whose stripe the caller
// holds) and announces m offline when no node holds them any more. The
// user step first (disconnect.lua, m's slot), then m leaves the node's set
// (the node's slot): a sweep that claims the node in between finds m's
// entry already gone and announces nothing twice.
func (t *Tracker) unregister(ctx context.Context, m string, e *entry) error {
	if !e.registered {
		return nil
	}
	d, u := split(m)
	now := ms(t.now())
	gone, err := t.disconnect.Run(ctx, t.rdb, []string{t.userNodes(d, u), t.userAt(d, u)},
		e.node, now, keyTTL.Milliseconds()).Int64()
	if err != nil {
		return chat.StoreError("presence.Disconnect", err)
	}
	if err := t.rdb.SRem(ctx, t.nodeUsers(e.node), m).Err(); err != nil {
		// m's entry is gone; a stale member only makes a later sweep of
		// this node find nothing to evict for m.
		t.log.Warn("presence: leave node set", "user", m, "err", err)
	}
	if gone == 1 {
		t.announce(ctx, d, u, false, now)
	}
	return nil
}

// renew gives this node a new id after a sweeper declared the old one dead
// (the node stalled past the expiry): the sweeper evicts the old id's
// entries, and every user here is registered again under the new id.
func (t *Tracker) renew(ctx context.Context, old string) {
	t.mu.Lock()
	if t.id != old {
		t.mu.Unlock()
		return
	}
	t.id = randomID()
	id := t.id
	for _, e := range t.local {
		e.registered = false
	}
	t.mu.Unlock()
	t.log.Warn("presence: this node was declared dead; rejoining under a new id", "old", old, "node", id)
	if err := t.Start(ctx); err != nil {
		t.log.Warn("presence: register node", "node", id, "err", err)
	}
}

// Close leaves gracefully: it removes this node's entries, announces users
// who are now offline, and unregisters the node. Later Connect and
// Disconnect calls do nothing. The caller stops Run first.
func (t *Tracker) Close(ctx context.Context) error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	users := make([]string, 0, len(t.local))
	for m := range t.local {
		users = append(users, m)
	}
	id := t.id
	t.mu.Unlock()
	var firstErr error
	for _, m := range users {
		lk := t.stripe(m)
		lk.Lock()
		t.mu.Lock()
		e := t.local[m]
		delete(t.local, m)
		t.mu.Unlock()
		if e != nil {
			if err := t.unregister(ctx, m, e); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		lk.Unlock()
	}
	if firstErr != nil {
		// Some entries are left: keep the node registered, so that the
		// other nodes sweep them after the expiry and announce those users.
		return firstErr
	}
	// Three slots: the node's heartbeat key and set go first, so that
	// whatever happens next nobody sweeps (and announces) this node's
	// users again; the registry entry left by a failure is dropped by the
	// next sweep (no heartbeat key: the node left).
	if err := t.rdb.Del(ctx, t.keys.NodeBeat(id), t.nodeUsers(id)).Err(); err != nil {
		return chat.StoreError("presence.Close", err)
	}
	return chat.StoreError("presence.Close", t.rdb.ZRem(ctx, t.nodes(), id).Err())
}

// Online reports, in order, whether each of ids in d has a live device
// (a socket or an event stream) on any node, blocks unseen: what the
// webhooks ask before telling the platform that a user is offline.
func (t *Tracker) Online(ctx context.Context, d chat.Domain, ids []chat.UserID) ([]bool, error) {
	now := fmt.Sprintf("(%d", ms(t.now()))
	p := t.rdb.Pipeline()
	live := make([]*redis.IntCmd, len(ids))
	for i, u := range ids {
		live[i] = p.ZCount(ctx, t.userNodes(d, u), now, "+inf")
	}
	if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
		return nil, chat.StoreError("presence.Online", err)
	}
	out := make([]bool, len(ids))
	for i := range ids {
		out[i] = live[i].Val() > 0
	}
	return out, nil
}

// Lookup returns the presence of ids in d as viewer sees it, in order. A
// block hides presence both ways, as it hides presence events: a user
// whom viewer blocked, or who blocked viewer, is reported offline with no
// time (never seen), whatever their state. The blocks are read in the same
// round trip as the presence.
func (t *Tracker) Lookup(ctx context.Context, d chat.Domain, viewer chat.UserID, ids []chat.UserID) ([]Status, error) {
	now := fmt.Sprintf("(%d", ms(t.now()))
	p := t.rdb.Pipeline()
	live := make([]*redis.IntCmd, len(ids))
	at := make([]*redis.StringCmd, len(ids))
	theirs := make([]*redis.BoolCmd, len(ids))
	for i, u := range ids {
		live[i] = p.ZCount(ctx, t.userNodes(d, u), now, "+inf")
		at[i] = p.Get(ctx, t.userAt(d, u))
		theirs[i] = p.SIsMember(ctx, t.keys.Blocks(d, u), string(viewer))
	}
	own := p.SMIsMember(ctx, t.keys.Blocks(d, viewer), toAny(ids)...)
	if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
		return nil, chat.StoreError("presence.Lookup", err)
	}
	blocked := own.Val()
	if len(blocked) != len(ids) {
		return nil, chat.E("presence.Lookup", chat.Internal, "", fmt.Errorf("SMISMEMBER: %d replies for %d ids", len(blocked), len(ids)))
	}
	out := make([]Status, len(ids))
	for i, u := range ids {
		out[i] = Status{User: u}
		if blocked[i] || theirs[i].Val() {
			continue
		}
		n, _ := at[i].Int64()
		out[i].Online, out[i].At = live[i].Val() > 0, n
	}
	return out, nil
}
