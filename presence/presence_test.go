package presence_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
	"parley/presence"
)

// clock is a fake clock shared by the nodes of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	beat   = time.Second
	expiry = 3 * time.Second
)

// world is one Redis keyspace with a domain, a fake clock, nodes on it, and
// a watcher receiving the presence events sent to user "watcher", who has
// a DM with users "1" and "2".
type world struct {
	t      *testing.T
	rdb    redis.UniversalClient
	keys   chat.Keys
	domain chat.Domain
	clock  *clock
	events <-chan *redis.Message
}

func newWorld(t *testing.T) *world {
	t.Helper()
	// TestPresenceSharded runs every test again with sharded pub/sub,
	// TestPresenceCluster on a Redis Cluster (with sharded pub/sub).
	var rdb redis.UniversalClient
	// On a Redis Cluster (the CI's cluster pass) every pass is sharded, as
	// server.New runs it: a plain PUBLISH there goes round the cluster bus
	// with no order across nodes, so drain's closing sentinel could
	// overtake the tracker's events.
	sharded := strings.HasPrefix(t.Name(), "TestPresenceSharded/") || testutil.OnCluster()
	if strings.HasPrefix(t.Name(), "TestPresenceCluster/") {
		rdb, sharded = clusterClient, true
	} else {
		rdb = testutil.Redis(t)
	}
	w := &world{t: t, rdb: rdb, keys: chat.Keys{Prefix: testutil.Prefix(t), Sharded: sharded}, domain: chat.Domain(testutil.Domain(t)),
		clock: &clock{t: time.UnixMilli(1_800_000_000_000)}}
	ctx := context.Background()
	for _, u := range []chat.UserID{"1", "2"} {
		if err := rdb.ZAdd(ctx, w.keys.Inbox(w.domain, u), redis.Z{Score: 1, Member: chat.InboxMember("watcher")}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var ps *redis.PubSub
	if sharded {
		ps = rdb.SSubscribe(ctx, w.keys.EventLog(w.domain, "watcher"))
	} else {
		ps = rdb.Subscribe(ctx, w.keys.EventLog(w.domain, "watcher"))
	}
	if _, err := ps.Receive(ctx); err != nil { // the subscription is live
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ps.Close()
		if rdb == clusterClient {
			return // a cluster of the test's own, torn down with it
		}
		testutil.DeleteKeys(t, rdb, w.keys.Prefix+"*")
	})
	w.events = ps.Channel()
	return w
}

// node starts a tracker named id (its Run loop is not started: tests beat
// by hand).
func (w *world) node(id string) *presence.Tracker {
	w.t.Helper()
	tr := presence.New(w.rdb, w.keys, presence.Options{NodeID: id, Now: w.clock.now, Heartbeat: beat, Expiry: expiry, Batch: 2})
	if err := tr.Start(context.Background()); err != nil {
		w.t.Fatal(err)
	}
	return tr
}

// drain returns the presence events the watcher received up to now, as
// "<user> on|off": a sentinel published last marks the end, so no wait is
// needed to know nothing else came.
func (w *world) drain() []string {
	w.t.Helper()
	ctx := context.Background()
	publish := w.rdb.Publish
	if w.keys.Sharded {
		publish = w.rdb.SPublish
	}
	if err := publish(ctx, w.keys.EventLog(w.domain, "watcher"), "sentinel").Err(); err != nil {
		w.t.Fatal(err)
	}
	var got []string
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-w.events:
			if m.Payload == "sentinel" {
				return got
			}
			ev, err := chat.DecodeEvent(m.Payload)
			if err != nil {
				w.t.Fatal(err)
			}
			if ev.Type != chat.EventPresence || !ev.Ephemeral() {
				w.t.Fatalf("event %+v, want an ephemeral presence event", ev)
			}
			state := " off"
			if ev.Online {
				state = " on"
			}
			got = append(got, string(ev.Peer)+state)
		case <-timeout:
			w.t.Fatal("sentinel not received")
		}
	}
}

// connect counts a device of each user in on tr, failing the test on error.
func (w *world) connect(t *testing.T, tr *presence.Tracker, users ...chat.UserID) {
	t.Helper()
	for _, u := range users {
		if err := tr.Connect(context.Background(), w.domain, u); err != nil {
			t.Fatal(err)
		}
	}
}

func (w *world) lookup(tr *presence.Tracker, u chat.UserID) presence.Status {
	w.t.Helper()
	st, err := tr.Lookup(context.Background(), w.domain, "watcher", []chat.UserID{u})
	if err != nil {
		w.t.Fatal(err)
	}
	return st[0]
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDevicesAcrossNodes walks users' devices on and off two nodes: a user
// is online while any device is connected anywhere, and the watcher hears
// exactly the transitions.
func TestDevicesAcrossNodes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	nodes := map[string]*presence.Tracker{"A": w.node("A"), "B": w.node("B")}
	steps := []struct {
		name       string
		node       string
		connect    bool
		user       chat.UserID
		wantEvents []string
		wantOnline bool
	}{
		{"first device comes online", "A", true, "1", []string{"1 on"}, true},
		{"second device on the same node", "A", true, "1", nil, true},
		{"third device on another node", "B", true, "1", nil, true},
		{"one device of two on A leaves", "A", false, "1", nil, true},
		{"A's last device leaves, B still holds", "A", false, "1", nil, true},
		{"another user comes online", "B", true, "2", []string{"2 on"}, true},
		{"B's last device of 1 leaves", "B", false, "1", []string{"1 off"}, false},
		{"a disconnect with no device is ignored", "B", false, "1", nil, false},
		{"back on A", "A", true, "1", []string{"1 on"}, true},
	}
	for _, s := range steps {
		before := w.clock.now().UnixMilli()
		w.clock.add(10 * time.Millisecond)
		ctx := context.Background()
		var err error
		if s.connect {
			err = nodes[s.node].Connect(ctx, w.domain, s.user)
		} else {
			err = nodes[s.node].Disconnect(ctx, w.domain, s.user)
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := w.drain(); !equal(got, s.wantEvents) {
			t.Errorf("%s: events %v, want %v", s.name, got, s.wantEvents)
		}
		st := w.lookup(nodes["A"], s.user)
		if st.Online != s.wantOnline {
			t.Errorf("%s: online = %v, want %v", s.name, st.Online, s.wantOnline)
		}
		if on, err := nodes["B"].Online(ctx, w.domain, []chat.UserID{s.user, "never-seen"}); err != nil || len(on) != 2 || on[0] != s.wantOnline || on[1] {
			t.Errorf("%s: Online = %v, %v; want [%v false]", s.name, on, err, s.wantOnline)
		}
		if len(s.wantEvents) > 0 && st.At <= before {
			t.Errorf("%s: at = %d, want the transition time (after %d)", s.name, st.At, before)
		}
	}
}

func TestLookupNeverSeen(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	st := w.lookup(w.node("A"), "nobody")
	if st.Online || st.At != 0 || st.User != "nobody" {
		t.Errorf("Lookup(never seen) = %+v, want offline with no time", st)
	}
}

// TestLookupHidesAcrossBlocks: a user on either side of a block with the
// viewer is offline and never seen to the viewer, whatever their state;
// others see them as they are.
func TestLookupHidesAcrossBlocks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a := w.node("A")
	w.connect(t, a, "1", "2", "3")
	w.rdb.SAdd(ctx, w.keys.Blocks(w.domain, "watcher"), "1") // the viewer blocked 1
	w.rdb.SAdd(ctx, w.keys.Blocks(w.domain, "2"), "watcher") // 2 blocked the viewer
	w.rdb.SAdd(ctx, w.keys.Blocks(w.domain, "3"), "someone") // 3 blocked someone else
	ids := []chat.UserID{"1", "2", "3", "watcher"}
	st, err := a.Lookup(ctx, w.domain, "watcher", ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, true, false} {
		if st[i].User != ids[i] || st[i].Online != want || (st[i].At != 0) != want {
			t.Errorf("watcher looks up %s: %+v, want online %v (with a time: %v)", ids[i], st[i], want, want)
		}
	}
	// A bystander sees 1 and 2 as they are.
	st, err = a.Lookup(ctx, w.domain, "bystander", ids[:2])
	if err != nil {
		t.Fatal(err)
	}
	for i := range st {
		if !st[i].Online || st[i].At == 0 {
			t.Errorf("bystander looks up %s: %+v, want online with a time", ids[i], st[i])
		}
	}
}

// TestDeadNodeSwept: a node that dies without its disconnect hooks stops
// beating; once its entries expire, exactly one survivor claims it and
// announces its users offline, as last seen at its last heartbeat.
func TestDeadNodeSwept(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		alsoOnB    bool // user 1 also has a device on the survivor
		wantEvents []string
		wantOnline bool
	}{
		{"only on the dead node", false, []string{"1 off", "2 off"}, false},
		{"also on a live node", true, []string{"2 off"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ctx := context.Background()
			a, b, c := w.node("A"), w.node("B"), w.node("C")
			w.connect(t, a, "1", "2", "3") // 3 users: two batches of 2
			if tt.alsoOnB {
				w.connect(t, b, "1")
			}
			w.drain()
			lastBeat := w.clock.now().UnixMilli()
			// A dies: nothing runs on it any more. B and C keep beating.
			for _, step := range []time.Duration{beat, beat, beat - time.Millisecond} {
				w.clock.add(step)
				b.Beat(ctx)
				c.Beat(ctx)
				if got := w.drain(); len(got) != 0 {
					t.Fatalf("events %v before A's entries expired", got)
				}
			}
			w.clock.add(time.Millisecond) // A's entries expire now
			// Both survivors beat (and sweep) at once: only one may win the claim.
			var wg sync.WaitGroup
			for _, n := range []*presence.Tracker{b, c} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n.Beat(ctx)
				}()
			}
			wg.Wait()
			got := w.drain()
			if !sameSet(got, tt.wantEvents) {
				t.Errorf("events %v, want %v (once each)", got, tt.wantEvents)
			}
			if st := w.lookup(b, "1"); st.Online != tt.wantOnline {
				t.Errorf("user 1 online = %v, want %v", st.Online, tt.wantOnline)
			}
			if st := w.lookup(b, "2"); st.Online || st.At != lastBeat {
				t.Errorf("user 2 = %+v, want offline, last seen at A's last heartbeat %d", st, lastBeat)
			}
			// Nothing of A is left to sweep again.
			w.clock.add(beat)
			b.Beat(ctx)
			c.Beat(ctx)
			if got := w.drain(); len(got) != 0 {
				t.Errorf("events %v on a later sweep, want none", got)
			}
			if n, _ := w.rdb.Exists(ctx, w.keys.NodeUsers("A"), w.keys.NodeClaim("A")).Result(); n != 0 {
				t.Errorf("%d keys of node A left", n)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestStalledNodeRejoins: a node that stalls past the expiry is swept like
// a dead one; its next heartbeat notices, takes a new id and brings its
// users back online.
func TestStalledNodeRejoins(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a, b := w.node("A"), w.node("B")
	w.connect(t, a, "1")
	w.drain()
	w.clock.add(expiry + time.Millisecond)
	b.Beat(ctx)
	if got := w.drain(); !equal(got, []string{"1 off"}) {
		t.Fatalf("events after the stall %v, want [1 off]", got)
	}
	a.Beat(ctx)
	if got := w.drain(); !equal(got, []string{"1 on"}) {
		t.Errorf("events after A's heartbeat %v, want [1 on]", got)
	}
	if a.NodeID() == "A" {
		t.Error("A kept its swept id")
	}
	if st := w.lookup(a, "1"); !st.Online {
		t.Error("user 1 offline after A rejoined")
	}
	// The user's last device leaves: offline again, under the new id.
	if err := a.Disconnect(ctx, w.domain, "1"); err != nil {
		t.Fatal(err)
	}
	if got := w.drain(); !equal(got, []string{"1 off"}) {
		t.Errorf("events after disconnect %v, want [1 off]", got)
	}
}

// TestHeartbeatKeepsUsersOnline: entries outlive the expiry as long as the
// node beats.
func TestHeartbeatKeepsUsersOnline(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a, b := w.node("A"), w.node("B")
	w.connect(t, a, "1", "2", "3")
	w.drain()
	for range 10 {
		w.clock.add(beat)
		a.Beat(ctx)
		b.Beat(ctx)
	}
	if got := w.drain(); len(got) != 0 {
		t.Errorf("events %v, want none", got)
	}
	for _, u := range []chat.UserID{"1", "2", "3"} {
		if st := w.lookup(b, u); !st.Online {
			t.Errorf("user %s offline after 10 heartbeats", u)
		}
	}
}

// TestCloseAnnouncesOffline: a graceful close removes the node's entries at
// once, without waiting for the expiry.
func TestCloseAnnouncesOffline(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a, b := w.node("A"), w.node("B")
	w.connect(t, a, "1", "1", "2")
	w.connect(t, b, "1")
	w.drain()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.drain(); !equal(got, []string{"2 off"}) {
		t.Errorf("events %v, want [2 off]", got)
	}
	if st := w.lookup(b, "1"); !st.Online {
		t.Error("user 1 offline, but B still holds them")
	}
	if err := a.Connect(ctx, w.domain, "2"); err != nil || w.lookup(b, "2").Online {
		t.Errorf("Connect after Close registered the user (err %v)", err)
	}
	if n, _ := w.rdb.ZCard(ctx, w.keys.Nodes()).Result(); n != 1 {
		t.Errorf("registry holds %d nodes, want B only", n)
	}
}

// TestOutageSweepsNobody: when no node could beat for longer than the
// expiry (Redis was unreachable), the first heartbeats after it do not
// declare each other dead: every node gets one heartbeat to come back.
func TestOutageSweepsNobody(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a, b := w.node("A"), w.node("B")
	w.connect(t, a, "1")
	w.connect(t, b, "2")
	a.Beat(ctx)
	b.Beat(ctx)
	w.drain()
	w.clock.add(2 * expiry) // the outage: nobody beats
	b.Beat(ctx)             // B is back first; A's registry entry is stale
	a.Beat(ctx)
	w.clock.add(beat)
	b.Beat(ctx)
	a.Beat(ctx)
	if got := w.drain(); len(got) != 0 {
		t.Errorf("events %v after the outage, want none", got)
	}
	for _, u := range []chat.UserID{"1", "2"} {
		if st := w.lookup(a, u); !st.Online {
			t.Errorf("user %s offline after the outage", u)
		}
	}
	if a.NodeID() != "A" || b.NodeID() != "B" {
		t.Errorf("node ids %s, %s: a node was swept", a.NodeID(), b.NodeID())
	}
}

// TestBlocksHidePresence: a user who blocked the watcher, or whom the
// watcher blocked, goes online and offline without telling the watcher.
func TestBlocksHidePresence(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a := w.node("A")
	blocks := []struct{ owner, target chat.UserID }{{"1", "watcher"}, {"watcher", "2"}}
	for _, b := range blocks {
		if err := w.rdb.SAdd(ctx, w.keys.Blocks(w.domain, b.owner), string(b.target)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	w.connect(t, a, "1", "2")
	if err := a.Disconnect(ctx, w.domain, "1"); err != nil {
		t.Fatal(err)
	}
	if got := w.drain(); len(got) != 0 {
		t.Errorf("events %v, want none across a block", got)
	}
	for _, b := range blocks {
		w.rdb.SRem(ctx, w.keys.Blocks(w.domain, b.owner), string(b.target))
	}
	if err := a.Disconnect(ctx, w.domain, "2"); err != nil {
		t.Fatal(err)
	}
	if got := w.drain(); !equal(got, []string{"2 off"}) {
		t.Errorf("events %v, want [2 off] once unblocked", got)
	}
}

// TestConnectAfterClaimRejoins: a node declared dead (it stalled) that
// connects a user before its next heartbeat writes nothing under its old
// id (the node step finds its heartbeat key gone), takes a new id, and
// registers the user on its next heartbeat.
func TestConnectAfterClaimRejoins(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	a, b := w.node("A"), w.node("B")
	w.clock.add(expiry + time.Millisecond)
	b.Beat(ctx) // sweeps A
	w.connect(t, a, "1")
	if st := w.lookup(b, "1"); st.Online {
		t.Fatal("user 1 online under the swept id")
	}
	if n, _ := w.rdb.Exists(ctx, w.keys.NodeUsers("A"), w.keys.NodeBeat("A")).Result(); n != 0 {
		t.Errorf("%d keys of the swept node A written", n)
	}
	if a.NodeID() == "A" {
		t.Fatal("A kept its swept id")
	}
	a.Beat(ctx)
	if got := w.drain(); !equal(got, []string{"1 on"}) {
		t.Errorf("events %v, want [1 on]", got)
	}
	if st := w.lookup(b, "1"); !st.Online {
		t.Error("user 1 offline after A's heartbeat under its new id")
	}
}

// TestPresenceSharded runs the presence tests again with sharded pub/sub
// (SPUBLISH for the announcements), as on Redis >= 7 and Redis Cluster.
func TestPresenceSharded(t *testing.T) {
	testutil.NeedRealRedis(t, "sharded pub/sub (SSUBSCRIBE/SPUBLISH); miniredis has none")
	for _, tt := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"DevicesAcrossNodes", TestDevicesAcrossNodes},
		{"LookupHidesAcrossBlocks", TestLookupHidesAcrossBlocks},
		{"DeadNodeSwept", TestDeadNodeSwept},
		{"StalledNodeRejoins", TestStalledNodeRejoins},
		{"HeartbeatKeepsUsersOnline", TestHeartbeatKeepsUsersOnline},
		{"CloseAnnouncesOffline", TestCloseAnnouncesOffline},
		{"OutageSweepsNobody", TestOutageSweepsNobody},
		{"BlocksHidePresence", TestBlocksHidePresence},
		{"ConnectAfterClaimRejoins", TestConnectAfterClaimRejoins},
	} {
		t.Run(tt.name, tt.f)
	}
}

// clusterClient is TestPresenceCluster's cluster, shared by its subtests.
var clusterClient *redis.ClusterClient

// TestPresenceCluster runs the presence tests on a Redis Cluster (3
// primaries + 3 replicas): every script's keys share a slot (a cluster
// refuses others with CROSSSLOT), announcements go out with SPUBLISH.
func TestPresenceCluster(t *testing.T) {
	clusterClient = testutil.ClusterClient(t, testutil.StartCluster(t))
	t.Cleanup(func() { clusterClient = nil })
	for _, tt := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"DevicesAcrossNodes", TestDevicesAcrossNodes},
		{"LookupHidesAcrossBlocks", TestLookupHidesAcrossBlocks},
		{"DeadNodeSwept", TestDeadNodeSwept},
		{"StalledNodeRejoins", TestStalledNodeRejoins},
		{"HeartbeatKeepsUsersOnline", TestHeartbeatKeepsUsersOnline},
		{"CloseAnnouncesOffline", TestCloseAnnouncesOffline},
		{"OutageSweepsNobody", TestOutageSweepsNobody},
		{"BlocksHidePresence", TestBlocksHidePresence},
		{"ConnectAfterClaimRejoins", TestConnectAfterClaimRejoins},
	} {
		t.Run(tt.name, tt.f)
	}
}

// cmdCounter counts the commands a client sends, by name, pipelines
// included.
type cmdCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *cmdCounter) add(cmds ...redis.Cmder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range cmds {
		c.n[cmd.Name()]++
	}
}
func (c *cmdCounter) take(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n[name]
	c.n = map[string]int{}
	return n
}
func (c *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.add(cmd); return next(ctx, cmd) }
}
func (c *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.add(cmds...); return next(ctx, cmds) }
}

// TestHeartbeatRenewsTTLHourly: every heartbeat refreshes each user's
// entry, but renews the users' keys' 30-day TTL only on the first beat and
// then once an hour (it used to send a PEXPIRE per user per beat, half of
// a heartbeat's commands), and the users stay online throughout.
func TestHeartbeatRenewsTTLHourly(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	rdb := testutil.Redis(t) // a client of its own, to count its commands
	cnt := &cmdCounter{n: map[string]int{}}
	rdb.AddHook(cnt)
	tr := presence.New(rdb, w.keys, presence.Options{NodeID: "A", Now: w.clock.now, Heartbeat: beat, Expiry: expiry, Batch: 2})
	if err := tr.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer tr.Close(ctx)
	users := []chat.UserID{"1", "2", "3"}
	w.connect(t, tr, users...)
	beatOnce := func(d time.Duration) (zadds, pexpires int) {
		w.clock.add(d)
		cnt.take("")
		tr.Beat(ctx)
		cnt.mu.Lock()
		zadds = cnt.n["zadd"]
		cnt.mu.Unlock()
		return zadds, cnt.take("pexpire")
	}
	for i, tc := range []struct {
		after    time.Duration
		pexpires int
		why      string
	}{
		{beat, len(users), "first beat"},
		{beat, 0, "second beat"},
		{beat, 0, "third beat"},
		{time.Hour, len(users), "an hour later"},
		{beat, 0, "the beat after"},
	} {
		zadds, pexpires := beatOnce(tc.after)
		if zadds < len(users) || pexpires != tc.pexpires {
			t.Errorf("beat %d (%s): %d ZADD, %d PEXPIRE; want >= %d ZADD (one per user), %d PEXPIRE", i+1, tc.why, zadds, pexpires, len(users), tc.pexpires)
		}
	}
	for _, u := range users {
		if ttl := rdb.PTTL(ctx, w.keys.PresenceNodes(w.domain, u)).Val(); ttl < 29*24*time.Hour {
			t.Errorf("user %s: presence key TTL %s, want about 30 days", u, ttl)
		}
		if st := w.lookup(tr, u); !st.Online {
			t.Errorf("user %s offline", u)
		}
	}
}
