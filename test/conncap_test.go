package test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/internal/sioclient"
)

// tryDial connects a socket for token; it returns the client or the
// server's refusal.
func tryDial(t *testing.T, n *node, token string) (*sioclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sioclient.Dial(ctx, n.url, map[string]any{"token": token}, nil)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// refusedTooMany checks that err is a connect_error with data code
// TOO_MANY_CONNECTIONS.
func refusedTooMany(t *testing.T, err error, what string) {
	t.Helper()
	var ce *sioclient.ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: %v, want connect_error TOO_MANY_CONNECTIONS", what, err)
	}
	var data struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(ce.Data, &data); err != nil || data.Code != "TOO_MANY_CONNECTIONS" || data.Message == "" {
		t.Fatalf("%s: connect_error %q data %s, want code TOO_MANY_CONNECTIONS with a message", what, ce.Message, ce.Data)
	}
}

// eventually retries f until it returns nil, for 5 s at most: the server
// notices a closed connection asynchronously.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestConnectionsPerUser checks PARLEY_MAX_CONNECTIONS_PER_USER: sockets
// and SSE streams count together per user; the next socket gets
// connect_error TOO_MANY_CONNECTIONS and the next stream 429 with the same
// code; closing any of them (also a socket that goes away during its
// CONNECT) frees its place; other users are not affected.
func TestConnectionsPerUser(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_MAX_CONNECTIONS_PER_USER": "3"})
	u1, u2 := n.tok(t, 1, nil), n.tok(t, 2, nil)

	// Sockets that close during their CONNECT must not keep a place.
	for range 10 {
		ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(n.url, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]string{"token": u1})
		_ = ws.WriteMessage(websocket.TextMessage, append([]byte("40"), b...))
		_ = ws.Close()
	}

	var socks []*sioclient.Client
	eventually(t, "the 2 sockets allowed after closed handshakes", func() error {
		for len(socks) < 2 {
			c, err := tryDial(t, n, u1)
			if err != nil {
				return err
			}
			socks = append(socks, c)
		}
		return nil
	})
	_, cancelStream, resp := sseStream(t, n, "token="+u1, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("3rd connection (SSE): %d, want 200", resp.StatusCode)
	}

	// The 4th connection, either kind, is refused.
	_, err := tryDial(t, n, u1)
	refusedTooMany(t, err, "4th connection (socket)")
	r := n.do(t, call{method: "GET", path: "/api/events", token: u1})
	if r.status != http.StatusTooManyRequests || r.obj["code"] != "TOO_MANY_CONNECTIONS" {
		t.Fatalf("4th connection (SSE): %d %s, want 429 TOO_MANY_CONNECTIONS", r.status, r.raw)
	}
	// Another user is not affected.
	if _, err := tryDial(t, n, u2); err != nil {
		t.Fatalf("user 2: %v", err)
	}

	// Closing a socket frees its place for one more, and only one.
	_ = socks[0].Close()
	eventually(t, "a socket after one closed", func() error {
		_, err := tryDial(t, n, u1)
		return err
	})
	_, err = tryDial(t, n, u1)
	refusedTooMany(t, err, "again at the cap")

	// Ending the stream frees its place.
	cancelStream()
	eventually(t, "a stream after the stream ended", func() error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/api/events?token="+u1, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(res.Body)
			return errors.New(res.Status + " " + string(b))
		}
		return nil
	})
}

// TestPendingSessions checks that Engine.IO sessions without a valid
// Socket.IO CONNECT are capped by PARLEY_MAX_PENDING_SESSIONS (the next
// handshake, polling or websocket, is refused 503 with the envelope and
// Retry-After) and closed after PARLEY_SOCKET_AUTH_TIMEOUT (also one whose
// CONNECT had a bad token), while an authenticated socket neither counts
// nor times out.
func TestPendingSessions(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_MAX_PENDING_SESSIONS": "3", "PARLEY_SOCKET_AUTH_TIMEOUT": "1s"})
	ok := dial(t, n, n.tok(t, 1, nil)) // authenticated: not pending

	var sids []string
	for i := range 2 {
		sid, status := pollingSID(t, n, nil)
		if status != http.StatusOK {
			t.Fatalf("pending handshake %d: %d %s", i+1, status, sid)
		}
		sids = append(sids, sid)
	}
	// The 3rd pending session sends a CONNECT with a bad token.
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(n.url, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, _, err := ws.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(`40{"token":"garbage"}`))
	if _, msg, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(msg), "44") {
		t.Fatalf("bad-token CONNECT: %q %v, want a connect_error", msg, err)
	}

	// The node is at its cap: both kinds of handshake are refused.
	body, status := pollingSID(t, n, nil)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"SERVICE_UNAVAILABLE"`) {
		t.Fatalf("polling handshake over the cap: %d %s, want 503 SERVICE_UNAVAILABLE", status, body)
	}
	_, res, err := websocket.DefaultDialer.Dial(strings.Replace(n.url, "http", "ws", 1)+"/socket.io/?EIO=4&transport=websocket", nil)
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		st := 0
		if res != nil {
			st = res.StatusCode
		}
		t.Fatalf("websocket handshake over the cap: %v (status %d), want 503 with Retry-After", err, st)
	}

	// The timeout closes every pending session, the bad-token one too.
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the session with a bad-token CONNECT was not closed within 5 s")
			}
			break
		}
	}
	// A closed polling session's sid is unknown (400); an open one would
	// hold the GET until the next ping.
	short := &http.Client{Timeout: 3 * time.Second}
	for _, sid := range sids {
		eventually(t, "pending session "+sid+" closed", func() error {
			res, err := short.Get(n.url + "/socket.io/?EIO=4&transport=polling&sid=" + sid)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusBadRequest && !strings.HasPrefix(string(b), "1") { // 1 = close packet
				return errors.New("still open: " + res.Status + " " + string(b))
			}
			return nil
		})
	}
	// Places are free again, and the authenticated socket is still there.
	eventually(t, "a handshake after the timeout", func() error {
		if body, status := pollingSID(t, n, nil); status != http.StatusOK {
			return errors.New(body)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ok.EmitWithAck(ctx, "typing", map[string]any{"to": "2"}); err != nil || ok.Err() != nil {
		t.Fatalf("authenticated socket after the timeout: %v %v", err, ok.Err())
	}
}
