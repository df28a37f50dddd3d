package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// centrifugoModule is the peer, pinned.
const centrifugoModule = "github.com/centrifugal/centrifugo/v6@v6.9.1"

type opts struct {
	clients, rate, pairs int
	dur                  time.Duration
	redisURL, cache, src string
	profile              string // folder for Parley's CPU profiles; "" = none
	parleyEnv            string // extra KEY=VALUE,... for Parley's process only
	// Step mode (step > 0): rates step, 2*step, ... up to rate, pairs runs
	// of each system per rate; each goes on while it sustains the rate:
	// median p99 at most p99Max, no slot skipped, nothing lost,
	// duplicated, failed or dropped in any run.
	step   int
	p99Max time.Duration
}

func main() {
	var o opts
	flag.IntVar(&o.clients, "clients", 1000, "websocket clients, one user each")
	flag.IntVar(&o.rate, "rate", 500, "messages published per second (each delivered to both parties)")
	flag.DurationVar(&o.dur, "dur", 10*time.Second, "publishing time of each run")
	flag.IntVar(&o.pairs, "pairs", 1, "Parley/Centrifugo run pairs, alternating P C C P ...")
	flag.StringVar(&o.redisURL, "redis", "", "Redis both systems use; empty = start a redis-server on a free loopback port")
	flag.StringVar(&o.cache, "cache", defaultCache(), "folder for the built centrifugo and parley binaries (GOBIN of go install)")
	flag.StringVar(&o.src, "src", "../..", "the Parley repository to build")
	flag.StringVar(&o.parleyEnv, "parley-env", "", "extra environment for Parley's process only, KEY=VALUE,KEY=VALUE (e.g. GOGC=200)")
	flag.IntVar(&o.step, "step", 0, "step mode: run both systems at step, 2*step, ... msg/s up to -rate (-pairs runs of each per rate) and report the highest rate each sustains (0 = off)")
	flag.DurationVar(&o.p99Max, "p99-max", 50*time.Millisecond, "step mode: the median p99 a sustained rate may have")
	flag.StringVar(&o.profile, "profile", "", "folder to save a CPU profile of each Parley run's sending phase in (turns Parley's metrics listener and pprof on)")
	flag.Parse()
	if err := checkOpts(o); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(2)
	}
	raiseFileLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "peer:", err)
		os.Exit(1)
	}
}

func defaultCache() string {
	if d := os.Getenv("PARLEY_PEER_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "parley-peer")
	}
	return filepath.Join(os.TempDir(), "parley-peer")
}

func checkOpts(o opts) error {
	var errs []error
	if o.clients < 2 {
		errs = append(errs, fmt.Errorf("-clients %d: at least 2 (a message needs two users)", o.clients))
	}
	if o.rate < 1 {
		errs = append(errs, fmt.Errorf("-rate %d: at least 1", o.rate))
	}
	if o.dur <= 0 {
		errs = append(errs, fmt.Errorf("-dur %s: must be positive", o.dur))
	}
	if o.pairs < 1 {
		errs = append(errs, fmt.Errorf("-pairs %d: at least 1", o.pairs))
	}
	if o.step < 0 || o.step > o.rate {
		errs = append(errs, fmt.Errorf("-step %d: between 0 (off) and -rate", o.step))
	}
	if o.step > 0 && o.p99Max <= 0 {
		errs = append(errs, fmt.Errorf("-p99-max %s: must be positive", o.p99Max))
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, o opts) error {
	cfBin, err := buildCentrifugo(ctx, o.cache)
	if err != nil {
		return err
	}
	parleyBin, err := buildParley(ctx, o.cache, o.src)
	if err != nil {
		return err
	}
	redisURL := o.redisURL
	if redisURL == "" {
		stopRedis, url, err := startRedis(ctx)
		if err != nil {
			return err
		}
		defer stopRedis()
		redisURL = url
	}
	ropt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", redisURL, err)
	}
	load0 := loadavg()
	ips := &sourceIPs{}
	// one runs system (Parley when parley) at o.rate.
	one := func(o opts, parley bool) (result, error) {
		var s *system
		var err error
		if parley {
			s, err = startParley(ctx, parleyBin, redisURL, o.profile != "", o.parleyEnv)
		} else {
			s, err = startCentrifugo(ctx, cfBin, redisURL)
		}
		if err != nil {
			return result{}, err
		}
		res, err := drive(ctx, o, s, rdb, ips)
		s.stop()
		cleanup(ctx, rdb, s.prefix)
		return res, err
	}
	if o.step > 0 {
		return stepRates(o, one, load0)
	}
	var results []result
	for i := range 2 * o.pairs {
		res, err := one(o, i%4 == 0 || i%4 == 3) // P C C P ...
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	printReport(o, results, load0, loadavg())
	return nil
}

// sustains reports whether r kept up with its rate: p99 at most p99Max,
// no slot skipped, nothing lost, duplicated, failed or dropped.
func (r result) sustains(p99Max time.Duration) bool {
	return r.sent > 0 && r.skipped == 0 && r.lost+r.dup+r.failed+r.dropped == 0 &&
		r.pct(99) <= float64(p99Max)/float64(time.Millisecond)
}

// sustainsAll reports whether a system kept up with a rate over its runs
// there: no run skipped a slot or lost, duplicated, failed or dropped
// anything, and the median of their p99s is at most p99Max (one run's p99
// on 2 shared cores swings several times over from run to run).
func sustainsAll(runs []result, p99Max time.Duration) bool {
	if len(runs) == 0 {
		return false
	}
	var p99s []float64
	for _, r := range runs {
		if !r.sustains(math.MaxInt64) { // any p99: judged on the median below
			return false
		}
		p99s = append(p99s, r.pct(99))
	}
	return median(p99s) <= float64(p99Max)/float64(time.Millisecond)
}

// stepRates runs both systems at step, 2*step, ... msg/s while each
// sustains the rate (-pairs runs of each per rate, alternating which goes
// first: P C, C P, ...), and reports the highest rate each sustained.
func stepRates(o opts, one func(opts, bool) (result, error), load0 string) error {
	best := map[bool]int{}
	going := map[bool]bool{true: true, false: true}
	var rows []string
	for rate := o.step; rate <= o.rate && (going[true] || going[false]); rate += o.step {
		runs := map[bool][]result{}
		for i := range 2 * o.pairs {
			parley := i%4 == 0 || i%4 == 3 // P C C P ...
			if !going[parley] {
				continue
			}
			ro := o
			ro.rate = rate
			res, err := one(ro, parley)
			if err != nil {
				return err
			}
			runs[parley] = append(runs[parley], res)
		}
		for _, parley := range []bool{true, false} {
			rs := runs[parley]
			if len(rs) == 0 {
				continue
			}
			ok := sustainsAll(rs, o.p99Max)
			if ok {
				best[parley] = rate
			} else {
				going[parley] = false
			}
			var p50s, p99s []float64
			var p99List []string
			var sent, skipped, bad int64
			for _, r := range rs {
				p50s, p99s = append(p50s, r.pct(50)), append(p99s, r.pct(99))
				p99List = append(p99List, fmt.Sprintf("%.1f", r.pct(99)))
				sent, skipped, bad = sent+r.sent, skipped+r.skipped, bad+r.lost+r.dup+r.failed+r.dropped
			}
			rows = append(rows, fmt.Sprintf("| %d | %s | %.2f | %.2f (%s) | %d | %d | %d | %v |", rate, rs[0].system,
				median(p50s), median(p99s), strings.Join(p99List, ", "), sent, skipped, bad, ok))
		}
	}
	fmt.Printf("peer -step: %d clients, %s per run, %d run(s) of each system per rate, median p99 <= %s, load average before %s after %s\n",
		o.clients, o.dur, o.pairs, o.p99Max, load0, loadavg())
	fmt.Println("| msg/s | system | p50 ms (median) | p99 ms (median; each run) | sent | skipped | lost+dup+failed+dropped | sustained |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Println(r)
	}
	ratio := math.NaN()
	if best[false] > 0 {
		ratio = float64(best[true]) / float64(best[false])
	}
	fmt.Printf("\nhighest rate sustained: Parley %d msg/s, Centrifugo %d msg/s, ratio P/C %.2f (a system still sustaining at -rate %d may go higher)\n",
		best[true], best[false], ratio, o.rate)
	return nil
}

// buildCentrifugo installs the pinned Centrifugo into cache once.
func buildCentrifugo(ctx context.Context, cache string) (string, error) {
	bin := filepath.Join(cache, "centrifugo")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("building %s into %s (once; a few minutes)", centrifugoModule, cache)
	cmd := exec.CommandContext(ctx, "go", "install", centrifugoModule)
	cmd.Env = append(os.Environ(), "GOBIN="+cache, "GOWORK=off")
	cmd.Dir = os.TempDir() // outside any module
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install %s: %w", centrifugoModule, err)
	}
	return bin, nil
}

// buildParley builds the Parley server from src (every run: it is the code
// under test).
func buildParley(ctx context.Context, cache, src string) (string, error) {
	bin := filepath.Join(cache, "parley")
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = abs
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build of Parley in %s: %w", abs, err)
	}
	return bin, nil
}

// startRedis starts a private redis-server (no persistence) on a free
// loopback port.
func startRedis(ctx context.Context) (stop func(), url string, err error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "peer-redis-")
	if err != nil {
		return nil, "", err
	}
	cmd := exec.CommandContext(ctx, "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", dir, "--maxclients", "10000")
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", fmt.Errorf("redis-server (apt-get install redis-server, or pass -redis): %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = os.RemoveAll(dir) }
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); c.Ping(ctx).Err() != nil; {
		if time.Now().After(deadline) {
			stop()
			return nil, "", errors.New("redis-server did not answer in 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stop, "redis://" + addr + "/0", nil
}

// cleanup deletes a run's keys.
func cleanup(ctx context.Context, rdb *redis.Client, prefix string) {
	iter := rdb.Scan(ctx, 0, prefix+"*", 5000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			_ = rdb.Unlink(ctx, batch...).Err()
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		_ = rdb.Unlink(ctx, batch...).Err()
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printReport(o opts, results []result, load0, load1 string) {
	fmt.Printf("peer: %d clients, %d msg/s for %s, %d pair(s), load average before %s after %s\n",
		o.clients, o.rate, o.dur, o.pairs, load0, load1)
	fmt.Println("| run | system | p50 ms | p99 ms | sent | skipped | lost | dup | dropped | server CPU ms/msg | Redis CPU ms/msg | tool CPU ms/msg |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	by := map[string][]result{}
	for i, r := range results {
		by[r.system] = append(by[r.system], r)
		fmt.Printf("| %d | %s | %.2f | %.2f | %d | %d | %d | %d | %d | %.3f | %.3f | %.3f |\n", i+1, r.system, r.pct(50), r.pct(99),
			r.sent, r.skipped, r.lost, r.dup, r.dropped, r.perMsg(r.serverCPU), r.perMsg(r.redisCPU), r.perMsg(r.toolS))
	}
	// Per pair: Parley / Centrifugo of the two runs of the pair.
	if len(results) >= 4 {
		fmt.Println("\n| pair | p50 P/C | p99 P/C | server+Redis CPU per message P/C |")
		fmt.Println("|---|---|---|---|")
		for k := 0; k+1 < len(results); k += 2 {
			p, c := results[k], results[k+1]
			if p.system != parleyName {
				p, c = c, p
			}
			fmt.Printf("| %d | %.2f | %.2f | %.2f |\n", k/2+1, p.pct(50)/c.pct(50), p.pct(99)/c.pct(99),
				p.perMsg(p.serverCPU+p.redisCPU)/c.perMsg(c.serverCPU+c.redisCPU))
		}
	}
	type fig struct {
		name string
		f    func(result) float64
	}
	figs := []fig{
		{"p50 latency (ms)", func(r result) float64 { return r.pct(50) }},
		{"p99 latency (ms)", func(r result) float64 { return r.pct(99) }},
		{"send slots skipped (%)", func(r result) float64 { return 100 * float64(r.skipped) / (float64(o.rate) * o.dur.Seconds()) }},
		{"lost + dup + failed", func(r result) float64 { return float64(r.lost + r.dup + r.failed) }},
		{"server CPU per message (ms)", func(r result) float64 { return r.perMsg(r.serverCPU) }},
		{"Redis CPU per message (ms)", func(r result) float64 { return r.perMsg(r.redisCPU) }},
		{"server + Redis CPU per message (ms)", func(r result) float64 { return r.perMsg(r.serverCPU + r.redisCPU) }},
		{"server RSS per idle connection (KiB)", func(r result) float64 { return r.rssPerConn }},
	}
	fmt.Println("\n| median | Parley | Centrifugo | ratio P/C |")
	fmt.Println("|---|---|---|---|")
	for _, f := range figs {
		var p, c []float64
		for _, r := range by[parleyName] {
			p = append(p, f.f(r))
		}
		for _, r := range by[centrifugoName] {
			c = append(c, f.f(r))
		}
		mp, mc := median(p), median(c)
		fmt.Printf("| %s | %.3g | %.3g | %.2f |\n", f.name, mp, mc, mp/mc)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// raiseFileLimit lifts RLIMIT_NOFILE for 10 000+ sockets on each side; the
// servers started by the tool inherit it.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	if lim.Max < 200_000 && syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 200_000, Max: 200_000}) == nil {
		return
	}
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: lim.Max, Max: lim.Max})
}
