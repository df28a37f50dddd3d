package chat_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/chat"
)

// unread returns u's unread count in the DM with peer, recomputed from the
// DM itself (messages after u's horizon), and u's stored total.
func (f fixture) unread(t *testing.T, u, peer chat.UserID) (inDM, total int64) {
	t.Helper()
	ctx := context.Background()
	conv, _ := chat.NewConversation(f.dom, u, peer)
	lo, hi, err := f.store.ReadMarks(ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	mark := lo
	if u == conv.Hi {
		mark = hi
	}
	inDM = f.rdb.ZCount(ctx, f.keys.DM(conv), "("+strconv.FormatInt(mark.Seq, 10), "+inf").Val()
	total, err = f.store.UnreadTotal(ctx, f.dom, u)
	if err != nil {
		t.Fatal(err)
	}
	return inDM, total
}

func TestReadHorizonAndUnreadCounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a1 := f.send(t, "1", "2", "a1")
	a2 := f.send(t, "1", "2", "a2")
	a3 := f.send(t, "1", "2", "a3")
	f.send(t, "1", "3", "to three")
	type want struct{ dm, total int64 }
	check := func(step string, u, peer chat.UserID, w want) {
		t.Helper()
		if dm, total := f.unread(t, u, peer); dm != w.dm || total != w.total {
			t.Errorf("%s: user %s unread %d (total %d), want %d (%d)", step, u, dm, total, w.dm, w.total)
		}
	}
	check("after 3 sends", "2", "1", want{3, 3})
	check("sender", "1", "2", want{0, 0})
	check("third user", "3", "1", want{1, 1})

	steps := []struct {
		name   string
		upTo   string
		moved  bool
		unread int64
	}{
		{"read up to the second", a2.ID, true, 1},
		{"read an older one: no move", a1.ID, false, 1},
		{"read the same again", a2.ID, false, 1},
		{"read the last", a3.ID, true, 0},
	}
	for _, s := range steps {
		st, _, err := f.store.MarkRead(ctx, f.dom, "2", "1", s.upTo)
		if err != nil || st.Moved != s.moved || st.Unread != s.unread {
			t.Fatalf("%s: %+v %v; want moved %v unread %d", s.name, st, err, s.moved, s.unread)
		}
		check(s.name, "2", "1", want{s.unread, s.unread})
	}
	evs, _, _, _ := f.store.EventsAfter(ctx, f.dom, "1", 0, 100)
	var reads []string
	for _, e := range evs {
		if e.Type == chat.EventRead {
			reads = append(reads, e.UpTo)
		}
	}
	if len(reads) != 2 || reads[0] != a2.ID || reads[1] != a3.ID {
		t.Errorf("sender's read events up to %v, want [%s %s]", reads, a2.ID, a3.ID)
	}

	// Errors change nothing.
	for _, id := range []string{"nope", "0190b0c0-0000-7000-8000-000000000000"} {
		if _, _, err := f.store.MarkRead(ctx, f.dom, "2", "1", id); chat.KindOf(err) != chat.NotFound {
			t.Errorf("read up to %q: %v, want NotFound", id, err)
		}
	}
	other := f.send(t, "1", "3", "elsewhere")
	if _, _, err := f.store.MarkRead(ctx, f.dom, "2", "1", other.ID); chat.KindOf(err) != chat.NotFound {
		t.Errorf("read up to another DM's message: %v, want NotFound", err)
	}
	if _, _, err := f.store.MarkRead(ctx, f.dom, "2", "2", a1.ID); chat.KindOf(err) != chat.Invalid {
		t.Errorf("read own DM with oneself: %v, want Invalid", err)
	}

	// A reply reads what came before; a delete of an unread message
	// leaves the count.
	b1 := f.send(t, "1", "2", "b1")
	f.send(t, "1", "2", "b2")
	check("two more", "2", "1", want{2, 2})
	if _, _, err := f.store.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: "1", Peer: "2", MessageID: b1.ID}); err != nil {
		t.Fatal(err)
	}
	check("after deleting an unread one", "2", "1", want{1, 1})
	f.send(t, "2", "1", "reply")
	check("after replying", "2", "1", want{0, 0})
	check("the replied-to side", "1", "2", want{1, 1})
}

func TestSeenEditMovesTheHorizon(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m1 := f.send(t, "1", "2", "one")
	m2 := f.send(t, "1", "2", "two")
	if _, _, err := f.store.Edit(ctx, chat.EditRequest{Domain: f.dom, Caller: "2", Peer: "1", MessageID: m2.ID, Seen: true}); err != nil {
		t.Fatal(err)
	}
	if dm, total := f.unread(t, "2", "1"); dm != 0 || total != 0 {
		t.Errorf("after seen on the last: unread %d/%d, want 0", dm, total)
	}
	evs, _, _, _ := f.store.EventsAfter(ctx, f.dom, "1", 0, 100)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type)
	}
	if want := []string{chat.EventNew, chat.EventNew, chat.EventEdit, chat.EventRead}; !slices.Equal(types, want) {
		t.Errorf("events %v, want %v (one edit, one read)", types, want)
	}
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	page, err := f.store.History(ctx, conv, chat.Page{Number: 1, Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, _ := f.store.ReadMarks(ctx, conv)
	chat.ApplyReadMarks(conv, lo, hi, page.Messages)
	for _, m := range page.Messages {
		if m.Seen == 0 {
			t.Errorf("message %s (%s) not seen, but the horizon passed it (m1 %s)", m.ID, m.Text, m1.ID)
		}
	}
}

func TestIdempotentSend(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	send := func(cid, to, text string) (chat.Message, error) {
		m, _, err := f.store.Send(ctx, chat.SendRequest{Domain: f.dom, From: "1", To: chat.UserID(to), ClientID: cid,
			Content: chat.Content{Type: chat.TypeText, Text: text}})
		return m, err
	}
	first, err := send("c-1", "2", "hello")
	if err != nil || first.Replayed {
		t.Fatalf("first send: %+v %v", first, err)
	}
	events, _ := f.store.LastEventID(ctx, f.dom, "2")
	again, err := send("c-1", "2", "hello")
	if err != nil || !again.Replayed || again.ID != first.ID || again.Epoch != first.Epoch || again.Seq != first.Seq {
		t.Fatalf("retry: %+v %v; want the first message %+v replayed", again, err, first)
	}
	if n, _ := f.store.LastEventID(ctx, f.dom, "2"); n != events {
		t.Errorf("retry emitted events: %d -> %d", events, n)
	}
	for _, c := range []struct{ cid, to, text string }{{"c-1", "2", "other text"}, {"c-1", "3", "hello"}} {
		if _, err := send(c.cid, c.to, c.text); chat.KindOf(err) != chat.Conflict {
			t.Errorf("reuse %+v: %v, want Conflict", c, err)
		}
	}
	for _, cid := range []string{string(make([]byte, 65)), "has space", "tab\t", "é"} {
		if _, err := send(cid, "2", "x"); chat.KindOf(err) != chat.Invalid {
			t.Errorf("client id %q: %v, want Invalid", cid, err)
		}
	}
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	if n := f.rdb.ZCard(ctx, f.keys.DM(conv)).Val(); n != 1 {
		t.Errorf("DM holds %d messages, want 1", n)
	}
	// Another sender's client ids are their own.
	if _, _, err := f.store.Send(ctx, chat.SendRequest{Domain: f.dom, From: "2", To: "1", ClientID: "c-1",
		Content: chat.Content{Type: chat.TypeText, Text: "hello"}}); err != nil {
		t.Errorf("same client id from another user: %v", err)
	}
}

func TestBlocks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.send(t, "1", "2", "before")
	if err := f.store.Block(ctx, f.dom, "2", "1"); err != nil {
		t.Fatal(err)
	}
	events, _ := f.store.LastEventID(ctx, f.dom, "2")
	cases := []struct {
		from, to chat.UserID
		msg      string
	}{
		{"1", "2", "does not accept"},
		{"2", "1", "unblock them first"},
	}
	for _, c := range cases {
		_, _, err := f.store.Send(ctx, chat.SendRequest{Domain: f.dom, From: c.from, To: c.to, Content: chat.Content{Type: chat.TypeText, Text: "x"}})
		if chat.KindOf(err) != chat.Forbidden || !contains(chat.MessageOf(err), c.msg) {
			t.Errorf("send %s->%s: %v, want Forbidden %q", c.from, c.to, err, c.msg)
		}
		if _, err := chat.NewTyping(f.store, 0, 0).Announce(ctx, f.dom, c.from, c.to); chat.KindOf(err) != chat.Forbidden {
			t.Errorf("typing %s->%s: %v, want Forbidden", c.from, c.to, err)
		}
	}
	if n, _ := f.store.LastEventID(ctx, f.dom, "2"); n != events {
		t.Errorf("refused sends emitted events: %d -> %d", events, n)
	}
	if ids, _ := f.store.Blocked(ctx, f.dom, "2"); len(ids) != 1 || ids[0] != "1" {
		t.Errorf("blocked list %v, want [1]", ids)
	}
	if err := f.store.Block(ctx, f.dom, "2", "2"); chat.KindOf(err) != chat.Invalid {
		t.Errorf("self block: %v", err)
	}
	if err := f.store.Unblock(ctx, f.dom, "2", "1"); err != nil {
		t.Fatal(err)
	}
	f.send(t, "1", "2", "after unblock")
	// Another domain's block is not this one's.
	_ = f.store.Block(ctx, f.dom+"x", "2", "1")
	f.send(t, "1", "2", "other domain's block")
}

func TestSendRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// One token per 1000 s of Redis time: none comes back while the test
	// runs, however slow the machine; ageBucket stands in for the wait.
	s := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100, SendRate: 0.001, SendBurst: 3}, f.clock.Now)
	ctx := context.Background()
	send := func(from chat.UserID) error {
		_, _, err := s.Send(ctx, chat.SendRequest{Domain: f.dom, From: from, To: "9", Content: chat.Content{Type: chat.TypeText, Text: "x"}})
		return err
	}
	for i := range 3 {
		if err := send("1"); err != nil {
			t.Fatalf("send %d within the burst: %v", i, err)
		}
	}
	err := send("1")
	if ra := chat.RetryAfterOf(err); chat.KindOf(err) != chat.RateLimited || ra <= 999*time.Second || ra > 1000*time.Second {
		t.Fatalf("4th send: %v (retry after %v), want RateLimited after about 1000s", err, ra)
	}
	if err := send("2"); err != nil {
		t.Errorf("another user's bucket is full: %v", err)
	}
	f.ageBucket(t, f.keys.SendBucket(f.dom, "1"), 1000*time.Second)
	if err := send("1"); err != nil {
		t.Errorf("after the refill: %v", err)
	}
	if err := send("1"); chat.KindOf(err) != chat.RateLimited {
		t.Errorf("bucket empty again: %v", err)
	}
	conv, _ := chat.NewConversation(f.dom, "1", "9")
	if n := f.rdb.ZCard(ctx, f.keys.DM(conv)).Val(); n != 4 {
		t.Errorf("DM holds %d messages, want the 4 allowed", n)
	}
}

func TestModeratorDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m := f.send(t, "1", "2", "spam")
	if _, _, err := f.store.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: "2", Peer: "1", MessageID: m.ID}); chat.KindOf(err) != chat.Forbidden {
		t.Fatalf("recipient delete: %v, want Forbidden", err)
	}
	got, _, err := f.store.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: "2", Peer: "1", MessageID: m.ID, Moderator: true})
	if err != nil || got.ID != m.ID || got.Author != "1" {
		t.Fatalf("moderator delete: %+v %v", got, err)
	}
	if dm, total := f.unread(t, "2", "1"); dm != 0 || total != 0 {
		t.Errorf("unread after the delete: %d/%d, want 0", dm, total)
	}
	f.assertConsistent(t, "1", "2")
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
