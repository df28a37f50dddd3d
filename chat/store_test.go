package chat_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

type fixture struct {
	rdb   redis.UniversalClient
	store *chat.Store
	keys  chat.Keys
	dom   chat.Domain
	clock *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	rdb := testutil.Redis(t)
	keys := chat.Keys{Prefix: testutil.Prefix(t)}
	clk := &clock{t: time.UnixMilli(1464896060713)}
	return fixture{rdb: rdb, keys: keys, dom: chat.Domain(testutil.Domain(t)), clock: clk,
		store: chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, clk.Now)}
}

func (f fixture) send(t *testing.T, from, to chat.UserID, text string) chat.Message {
	t.Helper()
	m, _, err := f.store.Send(context.Background(), chat.SendRequest{Domain: f.dom, From: from, To: to,
		Content: chat.Content{Type: chat.TypeText, Text: text}})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return m
}

// assertConsistent checks the invariant every write must keep: each inbox
// entry's score is the epoch of the conversation's newest message, and an
// empty conversation has no inbox entries.
func (f fixture) assertConsistent(t *testing.T, a, b chat.UserID) {
	t.Helper()
	ctx := context.Background()
	conv, _ := chat.NewConversation(f.dom, a, b)
	ids, err := f.rdb.ZRange(ctx, f.keys.DM(conv), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n := f.rdb.HLen(ctx, f.keys.Messages(conv)).Val(); n != int64(len(ids)) {
		t.Fatalf("hash has %d messages, sorted set %d", n, len(ids))
	}
	for _, pair := range [][2]chat.UserID{{a, b}, {b, a}} {
		score, err := f.rdb.ZScore(ctx, f.keys.Inbox(f.dom, pair[0]), chat.InboxMember(pair[1])).Result()
		if len(ids) == 0 {
			if err != redis.Nil {
				t.Fatalf("inbox of %s still lists %s for an empty DM (score %v, err %v)", pair[0], pair[1], score, err)
			}
			continue
		}
		last, _ := chat.DecodeMessage(f.rdb.HGet(ctx, f.keys.Messages(conv), ids[len(ids)-1]).Val())
		if err != nil || int64(score) != last.Epoch {
			t.Fatalf("inbox of %s: score %v (err %v), want latest epoch %d", pair[0], score, err, last.Epoch)
		}
	}
}

func TestSendAndHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var sent []chat.Message
	for i := range 25 {
		from, to := chat.UserID("1"), chat.UserID("2")
		if i%2 == 1 {
			from, to = to, from
		}
		m := f.send(t, from, to, fmt.Sprintf("m%d", i))
		if m.Seq != int64(i+1) {
			t.Fatalf("seq = %d, want %d", m.Seq, i+1)
		}
		sent = append(sent, m)
	}
	f.assertConsistent(t, "1", "2")
	conv, _ := chat.NewConversation(f.dom, "2", "1")
	tests := []struct {
		page       chat.Page
		first, end int // indexes into sent, [first, end)
	}{
		{chat.Page{Number: 1, Size: 10}, 15, 25},
		{chat.Page{Number: 2, Size: 10}, 5, 15},
		{chat.Page{Number: 3, Size: 10}, 0, 5},
		{chat.Page{Number: 4, Size: 10}, 0, 0},
		{chat.Page{Number: 1, Size: 100}, 0, 25},
	}
	for _, tt := range tests {
		p, err := f.store.History(ctx, conv, tt.page)
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 25 {
			t.Errorf("page %v: total = %d, want 25", tt.page, p.Total)
		}
		if len(p.Messages) != tt.end-tt.first {
			t.Fatalf("page %v: %d messages, want %d", tt.page, len(p.Messages), tt.end-tt.first)
		}
		for i, m := range p.Messages {
			if want := sent[tt.first+i]; m.ID != want.ID || m.Text != want.Text || m.Author != want.Author || m.Seq != want.Seq {
				t.Errorf("page %v [%d] = %+v, want %+v", tt.page, i, m, want)
			}
		}
	}
	empty, _ := chat.NewConversation(f.dom, "1", "3")
	if p, err := f.store.History(ctx, empty, chat.Page{Number: 1, Size: 10}); err != nil || p.Total != 0 || len(p.Messages) != 0 {
		t.Errorf("empty conversation = %+v, %v", p, err)
	}
}

func TestSendRejectsBadInputAndWritesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, r := range []chat.SendRequest{
		{Domain: f.dom, From: "1", To: "1", Content: chat.Content{Type: "text", Text: "me"}},
		{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: "text", Text: "  "}},
		{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: "gif", Text: "x"}},
	} {
		if _, _, err := f.store.Send(ctx, r); chat.KindOf(err) != chat.Invalid {
			t.Errorf("Send(%+v) kind = %v, want Invalid", r, chat.KindOf(err))
		}
	}
	if keys := testutil.ScanKeys(t, f.rdb, f.keys.Prefix+"*"); len(keys) != 0 {
		t.Errorf("bad sends wrote keys %v", keys)
	}
}

func TestEdit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m := f.send(t, "1", "2", "hello")
	other := f.send(t, "1", "3", "elsewhere")
	text := func(s string) *string { return &s }
	tests := []struct {
		name string
		req  chat.EditRequest
		kind chat.Kind
	}{
		{"author edits", chat.EditRequest{Caller: "1", Peer: "2", MessageID: m.ID, Text: text("edited")}, 0},
		{"recipient cannot edit", chat.EditRequest{Caller: "2", Peer: "1", MessageID: m.ID, Text: text("x")}, chat.Forbidden},
		{"author cannot mark seen", chat.EditRequest{Caller: "1", Peer: "2", MessageID: m.ID, Seen: true}, chat.Forbidden},
		{"recipient marks seen", chat.EditRequest{Caller: "2", Peer: "1", MessageID: m.ID, Seen: true}, 0},
		{"nothing to change", chat.EditRequest{Caller: "1", Peer: "2", MessageID: m.ID}, chat.Invalid},
		{"blank text", chat.EditRequest{Caller: "1", Peer: "2", MessageID: m.ID, Text: text(" ")}, chat.Invalid},
		{"message of another DM", chat.EditRequest{Caller: "1", Peer: "2", MessageID: other.ID, Text: text("x")}, chat.NotFound},
		{"unknown id", chat.EditRequest{Caller: "1", Peer: "2", MessageID: "0190a0a0-0000-7000-8000-000000000000", Text: text("x")}, chat.NotFound},
		{"malformed id", chat.EditRequest{Caller: "1", Peer: "2", MessageID: "nope", Text: text("x")}, chat.NotFound},
	}
	for _, tt := range tests {
		tt.req.Domain = f.dom
		got, _, err := f.store.Edit(ctx, tt.req)
		if tt.kind == 0 && err != nil || tt.kind != 0 && chat.KindOf(err) != tt.kind {
			t.Errorf("%s: err = %v (kind %v), want kind %v", tt.name, err, chat.KindOf(err), tt.kind)
		}
		if err == nil && (got.ID != m.ID || got.Seq != 0 && got.Seq != m.Seq) {
			t.Errorf("%s: edit changed identity: %+v", tt.name, got)
		}
	}
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	p, _ := f.store.History(ctx, conv, chat.Page{Number: 1, Size: 10})
	if len(p.Messages) != 1 || p.Messages[0].Text != "edited" || p.Messages[0].Edited == 0 || p.Messages[0].Seen == 0 {
		t.Errorf("after edits: %+v", p.Messages)
	}
}

func TestDeleteRepairsInboxes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m1 := f.send(t, "1", "2", "first")
	m2 := f.send(t, "2", "1", "second")
	del := func(caller, peer chat.UserID, id string) error {
		_, _, err := f.store.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: caller, Peer: peer, MessageID: id})
		return err
	}
	if err := del("1", "2", m2.ID); chat.KindOf(err) != chat.Forbidden {
		t.Fatalf("delete another's message: %v, want Forbidden", err)
	}
	if err := del("2", "1", m2.ID); err != nil {
		t.Fatal(err)
	}
	f.assertConsistent(t, "1", "2") // inbox now points at m1
	if err := del("2", "1", m2.ID); chat.KindOf(err) != chat.NotFound {
		t.Fatalf("second delete: %v, want NotFound", err)
	}
	if err := del("1", "2", m1.ID); err != nil {
		t.Fatal(err)
	}
	f.assertConsistent(t, "1", "2") // empty: no inbox entries
}

func TestConcurrentSendsKeepOrderAndInboxes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				f.send(t, "1", "2", fmt.Sprintf("w%d-%d", w, i))
			}
		}()
	}
	wg.Wait()
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	p, err := f.store.History(context.Background(), conv, chat.Page{Number: 1, Size: 1000})
	if err != nil || p.Total != 160 || len(p.Messages) != 160 {
		t.Fatalf("history: total %d, %d messages, %v", p.Total, len(p.Messages), err)
	}
	for i, m := range p.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d: sequence has gaps or ties", i, m.Seq)
		}
	}
	f.assertConsistent(t, "1", "2")
}

func TestRedisDownIsUnavailable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer rdb.Close()
	s := chat.NewStore(rdb, chat.Keys{Prefix: "x:"}, chat.Limits{MaxText: 10}, time.Now)
	_, _, err := s.Send(context.Background(), chat.SendRequest{Domain: "d", From: "1", To: "2", Content: chat.Content{Type: "text", Text: "hi"}})
	if chat.KindOf(err) != chat.Unavailable {
		t.Errorf("send with Redis down: kind %v (%v), want Unavailable", chat.KindOf(err), err)
	}
}
