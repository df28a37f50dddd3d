package presence_test

// TEMPORARY: a minimal local Redis Cluster starter, to be replaced by
// testutil.StartCluster (the CLIENT helper's, on main) once it lands.
// realtime/cluster_start_test.go holds the same code.

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/testutil"
)

// localCluster is 3 primaries + 3 replicas on loopback ports.
type localCluster struct {
	Addrs []string
	procs map[string]*exec.Cmd
}

// startLocalCluster starts the cluster (skipping when redis-server or
// redis-cli is missing) and tears it down when the test ends.
func startLocalCluster(t *testing.T) *localCluster {
	t.Helper()
	testutil.NeedRedisServer(t)
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("needs redis-cli to create a cluster; install it: apt-get install redis-tools")
	}
	c := &localCluster{procs: map[string]*exec.Cmd{}}
	for range 6 {
		port, bus := testutil.FreePort(t), testutil.FreePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		dir := t.TempDir()
		cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-port", fmt.Sprint(bus), "--cluster-config-file", dir+"/nodes.conf",
			"--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no", "--dir", dir,
			// A replica syncs at once (the default waits 5 s for more
			// replicas) and may always fail over (its link to a primary
			// killed right after the cluster was made may be young).
			"--repl-diskless-sync-delay", "0", "--cluster-replica-validity-factor", "0")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		c.procs[addr] = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
		})
		testutil.WaitTCP(t, addr, 5*time.Second)
		c.Addrs = append(c.Addrs, addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.waitOK(t)
	c.waitReplicas(t)
	return c
}

// waitReplicas waits until every replica's link to its primary is up.
func (c *localCluster) waitReplicas(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range c.Addrs {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := rdb.Info(context.Background(), "replication").Result()
			if err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s not in sync after 30s", addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = rdb.Close()
	}
}

// waitOK waits until every live node reports cluster_state:ok and agrees on
// the primaries.
func (c *localCluster) waitOK(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for addr, p := range c.procs {
			if p.ProcessState != nil || p.Process == nil {
				continue
			}
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			info, err := rdb.ClusterInfo(context.Background()).Result()
			_ = rdb.Close()
			if err != nil || !strings.Contains(info, "cluster_state:ok") {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("cluster not ok after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Client is a ClusterClient on the cluster, closed when the test ends.
func (c *localCluster) Client(t *testing.T) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { _ = cc.Close() })
	if err := cc.ForEachShard(context.Background(), func(ctx context.Context, s *redis.Client) error {
		return s.Ping(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	return cc
}

// waitPromoted waits until no live node lists dead as a primary of any
// slot (its replica was promoted) and the cluster is ok.
func (c *localCluster) waitPromoted(t *testing.T, dead string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for addr := range c.procs {
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			slots, err := rdb.ClusterSlots(context.Background()).Result()
			_ = rdb.Close()
			if err != nil {
				ok = false
				continue
			}
			for _, s := range slots {
				if len(s.Nodes) == 0 || s.Nodes[0].Addr == dead {
					ok = false
				}
			}
		}
		if ok {
			c.waitOK(t)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still a primary after 60s", dead)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kill SIGKILLs the node at addr.
func (c *localCluster) Kill(t *testing.T, addr string) {
	t.Helper()
	p := c.procs[addr]
	_ = p.Process.Kill()
	_, _ = p.Process.Wait()
	delete(c.procs, addr)
}
