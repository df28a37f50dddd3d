package test

import (
	"context"
	"testing"
	"time"
)

// TestReplayRetriedAfterRedisPause: a client reconnects with a lastEventId
// while Redis is paused, so its replay read fails; once the pause ends it
// receives every event it missed, with no new event sent to prompt it.
// Another device of the same user stays connected, so the user's channel is
// already confirmed and no new confirmation re-reads the log either.
func TestReplayRetriedAfterRedisPause(t *testing.T) {
	t.Parallel()
	rp := startKillableRedis(t)
	n := startServer(t, map[string]string{"PARLEY_REDIS_URL": "redis://" + rp.addr()})
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)

	other := dial(t, n, t2) // user 2's other device keeps the channel live
	c := dial(t, n, t2)
	var got received
	sendBurst(t, n, t1, "2", "before", 3)
	for range 3 {
		got.add(t, "user 2", payload(t, next(t, c, "user 2")))
		next(t, other, "user 2's other device")
	}
	_ = c.Close()
	want := sendBurst(t, n, t1, "2", "missed", 20)
	for range want {
		next(t, other, "user 2's other device")
	}

	const pause = 6 * time.Second // longer than a Redis read may take (1 s)
	if err := n.rdb.Do(context.Background(), "CLIENT", "PAUSE", pause.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
	resumed := time.Now().Add(pause)
	c2 := dialAuth(t, n, map[string]any{"token": t2, "lastEventId": got.ids[len(got.ids)-1]})

	after := got
	after.texts = nil
	within := time.Until(resumed) + 5*time.Second
	deadline := time.After(within)
	for range want {
		select {
		case ev, ok := <-c2.Events:
			if !ok {
				t.Fatalf("connection ended: %v", c2.Err())
			}
			after.add(t, "user 2 after reconnect", payload(t, ev))
		case <-deadline:
			t.Fatalf("user 2 received %d of %d missed events within 5s after the pause ended", len(after.texts), len(want))
		}
	}
	wantTexts(t, "user 2 after reconnect", after.texts, want)
	m := scrape(t, n.srv.MetricsHandler())
	if got, _ := sum(m, "parley_log_read_retries_total"); got < 1 {
		t.Errorf("parley_log_read_retries_total = %v, want at least 1 (the failed replay read)", got)
	}
	if got, found := sum(m, "parley_log_reads_pending"); !found || got != 0 {
		t.Errorf("parley_log_reads_pending = %v (exported: %v), want 0 once the replay is done", got, found)
	}
	t.Logf("replay after a %s Redis pause: %d missed events delivered %s after the pause ended",
		pause, len(want), time.Since(resumed).Round(10*time.Millisecond))
}
