package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/auth"
	"parley/chat"
	"parley/internal/testutil"
	"parley/presence"
	delivery "parley/realtime"
)

// rtFixture is a Socket.IO server on real Redis (its own key prefix), as
// server.New wires it minus HTTP routes: a hub, the event store and a
// realtime transport behind httptest.
type rtFixture struct {
	rt     *realtime
	hub    *hub
	rdb    redis.UniversalClient
	keys   chat.Keys
	store  *chat.Store
	url    string // http://host:port
	secret []byte
}

// wrap, if given, wraps the Socket.IO handler (outermost).
func newRTFixture(t *testing.T, o realtimeOptions, wrap ...func(http.Handler) http.Handler) *rtFixture {
	t.Helper()
	secret := []byte("lifecycle-secret-0123456789abcdef")
	v, err := auth.NewVerifier(auth.Config{Algorithms: []string{"HS256"}, Secret: secret, Leeway: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rdb := testutil.Redis(t)
	keys := chat.Keys{Prefix: testutil.Prefix(t)}
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, time.Now)
	h := delivery.New(rdb, keys, store, delivery.Options{Log: lg})
	if o.presence == nil {
		o.presence = noPresence{}
	}
	rt := newRealtime(lg, authenticator{verifier: v, defaultDomain: "life"}, renderer{numericIDs: true}, h, o)
	hd := rt.handler()
	for _, w := range wrap {
		hd = w(hd)
	}
	srv := httptest.NewServer(hd)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		rt.close()
		h.Close()
	})
	return &rtFixture{rt: rt, hub: h, rdb: rdb, keys: keys, store: store, url: srv.URL, secret: secret}
}

// token is an HS256 token for user, valid for an hour.
func (f *rtFixture) token(t testing.TB, user string) string {
	t.Helper()
	tok, err := auth.SignHS256(f.secret, map[string]any{"user_id": user, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wsURL is the Engine.IO websocket endpoint.
func (f *rtFixture) wsURL() string {
	return "ws" + strings.TrimPrefix(f.url, "http") + "/socket.io/?EIO=4&transport=websocket"
}

// subscribedChannels lists this fixture's channels Redis has subscribers for.
func (f *rtFixture) subscribedChannels(t testing.TB) []string {
	t.Helper()
	chans, err := f.rdb.PubSubChannels(context.Background(), f.keys.Prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return chans
}

// noPresence is a presence tracker that tracks nothing.
type noPresence struct{}

func (noPresence) Connect(context.Context, chat.Domain, chat.UserID) error    { return nil }
func (noPresence) Disconnect(context.Context, chat.Domain, chat.UserID) error { return nil }
func (noPresence) Lookup(context.Context, chat.Domain, chat.UserID, []chat.UserID) ([]presence.Status, error) {
	return nil, nil
}
