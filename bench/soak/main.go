// Command soak runs Parley in-process on a real Redis under mixed load —
// sends, inbox lists, histories and 1000 websocket sockets receiving the
// resulting events — for a configurable time. Every interval it samples
// the process's RSS, goroutines, open file descriptors and error counts and
// prints a table row. It exits non-zero if any error appears, a socket
// drops, or a resource keeps growing (see -help and README "Hardening").
//
//	go run ./bench/soak -duration 60s
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/auth"
	"parley/config"
	"parley/internal/sioclient"
	"parley/server"
)

type options struct {
	duration, interval time.Duration
	sockets, senders   int
	redisURL           string
	goroutineGrowth    float64
	fdGrowth           float64
	rssGrowth          float64
	maxDropped         int64
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long to run the load")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "sampling interval")
	flag.IntVar(&o.sockets, "sockets", 1000, "websocket sockets kept connected (one user each)")
	flag.IntVar(&o.senders, "senders", 8, "concurrent REST clients")
	flag.StringVar(&o.redisURL, "redis", "", "Redis URL (default $PARLEY_TEST_REDIS_URL, else redis://127.0.0.1:6379/0)")
	flag.Float64Var(&o.goroutineGrowth, "max-goroutine-growth", 1.5, "fail if the last goroutine sample exceeds this times the first sample after warm-up")
	flag.Float64Var(&o.fdGrowth, "max-fd-growth", 1.5, "same rule for open file descriptors")
	flag.Float64Var(&o.rssGrowth, "max-rss-growth", 2, "same rule for resident memory")
	flag.Int64Var(&o.maxDropped, "max-dropped", 0, "socket drops tolerated (each is still reported)")
	flag.Parse()
	if o.redisURL == "" {
		o.redisURL = os.Getenv("PARLEY_TEST_REDIS_URL")
	}
	if o.redisURL == "" {
		o.redisURL = "redis://127.0.0.1:6379/0"
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

// counters are the load's running totals.
type counters struct {
	sends, lists, histories, events atomic.Int64
	errors, dropped                 atomic.Int64
	mu                              sync.Mutex
	firstErrs                       []string
}

func (c *counters) fail(format string, args ...any) {
	c.errors.Add(1)
	fmt.Fprintf(os.Stderr, "soak: %s error: %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.firstErrs) < 10 {
		c.firstErrs = append(c.firstErrs, fmt.Sprintf(format, args...))
	}
}

type sample struct {
	at                                    time.Duration
	rssKB                                 int64
	goroutines, fds                       int
	sends, lists, histories, events, errs int64
	socketsAlive                          int
}

func run(o options, out io.Writer) error {
	raiseFDLimit(o.sockets*3 + 1024)
	prefix := "parleysoak:" + randomHex(6) + ":"
	secret := randomHex(32)
	cfg, err := config.Load(map[string]string{
		"PARLEY_REDIS_URL": o.redisURL, "PARLEY_KEY_PREFIX": prefix, "PARLEY_DEFAULT_DOMAIN": "soak",
		"PARLEY_JWT_SECRET": secret, "PARLEY_LOG_LEVEL": "error", "PARLEY_HTTP_ADDR": "127.0.0.1:0",
		"PARLEY_SEND_RATE": "0", "PARLEY_WRITE_RATE": "0", // the soak drives a few users hard
	})
	if err != nil {
		return err
	}
	rdb, err := server.OpenRedis(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	defer cleanup(rdb.(*redis.Client), prefix) // a URL opens a single-node client
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := server.New(cfg, log, rdb)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = hs.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "soak: parley at %s, redis %s, prefix %s, %d sockets, %d senders, %s, sample every %s\n",
		base, redactURL(o.redisURL), prefix, o.sockets, o.senders, o.duration, o.interval)

	users := max(o.sockets, 2)
	tokens := make([]string, users+1)
	for u := 1; u <= users; u++ {
		if tokens[u], err = auth.SignHS256([]byte(secret), map[string]any{"user_id": u, "exp": time.Now().Add(24 * time.Hour).Unix()}); err != nil {
			return err
		}
	}

	var c counters
	socks, err := dialAll(base, tokens[1:o.sockets+1], &c)
	if err != nil {
		return err
	}
	alive := func() int {
		n := 0
		for _, s := range socks {
			if s.alive.Load() {
				n++
			}
		}
		return n
	}

	// ctx only stops the loop; requests run to completion, so the end of
	// the run does not cancel in-flight requests (which the server would
	// rightly log as failed).
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.senders * 2}}
	var wg sync.WaitGroup
	for w := range o.senders {
		wg.Go(func() { drive(ctx, hc, base, tokens, users, w, &c) })
	}

	start := time.Now()
	var samples []sample
	take := func() {
		s := sample{at: time.Since(start).Round(time.Second), rssKB: rssKB(), goroutines: runtime.NumGoroutine(), fds: openFDs(),
			sends: c.sends.Load(), lists: c.lists.Load(), histories: c.histories.Load(), events: c.events.Load(),
			errs: c.errors.Load(), socketsAlive: alive()}
		samples = append(samples, s)
		fmt.Fprintf(out, "%8s %10d %10d %6d %9d %9d %9d %10d %6d %7d\n", s.at, s.rssKB, s.goroutines, s.fds,
			s.sends, s.lists, s.histories, s.events, s.errs, s.socketsAlive)
	}
	fmt.Fprintf(out, "%8s %10s %10s %6s %9s %9s %9s %10s %6s %7s\n", "t", "rss_kB", "goroutines", "fds", "sends", "lists", "histories", "events", "errors", "sockets")
	take()
	tick := time.NewTicker(o.interval)
loop:
	for {
		select {
		case <-tick.C:
			take()
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	wg.Wait()
	take()
	hc.CloseIdleConnections()

	for _, s := range socks {
		s.close()
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	srv.Close()
	_ = hs.Shutdown(sctx)

	return judge(o, samples, &c, &logBuf, &logMu, out)
}

// judge applies the pass rule. The first sample after warm-up is sample 1
// (one interval in: sockets connected, pools and caches filled); the last
// sample is taken after the load stopped but before sockets close. A
// resource "grows without bound" when the last sample exceeds the
// warm-up sample by the configured factor.
func judge(o options, samples []sample, c *counters, logBuf *bytes.Buffer, logMu *sync.Mutex, out io.Writer) error {
	var problems []string
	if n := c.errors.Load() - c.dropped.Load(); n > 0 {
		c.mu.Lock()
		problems = append(problems, fmt.Sprintf("%d errors, first: %s", n, strings.Join(c.firstErrs, "; ")))
		c.mu.Unlock()
	}
	if n := c.dropped.Load(); n > o.maxDropped {
		problems = append(problems, fmt.Sprintf("%d sockets dropped (limit %d)", n, o.maxDropped))
	} else if n > 0 {
		fmt.Fprintf(out, "soak: WARNING: %d sockets dropped (tolerated by -max-dropped %d)\n", n, o.maxDropped)
	}
	logMu.Lock()
	if logBuf.Len() > 0 {
		problems = append(problems, "server logged errors: "+firstLine(logBuf.String()))
	}
	logMu.Unlock()
	if len(samples) >= 3 {
		warm, last := samples[1], samples[len(samples)-1]
		check := func(name string, w, l int64, factor float64) {
			ratio := float64(l) / float64(max(w, 1))
			fmt.Fprintf(out, "soak: %-10s warm-up %d, last %d, growth x%.2f (limit x%.2f)\n", name, w, l, ratio, factor)
			if ratio > factor {
				problems = append(problems, fmt.Sprintf("%s grew x%.2f (%d -> %d), limit x%.2f", name, ratio, w, l, factor))
			}
		}
		check("goroutines", int64(warm.goroutines), int64(last.goroutines), o.goroutineGrowth)
		check("fds", int64(warm.fds), int64(last.fds), o.fdGrowth)
		check("rss_kB", warm.rssKB, last.rssKB, o.rssGrowth)
	} else {
		fmt.Fprintln(out, "soak: too few samples for the growth rule (need duration >= 2 intervals)")
	}
	last := samples[len(samples)-1]
	fmt.Fprintf(out, "soak: %d sends, %d lists, %d histories, %d socket events, %d errors\n", last.sends, last.lists, last.histories, last.events, last.errs)
	if last.sends == 0 {
		problems = append(problems, "no sends completed")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// drive is one REST client: sends between random users, with an inbox
// list and a history read every few sends.
func drive(ctx context.Context, hc *http.Client, base string, tokens []string, users, w int, c *counters) {
	rng := mrand.New(mrand.NewPCG(uint64(w), 42))
	for i := 0; ctx.Err() == nil; i++ {
		from := 1 + rng.IntN(users)
		to := 1 + rng.IntN(users-1)
		if to >= from {
			to++
		}
		body := fmt.Sprintf(`{"type":"text","text":"soak %d-%d"}`, w, i)
		if !request(ctx, hc, c, "POST", base+"/api/user/"+strconv.Itoa(to), tokens[from], body, http.StatusCreated) {
			continue
		}
		c.sends.Add(1)
		if i%4 == 0 && request(ctx, hc, c, "GET", base+"/api/list?limit=20", tokens[from], "", http.StatusOK) {
			c.lists.Add(1)
		}
		if i%4 == 2 && request(ctx, hc, c, "GET", base+"/api/user/"+strconv.Itoa(to)+"?limit=20", tokens[from], "", http.StatusOK) {
			c.histories.Add(1)
		}
	}
}

func request(ctx context.Context, hc *http.Client, c *counters, method, url, token, body string, want int) bool {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, url, rd)
	if err != nil {
		c.fail("%s %s: %v", method, url, err)
		return false
	}
	req.Header.Set("X-Auth-Token", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.fail("%s %s: %v", method, url, err)
		}
		return false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.fail("%s %s: %d %s", method, url, resp.StatusCode, raw)
		return false
	}
	return true
}

// socket is one connected client that counts its events.
type socket struct {
	cl     *sioclient.Client
	alive  atomic.Bool
	closed atomic.Bool
}

func (s *socket) close() {
	s.closed.Store(true)
	_ = s.cl.Close()
}

func dialAll(base string, tokens []string, c *counters) ([]*socket, error) {
	socks := make([]*socket, len(tokens))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i, tok := range tokens {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cl, err := sioclient.Dial(ctx, base, map[string]any{"token": tok}, nil)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("dial socket %d: %w", i+1, err)
				}
				mu.Unlock()
				return
			}
			s := &socket{cl: cl}
			s.alive.Store(true)
			socks[i] = s
			go func() {
				for range cl.Events {
					c.events.Add(1)
				}
				s.alive.Store(false)
				if !s.closed.Load() {
					c.dropped.Add(1)
					c.fail("socket %d dropped: %v", i+1, cl.Err())
				}
			}()
		})
	}
	wg.Wait()
	if firstErr != nil {
		for _, s := range socks {
			if s != nil {
				s.close()
			}
		}
		return nil, firstErr
	}
	return socks, nil
}

// raiseFDLimit lifts the soft RLIMIT_NOFILE towards want (bounded by the
// hard limit): every socket costs two descriptors in this process.
func raiseFDLimit(want int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur >= uint64(want) {
		return
	}
	lim.Cur = min(uint64(want), lim.Max)
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// rssKB reads VmRSS from /proc/self/status (client and server share the
// process; the load side is small and bounded).
func rssKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// cleanup removes the soak's keys (its own prefix only), a thousand per
// UNLINK: a long run leaves hundreds of thousands of keys in a shared Redis.
func cleanup(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+"*", 5000).Result()
		if err != nil {
			fmt.Fprintln(os.Stderr, "soak: cleanup:", err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			_ = rdb.Unlink(ctx, keys[:n]...).Err()
			keys = keys[n:]
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
