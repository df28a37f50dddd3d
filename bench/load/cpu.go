package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// cpuSample is the CPU time (user+system, seconds) used so far by the
// processes of a P2 run: where the machine's cores went while it sent.
type cpuSample struct {
	at                time.Time
	nodes, tool, rdis float64
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux/amd64 kernel.
const clockTicks = 100

// procCPU returns the CPU seconds process pid has used, or 0 when unknown.
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
	ut, _ := strconv.ParseFloat(f[11], 64) // field 14, utime
	st, _ := strconv.ParseFloat(f[12], 64) // field 15, stime
	return (ut + st) / clockTicks
}

// redisCPU returns used_cpu_user+used_cpu_sys of the Redis server: every
// client of the shared server, not only this run.
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

// envRedisCPU is the CPU the env's Redis has used: its one server, or the
// sum over the cluster's primaries.
func envRedisCPU(ctx context.Context, e *env) float64 {
	if len(e.primaries) == 0 {
		return redisCPU(ctx, e.rdb)
	}
	cpu, _, _ := sumStats(ctx, e.primaries)
	return cpu
}

func sampleCPU(ctx context.Context, e *env, nodes []*procNode) cpuSample {
	c := cpuSample{at: time.Now(), tool: procCPU(os.Getpid()), rdis: envRedisCPU(ctx, e)}
	for _, n := range nodes {
		c.nodes += procCPU(n.cmd.Process.Pid)
	}
	return c
}

// cores is the average number of cores each side kept busy from c to d.
func (c cpuSample) cores(d cpuSample) (nodes, tool, rdis float64) {
	s := d.at.Sub(c.at).Seconds()
	return (d.nodes - c.nodes) / s, (d.tool - c.tool) / s, (d.rdis - c.rdis) / s
}
