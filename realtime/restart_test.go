package realtime

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

// TestHubResubscribesAfterRedisRestart: Redis (a single server, plain and
// sharded pub/sub) is killed and restarted on the same port. The hub's
// subscription comes back by itself, the event logged while Redis was down
// (never published) is delivered from the log, and live events flow again.
func TestHubResubscribesAfterRedisRestart(t *testing.T) {
	testutil.NeedRedisServer(t)
	for _, sharded := range []bool{false, true} {
		t.Run(fmt.Sprintf("sharded=%v", sharded), func(t *testing.T) {
			port := testutil.FreePort(t)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			dir := t.TempDir()
			start := func() *exec.Cmd {
				cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1",
					"--save", "", "--appendonly", "no", "--dir", dir)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				testutil.WaitTCP(t, addr, 5*time.Second)
				return cmd
			}
			cmd := start()
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_, _ = cmd.Process.Wait()
			})
			rdb := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { _ = rdb.Close() })
			keys := chat.Keys{Prefix: testutil.Prefix(t), Sharded: sharded}
			logs := &userLogs{}
			h := New(rdb, keys, logs, Options{})
			t.Cleanup(h.Close)
			got := make(chan chat.Event, 10)
			t.Cleanup(h.Subscribe("d", "1", 0, func(ev chat.Event) { got <- ev }, func(string) {}))
			name := keys.EventLog("d", "1")
			r := h.ps.(*router)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				r.mu.Lock()
				ok := r.chans[name] != nil && r.chans[name].confirmed
				r.mu.Unlock()
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("subscription never confirmed")
				}
			}
			want := func(id int64) {
				t.Helper()
				select {
				case ev := <-got:
					if ev.ID != id {
						t.Fatalf("delivered %d, want %d", ev.ID, id)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("event %d never delivered", id)
				}
			}
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
			missed := logs.of("1").append(1)[0] // logged while Redis was down
			cmd = start()
			want(missed.ID)
			ev := logs.of("1").append(1)[0]
			b, _ := json.Marshal(ev)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if err := publish(rdb, keys, name, b); err == nil {
					break
				} else if time.Now().After(deadline) {
					t.Fatal(err)
				}
			}
			want(ev.ID)
		})
	}
}

// TestHubSentinelFailover: the hub on a Sentinel-managed primary (sharded
// pub/sub, one connection) follows a failover: the primary is SIGKILLed,
// the sentinels promote the replica, the hub's subscription comes back on
// it by itself, the event logged meanwhile is delivered from the log, and
// live events flow again.
func TestHubSentinelFailover(t *testing.T) {
	addrs, master := testutil.StartSentinel(t)
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: master, SentinelAddrs: addrs})
	t.Cleanup(func() { _ = rdb.Close() })
	keys := chat.Keys{Prefix: testutil.Prefix(t), Sharded: true}
	logs := &userLogs{}
	h := New(rdb, keys, logs, Options{})
	t.Cleanup(h.Close)
	got := make(chan chat.Event, 10)
	t.Cleanup(h.Subscribe("d", "1", 0, func(ev chat.Event) { got <- ev }, func(string) {}))
	name := keys.EventLog("d", "1")
	r := h.ps.(*router)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r.mu.Lock()
		ok := r.chans[name] != nil && r.chans[name].confirmed
		r.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("subscription never confirmed")
		}
	}
	want := func(id int64) {
		t.Helper()
		select {
		case ev := <-got:
			if ev.ID != id {
				t.Fatalf("delivered %d, want %d", ev.ID, id)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("event %d never delivered", id)
		}
	}
	old := testutil.SentinelPrimary(t, addrs, master)
	testutil.KillRedis(t, old)
	missed := logs.of("1").append(1)[0] // logged while the primary is gone
	start := time.Now()
	want(missed.ID)
	t.Logf("the event logged during the failover delivered %v after the kill", time.Since(start).Round(time.Millisecond))
	if now := testutil.SentinelPrimary(t, addrs, master); now == old {
		t.Fatalf("delivered, but the sentinels still report %s as primary", old)
	}
	ev := logs.of("1").append(1)[0]
	b, _ := json.Marshal(ev)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := publish(rdb, keys, name, b); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	want(ev.ID)
}
