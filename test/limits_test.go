package test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/internal/testutil"
)

// hugeBody is an io.Reader of n bytes of a valid-looking Engine.IO text
// packet; it has no length, so net/http sends it chunked.
type hugeBody struct {
	left    int64
	started bool
}

func (h *hugeBody) Read(p []byte) (int, error) {
	if h.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), h.left)
	for i := range p[:n] {
		p[i] = 'x'
	}
	if !h.started && n > 0 {
		p[0] = '4' // an Engine.IO message packet
		h.started = true
	}
	h.left -= n
	return int(n), nil
}

// rssKB reads the resident set size of process pid from /proc.
func rssKB(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc (run on Linux to measure RSS): %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS line")
	return 0
}

// pollingSID opens an Engine.IO polling session and returns its sid.
func pollingSID(t *testing.T, n *node, header http.Header) (string, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", n.url+"/socket.io/?EIO=4&transport=polling", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := n.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return string(b), res.StatusCode
	}
	var open struct {
		SID string `json:"sid"`
	}
	if len(b) < 2 || json.Unmarshal(b[1:], &open) != nil || open.SID == "" {
		t.Fatalf("polling handshake: %q", b)
	}
	return open.SID, res.StatusCode
}

// TestTransportSizeLimits sends 5 concurrent 50 MB websocket frames (plain,
// then with per-message deflate offered) and 5 chunked 50 MB polling
// bodies, without a token, to the real binary: each
// websocket is closed, each body is answered 413, and the process's RSS
// stays within 30 MB of where it was.
func TestTransportSizeLimits(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	secret := randomHex(t, 32)
	n, cmd, _, out := startBinary(t, bin, append(testutil.RedisEnvList(t), "PARLEY_KEY_PREFIX="+testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN="+testutil.Domain(t), "PARLEY_JWT_SECRET="+secret)...)
	n.secret = secret
	// Warm up: one full socket, so the baseline includes what a node holds
	// anyway.
	c := dial(t, n, n.tok(t, 1, nil))
	_ = c.Close()
	time.Sleep(200 * time.Millisecond)
	before := rssKB(t, cmd.Process.Pid)

	const huge = 50 << 20
	// Websockets first, then polling bodies, so each figure is known.
	for _, phase := range []struct {
		name string
		send func() error
	}{
		{"5 websocket frames of 50 MB", func() error { return bigFrame(n, huge, false) }},
		{"5 websocket frames of 50 MB, deflate offered", func() error { return bigFrame(n, huge, true) }},
		{"5 chunked polling bodies of 50 MB", func() error { return bigPoll(t, n, huge) }},
	} {
		var wg sync.WaitGroup
		errs := make(chan error, 5)
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- phase.send()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		time.Sleep(500 * time.Millisecond)
		after := rssKB(t, cmd.Process.Pid)
		t.Logf("after %s: RSS %d KB (baseline %d KB, %+d KB)", phase.name, after, before, after-before)
		if after-before > 30<<10 {
			t.Errorf("after %s RSS grew by %d KB (from %d KB to %d KB), want at most 30 MB", phase.name, after-before, before, after)
		}
	}
	if t.Failed() {
		t.Logf("node output:\n%s", out.String())
	}
}

// bigFrame opens a websocket without a token and sends one frame of size
// bytes (compressed when the server accepts deflate); the server must close the connection (1009, or cut it) instead of
// reading the frame.
func bigFrame(n *node, size int, deflate bool) error {
	// With deflate the client offers per-message deflate: a compressed 50
	// MB frame is some 50 KB on the wire, under any limit on wire bytes.
	d := websocket.Dialer{EnableCompression: deflate, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(strings.Replace(n.url, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		return fmt.Errorf("websocket dial: %w", err)
	}
	defer ws.Close()
	ws.EnableWriteCompression(deflate)
	if _, _, err := ws.ReadMessage(); err != nil { // the open packet
		return fmt.Errorf("open packet: %w", err)
	}
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				closed <- err
				return
			}
		}
	}()
	w, err := ws.NextWriter(websocket.TextMessage)
	if err == nil {
		chunk := []byte(strings.Repeat("x", 1<<20))
		chunk[0] = '4'
		for sent := 0; sent < size && err == nil; sent += len(chunk) {
			_, err = w.Write(chunk)
			chunk[0] = 'x'
		}
		if err == nil {
			err = w.Close()
		}
	}
	select {
	case rerr := <-closed:
		var ce *websocket.CloseError
		if errors.As(rerr, &ce) && ce.Code != websocket.CloseMessageTooBig {
			return fmt.Errorf("websocket closed with %d, want 1009 (message too big)", ce.Code)
		}
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("a %d-byte frame did not close the websocket (write err %v)", size, err)
	}
}

// bigPoll opens a polling session without a token and POSTs a chunked
// body of size bytes: the answer must be 413 with the JSON envelope.
func bigPoll(t *testing.T, n *node, size int64) error {
	sid, status := pollingSID(t, n, nil)
	if status != http.StatusOK {
		return fmt.Errorf("polling handshake: %d %s", status, sid)
	}
	req, _ := http.NewRequest("POST", n.url+"/socket.io/?EIO=4&transport=polling&sid="+sid, &hugeBody{left: size})
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	res, err := n.hc.Do(req)
	if err != nil {
		// The server may answer 413 and close while the body is still
		// going out; net/http then reports the write error.
		return fmt.Errorf("chunked %d-byte POST: %w", size, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"PAYLOAD_TOO_LARGE"`) {
		return fmt.Errorf("chunked %d-byte POST: %d %q, want 413 PAYLOAD_TOO_LARGE", size, res.StatusCode, b)
	}
	return nil
}
