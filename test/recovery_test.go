package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/sioclient"
)

// The loss/dup tests: a client is cut off while 200 messages are sent,
// reconnects with its last event id, and must end with exactly those 200,
// in order, then live ones — on the same node and on the other node, over
// Socket.IO and over SSE.

const missed = 200

// received is what a client saw: message texts in order with their ids.
type received struct {
	texts []string
	ids   []int64
}

func (r *received) add(t *testing.T, who string, p map[string]any) {
	t.Helper()
	id, err := strconv.ParseInt(fmt.Sprint(p["eventId"]), 10, 64)
	if err != nil {
		t.Fatalf("%s: eventId %v", who, p["eventId"])
	}
	if n := len(r.ids); n > 0 && id != r.ids[n-1]+1 {
		t.Fatalf("%s: event %d after %d: a gap or a duplicate", who, id, r.ids[n-1])
	}
	entry, _ := p["entry"].(map[string]any)
	r.texts = append(r.texts, fmt.Sprint(entry["text"]))
	r.ids = append(r.ids, id)
}

// sendBurst sends n texts "<prefix>-<i>" from token to peer, in order.
func sendBurst(t *testing.T, n *node, token, peer, prefix string, count int) []string {
	t.Helper()
	texts := make([]string, count)
	for i := range texts {
		texts[i] = fmt.Sprintf("%s-%d", prefix, i)
		n.sendText(t, token, peer, texts[i])
	}
	return texts
}

func wantTexts(t *testing.T, who string, got []string, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s received %d messages, want %d", who, len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%s message %d = %q, want %q", who, i, got[i], want[i])
		}
	}
}

func dialAuth(t *testing.T, n *node, auth map[string]any) *sioclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, n.url, auth, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestSocketRecoveryNoLossNoDup(t *testing.T) {
	t.Parallel()
	for _, cross := range []bool{false, true} {
		t.Run(map[bool]string{false: "same node", true: "other node"}[cross], func(t *testing.T) {
			t.Parallel()
			nodes := cluster(t, 2, nil)
			a, b := nodes[0], nodes[1]
			back := a
			if cross {
				back = b
			}
			t1, t2 := a.tok(t, 1, nil), a.tok(t, 2, nil)
			var got received

			c := dialAuth(t, a, map[string]any{"token": t2})
			for _, text := range sendBurst(t, a, t1, "2", "before", 3) {
				ev := next(t, c, "user 2")
				got.add(t, "user 2", payload(t, ev))
				_ = text
			}
			_ = c.Close()

			want := sendBurst(t, a, t1, "2", "missed", missed)
			// More arrive while the client is replaying.
			var wg sync.WaitGroup
			wg.Add(1)
			var during []string
			go func() {
				defer wg.Done()
				during = sendBurst(t, a, t1, "2", "during", 20)
			}()
			c2 := dialAuth(t, back, map[string]any{"token": t2, "lastEventId": got.ids[len(got.ids)-1]})
			wg.Wait()
			want = append(want, during...)
			after := got
			after.texts = nil
			for range want {
				ev := next(t, c2, "user 2 after reconnect")
				if ev.Name != "message:new" {
					t.Fatalf("event %s, want message:new", ev.Name)
				}
				after.add(t, "user 2 after reconnect", payload(t, ev))
			}
			wantTexts(t, "user 2 after reconnect", after.texts, want)
			live := a.sendText(t, t1, "2", "live")
			ev := next(t, c2, "user 2 live")
			if e := payload(t, ev)["entry"].(map[string]any); e["id"] != live["id"] {
				t.Fatalf("live event %v, want %v", e["id"], live["id"])
			}
			quiet(t, c2, "user 2", 200*time.Millisecond)
			t.Logf("socket recovery (%s): %d missed + %d during replay delivered, 0 lost, 0 duplicated", map[bool]string{false: "same node", true: "other node"}[cross], missed, len(during))
		})
	}
}

func TestSocketRecoveryPastTheLogResyncs(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_EVENT_LOG_MAX": "10"})
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	sendBurst(t, n, t1, "2", "old", 30)
	c := dialAuth(t, n, map[string]any{"token": t2, "lastEventId": 5})
	ev := next(t, c, "user 2")
	if ev.Name != "resync" {
		t.Fatalf("first event %s, want resync", ev.Name)
	}
	if r, _ := payload(t, ev)["reason"].(string); r == "" {
		t.Error("resync without a reason")
	}
	// After a resync, live events flow from the log's head on.
	live := n.sendText(t, t1, "2", "after resync")
	p := payload(t, next(t, c, "user 2"))
	wantNumber(t, "eventId", p["eventId"], "31")
	wantString(t, "entry id", obj(t, p, "entry")["id"], live["id"].(string))
}

// sseFrame is one server-sent event.
type sseFrame struct {
	id, event, data string
}

// sseStream opens GET /api/events and streams frames (and ": ping"
// comments, as event "ping") until the test ends.
func sseStream(t *testing.T, n *node, query string, header http.Header) (<-chan sseFrame, context.CancelFunc, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/api/events?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan sseFrame, 1024)
	if resp.StatusCode != http.StatusOK {
		close(frames)
		return frames, cancel, resp
	}
	go func() {
		defer close(frames)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var f sseFrame
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if f.event != "" || f.data != "" {
					frames <- f
				}
				f = sseFrame{}
			case strings.HasPrefix(line, ":"):
				frames <- sseFrame{event: "ping"}
			case strings.HasPrefix(line, "id: "):
				f.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				f.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				f.data = line[6:]
			}
		}
	}()
	return frames, cancel, resp
}

func nextFrame(t *testing.T, frames <-chan sseFrame, skipPings bool) sseFrame {
	t.Helper()
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				t.Fatal("SSE stream ended")
			}
			if skipPings && f.event == "ping" {
				continue
			}
			return f
		case <-time.After(5 * time.Second):
			t.Fatal("no SSE frame within 5s")
		}
	}
}

func frameJSON(t *testing.T, f sseFrame) map[string]any {
	t.Helper()
	checkEventContract(t, f.event, []byte(f.data))
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(f.data))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%s data %q: %v", f.event, f.data, err)
	}
	return m
}

func TestSSERecoveryNoLossNoDup(t *testing.T) {
	t.Parallel()
	for _, cross := range []bool{false, true} {
		t.Run(map[bool]string{false: "same node", true: "other node"}[cross], func(t *testing.T) {
			t.Parallel()
			nodes := cluster(t, 2, nil)
			a := nodes[0]
			back := a
			if cross {
				back = nodes[1]
			}
			t1, t2 := a.tok(t, 1, nil), a.tok(t, 2, nil)
			frames, cancel, resp := sseStream(t, a, "token="+t2, nil)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || resp.Header.Get("X-Accel-Buffering") != "no" {
				t.Fatalf("headers: Content-Type %q, X-Accel-Buffering %q", ct, resp.Header.Get("X-Accel-Buffering"))
			}
			if f := nextFrame(t, frames, true); f.event != "ready" {
				t.Fatalf("first event %q, want ready", f.event)
			}
			var got received
			sendBurst(t, a, t1, "2", "before", 3)
			for range 3 {
				f := nextFrame(t, frames, true)
				p := frameJSON(t, f)
				if f.id != fmt.Sprint(p["eventId"]) {
					t.Fatalf("SSE id %q != eventId %v", f.id, p["eventId"])
				}
				got.add(t, "sse", p)
			}
			cancel()

			want := sendBurst(t, a, t1, "2", "missed", missed)
			hdr := http.Header{"Last-Event-Id": {strconv.FormatInt(got.ids[len(got.ids)-1], 10)}}
			frames2, _, _ := sseStream(t, back, "token="+t2, hdr)
			if f := nextFrame(t, frames2, true); f.event != "ready" {
				t.Fatalf("first event after reconnect %q, want ready", f.event)
			}
			after := received{ids: got.ids}
			for range want {
				f := nextFrame(t, frames2, true)
				if f.event != "message:new" {
					t.Fatalf("event %q, want message:new", f.event)
				}
				after.add(t, "sse after reconnect", frameJSON(t, f))
			}
			wantTexts(t, "sse after reconnect", after.texts, want)
			t.Logf("SSE recovery: %d missed messages delivered after Last-Event-ID, 0 lost, 0 duplicated", missed)
		})
	}
}

func TestSSEFiltersHeartbeatsAndErrors(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_SSE_HEARTBEAT": "100ms"})
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)

	// Only deletes, token in the query; heartbeats keep coming.
	frames, _, _ := sseStream(t, n, "types=message:delete&token="+t2, nil)
	if f := nextFrame(t, frames, true); f.event != "ready" {
		t.Fatalf("first event %q, want ready", f.event)
	}
	if f := nextFrame(t, frames, false); f.event != "ping" {
		t.Fatalf("got %q, want a heartbeat comment", f.event)
	}
	m := n.sendText(t, t1, "2", "to delete")
	mustStatus(t, n.do(t, call{method: "DELETE", path: "/api/user/2/" + m["id"].(string), token: t1}), http.StatusOK)
	f := nextFrame(t, frames, true)
	if f.event != "message:delete" {
		t.Fatalf("filtered stream got %q, want only message:delete", f.event)
	}
	wantString(t, "deleted id", frameJSON(t, f)["id"], m["id"].(string))

	for _, tt := range []struct {
		name, query string
		header      http.Header
		status      int
	}{
		{"no token", "", nil, 401},
		{"bad token", "token=nope", nil, 401},
		{"unknown type", "types=message:new,bogus&token=" + t2, nil, 400},
		{"header token", "", http.Header{"X-Auth-Token": {t2}}, 200},
	} {
		_, cancel, resp := sseStream(t, n, tt.query, tt.header)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d", tt.name, resp.StatusCode, tt.status)
		}
		cancel()
	}
}
