package main

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// runP2c is P2 (o.p2Clients sockets, o.p2Rate sends/s) on a node process
// on its own Redis Cluster against the same on its own redis-server, in
// alternating runs (single, cluster, cluster, single).
func runP2c(ctx context.Context, o opts, r *report) error {
	single, cluster, err := p2c(ctx, o)
	if err != nil {
		return err
	}
	s, c := single, cluster
	name := func(f string) string { return fmt.Sprintf("%s, %d clients, cluster vs single", f, o.p2Clients) }
	r.addInfo("P2c", name("latency p50"), "ms", c.lat.pct(50), s.lat.pct(50))
	r.addInfo("P2c", name("latency p99"), "ms", c.lat.pct(99), s.lat.pct(99))
	perSend := func(x p2Result) float64 { return 1000 * x.redisCores * o.p2Dur.Seconds() / float64(x.sent) }
	r.addRatio("P2c", "Redis CPU per send, sum over primaries", "ms", perSend(c), perSend(s), 1.5, false)
	r.addInfo("P2c", "node CPU per send", "ms", 1000*c.nodeCores*o.p2Dur.Seconds()/float64(c.sent),
		1000*s.nodeCores*o.p2Dur.Seconds()/float64(s.sent))
	addDelivery(r, "P2c", s, c)
	return nil
}

// mergeP2 adds run b to a (latencies unsorted; cores averaged per run).
func mergeP2(a, b p2Result, runs int) p2Result {
	a.clients = b.clients
	a.sent += b.sent
	a.failed += b.failed
	a.skipped += b.skipped
	a.expected += b.expected
	a.delivered += b.delivered
	a.lost += b.lost
	a.dup += b.dup
	a.stray += b.stray
	a.dropped += b.dropped
	a.leaked += b.leaked
	a.lat = append(a.lat, b.lat...)
	a.post = append(a.post, b.post...)
	w := 1 / float64(runs)
	a.sendRate += w * b.sendRate
	a.deliveryRate += w * b.deliveryRate
	a.nodeCores += w * b.nodeCores
	a.toolCores += w * b.toolCores
	a.redisCores += w * b.redisCores
	return a
}

func p2c(ctx context.Context, o opts) (single, cluster p2Result, err error) {
	logf("P2c: starting a redis-server and a 3+3 Redis Cluster on free loopback ports")
	sp, err := startRedisProc(ctx)
	if err != nil {
		return single, cluster, err
	}
	defer sp.stop()
	cl, err := startCluster(ctx)
	if err != nil {
		return single, cluster, err
	}
	defer cl.stop()
	se := privateEnv("redis://"+sp.addr+"/0", nil)
	se.rdb = redis.NewClient(&redis.Options{Addr: sp.addr})
	ce := privateEnv("", cl.addrs())
	ce.rdb = redis.NewClient(&redis.Options{Addr: cl.primaries[0]})
	ce.primaries = cl.primaries
	defer func() {
		for _, e := range []*env{se, ce} {
			_ = e.rdb.Close()
			for _, c := range e.byNode {
				_ = c.Close()
			}
		}
	}()
	sn, err := se.startProc(ctx)
	if err != nil {
		return single, cluster, err
	}
	defer sn.close()
	cn, err := ce.startProc(ctx)
	if err != nil {
		return single, cluster, err
	}
	defer cn.close()
	for i, side := range []string{"single", "cluster", "cluster", "single"} {
		e, n := se, sn
		if side == "cluster" {
			e, n = ce, cn
		}
		logf("P2c run %d/4: %s", i+1, side)
		res, err := p2run(ctx, o, e, "P2c-"+side, n, n, o.p2Clients)
		if err != nil {
			return single, cluster, err
		}
		if side == "single" {
			single = mergeP2(single, res, 2)
		} else {
			cluster = mergeP2(cluster, res, 2)
		}
	}
	single.lat, single.post = single.lat.sorted(), single.post.sorted()
	cluster.lat, cluster.post = cluster.lat.sorted(), cluster.post.sorted()
	return single, cluster, nil
}
