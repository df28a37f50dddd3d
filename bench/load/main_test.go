package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"parley/internal/testutil"
)

// TestMain lets the test binary stand in for the tool binary: the scenarios
// start their Parley nodes as os.Executable() nodeCommand.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == nodeCommand {
		if err := runNode(); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testutil.Reporting(m).Run())
}

// smallOpts are the flag defaults scaled down to a few seconds.
func smallOpts(t *testing.T) opts {
	return opts{redisURL: testutil.RedisURL(t), ips: &sourceIPs{},
		p1Conns: 4, p1Users: 50, p1Rounds: 2, p1Dur: 2 * time.Second,
		p2Clients: 20, p2BaseClients: 10, p2Rate: 50, p2Dur: 2 * time.Second}
}

// TestP2WithoutBaseline: -p2-base-clients 0 means no baseline run (it
// panicked in pair with rand.IntN(0)); the 20-client run still delivers
// every message exactly once.
func TestP2WithoutBaseline(t *testing.T) {
	testutil.NeedRealRedis(t, "sharded pub/sub, as the load tool's nodes use it")
	o := smallOpts(t)
	o.p2BaseClients = 0
	r := &report{}
	big, base, err := runP2(context.Background(), o, r, true)
	if err != nil {
		t.Fatal(err)
	}
	if base.clients != 0 || base.sent != 0 {
		t.Errorf("baseline ran: %d clients, %d sent", base.clients, base.sent)
	}
	if big.sent == 0 || big.lost != 0 || big.dup != 0 || big.failed != 0 {
		t.Errorf("20-client run: sent %d lost %d dup %d failed %d", big.sent, big.lost, big.dup, big.failed)
	}
	for _, f := range r.figures {
		if strings.Contains(f.name, " vs 0 clients") {
			t.Errorf("figure compares with an empty baseline: %s", f.line())
		}
	}
}

func TestCheckOpts(t *testing.T) {
	good := opts{redisURL: "redis://127.0.0.1:6379/0", p1Conns: 50, p1Users: 1000, p1Rounds: 4, p1Dur: time.Second,
		p2Clients: 10000, p2BaseClients: 10, p2Rate: 2000, p2Dur: time.Second}
	if err := checkOpts(good); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	noBase := good
	noBase.p2BaseClients = 0
	if err := checkOpts(noBase); err != nil {
		t.Fatalf("-p2-base-clients 0 rejected: %v", err)
	}
	for _, c := range []struct {
		flag string
		set  func(*opts)
	}{
		{"-p1-conns", func(o *opts) { o.p1Conns = 0 }},
		{"-p1-users", func(o *opts) { o.p1Users = 1 }},
		{"-p1-rounds", func(o *opts) { o.p1Rounds = 0 }},
		{"-p1-dur", func(o *opts) { o.p1Dur = 0 }},
		{"-p2-clients", func(o *opts) { o.p2Clients = 1 }},
		{"-p2-base-clients", func(o *opts) { o.p2BaseClients = 1 }},
		{"-p2-base-clients", func(o *opts) { o.p2BaseClients = -3 }},
		{"-p2-rate", func(o *opts) { o.p2Rate = 0 }},
		{"-p2-dur", func(o *opts) { o.p2Dur = -time.Second }},
		{"-redis", func(o *opts) { o.redisURL = "" }},
	} {
		o := good
		c.set(&o)
		err := checkOpts(o)
		if err == nil || !strings.Contains(err.Error(), c.flag+" ") {
			t.Errorf("%s: got %v, want an error naming the flag", c.flag, err)
		}
	}
}

// TestP1cOnClusterAndSingle runs P1c briefly: both topologies take sends,
// lose or repeat none and yield every figure.
func TestP1cOnClusterAndSingle(t *testing.T) {
	testutil.NeedRedisCluster(t)
	o := smallOpts(t)
	single, cluster, err := p1c(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*backend{single, cluster} {
		if b.res.ops == 0 || b.res.errs != 0 {
			t.Errorf("%s: %d sends, %d failed", b.name, b.res.ops, b.res.errs)
		}
		if b.stored != b.res.ops || b.events != 2*b.stored {
			t.Errorf("%s: %d sends acknowledged, %d messages and %d events stored (want equal, 2 per message)",
				b.name, b.res.ops, b.stored, b.events)
		}
		if b.cpu <= 0 || b.calls < b.res.ops || b.rounds < b.res.ops || len(b.res.lat) == 0 {
			t.Errorf("%s: missing figures: cpu %v s, %d commands, %d round trips, %d latencies",
				b.name, b.cpu, b.calls, b.rounds, len(b.res.lat))
		}
	}
	if len(cluster.primaries) != 3 || len(cluster.replicas) != 3 {
		t.Errorf("cluster: primaries %v replicas %v", cluster.primaries, cluster.replicas)
	}
	if cluster.replicaCPU <= 0 {
		t.Errorf("cluster replicas used no CPU: %v", cluster.replicaCPU)
	}
}

// TestP1wDeliversEveryWebhook runs P1w briefly: both sides take sends,
// and every send of the webhooks-on side reaches the platform once,
// signed.
func TestP1wDeliversEveryWebhook(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("P1w starts its own redis-servers: install redis-server (apt-get install redis-server)")
	}
	o := smallOpts(t)
	off, on, w, err := p1w(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*backend{off, on} {
		if b.res.ops == 0 || b.res.errs != 0 || b.cpu <= 0 {
			t.Errorf("%s: %d sends, %d failed, %v s Redis CPU", b.name, b.res.ops, b.res.errs, b.cpu)
		}
	}
	if int64(w.distinct) != on.res.ops || w.repeats != 0 || w.bad != 0 || len(w.delay) != w.distinct {
		t.Errorf("webhooks: %d distinct for %d sends, %d repeats, %d bad signatures, %d delays",
			w.distinct, on.res.ops, w.repeats, w.bad, len(w.delay))
	}
}

// TestP2cOnClusterAndSingle runs P2c small: both topologies deliver every
// message to both parties exactly once and yield Redis CPU figures.
func TestP2cOnClusterAndSingle(t *testing.T) {
	testutil.NeedRedisCluster(t)
	o := smallOpts(t)
	single, cluster, err := p2c(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]p2Result{"single": single, "cluster": cluster} {
		if r.sent == 0 || r.lost != 0 || r.dup != 0 || r.failed != 0 || r.stray != 0 || r.dropped != 0 || r.leaked != 0 {
			t.Errorf("%s: sent %d lost %d dup %d failed %d stray %d dropped %d leaked %d", name,
				r.sent, r.lost, r.dup, r.failed, r.stray, r.dropped, r.leaked)
		}
		if r.redisCores <= 0 || len(r.lat) == 0 {
			t.Errorf("%s: no figures: redis cores %v, %d latencies", name, r.redisCores, len(r.lat))
		}
	}
}
