package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
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
