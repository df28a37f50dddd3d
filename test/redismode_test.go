package test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/testutil"
)

// A node configured with PARLEY_REDIS_CLUSTER_ADDRS runs on a real Redis
// Cluster: sharded pub/sub, a send served end to end, /readyz 200; and
// 503 naming the node when a primary sees a slot uncovered.
func TestClusterModeServes(t *testing.T) {
	addrs := testutil.StartCluster(t)
	n := startServer(t, map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": strings.Join(addrs[:2], ",")})
	if !n.srv.ShardedPubSub() {
		t.Error("ShardedPubSub() = false on a Redis Cluster")
	}
	mustStatus(t, n.get(t, "", "/readyz"), http.StatusOK)

	a, b := n.tok(t, 101, nil), n.tok(t, 102, nil)
	for i := range 5 {
		n.sendText(t, a, "102", fmt.Sprintf("hello %d", i))
	}
	n.sendText(t, b, "101", "back")
	h := n.get(t, b, "/api/user/101")
	mustStatus(t, h, http.StatusOK)
	if msgs := arr(t, h.obj, "messages"); len(msgs) != 6 {
		t.Errorf("history holds %d messages, want 6: %s", len(msgs), h.raw)
	}
	l := n.get(t, b, "/api/list")
	mustStatus(t, l, http.StatusOK)
	if !strings.Contains(string(l.raw), "hello 4") && !strings.Contains(string(l.raw), "back") {
		t.Errorf("inbox lacks the conversation: %s", l.raw)
	}

	// A primary that sees a slot unowned says cluster_state:fail.
	ctx := context.Background()
	cc := testutil.ClusterClient(t, addrs)
	probeSlot, err := cc.ClusterKeySlot(ctx, n.prefix+"ready.probe").Result()
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 CLUSTER SLOTS answers on every Redis 7
	ranges, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	var slot int
	for _, r := range ranges {
		if int64(r.Start) > probeSlot || int64(r.End) < probeSlot {
			victim, slot = r.Nodes[0].Addr, r.Start
			break
		}
	}
	vc := redis.NewClient(&redis.Options{Addr: victim})
	defer vc.Close()
	if err := vc.ClusterDelSlots(ctx, slot).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := n.get(t, "", "/readyz")
		if r.status == http.StatusServiceUnavailable {
			if !strings.Contains(string(r.raw), "Redis Cluster not ready: "+victim+" reports cluster_state:fail") {
				t.Errorf("503 body %s does not name the reason", r.raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d with slot %d unowned on %s: %s", r.status, slot, victim, r.raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := vc.ClusterAddSlots(ctx, slot).Err(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for n.get(t, "", "/readyz").status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 200 again after the slot came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A node configured with Sentinel serves a send; on a single Redis 7 the
// events use sharded pub/sub too.
func TestSentinelModeServes(t *testing.T) {
	addrs, master := testutil.StartSentinel(t)
	n := startServer(t, map[string]string{"PARLEY_REDIS_SENTINEL_ADDRS": strings.Join(addrs, ","),
		"PARLEY_REDIS_SENTINEL_MASTER": master})
	if !n.srv.ShardedPubSub() {
		t.Error("ShardedPubSub() = false on a Redis 7 primary")
	}
	mustStatus(t, n.get(t, "", "/readyz"), http.StatusOK)
	n.sendText(t, n.tok(t, 1, nil), "2", "via sentinel")
	h := n.get(t, n.tok(t, 2, nil), "/api/user/1")
	mustStatus(t, h, http.StatusOK)
	if msgs := arr(t, h.obj, "messages"); len(msgs) != 1 {
		t.Errorf("history holds %d messages, want 1: %s", len(msgs), h.raw)
	}
}
