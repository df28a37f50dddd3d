package chat_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"parley/chat"
	"parley/internal/testutil"
)

// recorder is a Notifier that keeps every notice; fail makes Notify fail.
type recorder struct {
	mu      sync.Mutex
	notices []chat.Notice
	fail    error
}

func (r *recorder) Notify(_ context.Context, n chat.Notice) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	r.notices = append(r.notices, n)
	return nil
}

// lines renders each notice as "op n: user<-type(text)..." for comparing.
func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.notices {
		s := fmt.Sprintf("op %d:", n.Op)
		for _, p := range n.Parts {
			for _, e := range p.Events {
				s += fmt.Sprintf(" %s<-%s(%s|%s|%s)", p.User, e.Type, e.Peer, e.Msg.Text, e.UpTo)
			}
		}
		out = append(out, s)
	}
	return out
}

// notifyingStore is a store on a fresh fixture that tells n of every op,
// running each send as one script when oneScript (skipped on a cluster);
// it makes the (sub)test parallel.
func notifyingStore(t *testing.T, n chat.Notifier, oneScript bool) (fixture, *chat.Store) {
	t.Helper()
	if oneScript {
		testutil.SkipInMode(t, "the fused send is one script over keys of several slots: CROSSSLOT on a cluster", testutil.ModeCluster)
	}
	t.Parallel()
	f := newFixture(t)
	s := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
	s.SetNotifier(n)
	if oneScript {
		s = s.OneScript()
	}
	return f, s
}

// TestNotifierHearsEveryOp: a send (step by step and as one script), an
// edit, a read receipt and a delete each reach the notifier once, with
// each participant's events as their event logs got them.
func TestNotifierHearsEveryOp(t *testing.T) {
	t.Parallel()
	for _, oneScript := range []bool{false, true} {
		t.Run(fmt.Sprintf("oneScript=%v", oneScript), func(t *testing.T) {
			rec := &recorder{}
			f, s := notifyingStore(t, rec, oneScript)
			ctx := context.Background()
			m, _, err := s.Send(ctx, chat.SendRequest{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: "hi"}})
			if err != nil {
				t.Fatal(err)
			}
			text := "hi!"
			if _, _, err := s.Edit(ctx, chat.EditRequest{Domain: f.dom, Caller: "1", Peer: "2", MessageID: m.ID, Text: &text}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.MarkRead(ctx, f.dom, "2", "1", m.ID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.MarkRead(ctx, f.dom, "2", "1", m.ID); err != nil { // moves nothing
				t.Fatal(err)
			}
			if _, _, err := s.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: "1", Peer: "2", MessageID: m.ID}); err != nil {
				t.Fatal(err)
			}
			got := rec.lines()
			t.Logf("notices: %q", got)
			want := []string{
				"op 1: 1<-message:new(2|hi|) 2<-message:new(1|hi|)",
				"op 2: 1<-message:edit(2|hi!|) 2<-message:edit(1|hi!|)",
			}
			if len(got) != 4 || !slices.Equal(got[:2], want) {
				t.Fatalf("notices %q, want %q then a read receipt and a delete", got, want)
			}
			// The read receipt reaches the author (1), told by reader 2.
			hasRead := false
			for _, p := range rec.notices[2].Parts {
				for _, e := range p.Events {
					if e.Type == chat.EventRead && p.User == "1" && e.Reader == "2" && e.UpTo == m.ID {
						hasRead = true
					}
				}
			}
			if !hasRead {
				t.Errorf("read receipt notice %q: no message:read for 1 from reader 2 up to %s", got[2], m.ID)
			}
			for _, n := range rec.notices {
				if n.Conv.Key() != rec.notices[0].Conv.Key() || n.At == 0 {
					t.Errorf("notice op %d: conversation %s at %d", n.Op, n.Conv.Key(), n.At)
				}
			}
			if got[3] != "op 4: 1<-message:delete(2|hi!|) 2<-message:delete(1|hi!|)" {
				t.Errorf("delete notice %q", got[3])
			}
		})
	}
}

// TestNotifierFailureLeavesOpPending: a notifier that fails (its queue
// unreachable) fails the send and leaves the op pending, like a node that
// died before done; the repair loop notifies again and completes it.
func TestNotifierFailureLeavesOpPending(t *testing.T) {
	t.Parallel()
	for _, oneScript := range []bool{false, true} {
		t.Run(fmt.Sprintf("oneScript=%v", oneScript), func(t *testing.T) {
			down := errors.New("test: the queue is unreachable")
			rec := &recorder{fail: down}
			f, s := notifyingStore(t, rec, oneScript)
			ctx := context.Background()
			m, err := sendVia(ctx, f, s, "1", "2", "hello", "")
			if chat.KindOf(err) != chat.Unavailable || !errors.Is(err, down) {
				t.Fatalf("send with a failing notifier: %v, want Unavailable wrapping the failure", err)
			}
			conv, _ := chat.NewConversation(f.dom, "1", "2")
			if n := f.rdb.ZCard(ctx, f.keys.Pending(conv)).Val(); n != 1 {
				t.Fatalf("%d pending ops after the failed notice, want 1", n)
			}
			rec.mu.Lock()
			rec.fail = nil
			rec.mu.Unlock()
			if n, err := s.RepairPending(ctx, "node-2", 0); err != nil || n != 1 {
				t.Fatalf("repair: %d ops, %v; want 1", n, err)
			}
			if got := rec.lines(); len(got) != 1 || got[0] != "op 1: 1<-message:new(2|hello|) 2<-message:new(1|hello|)" {
				t.Errorf("notices after the repair: %q", got)
			}
			assertNothingPending(t, f, conv)
			assertDelivered(t, f, "2", []chat.Message{m})
		})
	}
}

// filtering is a recorder that also answers chat.SendFilter with want.
type filtering struct {
	recorder
	want  bool
	asked []string
}

func (f *filtering) WantsSend(_ context.Context, _ chat.Domain, from, to chat.UserID) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, string(from)+"->"+string(to))
	return f.want, nil
}

// TestSendFilter: a notifier that rules a send out before it starts is
// not told of it when the send runs as one script (which then finishes
// in one round trip: nothing is left pending), and is asked about the
// send; one that wants it hears of it. The split path (a cluster) always
// notifies: the filter is only for the one-script send.
func TestSendFilter(t *testing.T) {
	t.Parallel()
	for _, want := range []bool{false, true} {
		t.Run(fmt.Sprintf("want=%v", want), func(t *testing.T) {
			n := &filtering{want: want}
			f, s := notifyingStore(t, n, true)
			ctx := context.Background()
			if _, _, err := s.Send(ctx, chat.SendRequest{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: "hi"}}); err != nil {
				t.Fatal(err)
			}
			conv, _ := chat.NewConversation(f.dom, "1", "2")
			assertNothingPending(t, f, conv)
			got := n.lines()
			if want && (len(got) != 1 || got[0] != "op 1: 1<-message:new(2|hi|) 2<-message:new(1|hi|)") {
				t.Errorf("wanted send: notices %q, want the send's", got)
			}
			if !want && len(got) != 0 {
				t.Errorf("ruled-out send: notices %q, want none", got)
			}
			if len(n.asked) != 1 || n.asked[0] != "1->2" {
				t.Errorf("filter asked %q, want once about 1->2", n.asked)
			}
		})
	}
	t.Run("split path", func(t *testing.T) {
		n := &filtering{want: false}
		f, s := notifyingStore(t, n, false)
		if _, _, err := s.Send(context.Background(), chat.SendRequest{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: "hi"}}); err != nil {
			t.Fatal(err)
		}
		if got := n.lines(); len(got) != 1 {
			t.Errorf("split send: notices %q, want the send's (the notifier decides there)", got)
		}
	})
}
