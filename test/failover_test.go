package test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/chat"
	"parley/internal/testutil"
)

// foSend is one send of the failover load.
type foSend struct {
	pair   int
	text   string
	status int
	at     time.Time // when it was sent
	took   time.Duration
}

// failoverLoad sends from pairs users (user 2i+1 to 2i+2) at perPair
// sends/s each, through node(phase) (phase: 0 before the kill, 1 after),
// until stop is closed. Each send has its own client_id.
func failoverLoad(t *testing.T, nodes [2]*node, pairs int, perPair float64, phase func() int, stop <-chan struct{}) []foSend {
	var mu sync.Mutex
	var out []foSend
	var wg sync.WaitGroup
	for p := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from, to := 2*p+1, 2*p+2
			tick := time.NewTicker(time.Duration(float64(time.Second) / perPair))
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				ph := phase()
				n := nodes[ph]
				text := fmt.Sprintf("fo %d %d %d", p, ph, i)
				start := time.Now()
				r := n.send(t, n.tok(t, from, nil), fmt.Sprint(to),
					map[string]any{"type": "text", "text": text, "client_id": fmt.Sprintf("c%d-%d", p, i)})
				mu.Lock()
				out = append(out, foSend{pair: p, text: text, status: r.status, at: start, took: time.Since(start)})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// runFailover drives the load: phase 0 (through nodes[0], WAIT 1) for
// 2 s, then kill(), then phase 1 (through nodes[1], no WAIT: the promoted
// replica has no replica of its own) until 3 s of only 201s after the
// first 503 (or 25 s). It checks the guarantees and logs the figures.
func runFailover(t *testing.T, nodes [2]*node, kill func()) {
	const pairs, perPair = 3, 10.0 // 30 sends/s
	var mu sync.Mutex
	ph := 0
	phase := func() int { mu.Lock(); defer mu.Unlock(); return ph }
	stop := make(chan struct{})
	done := make(chan []foSend)
	go func() { done <- failoverLoad(t, nodes, pairs, perPair, phase, stop) }()
	time.Sleep(2 * time.Second)
	mu.Lock()
	ph = 1
	mu.Unlock()
	killedAt := time.Now()
	kill()
	// Watch the answers through a probe of our own: stop 3 s after the
	// sends came back.
	deadline := killedAt.Add(25 * time.Second)
	var failedOnce bool
	var okSince time.Time
	probe := nodes[1]
	for time.Now().Before(deadline) {
		r := probe.send(t, probe.tok(t, 99, nil), "98", map[string]any{"type": "text", "text": "probe"})
		switch {
		case r.status != http.StatusCreated:
			failedOnce, okSince = true, time.Time{}
		case okSince.IsZero():
			okSince = time.Now()
		}
		if failedOnce && !okSince.IsZero() && time.Since(okSince) > 3*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	res := <-done

	var pre, during, other []foSend
	var first503, last503 time.Time
	var slowest time.Duration
	for _, r := range res {
		slowest = max(slowest, r.took)
		switch {
		case r.at.Before(killedAt):
			pre = append(pre, r)
		case r.status == http.StatusServiceUnavailable:
			during = append(during, r)
			if first503.IsZero() || r.at.Before(first503) {
				first503 = r.at
			}
			if r.at.After(last503) {
				last503 = r.at.Add(r.took)
			}
		case r.status != http.StatusCreated:
			other = append(other, r)
		}
		if r.took > 1500*time.Millisecond {
			t.Errorf("send %q answered %d after %s, want < 1.5 s", r.text, r.status, r.took)
		}
	}
	for _, r := range other {
		t.Errorf("send %q answered %d, want 201 or 503", r.text, r.status)
	}
	window := time.Duration(0)
	if !first503.IsZero() {
		window = last503.Sub(killedAt)
	}
	// Resumed by themselves: the last sends of every pair were 201.
	lastOK := map[int]bool{}
	for _, r := range res {
		if r.at.After(killedAt) {
			lastOK[r.pair] = r.status == http.StatusCreated
		}
	}
	for p := range pairs {
		if !lastOK[p] {
			t.Errorf("pair %d: sends did not resume after the failover", p)
		}
	}
	// Every send acknowledged before the kill (with WAIT 1) is readable.
	lost := 0
	reader := nodes[1]
	for p := range pairs {
		var all strings.Builder // every page of the history
		for page := 1; page <= 20; page++ {
			h := reader.get(t, reader.tok(t, 2*p+2, nil), fmt.Sprintf("/api/user/%d?limit=100&page=%d", 2*p+1, page))
			if h.status != http.StatusOK {
				t.Fatalf("history of pair %d after failover: %d %s", p, h.status, h.raw)
			}
			if len(arr(t, h.obj, "messages")) == 0 {
				break
			}
			all.Write(h.raw)
		}
		for _, r := range pre {
			if r.pair == p && r.status == http.StatusCreated && !strings.Contains(all.String(), `"`+r.text+`"`) {
				lost++
				t.Errorf("send %q acknowledged (201) before the kill is gone after the failover", r.text)
			}
		}
	}
	preOK := 0
	for _, r := range pre {
		if r.status == http.StatusCreated {
			preOK++
		}
	}
	t.Logf("failover: %d sends (%d acknowledged before the kill, WAIT 1), %d answered 503, 503 window %s after the kill, slowest answer %s, lost %d",
		len(res), preOK, len(during), window.Round(time.Millisecond), slowest.Round(time.Millisecond), lost)
	if preOK == 0 {
		t.Error("no send acknowledged before the kill")
	}
}

// Sentinel: kill the primary under load; the failover client follows the
// promotion.
func TestFailoverSentinel(t *testing.T) {
	addrs, master := testutil.StartSentinel(t)
	env := map[string]string{"PARLEY_REDIS_SENTINEL_ADDRS": strings.Join(addrs, ","), "PARLEY_REDIS_SENTINEL_MASTER": master,
		"PARLEY_KEY_PREFIX": testutil.Prefix(t), "PARLEY_DEFAULT_DOMAIN": testutil.Domain(t), "PARLEY_JWT_SECRET": randomHex(t, 32)}
	plain := startServer(t, env)
	env["PARLEY_REDIS_WAIT_REPLICAS"] = "1"
	waiting := startServer(t, env)
	runFailover(t, [2]*node{waiting, plain}, func() {
		testutil.KillRedis(t, testutil.SentinelPrimary(t, addrs, master))
	})
}

// Cluster: kill the primary that owns the busiest conversation's slot.
func TestFailoverCluster(t *testing.T) {
	addrs := testutil.StartCluster(t)
	env := map[string]string{"PARLEY_REDIS_CLUSTER_ADDRS": strings.Join(addrs, ","),
		"PARLEY_KEY_PREFIX": testutil.Prefix(t), "PARLEY_DEFAULT_DOMAIN": testutil.Domain(t), "PARLEY_JWT_SECRET": randomHex(t, 32)}
	plain := startServer(t, env)
	env["PARLEY_REDIS_WAIT_REPLICAS"] = "1"
	waiting := startServer(t, env)
	conv, err := chat.NewConversation(chat.Domain(plain.domain), "1", "2")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cc := testutil.ClusterClient(t, addrs)
	slot, err := cc.ClusterKeySlot(ctx, chat.Keys{Prefix: plain.prefix}.DM(conv)).Result()
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 CLUSTER SLOTS answers on every Redis 7
	ranges, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, r := range ranges {
		if int64(r.Start) <= slot && slot <= int64(r.End) {
			victim = r.Nodes[0].Addr
		}
	}
	runFailover(t, [2]*node{waiting, plain}, func() {
		testutil.KillRedis(t, victim)
		t.Logf("killed %s (slot %d); promoted: %s", victim, slot,
			testutil.WaitPrimaryChange(t, addrs, int(slot), victim, 20*time.Second))
	})
}
