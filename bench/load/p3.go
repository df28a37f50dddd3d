package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // the P3 server process serves pprof on its admin address
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"parley/config"
	"parley/server"
)

// nodeCommand makes the tool binary run one Parley node (server.New, as
// main.go wires it) plus an admin listener with goroutine counts and pprof,
// so P3 measures a server process that holds nothing but the server.
const nodeCommand = "_node"

const adminAddrEnv = "BENCH_ADMIN_ADDR"

func runNode() error {
	cfg, err := config.Load(nil)
	if err != nil {
		return err
	}
	rdb, err := server.OpenRedis(cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})), rdb)
	if err != nil {
		return err
	}
	defer srv.Close()
	http.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
			debug.FreeOSMemory()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(map[string]any{"goroutines": runtime.NumGoroutine(),
			"heap_inuse": ms.HeapInuse, "stack_inuse": ms.StackInuse, "sys": ms.Sys})
	})
	go func() { _ = http.ListenAndServe(os.Getenv(adminAddrEnv), nil) }()
	return (&http.Server{Addr: cfg.HTTPAddr, Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}).ListenAndServe()
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

type nodeStats struct {
	Goroutines int    `json:"goroutines"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	RSS        uint64 `json:"-"` // bytes, VmRSS
}

func readStats(admin string, pid int) (nodeStats, error) {
	var st nodeStats
	resp, err := http.Get("http://" + admin + "/stats?gc=1")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			st.RSS = kb << 10
		}
	}
	return st, nil
}

// runP3 starts a server process, then holds K idle sockets for each level
// and reports the server's RSS and goroutines per connection against the
// same process with 0 connections (after a forced GC in both readings).
func runP3(ctx context.Context, o opts, r *report) error {
	var levels []int
	for _, s := range strings.Split(o.p3Levels, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || k <= 0 {
			return fmt.Errorf("-p3-k: bad level %q", s)
		}
		levels = append(levels, k)
	}
	// The tool and the server process each need one descriptor per
	// connection plus some spare; levels above RLIMIT_NOFILE (the hard limit
	// when it cannot be raised) are replaced by the largest that fits, and
	// the report says so.
	if fit := int(fileLimit()) - 1000; levels[len(levels)-1] > fit {
		var kept []int
		for _, k := range levels {
			if k < fit {
				kept = append(kept, k)
			}
		}
		note := fmt.Sprintf("P3: levels %v reduced to %v: RLIMIT_NOFILE is %d here (the hard limit; raising it needs CAP_SYS_RESOURCE), "+
			"and the tool and the server each hold one descriptor per connection plus about 1 000 spare", levels, append(kept, fit), fileLimit())
		logf("%s", note)
		r.addNote(note)
		levels = append(kept, fit)
	}
	maxK := levels[len(levels)-1]
	e, err := newEnv(ctx, o.redisURL, "p3")
	if err != nil {
		return err
	}
	defer e.close()
	pn, err := e.startProc(ctx)
	if err != nil {
		return err
	}
	defer pn.close()
	cmd, admin, base := pn.cmd, pn.admin, pn.url
	time.Sleep(time.Second)
	zero, err := readStats(admin, cmd.Process.Pid)
	if err != nil {
		return err
	}
	logf("P3: server pid %d at 0 connections: RSS %.1f MiB, %d goroutines", cmd.Process.Pid, mib(zero.RSS), zero.Goroutines)

	tokens := e.tokens(maxK)
	var socks []*sock
	defer func() { closeAll(socks) }()
	have := 0
	for _, k := range levels {
		logf("P3: opening sockets %d..%d", have+1, k)
		more, err := dialMany(ctx, base, append([]string{""}, tokens[have+1:k+1]...), 128, o.ips, func(int) func([]byte) { return nil })
		if err != nil {
			return fmt.Errorf("P3 at %d connections: %w", k, err)
		}
		socks = append(socks, more[1:]...)
		have = k
		time.Sleep(3 * time.Second)
		st, err := readStats(admin, cmd.Process.Pid)
		if err != nil {
			return err
		}
		perConn := float64(st.RSS-min(st.RSS, zero.RSS)) / float64(k) / 1024
		logf("P3: %d connections: RSS %.1f MiB (%.1f KiB/conn), heap %.1f MiB, stacks %.1f MiB, %d goroutines",
			k, mib(st.RSS), perConn, mib(st.HeapInuse), mib(st.StackInuse), st.Goroutines)
		kk := strconv.Itoa(k)
		r.addInfo("P3", "server RSS, "+kk+" conns vs 0", "MiB", mib(st.RSS), mib(zero.RSS))
		r.addAbs("P3", "RSS per connection, "+kk+" conns", "KiB", perConn, nanBaseline, 16)
		r.addInfo("P3", "goroutines per connection, "+kk+" conns", "count", float64(st.Goroutines-zero.Goroutines)/float64(k), nanBaseline)
		r.addInfo("P3", "heap+stacks per connection, "+kk+" conns", "KiB",
			float64(st.HeapInuse+st.StackInuse-min(st.HeapInuse+st.StackInuse, zero.HeapInuse+zero.StackInuse))/float64(k)/1024, nanBaseline)
		if k == maxK && os.Getenv("BENCH_P3_HEAP") != "" {
			saveURL("http://"+admin+"/debug/pprof/heap", os.Getenv("BENCH_P3_HEAP"))
			saveURL("http://"+admin+"/debug/pprof/goroutine", os.Getenv("BENCH_P3_HEAP")+".goroutine")
		}
	}
	return nil
}

// procNode is a Parley node in its own process (the tool binary run as
// nodeCommand), so its memory and file descriptors are its own.
type procNode struct {
	url, admin string
	cmd        *exec.Cmd
}

func (e *env) startProc(ctx context.Context) (*procNode, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, nodeCommand)
	cmd.Env = os.Environ()
	for k, v := range e.vars() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PARLEY_HTTP_ADDR="+httpAddr, adminAddrEnv+"="+admin)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pn := &procNode{url: "http://" + httpAddr, admin: admin, cmd: cmd}
	if err := waitHealthy(ctx, pn.url); err != nil {
		pn.close()
		return nil, err
	}
	return pn, nil
}

func (pn *procNode) close() { _ = pn.cmd.Process.Kill(); _ = pn.cmd.Wait() }

var nanBaseline = func() float64 { var z float64; return z / z }()

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func saveURL(u, file string) {
	resp, err := http.Get(u)
	if err != nil {
		logf("save %s: %v", u, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		logf("save %s: %v", file, err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
	logf("saved %s", file)
}

func waitHealthy(ctx context.Context, base string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("server did not become healthy")
}
