package realtime

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

// userLogs is an in-memory event log per user.
type userLogs struct {
	mu   sync.Mutex
	logs map[chat.UserID]*memLog
}

func (l *userLogs) of(u chat.UserID) *memLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logs == nil {
		l.logs = map[chat.UserID]*memLog{}
	}
	if l.logs[u] == nil {
		l.logs[u] = &memLog{}
	}
	return l.logs[u]
}

func (l *userLogs) EventsAfter(ctx context.Context, d chat.Domain, u chat.UserID, after, limit int64) ([]chat.Event, int64, bool, error) {
	return l.of(u).EventsAfter(ctx, d, u, after, limit)
}

func (l *userLogs) LastEventID(ctx context.Context, d chat.Domain, u chat.UserID) (int64, error) {
	return l.of(u).LastEventID(ctx, d, u)
}

// clusterHub is a hub on a local Redis Cluster with sharded pub/sub and
// users 1..n subscribed, each with its own delivery channel.
type clusterHub struct {
	addrs []string
	cc    *redis.ClusterClient
	keys  chat.Keys
	logs  *userLogs
	h     *Hub
	r     *router
	m     *countMetrics
	users []chat.UserID
	got   map[chat.UserID]chan chat.Event
	stops []func()
}

func newClusterHub(t *testing.T, n int) *clusterHub {
	t.Helper()
	addrs := testutil.StartCluster(t)
	f := &clusterHub{addrs: addrs, cc: testutil.ClusterClient(t, addrs), keys: chat.Keys{Prefix: "parleytest:cluster:", Sharded: true},
		logs: &userLogs{}, got: map[chat.UserID]chan chat.Event{}, m: &countMetrics{}}
	old := recheck
	recheck = time.Second // the failover test waits for it; these tests are not parallel
	f.h = New(f.cc, f.keys, f.logs, Options{Metrics: f.m})
	recheck = old
	t.Cleanup(f.h.Close)
	f.r = f.h.ps.(*router)
	for i := range n {
		u := chat.UserID(strconv.Itoa(i + 1))
		ch := make(chan chat.Event, 100)
		f.users = append(f.users, u)
		f.got[u] = ch
		stop := f.h.Subscribe("d", u, 0, func(ev chat.Event) { ch <- ev }, func(string) {})
		f.stops = append(f.stops, stop)
		t.Cleanup(stop)
	}
	f.settled(t)
	return f
}

// settled waits until every channel is confirmed on the link of its slot's
// owner, and returns the links' addresses.
func (f *clusterHub) settled(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var bad []string
		f.r.mu.Lock()
		placed := map[string]string{}
		for name, c := range f.r.chans {
			switch {
			case c.on == nil || !c.confirmed || c.stale:
				bad = append(bad, name+" unconfirmed")
			default:
				placed[name] = c.on.addr
			}
		}
		n := len(f.r.chans)
		f.r.mu.Unlock()
		for name, addr := range placed {
			m, err := f.cc.MasterForKey(ctx, name)
			if err != nil || m.Options().Addr != addr {
				bad = append(bad, name+" on "+addr)
			}
		}
		if len(bad) == 0 && n == len(f.users) {
			var addrs []string
			for addr := range f.r.linkCount() {
				addrs = append(addrs, addr)
			}
			sort.Strings(addrs)
			return addrs
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscriptions not settled after 30s: %d of %d channels, %v", n, len(f.users), bad[:min(len(bad), 5)])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// primaries lists the cluster's primaries as the slot map has them.
func (f *clusterHub) primaries(t *testing.T) []string {
	t.Helper()
	addrs := testutil.ClusterPrimaries(t, f.addrs)
	sort.Strings(addrs)
	return addrs
}

// owner is the address of the primary of u's channel.
func (f *clusterHub) owner(t *testing.T, u chat.UserID) string {
	t.Helper()
	m, err := f.cc.MasterForKey(context.Background(), f.keys.EventLog("d", u))
	if err != nil {
		t.Fatal(err)
	}
	return m.Options().Addr
}

// publish logs one event for u and publishes it, retrying while the
// cluster answers errors (a failover under way).
func (f *clusterHub) publish(t *testing.T, u chat.UserID) chat.Event {
	t.Helper()
	ev := f.logs.of(u).append(1)[0]
	b, _ := json.Marshal(ev)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f.cc.SPublish(context.Background(), f.keys.EventLog("d", u), b).Err()
		if err == nil {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("SPUBLISH for %s: %v", u, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// want waits for event id on u's delivery channel, after any earlier ids.
func (f *clusterHub) want(t *testing.T, u chat.UserID, id int64) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-f.got[u]:
			if ev.ID == id {
				return
			}
			if ev.ID > id {
				t.Fatalf("user %s: event %d delivered, want %d first", u, ev.ID, id)
			}
		case <-timeout:
			t.Fatalf("user %s: event %d never delivered", u, id)
		}
	}
}

// TestHubClusterOneLinkPerPrimary: users spread over every slot range are
// subscribed on one connection per primary, each on its slot's owner, and
// a SPUBLISH to any of them reaches them.
func TestHubClusterOneLinkPerPrimary(t *testing.T) {
	f := newClusterHub(t, 60)
	links := f.settled(t)
	if want := f.primaries(t); strings.Join(links, ",") != strings.Join(want, ",") {
		t.Fatalf("links to %v, want one per primary %v", links, want)
	}
	perNode := map[string]int{}
	for _, u := range f.users {
		perNode[f.owner(t, u)]++
	}
	if len(perNode) != 3 {
		t.Fatalf("60 users on %d primaries, want 3: %v", len(perNode), perNode)
	}
	t.Logf("users per primary: %v", perNode)
	for _, u := range f.users {
		ev := f.publish(t, u)
		f.want(t, u, ev.ID)
	}
	if n := f.shardSubs(t); n != len(f.users) {
		t.Fatalf("%d shard subscriptions on the primaries, want %d", n, len(f.users))
	}
	// Every connection stops: the hub keeps no channel or connection, and
	// no primary any subscription.
	for _, stop := range f.stops {
		stop()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		f.r.mu.Lock()
		chans, links := len(f.r.chans), len(f.r.links)
		f.r.mu.Unlock()
		if chans == 0 && links == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after every stop the router keeps %d channels and %d connections", chans, links)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left := f.shardSubs(t)
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d shard subscriptions left on the primaries after every stop", left)
		}
	}
}

// shardSubs is the number of shard subscriptions to the users' channels,
// summed over the primaries (each counts its own).
func (f *clusterHub) shardSubs(t *testing.T) int {
	t.Helper()
	names := make([]string, len(f.users))
	for i, u := range f.users {
		names[i] = f.keys.EventLog("d", u)
	}
	ctx := context.Background()
	total := 0
	for _, p := range f.primaries(t) {
		c := redis.NewClient(&redis.Options{Addr: p})
		n, err := c.PubSubShardNumSub(ctx, names...).Result()
		_ = c.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range n {
			total += int(k)
		}
	}
	return total
}

// TestHubClusterFailover: a primary is SIGKILLed; its replica is promoted.
// The hub's subscriptions of that shard move to the new primary by
// themselves, the events logged while the shard was down are delivered
// from the log (nothing is published for them), and live delivery goes on
// for every user.
func TestHubClusterFailover(t *testing.T) {
	f := newClusterHub(t, 60)
	victim := f.owner(t, f.users[0])
	var onVictim []chat.UserID
	for _, u := range f.users {
		if f.owner(t, u) == victim {
			onVictim = append(onVictim, u)
		}
	}
	slot, err := f.cc.ClusterKeySlot(context.Background(), f.keys.EventLog("d", f.users[0])).Result()
	if err != nil {
		t.Fatal(err)
	}
	testutil.KillRedis(t, victim)
	// Logged while the shard is down: no publish can reach anyone.
	missed := map[chat.UserID]int64{}
	for _, u := range onVictim {
		missed[u] = f.logs.of(u).append(1)[0].ID
	}
	testutil.WaitPrimaryChange(t, f.addrs, int(slot), victim, time.Minute)
	start := time.Now()
	for _, u := range onVictim {
		f.want(t, u, missed[u])
	}
	t.Logf("%d users on the killed primary: missed events delivered %v after the replica's promotion", len(onVictim), time.Since(start).Round(time.Millisecond))
	links := f.settled(t)
	if n := f.m.resubscribed.Load(); n < int64(len(onVictim)) {
		t.Errorf("%d resubscriptions counted, want at least one per user of the killed primary (%d)", n, len(onVictim))
	}
	for _, addr := range links {
		if addr == victim {
			t.Fatalf("a link to the killed primary %s is left: %v", victim, links)
		}
	}
	if want := f.primaries(t); strings.Join(links, ",") != strings.Join(want, ",") {
		t.Fatalf("links to %v, want one per primary %v", links, want)
	}
	for _, u := range f.users {
		ev := f.publish(t, u)
		f.want(t, u, ev.ID)
	}
}

// TestHubClusterSlotMigration: the slot of a subscribed user's channel is
// moved to another primary. Redis drops the subscription (sunsubscribe);
// the hub subscribes again on the new owner, which makes the user's
// connection read the log (an event logged but never published arrives),
// and later publishes reach it.
func TestHubClusterSlotMigration(t *testing.T) {
	f := newClusterHub(t, 10)
	ctx := context.Background()
	u := f.users[0]
	name := f.keys.EventLog("d", u)
	src := f.owner(t, u)
	var dst string
	for _, p := range f.primaries(t) {
		if p != src {
			dst = p
			break
		}
	}
	slot, err := f.cc.ClusterKeySlot(ctx, name).Result()
	if err != nil {
		t.Fatal(err)
	}
	id := func(addr string) string {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		s, err := c.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	srcID, dstID := id(src), id(dst)
	missed := f.logs.of(u).append(1)[0].ID // logged, never published
	do := func(addr string, args ...any) {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%s %v: %v", addr, args, err)
		}
	}
	do(dst, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID)
	do(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID)
	// The slot holds no key (the channel is not a key): nothing to MIGRATE.
	do(dst, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
	do(src, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
	for _, p := range f.primaries(t) {
		if p != src && p != dst {
			do(p, "CLUSTER", "SETSLOT", slot, "NODE", dstID)
		}
	}
	f.want(t, u, missed)
	f.settled(t)
	f.r.mu.Lock()
	on := f.r.chans[name].on.addr
	f.r.mu.Unlock()
	if on != dst {
		t.Fatalf("user %s's channel on %s after its slot moved to %s", u, on, dst)
	}
	ev := f.publish(t, u)
	f.want(t, u, ev.ID)
}
