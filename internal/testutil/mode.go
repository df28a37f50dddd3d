package testutil

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// The variables that point a test run at a Redis Cluster or at a
// Sentinel-managed primary instead of PARLEY_TEST_REDIS_URL's single
// Redis: the CI's cluster and sentinel passes (.ci/redisdeploy starts
// them and prints the exports).
const (
	ClusterAddrsEnv   = "PARLEY_TEST_REDIS_CLUSTER_ADDRS"
	SentinelAddrsEnv  = "PARLEY_TEST_REDIS_SENTINEL_ADDRS"
	SentinelMasterEnv = "PARLEY_TEST_REDIS_SENTINEL_MASTER"
)

// The modes Mode reports.
const (
	ModeSingle   = "single Redis"
	ModeEmbedded = "embedded store"
	ModeCluster  = "Redis Cluster"
	ModeSentinel = "Sentinel"
)

// Mode says which Redis Redis(t) serves in this run: ModeCluster when
// PARLEY_TEST_REDIS_CLUSTER_ADDRS is set, ModeSentinel when
// PARLEY_TEST_REDIS_SENTINEL_ADDRS and PARLEY_TEST_REDIS_SENTINEL_MASTER
// are, else ModeEmbedded or ModeSingle (see RedisURL).
func Mode() string {
	if len(ClusterAddrs()) > 0 {
		return ModeCluster
	}
	if a, m := SentinelAddrs(); len(a) > 0 && m != "" {
		return ModeSentinel
	}
	if OnEmbedded() {
		return ModeEmbedded
	}
	return ModeSingle
}

// OnCluster reports whether Redis(t) serves a Redis Cluster in this run.
func OnCluster() bool { return Mode() == ModeCluster }

// ClusterAddrs returns PARLEY_TEST_REDIS_CLUSTER_ADDRS split at commas.
func ClusterAddrs() []string { return splitAddrs(os.Getenv(ClusterAddrsEnv)) }

// SentinelAddrs returns PARLEY_TEST_REDIS_SENTINEL_ADDRS split at commas
// and PARLEY_TEST_REDIS_SENTINEL_MASTER.
func SentinelAddrs() ([]string, string) {
	return splitAddrs(os.Getenv(SentinelAddrsEnv)), os.Getenv(SentinelMasterEnv)
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// SkipInMode skips t when this run's Mode is one of modes, for the few
// tests that cannot run there (why says what they do that the mode does
// not allow, e.g. reconfigure the shared server). Reporting counts the
// skips.
func SkipInMode(t testing.TB, why string, modes ...string) {
	t.Helper()
	m := Mode()
	for _, x := range modes {
		if x == m {
			skipped.Add(1)
			t.Skip("cannot run on a " + m + " (" + why + "); runs in the single-Redis pass")
		}
	}
}

// eachPrimary runs fn on every primary behind rdb: each master of a
// ClusterClient, else rdb itself (a single Redis, the Sentinel-managed
// primary, the embedded store).
func eachPrimary(ctx context.Context, rdb redis.UniversalClient, fn func(ctx context.Context, node *redis.Client) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, fn)
	}
	if c, ok := rdb.(*redis.Client); ok {
		return fn(ctx, c)
	}
	return fmt.Errorf("testutil: %T is neither a Client nor a ClusterClient", rdb)
}

// ScanKeys returns every key matching pattern (SCAN MATCH) on every
// primary behind rdb, sorted: KEYS on one node would miss the keys other
// shards of a cluster hold.
func ScanKeys(t testing.TB, rdb redis.UniversalClient, pattern string) []string {
	t.Helper()
	per := KeysPerPrimary(t, rdb, pattern)
	var out []string
	for _, ks := range per {
		out = append(out, ks...)
	}
	sort.Strings(out)
	return out
}

// KeysPerPrimary returns the keys matching pattern on each primary behind
// rdb, by the primary's address (one entry outside a cluster).
func KeysPerPrimary(t testing.TB, rdb redis.UniversalClient, pattern string) map[string][]string {
	t.Helper()
	var mu sync.Mutex
	out := map[string][]string{}
	err := eachPrimary(context.Background(), rdb, func(ctx context.Context, node *redis.Client) error {
		var keys []string
		iter := node.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		mu.Lock()
		out[node.Options().Addr] = append(out[node.Options().Addr], keys...)
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatalf("scan %q: %v", pattern, err)
	}
	return out
}

// DeleteKeys deletes every key matching pattern on every primary behind
// rdb, one key per DEL (a cluster refuses a DEL across slots), and
// returns how many it deleted.
func DeleteKeys(t testing.TB, rdb redis.UniversalClient, pattern string) int {
	t.Helper()
	n := 0
	for _, k := range ScanKeys(t, rdb, pattern) {
		if err := rdb.Del(context.Background(), k).Err(); err != nil {
			t.Fatalf("del %s: %v", k, err)
		}
		n++
	}
	return n
}

// NumSub returns how many subscribers channel has: PUBSUB NUMSUB, or
// PUBSUB SHARDNUMSUB when sharded (a shard channel), summed over every
// node behind rdb (on a cluster a SUBSCRIBE lives on whichever node took
// it, an SSUBSCRIBE on a node of the channel's slot).
func NumSub(t testing.TB, rdb redis.UniversalClient, sharded bool, channel string) int64 {
	t.Helper()
	var total atomic.Int64
	count := func(ctx context.Context, node *redis.Client) error {
		var n map[string]int64
		var err error
		if sharded {
			n, err = node.PubSubShardNumSub(ctx, channel).Result()
		} else {
			n, err = node.PubSubNumSub(ctx, channel).Result()
		}
		total.Add(n[channel])
		return err
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachShard(context.Background(), count)
	} else {
		err = eachPrimary(context.Background(), rdb, count)
	}
	if err != nil {
		t.Fatalf("numsub %s: %v", channel, err)
	}
	return total.Load()
}

// RedisEnv returns the server configuration variables that put a Parley
// node on the Redis Redis(t) serves: PARLEY_REDIS_CLUSTER_ADDRS on a
// cluster, PARLEY_REDIS_SENTINEL_ADDRS and _MASTER under Sentinel, else
// PARLEY_REDIS_URL=RedisURL(t). Tests that start nodes use it, so the
// end-to-end suite runs its nodes on the cluster in the cluster pass.
func RedisEnv(t testing.TB) map[string]string {
	t.Helper()
	switch Mode() {
	case ModeCluster:
		used.note("the Redis Cluster at " + strings.Join(ClusterAddrs(), ",") + " (" + ClusterAddrsEnv + ")")
		return map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": strings.Join(ClusterAddrs(), ",")}
	case ModeSentinel:
		addrs, master := SentinelAddrs()
		used.note("the Sentinel-managed primary " + master + " via " + strings.Join(addrs, ",") + " (" + SentinelAddrsEnv + ")")
		return map[string]string{"PARLEY_REDIS_SENTINEL_ADDRS": strings.Join(addrs, ","), "PARLEY_REDIS_SENTINEL_MASTER": master}
	}
	return map[string]string{"PARLEY_REDIS_URL": RedisURL(t)}
}

// RedisEnvList is RedisEnv as NAME=value strings, for a server binary's
// environment.
func RedisEnvList(t testing.TB) []string {
	t.Helper()
	var out []string
	for k, v := range RedisEnv(t) {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// RedisEnvKeys are the variables that select a server's Redis: an env
// that sets any of them chooses its own Redis.
var RedisEnvKeys = []string{"PARLEY_REDIS_URL", "PARLEY_REDIS_CLUSTER_ADDRS", "PARLEY_REDIS_SENTINEL_ADDRS"}
