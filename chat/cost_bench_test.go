package chat_test

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

// sendV1Lua is the single-script send of before the per-slot steps: the
// same-run baseline of BenchmarkSendRedisCost.
//
//go:embed testdata/send_v1.lua
var sendV1Lua string

// BenchmarkSendRedisCost measures what one send costs Redis, each
// sub-benchmark on its own private redis-server so no other client's work
// is counted: its CPU (INFO cpu, user + sys, per send), the commands it
// runs (INFO commandstats calls, those inside scripts included, EVALSHA
// and EVAL not), the scripts (EVALSHA/EVAL calls) and the round trips the
// client makes (a pipeline counts once). Sub-benchmarks: v1, the
// single-script send of before the steps (the same-run baseline); split,
// the send in per-slot steps; fused, the steps as one script
// (Limits.SingleNode). Run with e.g.
// -run '^$' -bench SendRedisCost -benchtime 3000x.
func BenchmarkSendRedisCost(b *testing.B) {
	b.Run("v1", func(b *testing.B) {
		script := redis.NewScript(sendV1Lua)
		benchSendCost(b, func(ctx context.Context, rdb *redis.Client, p string, i int) error {
			a, c := strconv.Itoa(i%50), strconv.Itoa(50+i%37)
			id := fmt.Sprintf("m%d", i)
			lo, hi := min(a, c), max(a, c)
			dm := p + "dm:" + lo + "-" + hi
			u := func(x, k string) string { return p + "u:" + x + ":" + k }
			msg := fmt.Sprintf(`{"id":%q,"author":%q,"epoch":%d,"type":"text","text":"hello %d"}`, id, a, time.Now().UnixMilli(), i)
			keys := []string{dm, dm + ":msgs", dm + ":seq", u(a, "inbox"), u(c, "inbox"),
				u(a, "evseq"), u(a, "events"), u(c, "evseq"), u(c, "events"), dm + ":time",
				u(a, "blocks"), u(c, "blocks"), u(a, "read"), u(a, "unread"), u(c, "unread"),
				u(a, "bucket"), u(a, "cid")}
			return script.Run(ctx, rdb, keys, id, msg, time.Now().UnixMilli(), "user-"+c, "user-"+a,
				c, a, 1000, 86400000, 1e6, 1e6, "", 0).Err()
		})
	})
	b.Run("split", func(b *testing.B) {
		benchStoreSend(b, chat.Limits{})
	})
	b.Run("fused", func(b *testing.B) {
		benchStoreSend(b, chat.Limits{SingleNode: true})
	})
	// With a notifier (event webhooks) that wants every send: the script
	// stops before done, Go notifies (here: no Redis work) and marks it
	// done. With one whose SendFilter rules the send out (an online
	// recipient): the send stays one script.
	b.Run("fused+notice", func(b *testing.B) {
		benchStoreSend(b, chat.Limits{SingleNode: true}, &filtering{want: true})
	})
	b.Run("fused+filtered", func(b *testing.B) {
		benchStoreSend(b, chat.Limits{SingleNode: true}, &filtering{want: false})
	})
}

// benchStoreSend measures Store.Send under limits (with a budget no send
// spends), telling n (at most one) of every op.
func benchStoreSend(b *testing.B, l chat.Limits, n ...chat.Notifier) {
	l.MaxText, l.SendRate, l.SendBurst = 100, 1e6, 1e6
	var s *chat.Store
	benchSendCost(b, func(ctx context.Context, rdb *redis.Client, p string, i int) error {
		if s == nil {
			s = chat.NewStore(rdb, chat.Keys{Prefix: p}, l, time.Now)
			for _, n := range n {
				s.SetNotifier(n)
			}
		}
		a, c := chat.UserID(strconv.Itoa(i%50)), chat.UserID(strconv.Itoa(50+i%37))
		_, _, err := s.Send(ctx, chat.SendRequest{Domain: "d", From: a, To: c,
			Content: chat.Content{Type: chat.TypeText, Text: fmt.Sprint("hello ", i)}})
		return err
	})
}

// benchSendCost runs send b.N times (after 100 to warm up) on a private
// redis-server and reports the cost per send.
func benchSendCost(b *testing.B, send func(ctx context.Context, rdb *redis.Client, prefix string, i int) error) {
	rdb := redis.NewClient(&redis.Options{Addr: testutil.StartRedis(b)})
	b.Cleanup(func() { _ = rdb.Close() })
	trips := &tripCounter{}
	rdb.AddHook(trips)
	ctx := context.Background()
	p := testutil.Prefix(b)
	for i := range 100 { // warm: scripts loaded, keys exist
		if err := send(ctx, rdb, p, i); err != nil {
			b.Fatal(err)
		}
	}
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	cpu0 := redisCPU(b, rdb)
	trips.n.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := send(ctx, rdb, p, i); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	rt := float64(trips.n.Load())
	cpu := redisCPU(b, rdb) - cpu0
	calls := cmdCalls(b, rdb)
	scripts := calls["evalsha"] + calls["eval"]
	var cmds float64
	for name, c := range calls {
		switch name {
		case "evalsha", "eval", "info", "config|resetstat", "config":
		default:
			cmds += c
		}
	}
	b.ReportMetric(cpu*1e6/n, "redis-cpu-us/send")
	b.ReportMetric(cmds/n, "cmds/send")
	b.ReportMetric(scripts/n, "scripts/send")
	b.ReportMetric(rt/n, "round-trips/send")
	if testing.Verbose() {
		b.Log(rdb.Info(ctx, "commandstats").Val())
	}
}

// tripCounter counts round trips to Redis: a command or a pipeline.
type tripCounter struct{ n atomic.Int64 }

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

// redisCPU is the server's CPU seconds so far (user + sys).
func redisCPU(b *testing.B, rdb *redis.Client) float64 {
	info := rdb.Info(context.Background(), "cpu").Val()
	var sum float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			sum += f
		}
	}
	return sum
}

// cmdCalls is the calls of each command in INFO commandstats.
func cmdCalls(b *testing.B, rdb *redis.Client) map[string]float64 {
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if k, v, _ := strings.Cut(f, "="); k == "calls" {
				out[name], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return out
}
