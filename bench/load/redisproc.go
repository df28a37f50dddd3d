package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisProc is a redis-server this tool started on a free loopback port,
// for scenarios that compare Redis topologies (P1c): no persistence, its
// own temporary directory, killed by stop.
type redisProc struct {
	addr string
	cmd  *exec.Cmd
	dir  string
}

// startRedisProc starts redis-server with args after the loopback, port and
// no-persistence ones; a port taken between choosing and binding is retried.
func startRedisProc(ctx context.Context, args ...string) (*redisProc, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("needs redis-server on PATH (apt-get install redis-server)")
	}
	var last error
	for range 5 {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		_, port, _ := net.SplitHostPort(addr)
		dir, err := os.MkdirTemp("", "bench-redis-")
		if err != nil {
			return nil, err
		}
		a := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")}, args...)
		for i, s := range a {
			a[i] = strings.ReplaceAll(s, "{dir}", dir)
		}
		cmd := exec.Command("redis-server", a...)
		if err := cmd.Start(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		p := &redisProc{addr: addr, cmd: cmd, dir: dir}
		if last = p.waitUp(ctx, 5*time.Second); last == nil {
			return p, nil
		}
		p.stop()
	}
	return nil, fmt.Errorf("redis-server did not start: %w", last)
}

// waitUp waits until the process answers PING as itself (its pid), so a
// server another program bound to the same port first is not taken for it.
func (p *redisProc) waitUp(ctx context.Context, within time.Duration) error {
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(within)
	for {
		info, err := c.Info(ctx, "server").Result()
		if err == nil {
			if strings.Contains(info, "process_id:"+strconv.Itoa(p.cmd.Process.Pid)+"\r") {
				return nil
			}
			return fmt.Errorf("%s is another redis-server", p.addr)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *redisProc) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	_ = os.RemoveAll(p.dir)
}

// redisCluster is a local Redis Cluster of 3 primaries and 3 replicas.
type redisCluster struct {
	nodes     []*redisProc
	primaries []string // filled once the cluster is formed
}

func (c *redisCluster) addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.addr
	}
	return out
}

func (c *redisCluster) stop() {
	for _, n := range c.nodes {
		n.stop()
	}
}

// startCluster starts six cluster-enabled redis-servers, joins them with
// redis-cli --cluster create --cluster-replicas 1 and waits until every
// node reports all 16384 slots covered.
func startCluster(ctx context.Context) (*redisCluster, error) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return nil, errors.New("needs redis-cli on PATH to create a Redis Cluster (apt-get install redis-tools)")
	}
	c := &redisCluster{}
	for range 6 {
		bus, err := freeAddr()
		if err != nil {
			c.stop()
			return nil, err
		}
		_, busPort, _ := net.SplitHostPort(bus)
		n, err := startRedisProc(ctx, "--cluster-enabled", "yes", "--cluster-config-file", "{dir}/nodes.conf",
			"--cluster-port", busPort, "--cluster-node-timeout", "5000")
		if err != nil {
			c.stop()
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	args := append([]string{"--cluster", "create"}, c.addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		c.stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, primaries := c.state(ctx)
		if ok {
			c.primaries = primaries
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.stop()
			return nil, errors.New("redis cluster did not reach cluster_state:ok with 3 primaries in 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// state reports whether every node sees the whole cluster healthy, and the
// primaries' addresses.
func (c *redisCluster) state(ctx context.Context) (bool, []string) {
	var primaries []string
	for _, n := range c.nodes {
		cl := redis.NewClient(&redis.Options{Addr: n.addr})
		info, err1 := cl.ClusterInfo(ctx).Result()
		repl, err2 := cl.Info(ctx, "replication").Result()
		_ = cl.Close()
		if err1 != nil || err2 != nil || !strings.Contains(info, "cluster_state:ok") ||
			!strings.Contains(info, "cluster_slots_ok:16384") || !strings.Contains(info, "cluster_known_nodes:6") {
			return false, nil
		}
		switch {
		case strings.Contains(repl, "role:master"):
			primaries = append(primaries, n.addr)
		case !strings.Contains(repl, "master_link_status:up"):
			return false, nil
		}
	}
	return len(primaries) == 3, primaries
}
