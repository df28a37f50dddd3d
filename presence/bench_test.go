package presence_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
	"parley/presence"
)

// baselines holds this run's baseline timings (x-baseline ratios).
var baselines testutil.Baselines

// benchTracker starts a tracker on real Redis under a fresh prefix, removed
// after the benchmark. The heartbeat is long: the benchmark beats itself.
func benchTracker(b *testing.B) (*presence.Tracker, redis.UniversalClient, chat.Domain) {
	rdb := testutil.Redis(b)
	keys := chat.Keys{Prefix: testutil.Prefix(b)}
	b.Cleanup(func() { testutil.DeleteKeys(b, rdb, keys.Prefix+"*") })
	tr := presence.New(rdb, keys, presence.Options{Heartbeat: time.Hour})
	if err := tr.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return tr, rdb, chat.Domain(testutil.Domain(b))
}

// pings is the baseline of a Redis path: n bare round trips.
func pings(b *testing.B, rdb redis.UniversalClient, n int) {
	ctx := context.Background()
	for b.Loop() {
		for range n {
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkBeat measures one heartbeat (the node's beat script, then the
// refresh pipelined in batches, plus a sweep finding nothing) of a node
// holding 10,000 users, against real Redis, over the bare round trips it
// needs (one per batch of DefaultBatch users, plus the beat script).
func BenchmarkBeat(b *testing.B) {
	const users = 10_000
	tr, rdb, d := benchTracker(b)
	ctx := context.Background()
	for i := range users {
		if err := tr.Connect(ctx, d, chat.UserID(fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("baseline-pings", func(b *testing.B) {
		pings(b, rdb, users/presence.DefaultBatch+1)
		baselines.Keep(b, "beat")
	})
	b.Run("parley", func(b *testing.B) {
		for b.Loop() {
			tr.Beat(ctx)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/users, "ns/user")
		baselines.Report(b, "beat")
	})
}

// BenchmarkConnectDisconnect measures a user's first device arriving and
// leaving (per-slot steps: the node's join script and the user's connect
// script, then the user's disconnect script and the SREM from the node's
// set; no DM peers to tell) over four bare round trips.
func BenchmarkConnectDisconnect(b *testing.B) {
	tr, rdb, d := benchTracker(b)
	ctx := context.Background()
	b.Run("baseline-pings", func(b *testing.B) {
		pings(b, rdb, 4)
		baselines.Keep(b, "connect")
	})
	b.Run("parley", func(b *testing.B) {
		for b.Loop() {
			if err := tr.Connect(ctx, d, "1"); err != nil {
				b.Fatal(err)
			}
			if err := tr.Disconnect(ctx, d, "1"); err != nil {
				b.Fatal(err)
			}
		}
		baselines.Report(b, "connect")
	})
}
