package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/server"
)

// backend is one Redis topology P1c drives: its own redis-server, or its
// own 3-primary + 3-replica Redis Cluster.
type backend struct {
	name      string
	primaries []string // where Redis CPU and commands are counted
	replicas  []string
	e         *env
	n         *node
	trips     *tripCounter
	tokens    []string
	hc        *http.Client
	tr        *http.Transport

	// accumulated over its rounds
	res                   p1Result
	cpu, replicaCPU       float64 // seconds of Redis CPU (user+sys), primaries / replicas
	procCPU               float64 // seconds of this process's CPU (the node, the tool and anything else in it)
	calls, rounds, stored int64   // commands (commandstats), client round trips, messages found in Redis
	events                int64   // per-user event log entries found in Redis
}

// tripCounter counts the commands and pipelines a client sends: network
// round trips (a pipeline or MULTI/EXEC block is one per node it reaches).
type tripCounter struct{ n atomic.Int64 }

func (h *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// count hooks h on every connection-level client of rdb: each cluster node's
// client, or the single client.
func (h *tripCounter) count(rdb redis.UniversalClient) {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		cc.OnNewNode(func(c *redis.Client) { c.AddHook(h) })
		return
	}
	rdb.AddHook(h)
}

// redisNodeStats is one redis-server's used CPU (seconds) and commands run
// (commandstats calls, scripts' inner commands included; INFO, CLUSTER and
// PING, which this tool and the cluster client send, left out).
func redisNodeStats(ctx context.Context, addr string) (cpu float64, calls int64, err error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	info, err := c.Info(ctx, "cpu", "commandstats").Result()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_user" || k == "used_cpu_sys":
			x, _ := strconv.ParseFloat(v, 64)
			cpu += x
		case strings.HasPrefix(k, "cmdstat_"):
			name := strings.TrimPrefix(k, "cmdstat_")
			if name == "info" || name == "ping" || strings.HasPrefix(name, "cluster") {
				continue
			}
			calls0, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
			n, _ := strconv.ParseInt(calls0, 10, 64)
			calls += n
		}
	}
	return cpu, calls, nil
}

func sumStats(ctx context.Context, addrs []string) (cpu float64, calls int64, err error) {
	for _, a := range addrs {
		c, n, err := redisNodeStats(ctx, a)
		if err != nil {
			return 0, 0, fmt.Errorf("INFO on %s: %w", a, err)
		}
		cpu, calls = cpu+c, calls+n
	}
	return cpu, calls, nil
}

// round drives b for d and adds what it cost to b's totals.
func (b *backend) round(ctx context.Context, conc int, d time.Duration) error {
	cpu0, calls0, err := sumStats(ctx, b.primaries)
	if err != nil {
		return err
	}
	rep0, _, err := sumStats(ctx, b.replicas)
	if err != nil {
		return err
	}
	trips0 := b.trips.n.Load()
	proc0 := procCPU(os.Getpid())
	res := closedLoop(ctx, conc, d, httpSender(ctx, b.hc, b.n.url, b.tokens))
	b.procCPU += procCPU(os.Getpid()) - proc0
	trips1 := b.trips.n.Load()
	cpu1, calls1, err := sumStats(ctx, b.primaries)
	if err != nil {
		return err
	}
	rep1, _, err := sumStats(ctx, b.replicas)
	if err != nil {
		return err
	}
	b.res = b.res.merge(res)
	b.cpu += cpu1 - cpu0
	b.replicaCPU += rep1 - rep0
	b.calls += calls1 - calls0
	b.rounds += trips1 - trips0
	logf("P1c %s round: %d sends (%.0f/s), %d failed, Redis CPU %.3f ms/send, %.1f commands/send, %.2f round trips/send",
		b.name, res.ops, res.rate(), res.errs, 1000*(cpu1-cpu0)/float64(res.ops), float64(calls1-calls0)/float64(res.ops),
		float64(trips1-trips0)/float64(res.ops))
	return nil
}

// count finds what the runs left in Redis: messages (the sum of every
// conversation's seq) and event log entries (the sum of every user's event
// seq), scanning every primary.
func (b *backend) count(ctx context.Context) error {
	for _, a := range b.primaries {
		c := redis.NewClient(&redis.Options{Addr: a})
		iter := c.Scan(ctx, 0, b.e.prefix+"*seq", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			v, err := c.Get(ctx, k).Int64()
			if err != nil {
				continue // not a counter
			}
			switch {
			case strings.HasSuffix(k, ":events:seq"):
				b.events += v
			case strings.HasSuffix(k, "}:seq"):
				b.stored += v
			}
		}
		err := iter.Err()
		_ = c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *backend) close() {
	if b.tr != nil {
		b.tr.CloseIdleConnections()
	}
	if b.n != nil {
		b.n.close()
	}
}

// privateEnv is an env on a Redis this tool started: nothing to clean up.
func privateEnv(redisURL string, clusterAddrs []string) *env {
	s := make([]byte, 32)
	_, _ = rand.Read(s)
	return &env{redisURL: redisURL, clusterAddrs: clusterAddrs, prefix: "bench:p1c:",
		secret: hex.EncodeToString(s), domain: "bench"}
}

func (b *backend) start(e *env, conns, users int) error {
	b.e = e
	cfg, err := e.config()
	if err != nil {
		return err
	}
	rdb, err := server.OpenRedis(cfg)
	if err != nil {
		return err
	}
	b.trips = &tripCounter{}
	b.trips.count(rdb)
	if b.n, err = startNodeOn(cfg, rdb); err != nil {
		_ = rdb.Close()
		return err
	}
	b.tokens = e.tokens(users)
	b.tr = &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	b.hc = &http.Client{Transport: b.tr, Timeout: 10 * time.Second}
	return nil
}

// runP1c is P1 (closed-loop POST /api/user/:id) on a local Redis Cluster
// against the same on a single redis-server, both started by the tool.
func runP1c(ctx context.Context, o opts, r *report) error {
	single, cluster, err := p1c(ctx, o)
	if err != nil {
		return err
	}
	c, s := cluster, single
	per := func(x float64, b *backend) float64 { return x / float64(b.res.ops) }
	r.addInfo("P1c", "sends/s, cluster vs single", "1/s", c.res.rate(), s.res.rate())
	r.addInfo("P1c", "send latency p50", "ms", c.res.lat.pct(50), s.res.lat.pct(50))
	r.addInfo("P1c", "send latency p99", "ms", c.res.lat.pct(99), s.res.lat.pct(99))
	r.addRatio("P1c", "Redis CPU per send, sum over primaries", "ms", per(1000*c.cpu, c), per(1000*s.cpu, s), 1.5, false)
	r.addInfo("P1c", "Redis CPU per send, replicas", "ms", per(1000*c.replicaCPU, c), per(1000*s.replicaCPU, s))
	r.addInfo("P1c", "Redis commands per send (commandstats)", "count", per(float64(c.calls), c), per(float64(s.calls), s))
	r.addInfo("P1c", "round trips per send (node to Redis)", "count", per(float64(c.rounds), c), per(float64(s.rounds), s))
	r.addAbs("P1c", "failed sends", "count", float64(c.res.errs), float64(s.res.errs), 0)
	r.addAbs("P1c", "lost or duplicated messages (201s vs stored)", "count",
		float64(absDiff(c.stored, c.res.ops)), float64(absDiff(s.stored, s.res.ops)), 0)
	r.addAbs("P1c", "event log entries off 2 per message", "count",
		float64(absDiff(c.events, 2*c.stored)), float64(absDiff(s.events, 2*s.stored)), 0)
	for _, b := range []*backend{s, c} {
		if tip := 1000 * b.cpu / float64(b.res.ops); tip > 0 {
			r.addNote(fmt.Sprintf("P1c %s: %.3f ms Redis CPU per send -> %.0f sends/s per shard core", b.name, tip, 1000/tip))
		}
	}
	return nil
}

// waitReplicaLinked waits until the primary at addr has a replica online.
func waitReplicaLinked(ctx context.Context, addr string, within time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	deadline := time.Now().Add(within)
	for {
		info, err := c.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "state=online") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no replica of %s online after %v (INFO replication: %q, %v)", addr, within, info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

// p1c starts a redis-server and a Redis Cluster, a node on each, and drives
// them in alternating rounds (A B B A ...), so that other load on the
// machine hits both alike.
func p1c(ctx context.Context, o opts) (single, cluster *backend, err error) {
	logf("P1c: starting a redis-server and a 3+3 Redis Cluster on free loopback ports")
	sp, err := startRedisProc(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer sp.stop()
	cl, err := startCluster(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer cl.stop()
	single = &backend{name: "single", primaries: []string{sp.addr}}
	if o.p1cReplica {
		_, port, _ := net.SplitHostPort(sp.addr)
		rp, err := startRedisProc(ctx, "--replicaof", "127.0.0.1", port)
		if err != nil {
			return nil, nil, err
		}
		defer rp.stop()
		if err := waitReplicaLinked(ctx, sp.addr, 10*time.Second); err != nil {
			return nil, nil, err
		}
		single.name, single.replicas = "single+replica", []string{rp.addr}
		logf("P1c: the single redis-server %s has a replica at %s", sp.addr, rp.addr)
	}
	cluster = &backend{name: "cluster", primaries: cl.primaries}
	for _, a := range cl.addrs() {
		if !strings.Contains(strings.Join(cl.primaries, " "), a) {
			cluster.replicas = append(cluster.replicas, a)
		}
	}
	defer single.close()
	defer cluster.close()
	if err := single.start(privateEnv("redis://"+sp.addr+"/0", nil), o.p1Conns, o.p1Users); err != nil {
		return nil, nil, err
	}
	if err := cluster.start(privateEnv("", cl.addrs()), o.p1Conns, o.p1Users); err != nil {
		return nil, nil, err
	}
	rounds := max(1, o.p1Rounds)
	d := o.p1Dur / time.Duration(rounds)
	logf("P1c: %d connections, %d users, %s on each side in %d rounds of %s (A B B A ...)", o.p1Conns, o.p1Users, o.p1Dur, rounds, d)
	for i := range rounds {
		order := []*backend{single, cluster}
		if i%2 == 1 {
			order = []*backend{cluster, single}
		}
		for _, b := range order {
			if err := b.round(ctx, o.p1Conns, d); err != nil {
				return nil, nil, err
			}
		}
	}
	single.res.lat, cluster.res.lat = single.res.lat.sorted(), cluster.res.lat.sorted()
	time.Sleep(200 * time.Millisecond) // a send the client gave up on may still be finishing
	for _, b := range []*backend{single, cluster} {
		if err := b.count(ctx); err != nil {
			return nil, nil, err
		}
		logf("P1c %s: %d sends acknowledged, %d messages and %d event log entries in Redis", b.name, b.res.ops, b.stored, b.events)
	}
	return single, cluster, nil
}
