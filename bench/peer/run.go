package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// result is one system's run.
type result struct {
	system                     string
	clients                    int
	sent, failed, skipped      int64
	lost, dup, stray, dropped  int64
	lat                        []time.Duration // sorted: publish start to receipt
	serverCPU, redisCPU, toolS float64         // CPU seconds while sending
	cmds                       []cmdStat       // Redis commands run while sending, most time first
	took                       time.Duration
	rssPerConn                 float64 // KiB of server RSS per connected client, before sending
}

func (r result) pct(p float64) float64 {
	if len(r.lat) == 0 {
		return math.NaN()
	}
	i := max(0, min(int(math.Ceil(p/100*float64(len(r.lat))))-1, len(r.lat)-1))
	return float64(r.lat[i]) / float64(time.Millisecond)
}

// perMsg is CPU milliseconds per message sent.
func (r result) perMsg(sec float64) float64 {
	if r.sent == 0 {
		return math.NaN()
	}
	return 1000 * sec / float64(r.sent)
}

// procCPU is the CPU seconds (user+system) process pid has used.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// procRSS is the resident memory (VmRSS) of process pid in bytes, 0 if
// unreadable.
func procRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	return 0
}

// redisCPU is used_cpu_user+used_cpu_sys of the Redis server.
func redisCPU(ctx context.Context, rdb *redis.Client) float64 {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var sum float64
	for _, l := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			x, _ := strconv.ParseFloat(v, 64)
			sum += x
		}
	}
	return sum
}

// drive connects o.clients clients to s, publishes o.rate messages a second
// between random pairs for o.dur and checks that each reached both parties
// exactly once.
func drive(ctx context.Context, o opts, s *system, rdb *redis.Client, ips *sourceIPs) (result, error) {
	res := result{system: s.name, clients: o.clients}
	total := int(float64(o.rate) * o.dur.Seconds())
	pairs := make([]atomic.Int64, total)
	counts := make([]atomic.Int32, 2*total)
	okSend := make([]atomic.Bool, total)
	var delivered, stray atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, 2*total)
	tag := "peer" + strconv.FormatInt(time.Now().UnixNano(), 36)
	mark := []byte(tag + " ")

	onMsg := func(user int) func([]byte) {
		return func(msg []byte) {
			now := time.Now()
			i := bytes.Index(msg, mark)
			if i < 0 {
				return
			}
			rest := msg[i+len(mark):]
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
			switch user {
			case int(p >> 32):
				counts[2*idx].Add(1)
			case int(p & 0xffffffff):
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
	tokens := make([]string, o.clients+1)
	for i := 1; i <= o.clients; i++ {
		tokens[i] = s.token(i)
	}
	rss0 := procRSS(s.pid())
	t0 := time.Now()
	conns, err := s.dialAll(ctx, tokens, ips, 64, onMsg)
	if err != nil {
		return res, err
	}
	defer closeAll(conns)
	logf("%s: %d clients connected in %.1fs", s.name, o.clients, time.Since(t0).Seconds())
	time.Sleep(2 * time.Second)
	// The same method for both servers: RSS with every client connected
	// and idle for 2 s, less RSS before the first connected (no forced GC:
	// neither server is asked to collect).
	res.rssPerConn = (procRSS(s.pid()) - rss0) / float64(o.clients) / 1024
	logf("%s: RSS per idle connection %.1f KiB", s.name, res.rssPerConn)

	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var sent, failed atomic.Int64
	jobs := make(chan int, 256)
	var wg sync.WaitGroup
	var firstErr sync.Once
	srv0, rds0, tool0, cmds0 := procCPU(s.pid()), redisCPU(ctx, rdb), procCPU(os.Getpid()), commandStats(ctx, rdb)
	for w := range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for i := range jobs {
				a := 1 + rng.IntN(o.clients)
				b := 1 + rng.IntN(o.clients-1)
				if b >= a {
					b++
				}
				pairs[i].Store(int64(a)<<32 | int64(b))
				text := tag + " " + strconv.Itoa(i) + " " + strconv.FormatInt(time.Now().UnixNano(), 10)
				if err := s.publish(ctx, hc, tokens, a, b, text); err != nil {
					failed.Add(1)
					firstErr.Do(func() { logf("%s: first publish error: %v", s.name, err) })
					continue
				}
				okSend[i].Store(true)
				sent.Add(1)
			}
		}()
	}
	var profiled sync.WaitGroup
	if s.pprof != "" && o.profile != "" {
		profiled.Add(1)
		go func() {
			defer profiled.Done()
			if err := saveProfile(ctx, s.pprof, o.profile, max(1, int(o.dur.Seconds())-1)); err != nil {
				logf("%s: CPU profile: %v", s.name, err)
			}
		}()
	}
	interval := time.Second / time.Duration(o.rate)
	start := time.Now()
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		// Every slot is offered (enqueued or, all senders busy, skipped
		// at once), so the loop keeps the schedule; a slot whose sleep
		// overran the window's end is still one of its total.
		if ctx.Err() != nil {
			res.skipped += int64(total - i)
			break
		}
		select {
		case jobs <- i:
		default:
			res.skipped++
		}
	}
	close(jobs)
	wg.Wait()
	profiled.Wait()
	res.took = time.Since(start)
	res.serverCPU = procCPU(s.pid()) - srv0
	res.redisCPU = redisCPU(ctx, rdb) - rds0
	res.toolS = procCPU(os.Getpid()) - tool0
	res.cmds = commandStats(ctx, rdb).since(cmds0)
	res.sent, res.failed = sent.Load(), failed.Load()
	for deadline := time.Now().Add(10 * time.Second); delivered.Load() < 2*res.sent && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	for _, c := range conns {
		if c != nil && c.endErr() != nil {
			res.dropped++
		}
	}
	for i := range total {
		c0, c1 := counts[2*i].Load(), counts[2*i+1].Load()
		if !okSend[i].Load() {
			res.stray += int64(c0 + c1)
			continue
		}
		for _, c := range []int32{c0, c1} {
			switch {
			case c == 0:
				res.lost++
			case c > 1:
				res.dup += int64(c - 1)
			}
		}
	}
	res.stray += stray.Load()
	mu.Lock()
	res.lat = slices.Clone(lat)
	mu.Unlock()
	slices.Sort(res.lat)
	logf("%s: sent %d failed %d skipped %d lost %d dup %d stray %d dropped %d p50 %.2fms p99 %.2fms; CPU/msg server %.3fms redis %.3fms tool %.3fms",
		s.name, res.sent, res.failed, res.skipped, res.lost, res.dup, res.stray, res.dropped, res.pct(50), res.pct(99),
		res.perMsg(res.serverCPU), res.perMsg(res.redisCPU), res.perMsg(res.toolS))
	var top []string
	for _, c := range res.cmds[:min(len(res.cmds), 8)] {
		top = append(top, fmt.Sprintf("%s %.2f calls %.1fus", c.name, float64(c.calls)/float64(max(res.sent, 1)), c.usec/float64(max(res.sent, 1))))
	}
	logf("%s: Redis commands per message (INFO commandstats, own time; a script's inner commands also count in it): %s",
		s.name, strings.Join(top, ", "))
	return res, nil
}

// cmdStat is one line of INFO commandstats.
type cmdStat struct {
	name  string
	calls int64
	usec  float64
}

type cmdStats map[string]cmdStat

// commandStats reads INFO commandstats.
func commandStats(ctx context.Context, rdb *redis.Client) cmdStats {
	out := cmdStats{}
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return out
	}
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		c := cmdStat{name: strings.TrimPrefix(name, "cmdstat_")}
		for _, f := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				c.calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				c.usec, _ = strconv.ParseFloat(v, 64)
			}
		}
		out[c.name] = c
	}
	return out
}

// since is what ran between before and s, most time first.
func (s cmdStats) since(before cmdStats) []cmdStat {
	var out []cmdStat
	for name, c := range s {
		b := before[name]
		if d := (cmdStat{name, c.calls - b.calls, c.usec - b.usec}); d.calls > 0 {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b cmdStat) int { return int(b.usec - a.usec) })
	return out
}

// saveProfile saves a CPU profile of secs seconds from the pprof URL base
// into dir as parley-<time>.pprof.
func saveProfile(ctx context.Context, base, dir string, secs int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"profile?seconds="+strconv.Itoa(secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	name := filepath.Join(dir, "parley-"+time.Now().Format("150405")+".pprof")
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	logf("Parley CPU profile: %s", name)
	return f.Close()
}
