package server

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Without PARLEY_LEGACY_SOCKETS an Engine.IO v3 handshake (socket.io-client
// 1.x/2.x) is refused with the flat error envelope and a message that names
// the flag; v4 handshakes are untouched. With it, the v3 handshake opens.
func TestLegacyEIO3RefusedWithoutFlag(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	off := newRTFixture(t, realtimeOptions{})
	for _, q := range []string{"EIO=3&transport=polling", "transport=polling", "EIO=3&transport=websocket"} {
		status, body := get(off.url + "/socket.io/?" + q)
		var e apiError
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			t.Fatalf("%s: %d %q: not the envelope: %v", q, status, body, err)
		}
		if status != http.StatusBadRequest || e.Code != "UNSUPPORTED_PROTOCOL" || !strings.Contains(e.Message, "PARLEY_LEGACY_SOCKETS=true") {
			t.Errorf("%s: got %d %q, want 400 UNSUPPORTED_PROTOCOL naming PARLEY_LEGACY_SOCKETS=true", q, status, body)
		}
	}
	if status, body := get(off.url + "/socket.io/?EIO=4&transport=polling"); status != http.StatusOK || !strings.HasPrefix(body, "0{") {
		t.Errorf("EIO=4: got %d %q, want the open packet", status, body)
	}
	on := newRTFixture(t, realtimeOptions{legacy: true})
	if status, body := get(on.url + "/socket.io/?EIO=3&transport=polling"); status != http.StatusOK || !strings.Contains(body, `:0{"`) {
		t.Errorf("legacy on, EIO=3: got %d %q, want the v3 open packet", status, body)
	}
}

// A socket refused in legacy mode ("unauthorized", then the namespace
// disconnect socketio-jwt sends) leaves its Engine.IO connection open for
// the client to close, as socket.io-client does. One that does not close
// it (and answers every ping) must not keep its connection and pending
// session: the server closes it when the authentication window ends.
func TestLegacyRefusedConnectionCloses(t *testing.T) {
	f := newRTFixture(t, realtimeOptions{legacy: true, maxPending: 10})
	f.rt.legacy.window = 300 * time.Millisecond
	c, _, err := websocket.DefaultDialer.Dial(f.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	read := func() string {
		t.Helper()
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(msg) == "2" {
				_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
				continue
			}
			return string(msg)
		}
	}
	if m := read(); !strings.HasPrefix(m, "0{") {
		t.Fatalf("got %q, want the open packet", m)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	if m := read(); !strings.HasPrefix(m, "40{") {
		t.Fatalf("got %q, want the CONNECT ack", m)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`42["authenticate",{"token":"a.b.c"}]`)); err != nil {
		t.Fatal(err)
	}
	if m := read(); !strings.HasPrefix(m, `42["unauthorized"`) {
		t.Fatalf("got %q, want unauthorized", m)
	}
	if m := read(); m != "41" {
		t.Fatalf("got %q, want the namespace disconnect", m)
	}
	// The client stays: the server must close the connection.
	for {
		_, msg, err := c.ReadMessage()
		if err == nil {
			if string(msg) == "2" {
				_ = c.WriteMessage(websocket.TextMessage, []byte("3"))
			}
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("refused connection still open after 5 s (window %v)", f.rt.legacy.window)
		}
		break
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.rt.pending.count.count("") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pending sessions: %d after the close, want 0", f.rt.pending.count.count(""))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
