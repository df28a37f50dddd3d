package chat_test

import (
	"context"
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

// BenchmarkSendRedisCost measures what one send costs Redis, on a private
// redis-server so no other client's work is counted: its CPU (INFO cpu,
// user + sys, per send), the scripts it runs (EVALSHA/EVAL calls) and the
// round trips the store makes (a pipeline counts once). Run with e.g.
// -run '^$' -bench SendRedisCost -benchtime 2000x.
func BenchmarkSendRedisCost(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: testutil.StartRedis(b)})
	b.Cleanup(func() { _ = rdb.Close() })
	trips := &tripCounter{}
	rdb.AddHook(trips)
	ctx := context.Background()
	keys := chat.Keys{Prefix: testutil.Prefix(b)}
	s := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100, SendRate: 1e6, SendBurst: 1e6}, time.Now)
	d := chat.Domain(testutil.Domain(b))
	send := func(i int) {
		a, c := chat.UserID(strconv.Itoa(i%50)), chat.UserID(strconv.Itoa(50+i%37))
		if _, _, err := s.Send(ctx, chat.SendRequest{Domain: d, From: a, To: c,
			Content: chat.Content{Type: chat.TypeText, Text: fmt.Sprint("hello ", i)}}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 100 { // warm: scripts loaded, keys exist
		send(i)
	}
	cpu0 := redisCPU(b, rdb)
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		b.Fatal(err)
	}
	trips.n.Store(0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		send(i)
	}
	b.StopTimer()
	n := float64(b.N)
	rt := float64(trips.n.Load())
	cpu := redisCPU(b, rdb) - cpu0
	scripts := cmdCalls(b, rdb, "evalsha") + cmdCalls(b, rdb, "eval")
	b.ReportMetric(cpu*1e6/n, "redis-cpu-us/send")
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

// cmdCalls is the calls of one command in INFO commandstats.
func cmdCalls(b *testing.B, rdb *redis.Client, cmd string) float64 {
	info := rdb.Info(context.Background(), "commandstats").Val()
	for _, line := range strings.Split(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if k, v, _ := strings.Cut(f, "="); k == "calls" {
				n, _ := strconv.ParseFloat(v, 64)
				return n
			}
		}
	}
	return 0
}
