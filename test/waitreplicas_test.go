package test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/testutil"
)

// startReplicated starts a primary and one replica of it (private
// redis-servers), waits until the replica is synced and returns both
// addresses.
func startReplicated(t *testing.T) (primary, replica string) {
	t.Helper()
	primary = testutil.StartRedis(t)
	host, port, _ := strings.Cut(primary, ":")
	replica = testutil.StartRedis(t, "--replicaof", host, port)
	rc := redis.NewClient(&redis.Options{Addr: replica})
	defer rc.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := rc.Info(context.Background(), "replication").Result()
		if strings.Contains(info, "master_link_status:up") && strings.Contains(info, "master_sync_in_progress:0") {
			return primary, replica
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not synced: %s", replica, info)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PARLEY_REDIS_WAIT_REPLICAS=1: a send is acknowledged (201) only once a
// replica has it. With the replica gone, the send answers 503 within the
// WAIT timeout (plus a second); the write happened on the primary, and a
// retry with the same client_id (here through a node without WAIT) gets
// that very message.
func TestWaitReplicas(t *testing.T) {
	primary, replica := startReplicated(t)
	url := "redis://" + primary + "/0"
	n := startServer(t, map[string]string{"PARLEY_REDIS_URL": url,
		"PARLEY_REDIS_WAIT_REPLICAS": "1", "PARLEY_REDIS_WAIT_TIMEOUT": "300ms"})
	a := n.tok(t, 1, nil)
	first := n.sendText(t, a, "2", "replicated")
	// The replica holds the message: the 201 came after its ack.
	rc := redis.NewClient(&redis.Options{Addr: replica})
	keys, err := rc.Keys(context.Background(), n.prefix+"*").Result()
	rc.Close()
	if err != nil || len(keys) == 0 {
		t.Fatalf("replica holds no key of the test after a 201 (%v)", err)
	}

	testutil.KillRedis(t, replica)
	body := map[string]any{"type": "text", "text": "unconfirmed", "client_id": "c-1"}
	start := time.Now()
	r := n.send(t, a, "2", body)
	took := time.Since(start)
	t.Logf("send with the replica dead: %d after %s", r.status, took.Round(time.Millisecond))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("send with the replica dead: status %d, want 503: %s", r.status, r.raw)
	}
	if took > 1300*time.Millisecond {
		t.Errorf("503 took %s, want within WAIT timeout 300ms + 1s", took)
	}
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if !strings.Contains(string(r.raw), "too few replicas confirmed it") {
		t.Errorf("503 does not say why: %s", r.raw)
	}
	// Edits go through the same steps.
	edit := n.do(t, call{method: "POST", path: "/api/user/2/" + first["id"].(string), token: a, body: map[string]any{"text": "edited"}})
	if edit.status != http.StatusServiceUnavailable {
		t.Errorf("edit with the replica dead: status %d, want 503: %s", edit.status, edit.raw)
	}
	// The same send, retried with its client_id through a node that does
	// not WAIT, is one message.
	plain := startServer(t, map[string]string{"PARLEY_REDIS_URL": url,
		"PARLEY_KEY_PREFIX": n.prefix, "PARLEY_DEFAULT_DOMAIN": n.domain, "PARLEY_JWT_SECRET": n.secret})
	for i := range 2 {
		again := plain.send(t, a, "2", body)
		if again.status != http.StatusCreated && again.status != http.StatusOK {
			t.Fatalf("retry %d: status %d: %s", i, again.status, again.raw)
		}
	}
	h := plain.get(t, plain.tok(t, 2, nil), "/api/user/1")
	mustStatus(t, h, http.StatusOK)
	count := strings.Count(string(h.raw), `"unconfirmed"`)
	if count != 1 {
		t.Errorf("history holds %d copies of the retried send, want 1: %s", count, h.raw)
	}
}
