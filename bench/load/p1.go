package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"parley/chat"
	"parley/config"
	"parley/server"
)

// p1Result is one closed-loop run.
type p1Result struct {
	ops, errs int64
	lat       latencies // sorted
	took      time.Duration
}

func (r p1Result) rate() float64 { return float64(r.ops) / r.took.Seconds() }

func (r p1Result) merge(o p1Result) p1Result {
	return p1Result{ops: r.ops + o.ops, errs: r.errs + o.errs, lat: append(r.lat, o.lat...), took: r.took + o.took}
}

// closedLoop runs conc workers calling op back to back for d.
func closedLoop(ctx context.Context, conc int, d time.Duration, op func(w int, rng *rand.Rand) error) p1Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ops, errs atomic.Int64
	lats := make([]latencies, conc)
	var wg sync.WaitGroup
	start := time.Now()
	var firstErr sync.Once
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := op(w, rng); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
						firstErr.Do(func() { logf("first error: %v", err) })
					}
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
				ops.Add(1)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var all latencies
	for _, l := range lats {
		all = append(all, l...)
	}
	return p1Result{ops: ops.Load(), errs: errs.Load(), lat: all.sorted(), took: took}
}

// pair picks two distinct users of 1..n.
func pair(rng *rand.Rand, n int) (int, int) {
	a := 1 + rng.IntN(n)
	b := 1 + rng.IntN(n-1)
	if b >= a {
		b++
	}
	return a, b
}

// runP1 compares POST /api/user/:id with the same send script called
// straight through go-redis (chat.Store.Send) at the same concurrency.
func runP1(ctx context.Context, o opts, r *report) error {
	base, parley, err := p1(ctx, o, o.p1Dur)
	if err != nil {
		return err
	}
	r.addRatio("P1", "sends/s", "1/s", parley.rate(), base.rate(), 0.5, true)
	r.addInfo("P1", "send latency p50", "ms", parley.lat.pct(50), base.lat.pct(50))
	r.addInfo("P1", "send latency p99", "ms", parley.lat.pct(99), base.lat.pct(99))
	r.addAbs("P1", "failed sends", "count", float64(parley.errs), float64(base.errs), 0)
	return nil
}

func p1(ctx context.Context, o opts, d time.Duration) (base, parley p1Result, err error) {
	e, err := newEnv(ctx, o.redisURL, "p1")
	if err != nil {
		return base, parley, err
	}
	defer e.close()
	n, err := e.startNode()
	if err != nil {
		return base, parley, err
	}
	defer n.close()
	users := o.p1Users
	tokens := e.tokens(users)

	// Baseline: the identical write (chat.Store.Send runs the same steps
	// with the same arguments) on a client with the server's options.
	brdb, err := server.OpenRedis(config.Config{RedisURL: o.redisURL})
	if err != nil {
		return base, parley, err
	}
	defer brdb.Close()
	store := chat.NewStore(brdb, e.keys(), chat.Limits{MaxText: 4000}, time.Now)
	sendBase := func(_ int, rng *rand.Rand) error {
		a, b := pair(rng, users)
		_, _, err := store.Send(ctx, chat.SendRequest{Domain: chat.Domain(e.domain), From: uid(a), To: uid(b),
			Content: chat.Content{Type: chat.TypeText, Text: "bench p1 " + strconv.Itoa(rng.IntN(1e9))}})
		return err
	}

	tr := &http.Transport{MaxIdleConns: o.p1Conns, MaxIdleConnsPerHost: o.p1Conns, MaxConnsPerHost: o.p1Conns}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	sendHTTP := httpSender(ctx, hc, n.url, tokens)
	// Alternate short rounds so that load from elsewhere on the machine
	// hits both sides alike.
	rounds := max(1, o.p1Rounds)
	logf("P1: %d connections, %d users, %s each for POST /api/user/:id and for chat.Store.Send, in %d alternating rounds",
		o.p1Conns, users, d, rounds)
	for range rounds {
		base = base.merge(closedLoop(ctx, o.p1Conns, d/time.Duration(rounds), sendBase))
		parley = parley.merge(closedLoop(ctx, o.p1Conns, d/time.Duration(rounds), sendHTTP))
	}
	base.lat, parley.lat = base.lat.sorted(), parley.lat.sorted()
	return base, parley, nil
}

// httpSender is P1's operation: a text message between two random users of
// tokens (1-based) through POST /api/user/:id on url, expecting 201.
func httpSender(ctx context.Context, hc *http.Client, url string, tokens []string) func(int, *rand.Rand) error {
	users := len(tokens) - 1
	return func(_ int, rng *rand.Rand) error {
		a, b := pair(rng, users)
		body := `{"type":"text","text":"bench p1 ` + strconv.Itoa(rng.IntN(1e9)) + `"}`
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/user/"+strconv.Itoa(b), strings.NewReader(body))
		req.Header.Set("X-Auth-Token", tokens[a])
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST status %d", resp.StatusCode)
		}
		return nil
	}
}
