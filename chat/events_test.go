package chat_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"parley/chat"
	"parley/internal/testutil"
)

func TestEventLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m1 := f.send(t, "1", "2", "one")
	m2 := f.send(t, "2", "1", "two")
	text := "edited"
	if _, _, err := f.store.Edit(ctx, chat.EditRequest{Domain: f.dom, Caller: "1", Peer: "2", MessageID: m1.ID, Text: &text}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: "2", Peer: "1", MessageID: m2.ID}); err != nil {
		t.Fatal(err)
	}
	// A failed write logs nothing.
	if _, _, err := f.store.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: "1", Peer: "2", MessageID: m2.ID}); chat.KindOf(err) != chat.NotFound {
		t.Fatalf("second delete: %v", err)
	}
	for _, user := range []chat.UserID{"1", "2"} {
		evs, last, gone, err := f.store.EventsAfter(ctx, f.dom, user, 0, 100)
		if err != nil || gone || last != 4 || len(evs) != 4 {
			t.Fatalf("user %s: %d events, last %d, gone %v, err %v; want 4, 4, false", user, len(evs), last, gone, err)
		}
		// 2's reply reads 1's message silently: no message:read.
		wantTypes := []string{chat.EventNew, chat.EventNew, chat.EventEdit, chat.EventDelete}
		wantIDs := []string{m1.ID, m2.ID, m1.ID, m2.ID}
		for i, e := range evs {
			if e.ID != int64(i+1) || e.Type != wantTypes[i] || e.Msg.ID != wantIDs[i] || e.Peer == user || e.TS == 0 {
				t.Errorf("user %s event %d = %+v", user, i, e)
			}
		}
		if evs[2].Msg.Text != "edited" {
			t.Errorf("edit event carries %q, want the new text", evs[2].Msg.Text)
		}
		tail, _, gone, _ := f.store.EventsAfter(ctx, f.dom, user, 2, 100)
		if gone || len(tail) != 2 || tail[0].ID != 3 {
			t.Errorf("after 2: %+v gone=%v", tail, gone)
		}
		if _, _, gone, _ := f.store.EventsAfter(ctx, f.dom, user, 4, 100); gone {
			t.Error("after the latest id: gone, want caught up")
		}
		if _, _, gone, _ := f.store.EventsAfter(ctx, f.dom, user, 9, 100); !gone {
			t.Error("after an id beyond the log: not gone, want resync")
		}
	}
}

func TestEventLogRetention(t *testing.T) {
	t.Parallel()
	rdb := testutil.Redis(t)
	keys := chat.Keys{Prefix: testutil.Prefix(t)}
	dom := chat.Domain(testutil.Domain(t))
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { return now }
	s := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100, EventLogMax: 10, EventLogAge: time.Minute}, clock)
	ctx := context.Background()
	send := func(i int) {
		if _, _, err := s.Send(ctx, chat.SendRequest{Domain: dom, From: "1", To: "2", Content: chat.Content{Type: "text", Text: fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 25 {
		send(i)
	}
	if n := rdb.XLen(ctx, keys.EventLog(dom, "1")).Val(); n != 10 {
		t.Errorf("log length %d, want the 10 kept", n)
	}
	if _, last, gone, _ := s.EventsAfter(ctx, dom, "1", 5, 100); !gone || last != 25 {
		t.Errorf("after a trimmed id: gone=%v last=%d, want gone, 25", gone, last)
	}
	if evs, _, gone, _ := s.EventsAfter(ctx, dom, "1", 15, 100); gone || len(evs) != 10 {
		t.Errorf("after 15: %d events gone=%v, want 10, false", len(evs), gone)
	}
	// Two minutes later, old events are past their age: none is replayed,
	// a client that had only seen 15 must resync, one that had seen 25
	// gets the new event alone; the log stays bounded by its length.
	now = now.Add(2 * time.Minute)
	if evs, _, gone, _ := s.EventsAfter(ctx, dom, "1", 15, 100); !gone || len(evs) != 0 {
		t.Errorf("after 15, past the age: %d events gone=%v, want 0, gone", len(evs), gone)
	}
	send(99)
	if evs, last, gone, _ := s.EventsAfter(ctx, dom, "1", 15, 100); !gone || len(evs) != 1 || last != 26 {
		t.Errorf("after 15, past the age, one more sent: %d events gone=%v last=%d, want the new one, gone, 26", len(evs), gone, last)
	}
	if evs, _, gone, _ := s.EventsAfter(ctx, dom, "1", 25, 100); gone || len(evs) != 1 || evs[0].ID != 26 {
		t.Errorf("after 25, past the age: %v gone=%v, want event 26 alone", evs, gone)
	}
	if n := rdb.XLen(ctx, keys.EventLog(dom, "1")).Val(); n != 10 {
		t.Errorf("log length %d, want the 10 kept", n)
	}
	if ttl := rdb.PTTL(ctx, keys.EventLog(dom, "1")).Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("log TTL %v, want at most the age", ttl)
	}
}
