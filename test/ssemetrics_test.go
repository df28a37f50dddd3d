package test

import (
	"testing"
	"time"
)

// TestSSEStreamMetrics: an open stream shows in parley_sse_streams_connected
// and its deliveries in parley_events_emitted_total; closing it brings the
// gauge back to 0.
func TestSSEStreamMetrics(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	frames, cancel, _ := sseStream(t, n, "token="+n.tok(t, 2, nil), nil)
	nextFrame(t, frames, true) // ready
	n.sendText(t, n.tok(t, 1, nil), "2", "counted")
	nextFrame(t, frames, true)
	m := scrape(t, n.srv.MetricsHandler())
	if got, _ := sum(m, "parley_sse_streams_connected"); got != 1 {
		t.Errorf("parley_sse_streams_connected = %v with one stream open, want 1", got)
	}
	if got, _ := sum(m, "parley_events_emitted_total", `type="message:new"`); got != 1 {
		t.Errorf("parley_events_emitted_total{message:new} = %v, want 1", got)
	}
	cancel()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, _ := sum(scrape(t, n.srv.MetricsHandler()), "parley_sse_streams_connected")
		if got == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("parley_sse_streams_connected = %v after the stream closed, want 0", got)
		}
	}
}
