package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parley/chat"
	"parley/webhook"
)

// TestWebhooksCommand: `parley webhooks dead` lists what a receiver
// refused as JSON lines; `replay ID` and then `replay` queue them again,
// each once; bad usage exits 2.
func TestWebhooksCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url, rdb, prefix := cliRedis(t)
	keys := chat.Keys{Prefix: prefix}

	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no such user", http.StatusBadRequest)
	}))
	t.Cleanup(refuse.Close)
	q := webhook.New(rdb, keys, webhook.Options{URL: refuse.URL, Secret: []byte("0123456789abcdef"), Poll: 20 * time.Millisecond})
	for _, id := range []string{"evt-1", "evt-2"} {
		err := q.Enqueue(ctx, webhook.Payload{ID: id, Type: webhook.MessageNew, Domain: "acme", To: "7", From: "8",
			Created: webhook.TimeOf(time.Now().UnixMilli()), Message: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { q.Run(runCtx); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if dead, _ := q.Dead(ctx, 10); len(dead) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the two webhooks were not dead-lettered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done

	env := map[string]string{"PARLEY_REDIS_URL": url, "PARLEY_KEY_PREFIX": prefix}
	out, _, err := runCLI(t, env, "webhooks", "dead", "-n", "10")
	if err != nil {
		t.Fatalf("webhooks dead: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("webhooks dead printed %d lines, want 2:\n%s", len(lines), out)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var d struct {
			ID, Type, To, Error string
			Attempts            int
			FirstQueued         time.Time `json:"first_queued"`
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if d.Type != webhook.MessageNew || d.To != "7" || d.Attempts != 1 || !strings.Contains(d.Error, "HTTP 400: no such user") || d.FirstQueued.IsZero() {
			t.Errorf("dead line = %+v", d)
		}
		seen[d.ID] = true
	}
	if !seen["evt-1"] || !seen["evt-2"] {
		t.Errorf("dead ids = %v, want evt-1 and evt-2", seen)
	}
	if out, _, _ := runCLI(t, env, "webhooks", "dead", "-n", "1"); strings.Count(out, "\n") != 1 {
		t.Errorf("dead -n 1 printed:\n%s", out)
	}

	out, _, err = runCLI(t, env, "webhooks", "replay", "evt-2")
	if err != nil || !strings.Contains(out, "replayed 1 ") {
		t.Errorf("replay evt-2: %q, %v", out, err)
	}
	if out, _, _ := runCLI(t, env, "webhooks", "dead"); strings.Contains(out, "evt-2") || !strings.Contains(out, "evt-1") {
		t.Errorf("dead after replaying evt-2:\n%s", out)
	}
	out, _, err = runCLI(t, env, "webhooks", "replay")
	if err != nil || !strings.Contains(out, "replayed 1 ") {
		t.Errorf("replay (all): %q, %v", out, err)
	}
	var queued int64
	for s := range 8 { // the default shard count the command uses
		queued += rdb.XLen(ctx, keys.WebhookQueue(s)).Val()
	}
	if queued != 2 {
		t.Errorf("%d webhooks queued after the replays, want 2", queued)
	}

	for _, args := range [][]string{{"webhooks"}, {"webhooks", "purge"}, {"webhooks", "dead", "extra"}, {"webhooks", "dead", "-n", "0"}} {
		if _, _, err := runCLI(t, env, args...); err == nil || exitCode(err) != 2 {
			t.Errorf("%v: err = %v, want bad usage (exit status 2)", args, err)
		}
	}
}
