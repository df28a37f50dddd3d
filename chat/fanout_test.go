package chat_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/chat"
)

// errCrash stands for a node that died between two steps of a write.
var errCrash = errors.New("test: the node died here")

// crashAt returns a store on f's Redis whose writes stop after stage
// ("conversation" or "participant"), as if their node died there.
func crashAt(f fixture, stage string) *chat.Store {
	s := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
	s.SetStepHook(func(st string) error {
		if st == stage {
			return errCrash
		}
		return nil
	})
	return s
}

// sendVia sends with s; a send stopped between steps answers no message,
// so it is read back from the conversation (its newest).
func sendVia(ctx context.Context, f fixture, s *chat.Store, from, to chat.UserID, text, cid string) (chat.Message, error) {
	m, conv, err := s.Send(ctx, chat.SendRequest{Domain: f.dom, From: from, To: to, ClientID: cid,
		Content: chat.Content{Type: chat.TypeText, Text: text}})
	if err != nil {
		p, herr := f.store.History(ctx, conv, chat.Page{Number: 1, Size: 1})
		if herr == nil && len(p.Messages) == 1 && p.Messages[0].Text == text {
			m = p.Messages[0]
		}
	}
	return m, err
}

// assertDelivered checks u's event log: ids 1..n with no gap or repeat,
// and every message in want delivered exactly once as message:new, in
// want's order.
func assertDelivered(t *testing.T, f fixture, u chat.UserID, want []chat.Message) {
	t.Helper()
	evs, last, gone, err := f.store.EventsAfter(context.Background(), f.dom, u, 0, 1000)
	if err != nil || gone {
		t.Fatalf("events of %s: %v (gone %v)", u, err, gone)
	}
	if int64(len(evs)) != last {
		t.Errorf("%s has %d events, last id %d", u, len(evs), last)
	}
	var got []string
	for i, ev := range evs {
		if ev.ID != int64(i+1) {
			t.Errorf("event %d of %s has id %d: an id skipped or repeated", i, u, ev.ID)
		}
		if ev.Type == chat.EventNew {
			got = append(got, ev.Msg.ID)
		}
	}
	var ids []string
	for _, m := range want {
		ids = append(ids, m.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("%s got message:new for %v, want each of %v once, in order", u, got, ids)
	}
}

// assertUnread checks u's unread total.
func assertUnread(t *testing.T, f fixture, u chat.UserID, want int64) {
	t.Helper()
	if n, err := f.store.UnreadTotal(context.Background(), f.dom, u); err != nil || n != want {
		t.Errorf("unread of %s: %d (%v), want %d", u, n, err, want)
	}
}

// assertNothingPending checks that conv has no op left to fan out.
func assertNothingPending(t *testing.T, f fixture, conv chat.Conversation) {
	t.Helper()
	ctx := context.Background()
	if n := f.rdb.ZCard(ctx, f.keys.Pending(conv)).Val(); n != 0 {
		t.Errorf("%s still has %d pending ops", conv.Key(), n)
	}
	if n := f.rdb.HLen(ctx, f.keys.Fanout(conv)).Val(); n != 0 {
		t.Errorf("%s still has %d fan-outs", conv.Key(), n)
	}
}

// TestCrashBetweenStepsRepaired: one send stops after its conversation
// step, another after its first participant step (their nodes died); the
// sender got an error, the messages are stored. A second node's repair
// loop completes both: both DMs, inboxes, unread totals and event logs
// agree, no event id skipped or repeated, every message delivered once.
func TestCrashBetweenStepsRepaired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m1, err := sendVia(ctx, f, crashAt(f, "conversation"), "1", "2", "one", "")
	if !errors.Is(err, errCrash) {
		t.Fatalf("send stopped after the conversation step: %v", err)
	}
	m2, err := sendVia(ctx, f, crashAt(f, "participant"), "3", "2", "two", "")
	if !errors.Is(err, errCrash) {
		t.Fatalf("send stopped after a participant step: %v", err)
	}
	c12, _ := chat.NewConversation(f.dom, "1", "2")
	c23, _ := chat.NewConversation(f.dom, "2", "3")
	for _, c := range []chat.Conversation{c12, c23} {
		if n := f.rdb.ZCard(ctx, f.keys.Pending(c)).Val(); n != 1 {
			t.Fatalf("%s: %d pending ops after the crash, want 1", c.Key(), n)
		}
	}
	// Nothing stale yet: a repair with the default window leaves them.
	other := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
	if n, err := other.RepairPending(ctx, "node-2", chat.DefaultRepairStale); err != nil || n != 0 {
		t.Fatalf("repair of fresh writes: %d ops, %v; want 0", n, err)
	}
	n, err := other.RepairPending(ctx, "node-2", 0)
	if err != nil || n != 2 {
		t.Fatalf("repair: %d ops, %v; want 2", n, err)
	}
	if n, err := other.RepairPending(ctx, "node-2", 0); err != nil || n != 0 {
		t.Errorf("second repair: %d ops, %v; want 0 (nothing left)", n, err)
	}
	for i := range chat.FanoutShards {
		if k := f.rdb.ZCard(ctx, f.keys.FanoutIndex(i)).Val(); k != 0 {
			t.Errorf("index shard %d keeps %d entries after the repair", i, k)
		}
	}
	f.assertConsistent(t, "1", "2")
	f.assertConsistent(t, "3", "2")
	assertNothingPending(t, f, c12)
	assertNothingPending(t, f, c23)
	assertDelivered(t, f, "1", []chat.Message{m1})
	assertDelivered(t, f, "3", []chat.Message{m2})
	assertDeliveredSet(t, f, "2", map[chat.UserID][]chat.Message{"1": {m1}, "3": {m2}})
	assertUnread(t, f, "2", 2)
	assertUnread(t, f, "1", 0)
	// Later writes go on from there, with no gap.
	m3 := f.send(t, "2", "1", "three")
	assertDelivered(t, f, "1", []chat.Message{m1, m3})
	assertDeliveredSet(t, f, "2", map[chat.UserID][]chat.Message{"1": {m1, m3}, "3": {m2}})
	assertUnread(t, f, "2", 1) // replying cleared the DM with 1
	assertUnread(t, f, "1", 1)
}

// TestClientIDRetryCompletesFanout: a send whose node died after the
// conversation step is completed by the client's retry with the same
// client_id, which answers the first message (Replayed).
func TestClientIDRetryCompletesFanout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := sendVia(ctx, f, crashAt(f, "conversation"), "1", "2", "hello", "cid-1"); !errors.Is(err, errCrash) {
		t.Fatalf("first send: %v", err)
	}
	again, err := sendVia(ctx, f, f.store, "1", "2", "hello", "cid-1")
	if err != nil || !again.Replayed || again.Seq != 1 {
		t.Fatalf("retry: %+v %v; want the first message replayed", again, err)
	}
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	assertNothingPending(t, f, conv)
	f.assertConsistent(t, "1", "2")
	assertDelivered(t, f, "1", []chat.Message{again})
	assertDelivered(t, f, "2", []chat.Message{again})
	assertUnread(t, f, "2", 1)
	if n := f.rdb.ZCard(ctx, f.keys.DM(conv)).Val(); n != 1 {
		t.Errorf("DM has %d messages after the retry, want 1", n)
	}
}

// TestOpsApplyInOrder: op n+1 of a conversation is applied to a user only
// after op n: a send whose fan-out is pending (node died after the
// conversation step) reaches both users before the next send does.
func TestOpsApplyInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m1, err := sendVia(ctx, f, crashAt(f, "conversation"), "1", "2", "first", "")
	if !errors.Is(err, errCrash) {
		t.Fatalf("first send: %v", err)
	}
	m2 := f.send(t, "2", "1", "second")
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	assertNothingPending(t, f, conv)
	assertDelivered(t, f, "1", []chat.Message{m1, m2})
	assertDelivered(t, f, "2", []chat.Message{m1, m2})
	assertUnread(t, f, "1", 1)
	assertUnread(t, f, "2", 0)
	f.assertConsistent(t, "1", "2")
	// The repair loop finds nothing left to do.
	if n, err := f.store.RepairPending(ctx, "n", 0); err != nil || n != 0 {
		t.Errorf("repair after the gap was filled: %d ops, %v; want 0", n, err)
	}
}

// TestConcurrentRepairAppliesOnce: two repair loops on the same pending
// ops (two nodes) apply each exactly once.
func TestConcurrentRepairAppliesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	crash := crashAt(f, "conversation")
	var sent [][]chat.Message // per recipient 10+i: messages from 1 and 2, in order
	for i := range 4 {
		to := chat.UserID(fmt.Sprint(10 + i))
		var ms []chat.Message
		for j, from := range []chat.UserID{"1", "1", "2"} {
			m, err := sendVia(ctx, f, crash, from, to, fmt.Sprint("m", i, j), "")
			if !errors.Is(err, errCrash) {
				t.Fatalf("send: %v", err)
			}
			ms = append(ms, m)
		}
		sent = append(sent, ms)
	}
	var wg sync.WaitGroup
	counts := make([]int, 2)
	errs := make([]error, 2)
	for k := range 2 {
		s := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
		wg.Go(func() {
			for range 3 { // a lease held by the other node skips a conversation: go round again
				n, err := s.RepairPending(ctx, fmt.Sprint("node-", k), 0)
				counts[k] += n
				if err != nil {
					errs[k] = err
				}
			}
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("repairs: %v, %v", errs[0], errs[1])
	}
	if counts[0]+counts[1] < 12 {
		t.Errorf("repairs completed %d+%d ops, want at least the 12 pending", counts[0], counts[1])
	}
	from1, from2 := map[chat.UserID][]chat.Message{}, map[chat.UserID][]chat.Message{}
	for i, ms := range sent {
		to := chat.UserID(fmt.Sprint(10 + i))
		assertDeliveredSet(t, f, to, map[chat.UserID][]chat.Message{"1": ms[:2], "2": ms[2:]})
		from1[to] = ms[:2]
		from2[to] = ms[2:]
		assertUnread(t, f, to, 3)
		for _, from := range []chat.UserID{"1", "2"} {
			f.assertConsistent(t, from, to)
			conv, _ := chat.NewConversation(f.dom, from, to)
			assertNothingPending(t, f, conv)
		}
	}
	assertDeliveredSet(t, f, "1", from1)
	assertDeliveredSet(t, f, "2", from2)
}

// assertDeliveredSet is assertDelivered for a user with several
// conversations: want maps each peer to the messages of that DM, which
// must arrive each once and in their order; conversations interleave in
// any way.
func assertDeliveredSet(t *testing.T, f fixture, u chat.UserID, want map[chat.UserID][]chat.Message) {
	t.Helper()
	evs, last, _, err := f.store.EventsAfter(context.Background(), f.dom, u, 0, 1000)
	if err != nil || int64(len(evs)) != last {
		t.Fatalf("events of %s: %d, last %d, %v", u, len(evs), last, err)
	}
	got := map[chat.UserID][]string{}
	for i, ev := range evs {
		if ev.ID != int64(i+1) {
			t.Errorf("event %d of %s has id %d: an id skipped or repeated", i, u, ev.ID)
		}
		got[ev.Peer] = append(got[ev.Peer], ev.Msg.ID)
	}
	wantIDs := map[chat.UserID][]string{}
	for peer, ms := range want {
		for _, m := range ms {
			wantIDs[peer] = append(wantIDs[peer], m.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wantIDs) {
		t.Errorf("%s got %v, want %v (each once, in order per conversation)", u, got, wantIDs)
	}
}

// TestRunRepairLoop: the loop every node runs (RunRepair) completes a
// write left half-done, and stops with its context.
func TestRunRepairLoop(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	m, err := sendVia(ctx, f, crashAt(f, "participant"), "1", "2", "left half-done", "")
	if !errors.Is(err, errCrash) {
		t.Fatalf("send: %v", err)
	}
	loopCtx, stop := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		f.store.RunRepair(loopCtx, "node-x", time.Millisecond, time.Nanosecond, func(err error) { t.Errorf("repair: %v", err) })
	}()
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	for deadline := time.Now().Add(10 * time.Second); f.rdb.ZCard(ctx, f.keys.Pending(conv)).Val() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the repair loop did not complete the pending write within 10 s")
		}
	}
	stop()
	<-stopped
	if n, _ := f.store.RepairStats(); n != 1 {
		t.Errorf("RepairStats: %d ops repaired, want 1", n)
	}
	assertDelivered(t, f, "1", []chat.Message{m})
	assertDelivered(t, f, "2", []chat.Message{m})
	assertUnread(t, f, "2", 1)
	f.assertConsistent(t, "1", "2")
}
