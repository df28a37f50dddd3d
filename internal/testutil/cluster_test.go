package testutil_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/testutil"
)

// TestStartCluster: the harness's cluster has three primaries sharing the
// slots, keys spread over them, and a killed primary's replica takes over
// with the data written before the kill (written with WAIT 1, so it had
// reached the replica).
func TestStartCluster(t *testing.T) {
	addrs := testutil.StartCluster(t)
	if len(addrs) != 6 {
		t.Fatalf("addrs = %v, want 6", addrs)
	}
	primaries := testutil.ClusterPrimaries(t, addrs)
	if len(primaries) != 3 {
		t.Fatalf("primaries = %v, want 3", primaries)
	}
	ctx := context.Background()
	rdb := testutil.ClusterClient(t, addrs)
	prefix := testutil.Prefix(t)
	owners := map[string]int{}
	for i := 0; i < 60; i++ {
		key := fmt.Sprintf("%s{k%d}", prefix, i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		owners[testutil.PrimaryForKey(t, addrs, key)]++
	}
	if len(owners) != 3 {
		t.Fatalf("60 keys landed on %d primaries (%v), want 3", len(owners), owners)
	}

	key := prefix + "{victim}"
	if err := rdb.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := testutil.PrimaryForKey(t, addrs, key)
	direct := redis.NewClient(&redis.Options{Addr: old})
	defer direct.Close()
	if n, err := direct.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n < 1 {
		t.Fatalf("WAIT 1 on %s = %d, %v", old, n, err)
	}
	slot, err := direct.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	testutil.KillRedis(t, old)
	promoted := testutil.WaitPrimaryChange(t, addrs, int(slot), old, 30*time.Second)
	if promoted == old {
		t.Fatalf("slot %d still on %s", slot, old)
	}
	got, err := redis.NewClient(&redis.Options{Addr: promoted}).Get(ctx, key).Result()
	if err != nil || got != "before" {
		t.Fatalf("GET %s on promoted %s = %q, %v; want before", key, promoted, got, err)
	}
}

// TestStartSentinel: the harness's sentinels report a primary that takes
// writes; after it is killed they promote the replica, which has the data.
func TestStartSentinel(t *testing.T) {
	addrs, master := testutil.StartSentinel(t)
	if len(addrs) != 3 || master == "" {
		t.Fatalf("StartSentinel = %v, %q", addrs, master)
	}
	ctx := context.Background()
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: master, SentinelAddrs: addrs})
	defer rdb.Close()
	key := testutil.Prefix(t) + "k"
	if err := rdb.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n < 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}
	old := testutil.SentinelPrimary(t, addrs, master)
	testutil.KillRedis(t, old)
	deadline := time.Now().Add(30 * time.Second)
	for testutil.SentinelPrimary(t, addrs, master) == old {
		if time.Now().After(deadline) {
			t.Fatalf("sentinels still report %s after 30 s", old)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var got string
	var err error
	for {
		if got, err = rdb.Get(ctx, key).Result(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET after failover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "before" {
		t.Fatalf("GET after failover = %q, want before", got)
	}
}
