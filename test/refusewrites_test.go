package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"parley/internal/testutil"
)

// refusedWrites are the writes of one user toward another that a Redis
// refusing writes must answer with 503 and Retry-After: send, typing, block,
// edit and read receipt (u2 reads u1's message id), and /readyz.
func refusedWrites(n *node, u1, u2, id string) []call {
	return []call{
		{method: "POST", path: "/api/user/2", token: u1, body: `{"type":"text","text":"refused"}`},
		{method: "POST", path: "/api/user/2", token: u1, body: `{"text":"refused","client_id":"c-oom"}`},
		{method: "POST", path: "/api/user/2/typing", token: u1},
		{method: "POST", path: "/api/block/2", token: u1},
		{method: "POST", path: "/api/user/2/" + id, token: u1, body: `{"text":"edited"}`},
		{method: "POST", path: "/api/user/1/read", token: u2, body: `{"upTo":"` + id + `"}`},
		{method: "GET", path: "/readyz"},
	}
}

// wantStorageUnavailable checks a 503 SERVICE_UNAVAILABLE envelope with a
// whole-seconds Retry-After.
func wantStorageUnavailable(t *testing.T, c call, r reply) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("%s %s: %d %s, want 503", c.method, c.path, r.status, r.raw)
		return
	}
	wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("%s %s: Retry-After %q, want whole seconds >= 1", c.method, c.path, r.header.Get("Retry-After"))
	}
}

// waitReady polls /readyz until it answers want, for up to 5 s.
func waitReady(t *testing.T, n *node, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := n.get(t, "", "/readyz")
		if r.status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %s after 5s, want %d", r.status, r.raw, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisOutOfMemory fills a private Redis to its maxmemory under
// noeviction: every write answers 503 with Retry-After (not 500), reads go
// on, /readyz is 503; once maxmemory is raised the node is ready and
// writes succeed again.
func TestRedisOutOfMemory(t *testing.T) {
	t.Parallel()
	testutil.NeedRedisServer(t)
	addr := testutil.StartRedis(t, "--maxmemory-policy", "noeviction")
	n := startServer(t, map[string]string{"PARLEY_REDIS_URL": "redis://" + addr})
	ctx := context.Background()
	u1, u2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	id := n.sendText(t, u1, "2", "before")["id"].(string)
	sock := dial(t, n, u1)
	waitReady(t, n, http.StatusOK)

	// Full: any maxmemory below what Redis already uses.
	if err := n.rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := n.rdb.Set(ctx, n.prefix+"probe", "x", time.Second).Err(); err == nil {
		t.Fatal("Redis accepted a write at maxmemory 1")
	} else {
		t.Logf("Redis at maxmemory: %v", err)
	}
	before := redisSnapshot(t, n.rdb, n.prefix)
	for _, c := range refusedWrites(n, u1, u2, id) {
		wantStorageUnavailable(t, c, n.do(t, c))
	}
	if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
		t.Errorf("Redis changed while refusing writes:\n%s", d)
	}
	// Socket.IO speaks the same table: the typing ack is the 503 envelope.
	if ack := typingAck(t, sock, "2"); ack["status"] != json.Number("503") || ack["code"] != "SERVICE_UNAVAILABLE" {
		t.Errorf("socket typing ack while full = %v, want the 503 SERVICE_UNAVAILABLE envelope", ack)
	}
	// Reads are still served.
	r := n.get(t, u1, "/api/user/2")
	mustStatus(t, r, http.StatusOK)
	wantNumber(t, "history total while full", obj(t, r.obj, "state")["total"], "1")

	if err := n.rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, n, http.StatusOK)
	n.sendText(t, u1, "2", "after")
	mustStatus(t, n.send(t, u1, "2", map[string]any{"text": "refused", "client_id": "c-oom"}), http.StatusCreated)
	mustStatus(t, n.do(t, call{method: "POST", path: "/api/user/2/typing", token: u1}), http.StatusOK)
}

// TestRedisReadOnlyReplica turns the node's Redis into a replica (of a
// master that is not there): writes get READONLY, which is 503 with
// Retry-After, and /readyz is 503; with replica-serve-stale-data off even
// reads get MASTERDOWN, also 503. Promoted back to a master, it serves.
func TestRedisReadOnlyReplica(t *testing.T) {
	t.Parallel()
	testutil.NeedRedisServer(t)
	addr := testutil.StartRedis(t)
	n := startServer(t, map[string]string{"PARLEY_REDIS_URL": "redis://" + addr})
	ctx := context.Background()
	u1, u2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	id := n.sendText(t, u1, "2", "before")["id"].(string)
	waitReady(t, n, http.StatusOK)

	if err := n.rdb.Do(ctx, "REPLICAOF", "127.0.0.1", fmt.Sprint(testutil.FreePort(t))).Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range refusedWrites(n, u1, u2, id) {
		wantStorageUnavailable(t, c, n.do(t, c))
	}
	mustStatus(t, n.get(t, u1, "/api/user/2"), http.StatusOK) // stale reads are served by default

	if err := n.rdb.ConfigSet(ctx, "replica-serve-stale-data", "no").Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []call{{method: "GET", path: "/api/user/2", token: u1}, {method: "GET", path: "/api/list", token: u1}} {
		wantStorageUnavailable(t, c, n.do(t, c))
	}

	if err := n.rdb.Do(ctx, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	waitReady(t, n, http.StatusOK)
	n.sendText(t, u1, "2", "after")
	r := n.get(t, u1, "/api/user/2")
	mustStatus(t, r, http.StatusOK)
	wantNumber(t, "history total after promotion", obj(t, r.obj, "state")["total"], "2")
}
