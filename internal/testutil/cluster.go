package testutil

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterNodeTimeout is the cluster-node-timeout (ms) of the clusters
// StartCluster starts: how long a primary must be unreachable before its
// replica is promoted. Short, so failover tests do not wait 15 s (the
// Redis default), long enough that a busy 2-core machine does not fail
// over by itself.
const ClusterNodeTimeout = 2000

// procs maps the address of every redis-server this test binary started
// (StartRedis, StartCluster, StartSentinel) to its process, for KillRedis.
var procs struct {
	mu sync.Mutex
	by map[string]*exec.Cmd
}

// startRedisProc starts `redis-server argv(port)...` on a free loopback
// port, registers it for KillRedis and kills it when the test ends. It
// returns once that process (not another that took the port between
// FreePort and the bind: tests in other packages start redis-servers
// too) answers on the port; when the process exits instead, it tries
// again on another port. argv gets the port because some arguments
// (a sentinel's config file, a cluster bus port) depend on it.
func startRedisProc(t testing.TB, argv func(port int) []string) string {
	t.Helper()
	var why error
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		args := argv(port)
		cmd := exec.Command("redis-server", args...)
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _, _ = cmd.Process.Wait(); close(exited) }()
		if why = waitOwned(addr, requirePass(args), cmd.Process.Pid, exited, 10*time.Second); why != nil {
			_ = cmd.Process.Kill()
			<-exited
			continue
		}
		procs.mu.Lock()
		if procs.by == nil {
			procs.by = map[string]*exec.Cmd{}
		}
		procs.by[addr] = cmd
		procs.mu.Unlock()
		t.Cleanup(func() {
			procs.mu.Lock()
			delete(procs.by, addr)
			procs.mu.Unlock()
			_ = cmd.Process.Kill()
			<-exited
		})
		return addr
	}
	t.Fatalf("start redis-server: 5 attempts on fresh ports failed, last: %v", why)
	return ""
}

// waitOwned waits until the redis-server with process id pid answers
// PING at addr: INFO server's process_id tells it from another process
// holding the port. It gives up when the process exits (the bind failed)
// or after within.
func waitOwned(addr, password string, pid int, exited <-chan struct{}, within time.Duration) error {
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	deadline := time.Now().Add(within)
	for {
		select {
		case <-exited:
			return fmt.Errorf("redis-server on %s exited (port taken?)", addr)
		default:
		}
		info, err := rdb.Info(context.Background(), "server").Result()
		if err == nil {
			if got := infoFields(info)["process_id"]; got != strconv.Itoa(pid) {
				return fmt.Errorf("%s is served by another redis-server (pid %s, ours %d)", addr, got, pid)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s not answering after %s: %v", addr, within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requirePass returns the --requirepass value of redis-server args (""
// when none), so waitOwned can ask a password-protected server.
func requirePass(args []string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--requirepass" {
			return args[i+1]
		}
	}
	return ""
}

// serverArgs are the arguments every redis-server node gets first:
// loopback, port, no persistence, a private dir.
func serverArgs(t testing.TB, port int, args ...string) []string {
	return append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)
}

// KillRedis SIGKILLs the redis-server (node, replica or sentinel) this
// test started at addr, as a crash would, and waits until it has exited.
func KillRedis(t testing.TB, addr string) {
	t.Helper()
	procs.mu.Lock()
	cmd := procs.by[addr]
	procs.mu.Unlock()
	if cmd == nil {
		t.Fatalf("KillRedis: no redis-server started by this test at %s", addr)
	}
	_ = cmd.Process.Kill()
	_, _ = cmd.Process.Wait()
}

// NeedRedisCluster skips t when it cannot start a Redis Cluster of its
// own: no redis-server or no redis-cli (redis-cli --cluster create builds
// it) on PATH, or the embedded-store pass.
func NeedRedisCluster(t testing.TB) {
	t.Helper()
	NeedRedisServer(t)
	if _, err := exec.LookPath("redis-cli"); err != nil {
		skipped.Add(1)
		t.Skip("needs redis-cli to create a Redis Cluster and none is on PATH; install it: apt-get install redis-tools")
	}
}

// StartCluster starts a Redis Cluster of 6 redis-server processes (3
// primaries, 3 replicas; cluster-node-timeout ClusterNodeTimeout, no
// persistence) on free loopback ports, creates it with
// `redis-cli --cluster create ... --cluster-replicas 1`, waits until every
// node says cluster_state:ok with all 16384 slots covered and every
// replica has synced, and returns the six addresses (any one of them is
// a seed for a ClusterClient). Every process is killed when the test ends.
// Extra args go to every redis-server.
func StartCluster(t testing.TB, args ...string) (addrs []string) {
	t.Helper()
	NeedRedisCluster(t)
	for i := 0; i < 6; i++ {
		conf := filepath.Join(t.TempDir(), "nodes.conf")
		addrs = append(addrs, startRedisProc(t, func(port int) []string {
			return serverArgs(t, port, append([]string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", conf,
				"--cluster-port", strconv.Itoa(FreePort(t)),
				"--cluster-node-timeout", strconv.Itoa(ClusterNodeTimeout),
			}, args...)...)
		}))
	}
	cli := append([]string{"--cluster", "create"}, addrs...)
	cli = append(cli, "--cluster-replicas", "1", "--cluster-yes")
	out, err := exec.Command("redis-cli", cli...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	WaitClusterOK(t, addrs, 30*time.Second)
	return addrs
}

// WaitClusterOK waits until every reachable node of addrs reports
// cluster_state:ok, cluster_slots_ok:16384 and knows every node of addrs,
// and every reachable replica has finished its sync with its primary.
// Nodes that do not answer (killed) are left out.
func WaitClusterOK(t testing.TB, addrs []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var why string
	for {
		why = clusterNotOK(addrs)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %v not ok after %s: %s", addrs, within, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clusterNotOK returns why the cluster is not ready yet ("" when it is).
func clusterNotOK(addrs []string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	alive := 0
	for _, a := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
		info, err := rdb.ClusterInfo(ctx).Result()
		if err != nil {
			rdb.Close()
			continue // killed or not up: judged by the others
		}
		alive++
		f := infoFields(info)
		if f["cluster_state"] != "ok" || f["cluster_slots_ok"] != "16384" {
			rdb.Close()
			return a + ": " + strings.Join([]string{"cluster_state:" + f["cluster_state"], "cluster_slots_ok:" + f["cluster_slots_ok"]}, " ")
		}
		if n, _ := strconv.Atoi(f["cluster_known_nodes"]); n < len(addrs) {
			rdb.Close()
			return a + ": knows " + f["cluster_known_nodes"] + " nodes"
		}
		repl, err := rdb.Info(ctx, "replication").Result()
		rdb.Close()
		if err != nil {
			return a + ": INFO replication: " + err.Error()
		}
		r := infoFields(repl)
		if r["role"] == "slave" && (r["master_link_status"] != "up" || r["master_sync_in_progress"] != "0") {
			return a + ": replica not synced (master_link_status:" + r["master_link_status"] + ")"
		}
	}
	if alive == 0 {
		return "no node answers"
	}
	return ""
}

// infoFields parses the "name:value" lines of INFO / CLUSTER INFO.
func infoFields(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}

// ClusterClient returns a ClusterClient over addrs, closed when the test
// ends.
func ClusterClient(t testing.TB, addrs []string) *redis.ClusterClient {
	t.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("redis cluster ping: %v", err)
	}
	return rdb
}

// PrimaryForKey returns the address of the primary serving key's hash
// slot, as the first answering node of addrs sees it.
func PrimaryForKey(t testing.TB, addrs []string, key string) string {
	t.Helper()
	return PrimaryForSlot(t, addrs, -1, key)
}

// PrimaryForSlot returns the address of the primary serving slot (or,
// when slot < 0, the slot of key), as the first answering node of addrs
// sees it.
func PrimaryForSlot(t testing.TB, addrs []string, slot int, key ...string) string {
	t.Helper()
	p, err := primaryForSlot(addrs, slot, key...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func primaryForSlot(addrs []string, slot int, key ...string) (string, error) {
	ctx := context.Background()
	for _, a := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
		s := int64(slot)
		if slot < 0 {
			var err error
			if s, err = rdb.ClusterKeySlot(ctx, key[0]).Result(); err != nil {
				rdb.Close()
				continue
			}
		}
		//lint:ignore SA1019 CLUSTER SLOTS answers on every Redis 7 and is what go-redis itself reads
		ranges, err := rdb.ClusterSlots(ctx).Result()
		rdb.Close()
		if err != nil {
			continue
		}
		for _, r := range ranges {
			if int64(r.Start) <= s && s <= int64(r.End) && len(r.Nodes) > 0 {
				return r.Nodes[0].Addr, nil
			}
		}
		return "", fmt.Errorf("slot %d not served (as %s sees it)", s, a)
	}
	return "", fmt.Errorf("no node of %v answers", addrs)
}

// ClusterPrimaries returns the addresses of the cluster's primaries as
// the first answering node of addrs sees them.
func ClusterPrimaries(t testing.TB, addrs []string) []string {
	t.Helper()
	ctx := context.Background()
	for _, a := range addrs {
		rdb := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
		//lint:ignore SA1019 CLUSTER SLOTS answers on every Redis 7 and is what go-redis itself reads
		ranges, err := rdb.ClusterSlots(ctx).Result()
		rdb.Close()
		if err != nil {
			continue
		}
		seen := map[string]bool{}
		var out []string
		for _, r := range ranges {
			if len(r.Nodes) > 0 && !seen[r.Nodes[0].Addr] {
				seen[r.Nodes[0].Addr] = true
				out = append(out, r.Nodes[0].Addr)
			}
		}
		return out
	}
	t.Fatalf("no node of %v answers", addrs)
	return nil
}

// WaitPrimaryChange waits until a node other than old serves slot (as the
// surviving nodes see it, all of them agreeing) and the cluster is ok
// again, and returns the new primary: the replica promotion after old
// died.
func WaitPrimaryChange(t testing.TB, addrs []string, slot int, old string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	var live []string
	for _, a := range addrs {
		if a != old {
			live = append(live, a)
		}
	}
	for {
		if clusterNotOK(live) == "" {
			if p, err := primaryForSlot(live, slot); err == nil && p != old {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot %d still on %s (or cluster not ok) after %s", slot, old, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SentinelMaster is the master name StartSentinel's sentinels monitor.
const SentinelMaster = "parley"

// StartSentinel starts one primary, one replica and three sentinels
// (`redis-server --sentinel`, quorum 2, down-after 1000 ms, failover
// timeout 5 s) on free loopback ports, waits until every sentinel knows
// the replica and the two other sentinels (so a failover can be elected),
// and returns the sentinel addresses and the master name. Everything is
// killed when the test ends. SentinelPrimary says which node is the
// primary now; KillRedis kills it.
func StartSentinel(t testing.TB) (addrs []string, master string) {
	t.Helper()
	NeedRedisServer(t)
	primary := startRedisProc(t, func(port int) []string { return serverArgs(t, port) })
	host, port, _ := strings.Cut(primary, ":")
	replica := startRedisProc(t, func(p int) []string { return serverArgs(t, p, "--replicaof", host, port) })
	waitReplicaSynced(t, replica, 10*time.Second)
	for i := 0; i < 3; i++ {
		addrs = append(addrs, startRedisProc(t, func(sport int) []string {
			conf := filepath.Join(t.TempDir(), "sentinel.conf")
			text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\n"+
				"sentinel monitor %s %s %s 2\n"+
				"sentinel down-after-milliseconds %[3]s 1000\n"+
				"sentinel failover-timeout %[3]s 5000\n"+
				"sentinel parallel-syncs %[3]s 1\n", sport, filepath.Dir(conf), SentinelMaster, host, port)
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{conf, "--sentinel"}
		}))
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range addrs {
		s := redis.NewSentinelClient(&redis.Options{Addr: a})
		for {
			reps, err1 := s.Replicas(context.Background(), SentinelMaster).Result()
			sens, err2 := s.Sentinels(context.Background(), SentinelMaster).Result()
			if err1 == nil && err2 == nil && len(reps) >= 1 && len(sens) >= 2 {
				break
			}
			if time.Now().After(deadline) {
				s.Close()
				t.Fatalf("sentinel %s: replicas %v (%v), sentinels %d (%v) after 30 s", a, len(reps), err1, len(sens), err2)
			}
			time.Sleep(100 * time.Millisecond)
		}
		s.Close()
	}
	return addrs, SentinelMaster
}

// SentinelPrimary returns the address of the current primary as the
// first answering sentinel of addrs reports it.
func SentinelPrimary(t testing.TB, addrs []string, master string) string {
	t.Helper()
	for _, a := range addrs {
		s := redis.NewSentinelClient(&redis.Options{Addr: a, MaxRetries: -1})
		hp, err := s.GetMasterAddrByName(context.Background(), master).Result()
		s.Close()
		if err == nil && len(hp) == 2 {
			return hp[0] + ":" + hp[1]
		}
	}
	t.Fatalf("no sentinel of %v knows master %q", addrs, master)
	return ""
}

// waitReplicaSynced waits until the replica at addr has a live link to its
// primary and no sync in progress.
func waitReplicaSynced(t testing.TB, addr string, within time.Duration) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	deadline := time.Now().Add(within)
	for {
		info, err := rdb.Info(context.Background(), "replication").Result()
		if err == nil {
			f := infoFields(info)
			if f["master_link_status"] == "up" && f["master_sync_in_progress"] == "0" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not synced after %s", addr, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
