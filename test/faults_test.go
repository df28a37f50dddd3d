package test

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"parley/chat"
	"parley/internal/testutil"
)

// killableRedis is a private redis-server with persistence options that a
// test kills with SIGKILL and restarts on the same port and directory.
type killableRedis struct {
	t    *testing.T
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

func startKillableRedis(t *testing.T, args ...string) *killableRedis {
	t.Helper()
	testutil.NeedRedisServer(t)
	k := &killableRedis{t: t, port: testutil.FreePort(t), dir: t.TempDir(), args: args}
	k.start()
	t.Cleanup(k.kill)
	return k
}

func (k *killableRedis) addr() string { return fmt.Sprintf("127.0.0.1:%d", k.port) }

func (k *killableRedis) start() {
	k.t.Helper()
	base := []string{"--port", fmt.Sprint(k.port), "--bind", "127.0.0.1", "--save", "", "--dir", k.dir}
	k.cmd = exec.Command("redis-server", append(base, k.args...)...)
	if err := k.cmd.Start(); err != nil {
		k.t.Fatalf("start redis-server: %v", err)
	}
	testutil.WaitTCP(k.t, k.addr(), 10*time.Second)
}

// kill sends SIGKILL: no shutdown, no final fsync.
func (k *killableRedis) kill() {
	if k.cmd == nil {
		return
	}
	_ = k.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = k.cmd.Process.Wait()
	k.cmd = nil
}

// sendResult is one send of the load generator.
type sendResult struct {
	from, to string
	status   int
	took     time.Duration
	at       time.Time
	id       string // message id when 201
}

// loadUsers are the users the load generator sends between.
var loadUsers = []string{"1", "2", "3", "4"}

// runSendLoad sends from `workers` goroutines between loadUsers until ctx
// ends and returns every result.
func runSendLoad(ctx context.Context, t *testing.T, n *node, workers int) []sendResult {
	t.Helper()
	toks := map[string]string{}
	for _, u := range loadUsers {
		toks[u] = n.tok(t, u, nil)
	}
	var mu sync.Mutex
	var out []sendResult
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				from := loadUsers[(w+i)%len(loadUsers)]
				to := loadUsers[(w+i+1+w%3)%len(loadUsers)]
				if from == to {
					continue
				}
				start := time.Now()
				r := n.do(t, call{method: "POST", path: "/api/user/" + to, token: toks[from],
					body: fmt.Sprintf(`{"type":"text","text":"w%d-%d"}`, w, i)})
				res := sendResult{from: from, to: to, status: r.status, took: time.Since(start), at: start}
				if r.status == http.StatusCreated {
					res.id, _ = obj(t, r.obj, "entry")["id"].(string)
				} else if r.status != http.StatusServiceUnavailable || r.obj == nil || r.obj["code"] != "SERVICE_UNAVAILABLE" {
					t.Errorf("send %s->%s: %d %s, want 201 or the 503 envelope", from, to, r.status, r.raw)
				}
				mu.Lock()
				out = append(out, res)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// assertAllConsistent checks every conversation between loadUsers and
// that no other DM keys exist under the domain; it returns the message
// count per conversation key.
//
// First it completes every fan-out the outage left half-done, as the
// nodes' repair loop does once such a write is stale (chat.RunRepair):
// a send whose node lost Redis between its steps was not acknowledged,
// but its message is stored and must reach both users.
func assertAllConsistent(t *testing.T, n *node) map[string]int {
	t.Helper()
	repairer := chat.NewStore(n.rdb, chat.Keys{Prefix: n.prefix}, chat.Limits{}, time.Now)
	if _, err := repairer.RepairPending(context.Background(), "test", 0); err != nil {
		t.Fatalf("repair: %v", err)
	}
	counts := map[string]int{}
	known := map[string]bool{}
	keys := chat.Keys{Prefix: n.prefix}
	for i, a := range loadUsers {
		for _, b := range loadUsers[i+1:] {
			conv, _ := chat.NewConversation(chat.Domain(n.domain), chat.UserID(a), chat.UserID(b))
			counts[conv.Key()] = assertConsistent(t, n, n.domain, a, b)
			// Ops numbers the conversation's writes since they run as
			// per-slot steps (issue 16); Fanout and Pending are empty (gone)
			// once every fan-out is done.
			for _, k := range []string{keys.DM(conv), keys.Messages(conv), keys.Seq(conv), keys.TimeIndex(conv), keys.Ops(conv)} {
				known[k] = true
			}
		}
	}
	for key := range redisSnapshot(t, n.rdb, n.prefix+"{"+n.domain+":dm:") {
		if !known[key] {
			t.Errorf("unexpected key %s", key)
		}
	}
	return counts
}

// TestRedisKilledUnderLoad kills Redis (SIGKILL) while eight clients send:
// every failing request must be a 503 within 1 s, /readyz 503, nothing half
// written, and the node must serve again within 2 s of Redis returning,
// with its sockets still connected and receiving. Redis runs with AOF
// (appendfsync always) so the state after the restart is the state at the
// kill, and half-written sends would show.
func TestRedisKilledUnderLoad(t *testing.T) {
	t.Parallel()
	rp := startKillableRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	n := startServer(t, map[string]string{"PARLEY_REDIS_URL": "redis://" + rp.addr()})
	sock := dial(t, n, n.tok(t, "1", nil))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var killedAt time.Time
	var readyDown reply
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(time.Second)
		killedAt = time.Now()
		rp.kill()
		time.Sleep(200 * time.Millisecond)
		readyDown = n.get(t, "", "/readyz")
	}()
	results := runSendLoad(ctx, t, n, 8)
	<-killed

	var ok, failed int
	var maxFail time.Duration
	for _, r := range results {
		if r.status == http.StatusCreated {
			ok++
			if r.at.After(killedAt.Add(50 * time.Millisecond)) {
				t.Errorf("send started %s after the kill got 201", r.at.Sub(killedAt))
			}
			continue
		}
		failed++
		maxFail = max(maxFail, r.took)
		if r.at.Add(r.took).Before(killedAt) {
			t.Errorf("send that ended %s before the kill failed: %d", killedAt.Sub(r.at.Add(r.took)), r.status)
		}
	}
	t.Logf("Redis killed under load: %d sends acknowledged, %d failed with 503; slowest failure %s", ok, failed, maxFail.Round(time.Millisecond))
	if ok == 0 || failed == 0 {
		t.Fatalf("load did not straddle the kill: %d ok, %d failed", ok, failed)
	}
	if maxFail > time.Second {
		t.Errorf("slowest failing request took %s, want under 1s", maxFail)
	}
	wantError(t, readyDown, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")

	rp.start()
	back := time.Now()
	tok := n.tok(t, "2", nil)
	for {
		r := n.send(t, tok, "1", map[string]any{"type": "text", "text": "after restart"})
		if r.status == http.StatusCreated {
			break
		}
		if time.Since(back) > 2*time.Second {
			t.Fatalf("no successful send within 2s of Redis restarting: %d %s", r.status, r.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("recovered %s after Redis accepted connections again", time.Since(back).Round(time.Millisecond))
	mustStatus(t, n.get(t, "", "/readyz"), http.StatusOK)

	// The socket survived the outage; the send above (or, while the adapter
	// resubscribes, a retry) reaches it.
	deadline := time.After(5 * time.Second)
	got := false
	for !got {
		select {
		case ev, open := <-sock.Events:
			if !open {
				t.Fatalf("socket closed during the outage: %v", sock.Err())
			}
			if ev.Name == "message:new" && strings.Contains(string(ev.Args[0]), "after restart") {
				got = true
			}
		case <-time.After(500 * time.Millisecond):
			n.send(t, tok, "1", map[string]any{"type": "text", "text": "after restart (retry)"})
		case <-deadline:
			t.Fatal("socket received no message:new within 5s of recovery")
		}
	}
	assertAllConsistent(t, n)
}

// TestRedisAOFKeepsAcknowledged kills Redis (SIGKILL) mid-load with AOF
// appendfsync always and restarts it on the same directory and port:
// every send that got a 201 must be in the history afterwards.
func TestRedisAOFKeepsAcknowledged(t *testing.T) {
	t.Parallel()
	rp := startKillableRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	n := startServer(t, map[string]string{"PARLEY_REDIS_URL": "redis://" + rp.addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		time.Sleep(time.Second)
		rp.kill()
	}()
	results := runSendLoad(ctx, t, n, 8)
	<-killed
	rp.start()
	deadline := time.Now().Add(5 * time.Second)
	for n.get(t, "", "/readyz").status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ready 5s after Redis restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Read every conversation's full history through the API.
	found := map[string]bool{}
	for i, a := range loadUsers {
		for _, b := range loadUsers[i+1:] {
			tok := n.tok(t, a, nil)
			for page := 1; ; page++ {
				r := n.get(t, tok, fmt.Sprintf("/api/user/%s?limit=100&page=%d", b, page))
				mustStatus(t, r, http.StatusOK)
				msgs := objs(t, r.obj, "messages")
				for _, m := range msgs {
					found[m["id"].(string)] = true
				}
				if len(msgs) < 100 {
					break
				}
			}
		}
	}
	var acked, kept int
	var lost []string
	for _, r := range results {
		if r.status != http.StatusCreated {
			continue
		}
		acked++
		if found[r.id] {
			kept++
		} else {
			lost = append(lost, r.from+"->"+r.to+" "+r.id)
		}
	}
	sort.Strings(lost)
	t.Logf("AOF always, kill -9 mid-load: %d acknowledged, %d found after restart, %d lost, %d in history", acked, kept, len(lost), len(found))
	if acked == 0 || acked == len(results) {
		t.Fatalf("load did not straddle the kill: %d of %d acknowledged", acked, len(results))
	}
	if kept != acked {
		t.Errorf("%d acknowledged sends lost: %v", acked-kept, lost)
	}
	assertAllConsistent(t, n)
}
