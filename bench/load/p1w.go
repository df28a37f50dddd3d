package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"parley/webhook"
)

// receiver is P1w's platform: it verifies each webhook's signature,
// answers 204 and keeps, per id, how often it came and how long after the
// message was created it arrived.
type receiver struct {
	secret []byte
	srv    *httptest.Server
	mu     sync.Mutex
	seen   map[string]int
	delay  latencies
	bad    int
}

func newReceiver(secret string) *receiver {
	r := &receiver{secret: []byte(secret), seen: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var p struct {
			ID      string `json:"id"`
			Created struct {
				Epoch int64 `json:"epoch"`
			} `json:"created"`
		}
		err := webhook.Verify(r.secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute)
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.seen[p.ID]++
		if r.seen[p.ID] == 1 {
			r.delay = append(r.delay, time.Since(time.UnixMilli(p.Created.Epoch)))
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	return r
}

// counts is distinct webhooks, repeats (deliveries beyond the first) and
// bad requests so far.
func (r *receiver) counts() (distinct, repeats, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.seen {
		distinct++
		repeats += n - 1
	}
	return distinct, repeats, r.bad
}

// p1wResult is what the platform saw of P1w's "on" side.
type p1wResult struct {
	distinct, repeats, bad int
	delay                  latencies // created -> received, first delivery of each
}

// p1w runs P1 with webhooks on (every recipient offline, so each send
// queues and delivers one message.new) and off, each node on its own
// redis-server, in alternating rounds, then waits for every webhook.
func p1w(ctx context.Context, o opts) (off, on *backend, w p1wResult, err error) {
	logf("P1w: starting two redis-servers (webhooks off / on) on free loopback ports")
	offRedis, err := startRedisProc(ctx)
	if err != nil {
		return nil, nil, w, err
	}
	defer offRedis.stop()
	onRedis, err := startRedisProc(ctx)
	if err != nil {
		return nil, nil, w, err
	}
	defer onRedis.stop()
	rcv := newReceiver("p1w-webhook-secret")
	defer rcv.srv.Close()
	off = &backend{name: "webhooks off", primaries: []string{offRedis.addr}}
	on = &backend{name: "webhooks on", primaries: []string{onRedis.addr}}
	defer off.close()
	defer on.close()
	onEnv := privateEnv("redis://"+onRedis.addr+"/0", nil)
	onEnv.extra = map[string]string{"PARLEY_WEBHOOK_URL": rcv.srv.URL, "PARLEY_WEBHOOK_SECRET": string(rcv.secret)}
	if err := off.start(privateEnv("redis://"+offRedis.addr+"/0", nil), o.p1Conns, o.p1Users); err != nil {
		return nil, nil, w, err
	}
	if err := on.start(onEnv, o.p1Conns, o.p1Users); err != nil {
		return nil, nil, w, err
	}
	rounds := max(1, o.p1Rounds)
	d := o.p1Dur / time.Duration(rounds)
	logf("P1w: %d connections, %d users (none connected: all offline), %s on each side in %d rounds (A B B A ...)", o.p1Conns, o.p1Users, o.p1Dur, rounds)
	for i := range rounds {
		order := []*backend{off, on}
		if i%2 == 1 {
			order = []*backend{on, off}
		}
		for _, b := range order {
			if err := b.round(ctx, o.p1Conns, d); err != nil {
				return nil, nil, w, err
			}
		}
	}
	off.res.lat, on.res.lat = off.res.lat.sorted(), on.res.lat.sorted()
	// Every acknowledged send of the "on" side queued one webhook: wait
	// for the platform to have them all.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n, _, _ := rcv.counts()
		if int64(n) >= on.res.ops || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.distinct, w.repeats, w.bad = rcv.counts()
	rcv.mu.Lock()
	w.delay = rcv.delay.sorted()
	rcv.mu.Unlock()
	logf("P1w: %d sends acknowledged with webhooks on, %d webhooks received (%d repeats, %d bad signatures)", on.res.ops, w.distinct, w.repeats, w.bad)
	return off, on, w, nil
}

// runP1w reports P1w: webhooks on against off, same run.
func runP1w(ctx context.Context, o opts, r *report) error {
	off, on, w, err := p1w(ctx, o)
	if err != nil {
		return err
	}
	per := func(x float64, b *backend) float64 { return x / float64(b.res.ops) }
	r.addInfo("P1w", "sends/s, webhooks on vs off", "1/s", on.res.rate(), off.res.rate())
	r.addInfo("P1w", "send latency p50", "ms", on.res.lat.pct(50), off.res.lat.pct(50))
	r.addInfo("P1w", "send latency p99", "ms", on.res.lat.pct(99), off.res.lat.pct(99))
	r.addInfo("P1w", "Redis CPU per send", "ms", per(1000*on.cpu, on), per(1000*off.cpu, off))
	r.addInfo("P1w", "Redis commands per send (commandstats)", "count", per(float64(on.calls), on), per(float64(off.calls), off))
	r.addInfo("P1w", "process CPU per send (node + load tool + receiver)", "ms", per(1000*on.procCPU, on), per(1000*off.procCPU, off))
	r.addAbs("P1w", "failed sends", "count", float64(on.res.errs), float64(off.res.errs), 0)
	r.addAbs("P1w", "webhooks lost (acknowledged sends without one)", "count", float64(max(0, on.res.ops-int64(w.distinct))), 0, 0)
	r.addAbs("P1w", "webhooks repeated (retries after a success)", "count", float64(w.repeats), 0, 0)
	r.addAbs("P1w", "webhooks with a bad signature", "count", float64(w.bad), 0, 0)
	r.addNote(fmt.Sprintf("P1w: %d webhooks delivered for %d acknowledged sends; created -> received p50 %.1f ms, p99 %.1f ms",
		w.distinct, on.res.ops, w.delay.pct(50), w.delay.pct(99)))
	return nil
}
