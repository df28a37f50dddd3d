// Command load is Parley's load tool: each scenario of issue 7 starts what
// it needs (Parley on a real Redis under its own key prefix, and the
// scenario's baseline), drives it over 127.0.0.1 for a bounded time, stops by
// itself and prints one line per figure plus a machine line. Every figure is
// a ratio against a baseline measured in the same run, because absolute
// numbers on a shared machine drift.
//
//	go run ./bench/load [flags] P1|P1c|P1w|P2|P2c|P2x|P3|P4|all|smoke
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
)

// opts are the scenario knobs; the defaults are the figures.
type opts struct {
	redisURL string

	p1Conns, p1Users, p1Rounds int
	// p1cReplica gives P1c's single redis-server a replica, as the
	// cluster's primaries have (and a Sentinel deployment would).
	p1cReplica bool
	p1Dur      time.Duration

	p2Clients, p2BaseClients, p2Rate int
	p2Dur                            time.Duration

	p3Levels string

	p4Rounds  int
	p4Sizes   string
	p4Inboxes string

	cpuProfile string
	markdown   bool

	// ips hands out client source addresses for the whole invocation.
	ips *sourceIPs
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == nodeCommand {
		if err := runNode(); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		return
	}
	o := opts{ips: &sourceIPs{}}
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	fs.StringVar(&o.redisURL, "redis", defaultRedisURL(), "Redis URL (keys go under a unique bench: prefix and are deleted afterwards)")
	fs.IntVar(&o.p1Conns, "p1-conns", 50, "P1: concurrent connections")
	fs.IntVar(&o.p1Users, "p1-users", 1000, "P1: distinct users")
	fs.IntVar(&o.p1Rounds, "p1-rounds", 4, "P1: alternating rounds the duration is split into")
	fs.BoolVar(&o.p1cReplica, "p1c-single-replica", false, "P1c: give the single redis-server a replica, as each cluster primary has one")
	fs.DurationVar(&o.p1Dur, "p1-dur", 20*time.Second, "P1: duration of each of the two runs (Parley, baseline)")
	fs.IntVar(&o.p2Clients, "p2-clients", 10000, "P2/P2x: connected websocket clients")
	fs.IntVar(&o.p2BaseClients, "p2-base-clients", 10, "P2: clients of the baseline run (0 = no baseline run)")
	fs.IntVar(&o.p2Rate, "p2-rate", 2000, "P2/P2x: sends per second")
	fs.DurationVar(&o.p2Dur, "p2-dur", 30*time.Second, "P2/P2x: duration of each run")
	fs.StringVar(&o.p3Levels, "p3-k", "10000,20000,50000", "P3: idle connection counts, ascending")
	fs.IntVar(&o.p4Rounds, "p4-rounds", 200, "P4: timed requests per page and case")
	fs.StringVar(&o.p4Sizes, "p4-dm", "10,10000,1000000", "P4: DM sizes (first is the baseline)")
	fs.StringVar(&o.p4Inboxes, "p4-inbox", "10,100000", "P4: inbox sizes (first is the baseline)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the tool process (in-process server included) to this file")
	fs.BoolVar(&o.markdown, "md", false, "also print the figures as a Markdown table")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run ./bench/load [flags] P1|P1c|P1w|P2|P2c|P2x|P3|P4|all|smoke")
		fs.PrintDefaults()
	}
	args := os.Args[1:]
	scenario := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		scenario, args = args[0], args[1:]
	}
	_ = fs.Parse(args)
	if scenario == "" && fs.NArg() > 0 {
		scenario = fs.Arg(0)
	}
	if scenario == "" {
		fs.Usage()
		os.Exit(2)
	}
	if err := checkOpts(o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	raiseFileLimit()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}

	r := &report{}
	var err error
	switch strings.ToLower(scenario) {
	case "p1":
		err = runP1(ctx, o, r)
	case "p1c":
		err = runP1c(ctx, o, r)
	case "p1w":
		err = runP1w(ctx, o, r)
	case "p2c":
		err = runP2c(ctx, o, r)
	case "p2":
		_, _, err = runP2(ctx, o, r, false)
	case "p2x":
		err = runP2x(ctx, o, r)
	case "p3":
		err = runP3(ctx, o, r)
	case "p4":
		err = runP4(ctx, o, r)
	case "all":
		err = runAll(ctx, o, r)
	case "smoke":
		err = runSmoke(ctx, o, r)
	default:
		fs.Usage()
		os.Exit(2)
	}
	r.print(os.Stdout, o.markdown)
	fmt.Println(machineLine())
	if err != nil {
		fatal(err)
	}
}

func runAll(ctx context.Context, o opts, r *report) error {
	if err := runP1(ctx, o, r); err != nil {
		return err
	}
	p2, _, err := runP2(ctx, o, r, false)
	if err != nil {
		return err
	}
	if err := runP2xAgainst(ctx, o, r, p2); err != nil {
		return err
	}
	if err := runP3(ctx, o, r); err != nil {
		return err
	}
	return runP4(ctx, o, r)
}

func defaultRedisURL() string {
	for _, v := range []string{"PARLEY_BENCH_REDIS_URL", "PARLEY_TEST_REDIS_URL"} {
		if u := os.Getenv(v); u != "" {
			return u
		}
	}
	return "redis://127.0.0.1:6379/0"
}

// raiseFileLimit lifts RLIMIT_NOFILE for tens of thousands of sockets; the
// server process started by P3 inherits it.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	want := uint64(200_000)
	if lim.Max < want {
		lim.Max = want // works as root (CAP_SYS_RESOURCE); otherwise keep the hard limit
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}) == nil {
			return
		}
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		want = lim.Max
	}
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: lim.Max})
}

func fileLimit() uint64 {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// machineLine names what the figures were measured on.
func machineLine() string {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("machine: nproc=%d cpu=%q go=%s os=%s/%s nofile=%d at=%s", runtime.NumCPU(), model,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, fileLimit(), time.Now().UTC().Format(time.RFC3339))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}

// logf reports progress on stderr so stdout holds only the figures.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}
