package server

// Micro-benchmarks of unexported hot paths; see also bench/ and
// BENCHMARKS.md. Each Parley sub-benchmark reports x-baseline, its ns/op
// over the baseline sub-benchmark's in the same run.

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"parley/auth"
	"parley/chat"
	"parley/internal/sioclient"
	"parley/internal/testutil"
	delivery "parley/realtime"
	"parley/userapi"
)

// baselines holds this run's baseline timings.
var baselines testutil.Baselines

func keepBaseline(b *testing.B, name string) { baselines.Keep(b, name) }

func reportRatio(b *testing.B, name string) { baselines.Report(b, name) }

func benchMessages(n int) []chat.Message {
	msgs := make([]chat.Message, n)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	for i := range msgs {
		msgs[i] = chat.Message{ID: "01a209a4-bd11-75c2-945e-1e99d586" + strconv.Itoa(1000+i), Author: chat.UserID(strconv.Itoa(1 + i%2)),
			Epoch: t0 + int64(i)*1000, Type: chat.TypeText, Text: "message number " + strconv.Itoa(i) + " of the benchmark page", Seq: int64(i + 1)}
	}
	return msgs
}

// BenchmarkPageJSON renders a 100-message history page as handleHistory
// does (user objects, timestamps, JSON) against encoding/json of the raw
// stored message structs.
func BenchmarkPageJSON(b *testing.B) {
	msgs := benchMessages(100)
	conv := chat.Conversation{Domain: "bench", Lo: "1", Hi: "2"}
	p := chat.Page{Number: 1, Size: 100}
	b.Run("baseline-encoding-json-raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := json.Marshal(struct {
				Total    int64          `json:"total"`
				Messages []chat.Message `json:"messages"`
			}{100, msgs})
			if err != nil || len(out) == 0 {
				b.Fatal(err)
			}
		}
		keepBaseline(b, "page")
	})
	r := renderer{numericIDs: true}
	found := map[string]userapi.User{}
	b.Run("parley-render", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out := make([]messageJSON, len(msgs))
			for i, m := range msgs {
				out[i] = r.message(m)
				out[i].Author = r.user(m.Author, found)
			}
			body, err := json.Marshal(struct {
				State    pageStateJSON `json:"state"`
				Messages []messageJSON `json:"messages"`
			}{pageState(conv.Key(), p, 100), out})
			if err != nil || len(body) == 0 {
				b.Fatal(err)
			}
		}
		reportRatio(b, "page")
	})
}

// BenchmarkFanout sends messages to a user with n local sockets (the send
// script logs and publishes each event; the hub delivers it to every
// socket) and waits until every socket has every event, against writing
// the same encoded frame to n plain gorilla websockets.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run("sockets="+strconv.Itoa(n), func(b *testing.B) { benchFanout(b, n) })
	}
}

func benchFanout(b *testing.B, n int) {
	secret := []byte("bench-secret-0123456789abcdef")
	v, err := auth.NewVerifier(auth.Config{Algorithms: []string{"HS256"}, Secret: secret, Leeway: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	render := renderer{numericIDs: true}
	rdb := testutil.Redis(b)
	keys := chat.Keys{Prefix: testutil.Prefix(b)}
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, time.Now)
	h := delivery.New(rdb, keys, store, delivery.Options{Log: lg})
	rt := newRealtime(lg, authenticator{verifier: v, defaultDomain: "bench"}, render, h, realtimeOptions{})
	srv := httptest.NewServer(rt.handler())
	b.Cleanup(func() { rt.close(); h.Close(); srv.Close() })
	tok, _ := auth.SignHS256(secret, map[string]any{"user_id": 1})

	var got atomic.Int64
	for range n {
		c, err := sioclient.Dial(context.Background(), srv.URL, map[string]any{"token": tok}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close() })
		go func() {
			for range c.Events {
				got.Add(1)
			}
		}()
	}
	conv := chat.Conversation{Domain: "bench", Lo: "1", Hi: "2"}
	m := benchMessages(1)[0]
	frame, _ := json.Marshal([]any{"message:new", render.event(conv.Domain, "1", chat.Event{ID: 1, Type: chat.EventNew, Peer: "2", TS: m.Epoch, Msg: m})})
	wait := func(want int64) {
		for deadline := time.Now().Add(30 * time.Second); got.Load() < want; {
			if time.Now().After(deadline) {
				b.Fatalf("received %d of %d events", got.Load(), want)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}

	b.Run("baseline-gorilla-broadcast", func(b *testing.B) {
		conns, recv := gorillaPeers(b, n)
		msg := append([]byte("42"), frame...)
		b.ResetTimer()
		for range b.N {
			for _, c := range conns {
				if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
					b.Fatal(err)
				}
			}
		}
		for deadline := time.Now().Add(30 * time.Second); recv.Load() < int64(b.N*n); {
			if time.Now().After(deadline) {
				b.Fatalf("received %d of %d frames", recv.Load(), b.N*n)
			}
			time.Sleep(20 * time.Microsecond)
		}
		keepBaseline(b, "fanout"+strconv.Itoa(n))
	})
	// Parley's path: a send (the script logs and publishes the event),
	// Redis pub/sub, and the hub's per-socket delivery to n sockets of
	// user 1. Events must be in the log: a burst that overflows a
	// connection's small live buffer is read back from it.
	b.Run("parley-emit", func(b *testing.B) {
		got.Store(0)
		b.ResetTimer()
		for range b.N {
			if _, _, err := store.Send(context.Background(), chat.SendRequest{Domain: conv.Domain, From: "2", To: "1",
				Content: chat.Content{Type: chat.TypeText, Text: m.Text}}); err != nil {
				b.Fatal(err)
			}
		}
		wait(int64(b.N * n))
		reportRatio(b, "fanout"+strconv.Itoa(n))
	})
}

// gorillaPeers returns n server-side websockets whose clients count the
// frames they read.
func gorillaPeers(b *testing.B, n int) ([]*websocket.Conn, *atomic.Int64) {
	var recv atomic.Int64
	ch := make(chan *websocket.Conn, n)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err == nil {
			ch <- c
		}
	}))
	b.Cleanup(srv.Close)
	conns := make([]*websocket.Conn, 0, n)
	for range n {
		cc, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cc.Close() })
		go func() {
			for {
				if _, _, err := cc.ReadMessage(); err != nil {
					return
				}
				recv.Add(1)
			}
		}()
		conns = append(conns, <-ch)
	}
	return conns, &recv
}
