package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pythonSocketIO is Debian's python3 with python-socketio and requests
// (its polling transport); the test is skipped without them.
func pythonSocketIO(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import socketio, engineio, requests").CombinedOutput(); err != nil {
		t.Skipf("python-socketio client not available (%v: %s); install it with: apt-get install -y python3-socketio python3-requests", err, out)
	}
	return py
}

// pollingResult is what test/py/polling_replay.py prints.
type pollingResult struct {
	IDs         []int64 `json:"ids"`
	Handled     int     `json:"handled"`
	Disconnects int     `json:"disconnects"`
	MaxPayload  int     `json:"max_payload"`
	Error       string  `json:"error"`
}

func runPollingClient(t *testing.T, py string, n *node, token string, lastEventID int64, count int) pollingResult {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("py", "polling_replay.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script, n.url, token, fmt.Sprint(lastEventID), fmt.Sprint(count), "60")
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("polling_replay.py: %v\n%s\n%s", err, out, stderr)
	}
	var r pollingResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("polling_replay.py printed %q: %v", out, err)
	}
	return r
}

// TestPollingClientCatchesUp: python-socketio (Debian's python3-socketio,
// whose engine.io client refuses a polling payload of more than 16
// packets) forced onto long-polling reconnects after missing 200 events
// and must get all of them, in order, on one connection.
func TestPollingClientCatchesUp(t *testing.T) {
	t.Parallel()
	py := pythonSocketIO(t)
	n := startServer(t, nil)
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	sendBurst(t, n, t1, "2", "missed", missed)

	r := runPollingClient(t, py, n, t2, 0, missed)
	if r.Error != "" || r.Disconnects != 0 {
		t.Fatalf("polling client: error %q, %d disconnects, %d of %d events (largest payload %d packets)",
			r.Error, r.Disconnects, len(r.IDs), missed, r.MaxPayload)
	}
	if len(r.IDs) != missed || r.Handled != missed {
		t.Fatalf("polling client got %d events (%d handled), want %d", len(r.IDs), r.Handled, missed)
	}
	for i, id := range r.IDs {
		if id != int64(i+1) {
			t.Fatalf("event %d has id %d, want %d (ids %v)", i, id, i+1, r.IDs)
		}
	}
	if r.MaxPayload > n.cfg.PollingMaxPackets {
		t.Fatalf("a polling response held %d packets, limit %d", r.MaxPayload, n.cfg.PollingMaxPackets)
	}
	t.Logf("polling client: %d missed events in order, 0 disconnects, at most %d packets per response", missed, r.MaxPayload)
}

// TestPollingPayloadsHonourTheLimit: a raw Engine.IO long-polling client
// (no library in between) catching up on 200 events gets responses of at
// most PARLEY_POLLING_MAX_PACKETS packets, all events in order, once.
func TestPollingPayloadsHonourTheLimit(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_POLLING_MAX_PACKETS": "5"})
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	sendBurst(t, n, t1, "2", "missed", missed)

	base := n.url + "/socket.io/?EIO=4&transport=polling"
	open := pollGet(t, n, base)
	var hs struct {
		SID string `json:"sid"`
	}
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &hs) != nil || hs.SID == "" {
		t.Fatalf("handshake answered %q", open)
	}
	base += "&sid=" + hs.SID
	auth, _ := json.Marshal(map[string]any{"token": t2, "lastEventId": 0})
	pollPost(t, n, base, "40"+string(auth))

	var ids []int64
	largest, responses := 0, 0
	deadline := time.Now().Add(30 * time.Second)
	for len(ids) < missed && time.Now().Before(deadline) {
		packets := strings.Split(pollGet(t, n, base), "\x1e")
		responses++
		largest = max(largest, len(packets))
		for _, p := range packets {
			switch {
			case p == "2":
				pollPost(t, n, base, "3")
			case strings.HasPrefix(p, "44"):
				t.Fatalf("connect refused: %s", p)
			case strings.HasPrefix(p, `42["message:new",`):
				var ev []json.RawMessage
				var body struct {
					EventID int64 `json:"eventId"`
				}
				if err := json.Unmarshal([]byte(p[2:]), &ev); err != nil || len(ev) < 2 || json.Unmarshal(ev[1], &body) != nil {
					t.Fatalf("bad event packet %q", p)
				}
				ids = append(ids, body.EventID)
			}
		}
	}
	if len(ids) != missed {
		t.Fatalf("got %d of %d events in %d responses", len(ids), missed, responses)
	}
	for i, id := range ids {
		if id != int64(i+1) {
			t.Fatalf("event %d has id %d, want %d", i, id, i+1)
		}
	}
	if largest > 5 {
		t.Fatalf("a response held %d packets, PARLEY_POLLING_MAX_PACKETS is 5", largest)
	}
	t.Logf("raw polling client: %d events in order over %d responses of at most %d packets", missed, responses, largest)
}

func pollGet(t *testing.T, n *node, url string) string {
	t.Helper()
	resp, err := n.hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

func pollPost(t *testing.T, n *node, url, body string) {
	t.Helper()
	resp, err := n.hc.Post(url, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != "ok" {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}
