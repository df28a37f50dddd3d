package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/internal/sioclient"
	"parley/internal/testutil"
)

// Slow consumers: a client that stops reading must not make the node hold
// everything sent to it. Each test stalls one client of one user while
// slowEvents events are sent to that user, and checks that the node closes
// it as slow (parley_connections_closed_slow_total), that its heap does not
// grow by what the stalled client was sent, that a normal client of another
// user gets all its events meanwhile, and that the slow user, reconnecting
// with the last event id it has, gets every event it missed.

const (
	slowEvents  = 5000
	slowText    = 1000 // characters per message: 5 000 events are ~6 MB of frames
	normalCount = 500
	slowSenders = 8
)

// smallRcvBuf dials TCP with a 4 KiB receive buffer, set before connect so
// that the window the peer sees stays small: a client that stops reading
// then holds little in the kernel, and the rest waits on the server.
func smallRcvBuf(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return d.DialContext(ctx, network, addr)
}

// heapNow is the live heap after a full collection.
func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// sendSlowLoad sends slowEvents messages to slow (from slowSenders users at
// once) and normalCount to normal (from one user, meanwhile).
func sendSlowLoad(t *testing.T, n *node, slow, normal string) {
	t.Helper()
	text := strings.Repeat("x", slowText)
	var wg sync.WaitGroup
	for i := range slowSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := n.tok(t, 900+i, nil)
			for range slowEvents / slowSenders {
				mustStatus(t, n.send(t, tok, slow, map[string]any{"text": text}), http.StatusCreated)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tok := n.tok(t, 899, nil)
		for range normalCount {
			mustStatus(t, n.send(t, tok, normal, map[string]any{"text": "hello"}), http.StatusCreated)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	wg.Wait()
}

// waitMetric waits until the series reaches want; it reports whether it did.
func waitMetric(t *testing.T, n *node, d time.Duration, want float64, name string, labels ...string) (float64, bool) {
	t.Helper()
	var got float64
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got, _ = sum(scrape(t, n.srv.MetricsHandler()), name, labels...)
		if got == want {
			return got, true
		}
	}
	return got, false
}

// socketEventID is the eventId of a Socket.IO event message ("42[name,{…}]"), 0 for
// none.
func socketEventID(msg string) (name string, id int64) {
	body, ok := strings.CutPrefix(msg, "42")
	if !ok {
		return "", 0
	}
	var arr []json.RawMessage
	if json.Unmarshal([]byte(body), &arr) != nil || len(arr) < 1 {
		return "", 0
	}
	_ = json.Unmarshal(arr[0], &name)
	if len(arr) > 1 {
		var p struct {
			EventID int64 `json:"eventId"`
		}
		_ = json.Unmarshal(arr[1], &p)
		id = p.EventID
	}
	return name, id
}

// TestSlowSocketConsumer: a websocket client that completes its CONNECT and
// then never reads is closed as slow; the node does not keep the 5 000
// events sent to it; another user's socket gets all its events meanwhile;
// and the slow user's next socket replays everything after the last id it
// got.
func TestSlowSocketConsumer(t *testing.T) {
	testutil.NeedRealRedis(t, "measures this process's heap, which an in-process embedded store shares")
	// A queue bound of 256 KiB keeps what the node may legitimately hold for
	// the stalled socket (its queue, engine.io's buffers, the replay batch
	// in hand) well under the heap check's half of what is sent, so the
	// check measures the bound and not the machine's load.
	n := startServer(t, map[string]string{"PARLEY_EVENT_LOG_MAX": "10000", "PARLEY_CONN_WRITE_TIMEOUT": "2s",
		"PARLEY_CONN_QUEUE_BYTES": "262144"})
	slowTok := n.tok(t, 101, nil)

	// The slow client: a raw websocket with a small receive buffer.
	u, _ := url.Parse(n.url)
	ws := websocket.Dialer{NetDialContext: smallRcvBuf, HandshakeTimeout: 5 * time.Second, ReadBufferSize: 1024}
	conn, _, err := ws.Dial("ws://"+u.Host+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, open, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0") {
		t.Fatalf("open packet %q, %v", open, err)
	}
	auth, _ := json.Marshal(map[string]any{"token": slowTok, "lastEventId": 0})
	if err := conn.WriteMessage(websocket.TextMessage, append([]byte("40"), auth...)); err != nil {
		t.Fatal(err)
	}
	for {
		_, m, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for the CONNECT ack: %v", err)
		}
		if strings.HasPrefix(string(m), "40") {
			break
		}
	}
	// From here on the slow client reads nothing.

	normal := dial(t, n, n.tok(t, 102, nil))
	type got struct {
		ids []int64
		lag time.Duration
	}
	normalDone := make(chan got, 1)
	go func() {
		var g got
		for ev := range normal.Events {
			if ev.Name != "message:new" || len(ev.Args) != 1 {
				continue
			}
			var p struct {
				EventID int64 `json:"eventId"`
				Entry   struct {
					Timestamp struct {
						Epoch int64 `json:"epoch"`
					} `json:"timestamp"`
				} `json:"entry"`
			}
			_ = json.Unmarshal(ev.Args[0], &p)
			g.ids = append(g.ids, p.EventID)
			g.lag = max(g.lag, time.Since(time.UnixMilli(p.Entry.Timestamp.Epoch)))
			if len(g.ids) == normalCount {
				break
			}
		}
		normalDone <- g
	}()

	before := heapNow()
	rssBefore := rssKB(t, os.Getpid())
	start := time.Now()
	sendSlowLoad(t, n, "101", "102")
	after := heapNow()
	rssAfter := rssKB(t, os.Getpid())
	sentBytes := slowEvents * slowText
	t.Logf("sent %d events (%d KiB of text) to the stalled client in %v: heap %d KiB -> %d KiB (%+d KiB), RSS %d KiB -> %d KiB",
		slowEvents, sentBytes/1024, time.Since(start).Round(time.Millisecond), before/1024, after/1024,
		(int64(after)-int64(before))/1024, rssBefore, rssAfter)
	if grown := int64(after) - int64(before); grown > int64(sentBytes)/2 {
		t.Errorf("the heap grew by %d KiB while a stalled client was sent %d KiB: the node keeps what it cannot write", grown/1024, sentBytes/1024)
	}

	select {
	case g := <-normalDone:
		for i, id := range g.ids {
			if id != int64(i+1) {
				t.Fatalf("normal client: event %d has id %d, want %d (lost or reordered)", i, id, i+1)
			}
		}
		t.Logf("normal client: %d/%d events, in order, max latency %v", len(g.ids), normalCount, g.lag.Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("normal client: not all events within 20s")
	}

	// The node closes the stalled socket as slow, well before the 55 s a
	// silent peer takes to time out.
	if v, ok := waitMetric(t, n, 15*time.Second, 1, "parley_connections_closed_slow_total", `transport="socketio"`); !ok {
		t.Fatalf("parley_connections_closed_slow_total{transport=socketio} = %v 15s after the load, want 1: the stalled socket was not closed as slow", v)
	}
	if v, ok := waitMetric(t, n, 15*time.Second, 1, "parley_sockets_connected"); !ok {
		t.Fatalf("parley_sockets_connected = %v, want 1 (the normal socket): the slow one is still open", v)
	}
	// The client reads what reached it, then the end: the server closed it.
	var last int64
	frames := 0
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, m, err := conn.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the stalled socket was not closed by the server (read %d frames, then nothing for 10s)", frames)
			}
			break
		}
		frames++
		if _, id := socketEventID(string(m)); id > 0 {
			if id != last+1 {
				t.Fatalf("slow client: event %d after %d", id, last)
			}
			last = id
		}
	}
	t.Logf("slow client: read %d frames (last eventId %d) before the close", frames, last)

	// Reconnecting with its last id, the slow user gets everything else.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	again, err := sioclient.Dial(ctx, n.url, map[string]any{"token": slowTok, "lastEventId": last}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	want := last + 1
	for want <= slowEvents {
		select {
		case ev, ok := <-again.Events:
			if !ok {
				t.Fatalf("replay ended at %d: %v", want, again.Err())
			}
			if ev.Name != "message:new" {
				continue
			}
			var p struct {
				EventID int64 `json:"eventId"`
			}
			_ = json.Unmarshal(ev.Args[0], &p)
			if p.EventID != want {
				t.Fatalf("replay: event %d, want %d", p.EventID, want)
			}
			want++
		case <-time.After(10 * time.Second):
			t.Fatalf("replay: no event after %d within 10s", want-1)
		}
	}
	t.Logf("slow user's new socket: replayed %d events, 0 lost", slowEvents-last)
}

// TestSlowSSEConsumer: an event stream whose reader stops reading is closed
// once a write blocks past PARLEY_CONN_WRITE_TIMEOUT; its user, reconnecting
// with Last-Event-ID, loses nothing; another user's stream gets all its
// events meanwhile.
func TestSlowSSEConsumer(t *testing.T) {
	testutil.NeedRealRedis(t, "measures this process's heap, which an in-process embedded store shares")
	n := startServer(t, map[string]string{"PARLEY_EVENT_LOG_MAX": "10000", "PARLEY_CONN_WRITE_TIMEOUT": "2s"})
	slowTok := n.tok(t, 201, nil)
	u, _ := url.Parse(n.url)
	conn, err := smallRcvBuf(context.Background(), "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/events?token=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", slowTok, u.Host)
	br := bufio.NewReaderSize(conn, 512)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("waiting for the ready event: %v", err)
		}
		if strings.HasPrefix(line, "event: ready") {
			break
		}
	}
	// From here on the slow reader reads nothing.

	frames, _, _ := sseStream(t, n, "token="+n.tok(t, 202, nil), nil)
	nextFrame(t, frames, true) // ready
	normalDone := make(chan []int64, 1)
	go func() {
		var ids []int64
		for f := range frames {
			if f.event == "message:new" {
				id, _ := strconv.ParseInt(f.id, 10, 64)
				ids = append(ids, id)
				if len(ids) == normalCount {
					break
				}
			}
		}
		normalDone <- ids
	}()

	before := heapNow()
	sendSlowLoad(t, n, "201", "202")
	after := heapNow()
	t.Logf("sent %d events to the stalled reader: heap %d KiB -> %d KiB (%+d KiB)", slowEvents,
		before/1024, after/1024, (int64(after)-int64(before))/1024)
	if grown := int64(after) - int64(before); grown > slowEvents*slowText/2 {
		t.Errorf("the heap grew by %d KiB while a stalled reader was sent its events", grown/1024)
	}
	select {
	case ids := <-normalDone:
		for i, id := range ids {
			if id != int64(i+1) {
				t.Fatalf("normal stream: event %d has id %d, want %d", i, id, i+1)
			}
		}
		if len(ids) != normalCount {
			t.Fatalf("normal stream: %d events, want %d", len(ids), normalCount)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("normal stream: not all events within 20s")
	}

	if v, ok := waitMetric(t, n, 15*time.Second, 1, "parley_connections_closed_slow_total", `transport="sse"`); !ok {
		t.Fatalf("parley_connections_closed_slow_total{transport=sse} = %v 15s after the load, want 1: the stalled stream was not closed", v)
	}
	if v, ok := waitMetric(t, n, 10*time.Second, 1, "parley_sse_streams_connected"); !ok {
		t.Fatalf("parley_sse_streams_connected = %v, want 1 (the normal stream)", v)
	}
	// The reader reads what reached it, then the end of the stream.
	var last int64
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the stalled stream was not closed by the server")
			}
			if err != io.EOF {
				t.Logf("stream ended: %v", err)
			}
			break
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "id: "); ok {
			// A chunk boundary may cut a line; only whole id lines count.
			if id, err := strconv.ParseInt(v, 10, 64); err == nil && id == last+1 {
				last = id
			}
		}
	}
	t.Logf("slow reader: last id %d before the close", last)

	again, _, _ := sseStream(t, n, "token="+slowTok, http.Header{"Last-Event-Id": {strconv.FormatInt(last, 10)}})
	want := last + 1
	for want <= slowEvents {
		f := nextFrame(t, again, true)
		if f.event != "message:new" {
			continue
		}
		if id, _ := strconv.ParseInt(f.id, 10, 64); id != want {
			t.Fatalf("replay: event %s, want %d", f.id, want)
		}
		want++
	}
	t.Logf("slow user's new stream: replayed %d events, 0 lost", slowEvents-last)
}

// smallSndBufListener gives every accepted connection a 4 KiB send buffer,
// so that what a stalled client cannot take waits on the server, not in the
// kernel.
type smallSndBufListener struct{ net.Listener }

func (l smallSndBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// rawSocket opens a websocket with a small receive buffer and completes the
// Socket.IO CONNECT with auth; it reads nothing more.
func rawSocket(t *testing.T, base string, auth map[string]any) *websocket.Conn {
	t.Helper()
	u, _ := url.Parse(base)
	ws := websocket.Dialer{NetDialContext: smallRcvBuf, HandshakeTimeout: 5 * time.Second, ReadBufferSize: 1024}
	conn, _, err := ws.Dial("ws://"+u.Host+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, open, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0") {
		t.Fatalf("open packet %q, %v", open, err)
	}
	b, _ := json.Marshal(auth)
	if err := conn.WriteMessage(websocket.TextMessage, append([]byte("40"), b...)); err != nil {
		t.Fatal(err)
	}
	for {
		_, m, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for the CONNECT ack: %v", err)
		}
		if strings.HasPrefix(string(m), "40") {
			return conn
		}
	}
}

// TestSlowSocketConsumerToldWhy: a socket closed as slow is told why. The
// event disconnect_reason {code: SLOW_CONSUMER} is queued behind what it
// has not read; a client that reads again before PARLEY_CONN_WRITE_TIMEOUT
// passes gets every queued event, then that reason, then the close (a
// transport close, after which socket.io-client reconnects on its own).
func TestSlowSocketConsumerToldWhy(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_CONN_QUEUE_MAX": "10", "PARLEY_CONN_WRITE_TIMEOUT": "3s"})
	// The node again, on a listener whose connections buffer little.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: n.srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(smallSndBufListener{ln}) }()
	t.Cleanup(func() { _ = hs.Close() })

	conn := rawSocket(t, "http://"+ln.Addr().String(), map[string]any{"token": n.tok(t, 301, nil)})
	text := strings.Repeat("y", slowText)
	tok := n.tok(t, 302, nil)
	for range 200 {
		mustStatus(t, n.send(t, tok, "301", map[string]any{"text": text}), http.StatusCreated)
	}
	if v, ok := waitMetric(t, n, 15*time.Second, 1, "parley_connections_closed_slow_total", `transport="socketio"`); !ok {
		t.Fatalf("parley_connections_closed_slow_total{transport=socketio} = %v, want 1", v)
	}
	var last int64
	var reason string
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, m, err := conn.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the slow socket was not closed after its reason")
			}
			break
		}
		if reason != "" {
			t.Fatalf("after disconnect_reason: %.60s", m)
		}
		name, id := socketEventID(string(m))
		switch {
		case name == "disconnect_reason":
			var arr []json.RawMessage
			_ = json.Unmarshal(m[2:], &arr)
			checkEventContract(t, name, arr[1])
			var p struct{ Code string }
			_ = json.Unmarshal(arr[1], &p)
			reason = p.Code
		case id > 0:
			if id != last+1 {
				t.Fatalf("event %d after %d", id, last)
			}
			last = id
		}
	}
	if reason != "SLOW_CONSUMER" {
		t.Fatalf("disconnect_reason code %q before the close, want SLOW_CONSUMER (read events 1..%d)", reason, last)
	}
	t.Logf("read events 1..%d, then disconnect_reason SLOW_CONSUMER, then the close", last)
}
