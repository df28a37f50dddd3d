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

// BenchmarkBeat measures one heartbeat (refresh in batches, plus a sweep
// finding nothing) of a node holding 10,000 users, against real Redis.
func BenchmarkBeat(b *testing.B) {
	rdb := testutil.Redis(b)
	keys := chat.Keys{Prefix: testutil.Prefix(b)}
	b.Cleanup(func() { deleteUnder(rdb, keys.Prefix) })
	d := chat.Domain(testutil.Domain(b))
	ctx := context.Background()
	tr := presence.New(rdb, keys, presence.Options{Heartbeat: time.Hour})
	if err := tr.Start(ctx); err != nil {
		b.Fatal(err)
	}
	const users = 10_000
	for i := range users {
		if err := tr.Connect(ctx, d, chat.UserID(fmt.Sprint(i))); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		tr.Beat(ctx)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/users*1000, "ns/user")
}

// BenchmarkConnectDisconnect measures a user's first device arriving and
// leaving (two scripts; no DM peers to tell).
func BenchmarkConnectDisconnect(b *testing.B) {
	rdb := testutil.Redis(b)
	keys := chat.Keys{Prefix: testutil.Prefix(b)}
	b.Cleanup(func() { deleteUnder(rdb, keys.Prefix) })
	d := chat.Domain(testutil.Domain(b))
	ctx := context.Background()
	tr := presence.New(rdb, keys, presence.Options{Heartbeat: time.Hour})
	if err := tr.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := tr.Connect(ctx, d, "1"); err != nil {
			b.Fatal(err)
		}
		if err := tr.Disconnect(ctx, d, "1"); err != nil {
			b.Fatal(err)
		}
	}
}

func deleteUnder(rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			rdb.Del(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		rdb.Del(ctx, batch...)
	}
}
