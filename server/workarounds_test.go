package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/zishang520/engine.io-go-parser/packet"
	"github.com/zishang520/engine.io/v2/engine"
	"github.com/zishang520/socket.io/v2/socket"

	"parley/internal/sioclient"
)

// Each engine.io v2.5.0 workaround (workarounds.go, wsgate.go) is tested
// in two halves: "upstream" switches the workaround off and shows the bug
// is still there — when a library upgrade makes that half fail, the
// workaround can be dropped —, "workaround" shows it holds.

// TestWorkaroundPerMessageDeflate broadcasts a burst to one socket through
// the namespace (the adapter's path, which pre-encodes the frame): without
// a PerMessageDeflate setting the websocket transport writes the first
// packet of each flushed batch and drops the rest.
func TestWorkaroundPerMessageDeflate(t *testing.T) {
	const burst = 300
	received := func(t *testing.T, w engineWorkarounds) int {
		f := newRTFixture(t, realtimeOptions{workarounds: w})
		c := f.dial(t, "1")
		for i := range burst {
			_ = f.rt.io.Emit("burst", i)
		}
		got := 0
		for {
			select {
			case ev, ok := <-c.Events:
				if !ok {
					t.Fatalf("connection ended after %d events: %v", got, c.Err())
				}
				if ev.Name == "burst" {
					got++
				}
				if got == burst {
					return got
				}
			case <-time.After(2 * time.Second): // nothing more is coming
				return got
			}
		}
	}
	t.Run("upstream", func(t *testing.T) {
		if got := received(t, engineWorkarounds{noDeflateSetting: true}); got >= burst {
			t.Errorf("without the setting all %d broadcast packets arrived: engine.io no longer drops a batch's pre-encoded frames; the workaround can go", burst)
		} else {
			t.Logf("without the setting %d of %d broadcast packets arrived", got, burst)
		}
	})
	t.Run("workaround", func(t *testing.T) {
		if got := received(t, engineWorkarounds{}); got != burst {
			t.Errorf("%d of %d broadcast packets arrived, want all", got, burst)
		}
	})
}

// TestWorkaroundPingTimeoutAboveInterval constructs the race directly: a
// hook on the engine's "drain" (emitted by the pinging goroutine between
// sending a ping and arming its pong timer) holds that goroutine until the
// client's pong has been handled, every ping. With the timeout under the
// interval the pong timer armed afterwards closes a healthy socket with
// "ping timeout"; with it above, the next ping clears it first.
func TestWorkaroundPingTimeoutAboveInterval(t *testing.T) {
	const interval = 100 * time.Millisecond
	const pings = 10
	type result struct {
		closed string // the engine's close reason, "" while open
		held   int64  // pings held until their pong
	}
	run := func(t *testing.T, timeout time.Duration) result {
		f := newRTFixture(t, realtimeOptions{workarounds: engineWorkarounds{pingInterval: interval, pingTimeout: timeout}})
		var held atomic.Int64
		closed := make(chan string, 1)
		_ = f.rt.io.Engine().On("connection", func(args ...any) {
			es := args[0].(engine.Socket)
			var pinged atomic.Bool
			pongs := make(chan struct{}, 1)
			_ = es.On("heartbeat", func(...any) {
				select {
				case pongs <- struct{}{}:
				default:
				}
			})
			_ = es.On("flush", func(args ...any) {
				for _, p := range args[0].([]*packet.Packet) {
					if p.Type == packet.PING {
						pinged.Store(true)
					}
				}
			})
			_ = es.On("drain", func(...any) {
				if !pinged.CompareAndSwap(true, false) {
					return
				}
				select {
				case <-pongs:
					held.Add(1)
				case <-time.After(2 * time.Second):
				}
			})
			_ = es.Once("close", func(args ...any) {
				reason, _ := args[0].(string)
				closed <- reason
			})
		})
		f.dial(t, "1") // sioclient answers each ping at once
		deadline := time.After(pings*interval + 5*time.Second)
		for {
			select {
			case reason := <-closed:
				return result{closed: reason, held: held.Load()}
			case <-deadline:
				return result{held: held.Load()}
			case <-time.After(interval / 2):
				if held.Load() >= pings {
					return result{held: held.Load()}
				}
			}
		}
	}
	t.Run("upstream", func(t *testing.T) {
		r := run(t, interval/2)
		if r.held == 0 {
			t.Fatalf("no ping was held until its pong (closed %q): the hook did not construct the race", r.closed)
		}
		if r.closed != "ping timeout" {
			t.Errorf("timeout under the interval: socket closed %q after %d held pings, want \"ping timeout\": engine.io no longer arms a pong timer a pong already answered; the workaround can go", r.closed, r.held)
		}
	})
	t.Run("workaround", func(t *testing.T) {
		// Any timeout above the interval defuses the race (production:
		// 25 s / 30 s); 4x leaves a loaded machine room to answer pings.
		r := run(t, interval*4)
		if r.closed != "" || r.held < pings {
			t.Errorf("timeout above the interval: closed %q after %d held pings, want open after %d", r.closed, r.held, pings)
		}
	})
}

// TestWorkaroundWebsocketGate constructs the race the gate closes: the
// client sends its CONNECT the moment the upgrade answers, and a hook
// (engineWorkarounds.beforeClientSetup) holds socket.io, about to listen
// to the new engine connection, until the engine has read those bytes
// from the wire (100 ms at most, well under gateLimit) and 20 ms more for
// it to dispatch them. Without the gate the engine reads and drops the
// CONNECT, and the client never gets its ack; with it, nothing is read
// before socket.io listens, so the hook waits for nothing and every
// CONNECT is answered.
func TestWorkaroundWebsocketGate(t *testing.T) {
	const clients = 5
	dropped := func(t *testing.T, w engineWorkarounds) int {
		read := make(chan struct{}, 1) // the client's bytes were read
		w.beforeClientSetup = func() {
			select {
			case <-read:
				time.Sleep(20 * time.Millisecond)
			case <-time.After(100 * time.Millisecond):
			}
		}
		f := newRTFixture(t, realtimeOptions{workarounds: w}, func(h http.Handler) http.Handler { return observeReads(h, read) })
		lost := 0
		for i := range clients { // one at a time: the hook has one signal
			select {
			case <-read:
			default:
			}
			if !f.connectEagerly(t, strconv.Itoa(i)) {
				lost++
			}
		}
		return lost
	}
	t.Run("upstream", func(t *testing.T) {
		n := dropped(t, engineWorkarounds{noWebsocketGate: true})
		t.Logf("without the gate %d of %d eager CONNECTs were dropped", n, clients)
		if n == 0 {
			t.Errorf("without the gate no eager CONNECT of %d was dropped: engine.io no longer reads a websocket before socket.io listens; the gate can go", clients)
		}
	})
	t.Run("workaround", func(t *testing.T) {
		if n := dropped(t, engineWorkarounds{}); n != 0 {
			t.Errorf("with the gate %d of %d eager CONNECTs were dropped, want 0", n, clients)
		}
	})
}

// TestWorkaroundConnectHold constructs the race the connect hold closes:
// a hook (a second middleware's listeners on the engine connection) holds
// the library's connecting goroutine for 100 ms once it has flushed the
// CONNECT ack to the transport, before it registers the socket with its
// client. The client answers the ack at once with socketio-jwt's
// "authenticate" (legacy mode, a bad token), which the reader decodes in
// that gap: without the hold socket.io finds no socket for it and cuts the
// connection, so the client never gets "unauthorized"; with it the packet
// waits for the registration and is answered.
func TestWorkaroundConnectHold(t *testing.T) {
	const clients = 5
	lost := func(t *testing.T, w engineWorkarounds) int {
		f := newRTFixture(t, realtimeOptions{legacy: true, workarounds: w})
		f.rt.io.Use(func(s *socket.Socket, next func(*socket.ExtendedError)) {
			conn := s.Conn()
			var ack atomic.Bool // the CONNECT ack was created, not yet flushed
			_ = conn.On("packetCreate", func(a ...any) {
				p, ok := arg[*packet.Packet](a)
				if !ok || p.Type != packet.MESSAGE {
					return
				}
				if d, ok := p.Data.(fmt.Stringer); ok && strings.HasPrefix(d.String(), "0") {
					// Flush from this goroutine: wait until the transport
					// has written the open packet.
					for range 100 {
						if conn.Transport().Writable() {
							break
						}
						time.Sleep(time.Millisecond)
					}
					ack.Store(true)
				}
			})
			_ = conn.On("drain", func(...any) {
				if ack.CompareAndSwap(true, false) {
					time.Sleep(100 * time.Millisecond) // the ack is on its way
				}
			})
			next(nil)
		})
		n := 0
		for range clients {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := sioclient.Dial(ctx, f.url, nil, nil)
			if err != nil {
				cancel()
				t.Fatalf("connect without a token in legacy mode: %v", err)
			}
			if err := c.Emit("authenticate", map[string]any{"token": "a.b.c"}); err != nil {
				t.Fatal(err)
			}
			answered := false
		read:
			for {
				select {
				case ev, ok := <-c.Events:
					if !ok {
						break read
					}
					answered = answered || ev.Name == "unauthorized"
				case <-ctx.Done():
					break read
				}
			}
			if !answered {
				n++
			}
			cancel()
			_ = c.Close()
		}
		return n
	}
	t.Run("upstream", func(t *testing.T) {
		n := lost(t, engineWorkarounds{noConnectHold: true})
		t.Logf("without the hold %d of %d eager authenticates were lost", n, clients)
		if n == 0 {
			t.Errorf("without the hold no eager authenticate of %d was lost: socket.io no longer acks a CONNECT before it registers the socket; the hold can go", clients)
		}
	})
	t.Run("workaround", func(t *testing.T) {
		if n := lost(t, engineWorkarounds{}); n != 0 {
			t.Errorf("with the hold %d of %d eager authenticates were lost, want 0", n, clients)
		}
	})
}

// observeReads wraps h so that a hijacked connection signals on read the
// first time data is read from it.
func observeReads(h http.Handler, read chan<- struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(observedWriter{ResponseWriter: w, hj: hj, read: read}, r)
	})
}

type observedWriter struct {
	http.ResponseWriter
	hj   http.Hijacker
	read chan<- struct{}
}

func (w observedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := w.hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	oc := &observedConn{Conn: c, read: w.read}
	return oc, bufio.NewReadWriter(bufio.NewReader(oc), rw.Writer), nil
}

type observedConn struct {
	net.Conn
	read chan<- struct{}
	once sync.Once
}

func (c *observedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.once.Do(func() {
			select {
			case c.read <- struct{}{}:
			default:
			}
		})
	}
	return n, err
}

// dial connects a Socket.IO client as user.
func (f *rtFixture) dial(t *testing.T, user string) *sioclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, f.url, map[string]any{"token": f.token(t, user)}, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// connectEagerly opens a websocket, sends CONNECT at once and reports
// whether the CONNECT ack came (within 1 s: an answered CONNECT takes
// milliseconds, a dropped one is never answered).
func (f *rtFixture) connectEagerly(t *testing.T, user string) bool {
	c, _, err := websocket.DefaultDialer.Dial(f.wsURL(), nil)
	if err != nil {
		t.Errorf("dial: %v", err)
		return true
	}
	defer c.Close()
	auth, _ := json.Marshal(map[string]any{"token": f.token(t, user)})
	if err := c.WriteMessage(websocket.TextMessage, append([]byte("40"), auth...)); err != nil {
		t.Errorf("write: %v", err)
		return true
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return false
		}
		if strings.HasPrefix(string(msg), "40") {
			return true
		}
	}
}
