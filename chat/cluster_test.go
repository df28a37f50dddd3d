package chat_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"parley/chat"
	"parley/inbox"
	"parley/internal/testutil"
)

// TestWritesOnRedisCluster runs every write on a real Redis Cluster (3
// primaries, 3 replicas) with sharded pub/sub: sends (a retry with a
// client id, one stopped between steps and repaired), edit, seen, read,
// delete, typing, then the history, the inbox and the event log, and what
// a SSUBSCRIBE on the recipient's channel received. Redis Cluster refuses
// any script whose keys span slots (CROSSSLOT) and SPUBLISH from a script
// on a channel of another slot, so this passing means every step keeps to
// one slot.
func TestWritesOnRedisCluster(t *testing.T) {
	t.Parallel()
	addrs := testutil.StartCluster(t)
	rdb := testutil.ClusterClient(t, addrs)
	ctx := context.Background()
	keys := chat.Keys{Prefix: testutil.Prefix(t), Sharded: true}
	dom := chat.Domain(testutil.Domain(t))
	s := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100, SendRate: 100, SendBurst: 100, WriteRate: 100, WriteBurst: 100}, time.Now)
	sub := rdb.SSubscribe(ctx, keys.EventLog(dom, "2"))
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	send := func(st *chat.Store, from, to chat.UserID, text, cid string) (chat.Message, error) {
		m, _, err := st.Send(ctx, chat.SendRequest{Domain: dom, From: from, To: to, ClientID: cid,
			Content: chat.Content{Type: chat.TypeText, Text: text}})
		return m, err
	}
	m1, err := send(s, "1", "2", "one", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := send(s, "1", "2", "one", "c1"); err != nil || !again.Replayed || again.ID != m1.ID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	if _, err := send(s, "1", "3", "one", "c1"); chat.KindOf(err) != chat.Conflict {
		t.Errorf("client id reused toward another user: %v, want Conflict", err)
	}
	crash := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, time.Now)
	crash.SetStepHook(func(stage string) error {
		if stage == "participant" {
			return errCrash
		}
		return nil
	})
	if _, err := send(crash, "2", "1", "two", ""); !errors.Is(err, errCrash) {
		t.Fatalf("stopped send: %v", err)
	}
	if n, err := s.RepairPending(ctx, "n", 0); err != nil || n != 1 {
		t.Fatalf("repair: %d, %v; want 1", n, err)
	}
	m3, err := send(s, "1", "2", "three", "")
	if err != nil {
		t.Fatal(err)
	}
	text := "three, edited"
	if _, _, err := s.Edit(ctx, chat.EditRequest{Domain: dom, Caller: "1", Peer: "2", MessageID: m3.ID, Text: &text}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Edit(ctx, chat.EditRequest{Domain: dom, Caller: "2", Peer: "1", MessageID: m1.ID, Seen: true}); err != nil {
		t.Fatal(err)
	}
	st, _, err := s.MarkRead(ctx, dom, "2", "1", m3.ID)
	if err != nil || !st.Moved || st.Unread != 0 {
		t.Fatalf("read: %+v %v", st, err)
	}
	if _, _, err := s.Delete(ctx, chat.DeleteRequest{Domain: dom, Caller: "1", Peer: "2", MessageID: m1.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := chat.NewTyping(s, time.Second, time.Second).Announce(ctx, dom, "1", "2"); err != nil {
		t.Fatal(err)
	}

	conv, _ := chat.NewConversation(dom, "1", "2")
	page, err := s.History(ctx, conv, chat.Page{Number: 1, Size: 10})
	if err != nil || page.Total != 2 || page.Messages[1].Text != text {
		t.Fatalf("history: %+v %v", page, err)
	}
	for _, u := range []chat.UserID{"1", "2"} {
		p, err := inbox.NewStore(rdb, keys).List(ctx, dom, u, chat.Page{Number: 1, Size: 10})
		if err != nil || len(p.Entries) != 1 || p.Entries[0].Latest == nil || p.Entries[0].Latest.ID != m3.ID {
			t.Errorf("inbox of %s: %+v %v", u, p, err)
		}
		if n, err := s.UnreadTotal(ctx, dom, u); err != nil || n != 0 {
			t.Errorf("unread of %s: %d %v; want 0", u, n, err)
		}
	}
	// User 2's log and what the sharded subscription received agree:
	// new, new (repaired), new, edit, edit (the seen mark: 2's horizon was
	// past m1 already, since 2 wrote m2, so no read event for 2), read,
	// delete; then the typing indicator, published only.
	evs, last, gone, err := s.EventsAfter(ctx, dom, "2", 0, 100)
	if err != nil || gone || last != int64(len(evs)) {
		t.Fatalf("events: %d, last %d, gone %v, %v", len(evs), last, gone, err)
	}
	want := []string{chat.EventNew, chat.EventNew, chat.EventNew, chat.EventEdit, chat.EventEdit, chat.EventRead,
		chat.EventDelete}
	var logged []string
	for i, ev := range evs {
		logged = append(logged, ev.Type)
		if ev.ID != int64(i+1) {
			t.Errorf("event %d has id %d", i, ev.ID)
		}
	}
	if len(logged) != len(want) {
		t.Fatalf("user 2's log %v, want %v", logged, want)
	}
	for i := range want {
		if logged[i] != want[i] {
			t.Errorf("user 2's log %v, want %v", logged, want)
			break
		}
	}
	ch := sub.Channel()
	for i := 0; i <= len(want); i++ {
		select {
		case msg := <-ch:
			var ev chat.Event
			if err := json.Unmarshal([]byte(msg.Payload), &ev); err != nil {
				t.Fatal(err)
			}
			wantType := chat.EventTyping
			if i < len(want) {
				wantType = want[i]
			}
			if ev.Type != wantType || (i < len(want) && ev.ID != int64(i+1)) {
				t.Errorf("SSUBSCRIBE message %d: %s id %d, want %s", i, ev.Type, ev.ID, wantType)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("SSUBSCRIBE got %d of %d messages", i, len(want)+1)
		}
	}
}
