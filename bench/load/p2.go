package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// p2Result is one fixed-rate delivery run.
type p2Result struct {
	clients                int
	sent, failed, skipped  int64     // POSTs answered 201 / anything else / not sent: the server fell behind
	expected, delivered    int64     // deliveries: two per sent message (both parties' rooms)
	lost, dup, stray       int64     // expected but never seen; seen more than once; seen for a failed send
	dropped                int64     // client connections that ended during the run (closed by the server)
	leaked                 int64     // pub/sub channels under the run's prefix still subscribed after every client left
	lat                    latencies // send (before the POST) to receipt at the client
	post                   latencies // POST round trip of the successful sends: the send path alone
	sendRate, deliveryRate float64
	// cores kept busy while sending: the server node(s), this tool (senders
	// and clients), Redis (every client of the shared server)
	nodeCores, toolCores, redisCores float64
}

// runP2 measures delivery latency with o.p2Clients sockets against the same
// run with o.p2BaseClients, on one node.
func runP2(ctx context.Context, o opts, r *report, smoke bool) (big, base p2Result, err error) {
	e, err := newEnv(ctx, o.redisURL, "p2")
	if err != nil {
		return big, base, err
	}
	defer e.close()
	n, err := e.startProc(ctx) // its own process: 10 000 sockets on each side need their own descriptors
	if err != nil {
		return big, base, err
	}
	defer n.close()
	// -p2-base-clients 0: no baseline run (its column stays 0 or n/a).
	if o.p2BaseClients > 0 {
		if base, err = p2run(ctx, o, e, "P2", n, n, o.p2BaseClients); err != nil {
			return big, base, err
		}
	}
	if big, err = p2run(ctx, o, e, "P2", n, n, o.p2Clients); err != nil {
		return big, base, err
	}
	name := func(s string) string { return fmt.Sprintf("%s, %d vs %d clients", s, big.clients, base.clients) }
	if o.p2BaseClients == 0 {
		name = func(s string) string { return fmt.Sprintf("%s, %d clients (no baseline)", s, big.clients) }
	}
	r.addInfo("P2", name("latency p50"), "ms", big.lat.pct(50), base.lat.pct(50))
	if smoke {
		r.addInfo("P2", name("latency p99"), "ms", big.lat.pct(99), base.lat.pct(99))
	} else {
		r.addAbs("P2", name("latency p99"), "ms", big.lat.pct(99), base.lat.pct(99), 5)
	}
	r.addInfo("P2", name("latency p99.9"), "ms", big.lat.pct(99.9), base.lat.pct(99.9))
	addDelivery(r, "P2", base, big)
	return big, base, nil
}

func addDelivery(r *report, scenario string, base, big p2Result) {
	r.addInfo(scenario, "sends/s achieved", "1/s", big.sendRate, base.sendRate)
	r.addInfo(scenario, "deliveries (2 per send)", "count", float64(big.delivered), float64(base.delivered))
	r.addAbs(scenario, "lost deliveries", "count", float64(big.lost), float64(base.lost), 0)
	r.addAbs(scenario, "duplicated deliveries", "count", float64(big.dup), float64(base.dup), 0)
	r.addAbs(scenario, "client connections dropped by the server", "count", float64(big.dropped), float64(base.dropped), 0)
	r.addAbs(scenario, "failed sends + stray events", "count", float64(big.failed+big.stray), float64(base.failed+base.stray), 0)
	r.addAbs(scenario, "sends skipped (server behind)", "count", float64(big.skipped), float64(base.skipped), 0)
	r.addAbs(scenario, "subscriptions left after the clients closed", "count", float64(big.leaked), float64(base.leaked), 0)
	r.addInfo(scenario, "POST (send path alone) latency p50", "ms", big.post.pct(50), base.post.pct(50))
	r.addInfo(scenario, "POST (send path alone) latency p99", "ms", big.post.pct(99), base.post.pct(99))
	r.addInfo(scenario, "CPU cores busy while sending: server node(s)", "cores", big.nodeCores, base.nodeCores)
	r.addInfo(scenario, "CPU cores busy while sending: load tool", "cores", big.toolCores, base.toolCores)
	r.addInfo(scenario, "CPU cores busy while sending: Redis (shared)", "cores", big.redisCores, base.redisCores)
}

// runP2x runs P2 single-node (the baseline) and then the two-node version.
func runP2x(ctx context.Context, o opts, r *report) error {
	p2, _, err := runP2(ctx, o, r, false)
	if err != nil {
		return err
	}
	return runP2xAgainst(ctx, o, r, p2)
}

// runP2xAgainst runs two nodes on one Redis, senders on A and sockets on B,
// and compares with the single-node result single.
func runP2xAgainst(ctx context.Context, o opts, r *report, single p2Result) error {
	e, err := newEnv(ctx, o.redisURL, "p2x")
	if err != nil {
		return err
	}
	defer e.close()
	a, err := e.startProc(ctx)
	if err != nil {
		return err
	}
	defer a.close()
	b, err := e.startProc(ctx)
	if err != nil {
		return err
	}
	defer b.close()
	two, err := p2run(ctx, o, e, "P2x", a, b, o.p2Clients)
	if err != nil {
		return err
	}
	r.addInfo("P2x", "latency p50, 2 nodes vs 1", "ms", two.lat.pct(50), single.lat.pct(50))
	r.addRatio("P2x", "latency p99, 2 nodes vs 1", "ms", two.lat.pct(99), single.lat.pct(99), 2, false)
	r.addInfo("P2x", "latency p99.9, 2 nodes vs 1", "ms", two.lat.pct(99.9), single.lat.pct(99.9))
	addDelivery(r, "P2x", single, two)
	return nil
}

// p2run connects clients sockets (users 1..clients) to recv, POSTs
// o.p2Rate messages a second between random pairs to send for o.p2Dur,
// and checks that every message reached both parties exactly once. With
// BENCH_P2_CPU set it saves each node's CPU profile of the sending phase.
func p2run(ctx context.Context, o opts, e *env, tag string, send, recv *procNode, clients int) (p2Result, error) {
	res := p2Result{clients: clients}
	sendURL, recvURL := send.url, recv.url
	nodes := []*procNode{send}
	if recv != send {
		nodes = append(nodes, recv)
	}
	total := int(float64(o.p2Rate) * o.p2Dur.Seconds())
	pairs := make([]atomic.Int64, total)    // from<<32 | to, set before the POST
	counts := make([]atomic.Int32, 2*total) // [2i] sender's room, [2i+1] recipient's room
	okSend := make([]atomic.Bool, total)
	var delivered, stray atomic.Int64
	var mu sync.Mutex
	lat := make(latencies, 0, 2*total)
	runTag := []byte(`"text":"p2 ` + strconv.FormatInt(time.Now().UnixNano(), 36) + " ")

	onEvent := func(user int) func([]byte) {
		return func(msg []byte) {
			now := time.Now()
			if !bytes.HasPrefix(msg, []byte(`["message:new"`)) {
				return
			}
			i := bytes.Index(msg, runTag)
			if i < 0 {
				return
			}
			rest := msg[i+len(runTag):]
			end := bytes.IndexByte(rest, '"')
			if end < 0 {
				return
			}
			idxS, tsS, ok := strings.Cut(string(rest[:end]), " ")
			idx, err1 := strconv.Atoi(idxS)
			ts, err2 := strconv.ParseInt(tsS, 10, 64)
			if !ok || err1 != nil || err2 != nil || idx < 0 || idx >= total {
				return
			}
			p := pairs[idx].Load()
			from, to := int(p>>32), int(p&0xffffffff)
			switch user {
			case from:
				counts[2*idx].Add(1)
			case to:
				counts[2*idx+1].Add(1)
			default:
				stray.Add(1)
				return
			}
			delivered.Add(1)
			mu.Lock()
			lat = append(lat, now.Sub(time.Unix(0, ts)))
			mu.Unlock()
		}
	}

	logf("P2 run: connecting %d sockets to %s", clients, recvURL)
	tokens := e.tokens(clients)
	socks, err := dialMany(ctx, recvURL, tokens, 64, o.ips, onEvent)
	if err != nil {
		return res, err
	}
	defer closeAll(socks)
	time.Sleep(2 * time.Second) // let the connect storm settle
	var profiles sync.WaitGroup
	defer profiles.Wait()
	if file := os.Getenv("BENCH_P2_CPU"); file != "" {
		for i, n := range nodes {
			profiles.Add(1)
			go func() {
				defer profiles.Done()
				saveURL(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", n.admin, max(1, int(o.p2Dur.Seconds())-2)),
					fmt.Sprintf("%s.%s-%dc.node%d", file, tag, clients, i))
			}()
		}
	}
	cpu0 := sampleCPU(ctx, e, nodes)

	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var sent, failed atomic.Int64
	jobs := make(chan int, 256)
	var wg sync.WaitGroup
	var firstErr sync.Once
	posts := make([]latencies, 128)
	for w := range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for i := range jobs {
				a, b := pair(rng, clients)
				pairs[i].Store(int64(a)<<32 | int64(b))
				text := string(runTag[len(`"text":"`):]) + strconv.Itoa(i) + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
				body := `{"type":"text","text":"` + text + `"}`
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sendURL+"/api/user/"+strconv.Itoa(b), strings.NewReader(body))
				req.Header.Set("X-Auth-Token", tokens[a])
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						err = fmt.Errorf("POST status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { logf("first send error: %v", err) })
					continue
				}
				posts[w] = append(posts[w], time.Since(t0))
				okSend[i].Store(true)
				sent.Add(1)
			}
		}()
	}
	logf("P2 run: %d sends/s for %s between %d clients", o.p2Rate, o.p2Dur, clients)
	interval := time.Second / time.Duration(o.p2Rate)
	start := time.Now()
	// Open loop, bounded in time: a send whose slot comes while every
	// worker is busy and the queue is full is skipped and counted, never
	// queued past the run's end.
	var skipped int64
	end := start.Add(o.p2Dur)
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil || time.Now().After(end) {
			skipped += int64(total - i)
			break
		}
		select {
		case jobs <- i:
		default:
			skipped++
		}
	}
	close(jobs)
	wg.Wait()
	res.nodeCores, res.toolCores, res.redisCores = cpu0.cores(sampleCPU(ctx, e, nodes))
	res.skipped = skipped
	took := time.Since(start)
	res.sent, res.failed = sent.Load(), failed.Load()
	res.sendRate = float64(res.sent) / took.Seconds()
	res.expected = 2 * res.sent
	for deadline := time.Now().Add(10 * time.Second); delivered.Load() < res.expected && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate would arrive about as late as the last delivery
	for u, s := range socks {
		if s == nil {
			continue
		}
		if err := s.endErr(); err != nil {
			res.dropped++
			if res.dropped <= 3 {
				logf("dropped: user %d's connection ended: %v", u, err)
			}
		}
	}
	for i := range total {
		c0, c1 := counts[2*i].Load(), counts[2*i+1].Load()
		if !okSend[i].Load() {
			res.stray += int64(c0 + c1)
			continue
		}
		for side, c := range []int32{c0, c1} {
			switch {
			case c == 0:
				res.lost++
				if res.lost <= 5 {
					p := pairs[i].Load()
					u := []int64{p >> 32, p & 0xffffffff}[side]
					logf("lost: message %d from user %d to user %d never reached user %d (connection ended: %v)",
						i, p>>32, p&0xffffffff, u, socks[u].endErr() != nil)
				}
			case c > 1:
				res.dup += int64(c - 1)
			}
		}
	}
	res.stray += stray.Load()
	res.delivered = delivered.Load()
	res.deliveryRate = float64(res.delivered) / took.Seconds()
	mu.Lock()
	res.lat = lat.sorted()
	for _, p := range posts {
		res.post = append(res.post, p...)
	}
	res.post = res.post.sorted()
	mu.Unlock()
	closeAll(socks)
	res.leaked = leftSubscriptions(ctx, e, 10*time.Second)
	logf("P2 run: %d clients: sent %d failed %d skipped %d delivered %d/%d lost %d dup %d stray %d dropped %d leaked %d p50 %.2fms p99 %.2fms p99.9 %.2fms; POST p50 %.2fms p99 %.2fms; cores busy: nodes %.2f tool %.2f redis %.2f",
		clients, res.sent, res.failed, res.skipped, res.delivered, res.expected, res.lost, res.dup, res.stray, res.dropped, res.leaked,
		res.lat.pct(50), res.lat.pct(99), res.lat.pct(99.9), res.post.pct(50), res.post.pct(99), res.nodeCores, res.toolCores, res.redisCores)
	return res, nil
}

// leftSubscriptions waits up to wait for the node(s) to drop every pub/sub
// channel under the run's prefix once its clients have closed, and returns
// how many remain subscribed (plain and sharded): a connection whose
// cleanup never ran leaves its user's channel behind.
func leftSubscriptions(ctx context.Context, e *env, wait time.Duration) int64 {
	var left int64
	for deadline := time.Now().Add(wait); ; {
		left = 0
		for _, rdb := range e.pubsubNodes() {
			plain, err1 := rdb.PubSubChannels(ctx, e.prefix+"*").Result()
			sharded, err2 := rdb.PubSubShardChannels(ctx, e.prefix+"*").Result()
			if err1 != nil || err2 != nil {
				logf("counting subscriptions: %v %v", err1, err2)
				return -1
			}
			left += int64(len(plain) + len(sharded))
		}
		if left == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return left
		}
		time.Sleep(200 * time.Millisecond)
	}
}
