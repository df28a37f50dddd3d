package realtime

// Micro-benchmark of the hub's fan-out; see also server's BenchmarkFanout
// (the same through Socket.IO), bench/ and BENCHMARKS.md. The Parley
// sub-benchmark reports x-baseline, its ns/op over the baseline
// sub-benchmark's in the same run.

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

var baselines testutil.Baselines

// BenchmarkHubFanout sends messages to a user with n local subscribers
// (the send script logs and publishes each event; the hub delivers it to
// every subscriber) and waits until every subscriber has every event,
// against a bare go-redis subscriber that hands each published payload to
// n counters.
func BenchmarkHubFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) { benchHubFanout(b, n) })
	}
}

func benchHubFanout(b *testing.B, n int) {
	rdb := testutil.Redis(b)
	keys := chat.Keys{Prefix: testutil.Prefix(b)}
	store := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, time.Now)
	var got atomic.Int64
	wait := func(want int64) {
		for deadline := time.Now().Add(30 * time.Second); got.Load() < want; {
			if time.Now().After(deadline) {
				b.Fatalf("received %d of %d events", got.Load(), want)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	name := strconv.Itoa(n)

	b.Run("baseline-goredis-pubsub", func(b *testing.B) {
		ps := rdb.Subscribe(context.Background(), keys.Prefix+"baseline")
		if _, err := ps.Receive(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = ps.Close() })
		counters := make([]atomic.Int64, n)
		go func() {
			for range ps.Channel() {
				for i := range counters {
					counters[i].Add(1)
					got.Add(1)
				}
			}
		}()
		payload := make([]byte, 600) // about one encoded message event
		got.Store(0)
		b.ResetTimer()
		for range b.N {
			if err := rdb.Publish(context.Background(), keys.Prefix+"baseline", payload).Err(); err != nil {
				b.Fatal(err)
			}
		}
		wait(int64(b.N * n))
		baselines.Keep(b, "hubfanout"+name)
	})
	b.Run("parley-hub", func(b *testing.B) {
		h := New(rdb, keys, store, Options{})
		b.Cleanup(h.Close)
		for range n {
			b.Cleanup(h.Subscribe("bench", "1", 0, func(chat.Event) { got.Add(1) }, func(string) {}))
		}
		got.Store(0)
		b.ResetTimer()
		for range b.N {
			if _, _, err := store.Send(context.Background(), chat.SendRequest{Domain: "bench", From: "2", To: "1",
				Content: chat.Content{Type: chat.TypeText, Text: "a benchmark message"}}); err != nil {
				b.Fatal(err)
			}
		}
		wait(int64(b.N * n))
		baselines.Report(b, "hubfanout"+name)
	})
}

// BenchmarkHubPubSubMode publishes logged events to 10 users subscribed on
// one hub, with plain (PUBLISH/SUBSCRIBE) and sharded
// (SPUBLISH/SSUBSCRIBE) pub/sub on the same Redis, and waits until every
// event is delivered: the cost of the hub's delivery in each mode (the
// sharded sub-benchmark reports x-baseline against the plain one).
func BenchmarkHubPubSubMode(b *testing.B) {
	for _, sharded := range []bool{false, true} {
		b.Run("sharded="+strconv.FormatBool(sharded), func(b *testing.B) {
			if sharded {
				testutil.NeedRealRedis(b, "sharded pub/sub (SSUBSCRIBE/SPUBLISH); miniredis has none")
			}
			benchHubPubSub(b, testutil.Redis(b), sharded, "")
		})
	}
	// The same on a local Redis Cluster (3 primaries + 3 replicas): the
	// hub holds one connection per primary, the 10 users spread over them.
	b.Run("cluster", func(b *testing.B) {
		addrs := testutil.StartCluster(b)
		benchHubPubSub(b, testutil.ClusterClient(b, addrs), true, "cluster")
	})
}

func benchHubPubSub(b *testing.B, rdb redis.UniversalClient, sharded bool, label string) {
	keys := chat.Keys{Prefix: testutil.Prefix(b), Sharded: sharded}
	logs := &userLogs{}
	h := New(rdb, keys, logs, Options{})
	b.Cleanup(h.Close)
	var got atomic.Int64
	users := make([]chat.UserID, 10)
	for i := range users {
		users[i] = chat.UserID(strconv.Itoa(i + 1))
		b.Cleanup(h.Subscribe("bench", users[i], 0, func(chat.Event) { got.Add(1) }, func(string) {}))
	}
	r := h.ps.(*router)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		n := 0
		for _, c := range r.chans {
			if c.confirmed {
				n++
			}
		}
		r.mu.Unlock()
		if n == len(users) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("subscriptions never confirmed")
		}
	}
	// Counted from before the events are logged: a log read under way
	// (a subscription's first confirmation) may deliver some of them
	// before their publish, which then delivers nothing twice.
	got.Store(0)
	payloads := make([][]byte, b.N)
	for i := range payloads {
		u := users[i%len(users)]
		ev := logs.of(u).append(1)[0]
		payloads[i], _ = json.Marshal(ev)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := publish(rdb, keys, keys.EventLog("bench", users[i%len(users)]), payloads[i]); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); got.Load() < int64(b.N); time.Sleep(20 * time.Microsecond) {
		if time.Now().After(deadline) {
			b.Fatalf("received %d of %d events", got.Load(), b.N)
		}
	}
	if sharded {
		baselines.Report(b, "pubsubmode")
	} else {
		baselines.Keep(b, "pubsubmode")
	}
	if label == "cluster" {
		b.ReportMetric(float64(len(r.linkCount())), "connections")
	}
}
