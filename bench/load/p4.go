package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

// seed sends n messages with the project's own store code, conc at a time;
// pick returns the sender and recipient of message i.
func seed(ctx context.Context, store *chat.Store, domain chat.Domain, n int, pick func(i int) (int, int)) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil {
					return
				}
				a, b := pick(i)
				_, _, err := store.Send(ctx, chat.SendRequest{Domain: domain, From: uid(a), To: uid(b),
					Content: chat.Content{Type: chat.TypeText, Text: "seed message " + strconv.Itoa(i)}})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	logf("  seeded %d messages in %.1fs (%.0f/s)", n, time.Since(start).Seconds(), float64(n)/time.Since(start).Seconds())
	return nil
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// p4case is one timed GET.
type p4case struct {
	kind, name string // kind "DM" or "inbox"; name e.g. "1000000 msgs, page 100000"
	size       int
	path       string
	token      string
	lat        latencies
}

// runP4 times page 1 and the last page of DMs and inboxes of growing size,
// against the smallest of each kind, over HTTP with rounds interleaved so
// drift hits every case alike.
func runP4(ctx context.Context, o opts, r *report) error {
	dms, err := parseSizes(o.p4Sizes)
	if err != nil {
		return fmt.Errorf("-p4-dm: %w", err)
	}
	inboxes, err := parseSizes(o.p4Inboxes)
	if err != nil {
		return fmt.Errorf("-p4-inbox: %w", err)
	}
	e, err := newEnv(ctx, o.redisURL, "p4")
	if err != nil {
		return err
	}
	defer e.close()
	opt, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return err
	}
	opt.PoolSize = 64
	srdb := redis.NewClient(opt)
	defer srdb.Close()
	store := chat.NewStore(srdb, e.keys(), chat.Limits{MaxText: 4000}, time.Now)
	d := chat.Domain(e.domain)
	const perPage = 10
	var cases []*p4case
	for i, n := range dms {
		a, b := 2*i+1, 2*i+2 // one conversation per size
		logf("P4: seeding a DM of %d messages", n)
		if err := seed(ctx, store, d, n, func(j int) (int, int) {
			if j%2 == 0 {
				return a, b
			}
			return b, a
		}); err != nil {
			return err
		}
		last := (n + perPage - 1) / perPage
		cases = append(cases, &p4case{kind: "DM", size: n, name: fmt.Sprintf("DM %d msgs, page 1", n),
			path: fmt.Sprintf("/api/user/%d?page=1&limit=%d", b, perPage), token: e.token(a)})
		if last > 1 {
			cases = append(cases, &p4case{kind: "DM", size: n, name: fmt.Sprintf("DM %d msgs, page %d (last)", n, last),
				path: fmt.Sprintf("/api/user/%d?page=%d&limit=%d", b, last, perPage), token: e.token(a)})
		}
	}
	for i, n := range inboxes {
		owner := 1_000_000 + i // the inbox owner; peers are distinct per inbox
		peerBase := 10_000_000 * (i + 1)
		logf("P4: seeding an inbox of %d conversations", n)
		if err := seed(ctx, store, d, n, func(j int) (int, int) { return owner, peerBase + j }); err != nil {
			return err
		}
		last := (n + perPage - 1) / perPage
		cases = append(cases, &p4case{kind: "inbox", size: n, name: fmt.Sprintf("inbox %d convs, page 1", n),
			path: fmt.Sprintf("/api/list?page=1&limit=%d", perPage), token: e.token(owner)})
		if last > 1 {
			cases = append(cases, &p4case{kind: "inbox", size: n, name: fmt.Sprintf("inbox %d convs, page %d (last)", n, last),
				path: fmt.Sprintf("/api/list?page=%d&limit=%d", last, perPage), token: e.token(owner)})
		}
	}

	nd, err := e.startNode()
	if err != nil {
		return err
	}
	defer nd.close()
	hc := &http.Client{Timeout: 10 * time.Second}
	get := func(c *p4case) (time.Duration, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, nd.url+c.path, nil)
		req.Header.Set("X-Auth-Token", c.token)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		body, err := io.ReadAll(resp.Body)
		took := time.Since(t0)
		_ = resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: status %d", c.path, resp.StatusCode)
		}
		return took, body, err
	}
	for _, c := range cases { // check every page is full before timing it
		_, body, err := get(c)
		if err != nil {
			return err
		}
		var page struct {
			Messages []json.RawMessage `json:"messages"`
			Entries  []json.RawMessage `json:"entries"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		if got := len(page.Messages) + len(page.Entries); got != min(perPage, c.size) {
			return fmt.Errorf("%s: %d items, want %d", c.name, got, min(perPage, c.size))
		}
	}
	logf("P4: timing %d rounds of %d requests", o.p4Rounds, len(cases))
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for range o.p4Rounds {
		order := slices.Clone(cases)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, c := range order {
			took, _, err := get(c)
			if err != nil {
				return err
			}
			c.lat = append(c.lat, took)
		}
	}
	base := map[string]float64{}
	for _, c := range cases {
		c.lat = c.lat.sorted()
		if _, ok := base[c.kind]; !ok { // the first case of a kind is its smallest page 1
			base[c.kind] = c.lat.pct(50)
			continue
		}
		r.addRatio("P4", c.name+" p50 vs smallest", "ms", c.lat.pct(50), base[c.kind], 1.2, false)
	}
	return nil
}
