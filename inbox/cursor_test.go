package inbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"parley/chat"
	"parley/inbox"
	"parley/internal/testutil"
)

type inboxFixture struct {
	chats *chat.Store
	ib    *inbox.Store
	dom   chat.Domain
	now   *time.Time
}

func newInboxFixture(t *testing.T) inboxFixture {
	t.Helper()
	rdb := testutil.Redis(t)
	keys := chat.Keys{Prefix: testutil.Prefix(t)}
	now := time.UnixMilli(1_700_000_000_000)
	f := inboxFixture{ib: inbox.NewStore(rdb, keys), dom: chat.Domain(testutil.Domain(t)), now: &now}
	f.chats = chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, func() time.Time { return *f.now })
	return f
}

func (f inboxFixture) send(t *testing.T, from, to string) {
	t.Helper()
	if _, _, err := f.chats.Send(context.Background(), chat.SendRequest{Domain: f.dom, From: chat.UserID(from), To: chat.UserID(to),
		Content: chat.Content{Type: chat.TypeText, Text: "hi " + to}}); err != nil {
		t.Fatal(err)
	}
}

func peers(p inbox.Page) string {
	out := make([]string, len(p.Entries))
	for i, e := range p.Entries {
		out[i] = string(e.Peer)
	}
	return fmt.Sprint(out)
}

func pos(e inbox.Entry) string {
	return chat.InboxPosition{Peer: e.Peer, Epoch: e.Epoch, AtEpoch: true}.String()
}

// TestListByCursorWalk walks an inbox down with before= while conversations
// move up: every entry is seen at most once; one that moved up before the
// walk reached it is found above the start with after=.
func TestListByCursorWalk(t *testing.T) {
	t.Parallel()
	f := newInboxFixture(t)
	ctx := context.Background()
	for p := 10; p < 22; p++ { // 21 is the newest
		*f.now = f.now.Add(time.Second)
		f.send(t, "1", fmt.Sprint(p))
	}
	first, err := f.ib.List(ctx, f.dom, "1", chat.Page{Number: 1, Size: 4})
	if err != nil || peers(first) != "[21 20 19 18]" || !first.Older || first.Newer {
		t.Fatalf("page 1 = %s older=%v newer=%v (%v)", peers(first), first.Older, first.Newer, err)
	}
	// 20 (seen) and 12 (not yet seen) get new messages mid-walk.
	for _, p := range []string{"20", "12"} {
		*f.now = f.now.Add(time.Second)
		f.send(t, p, "1")
	}
	seen := map[chat.UserID]int{}
	for _, e := range first.Entries {
		seen[e.Peer]++
	}
	cur := pos(first.Entries[len(first.Entries)-1])
	var walk []string
	for {
		p, err := f.ib.ListByCursor(ctx, f.dom, "1", chat.Cursor{Before: cur, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 12 {
			t.Errorf("total = %d, want 12", p.Total)
		}
		walk = append(walk, peers(p))
		for _, e := range p.Entries {
			seen[e.Peer]++
			if e.Latest == nil {
				t.Errorf("entry %s has no latest message", e.Peer)
			}
		}
		if !p.Older {
			break
		}
		cur = pos(p.Entries[len(p.Entries)-1])
	}
	if fmt.Sprint(walk) != "[[17 16 15 14] [13 11 10]]" {
		t.Errorf("walk = %v, want [[17 16 15 14] [13 11 10]]", walk)
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s seen %d times", p, n)
		}
	}
	if len(seen) != 11 || seen["12"] != 0 {
		t.Errorf("seen %d peers (12 seen %d times), want 11 without 12", len(seen), seen["12"])
	}
	// Above the start: what moved up, newest first.
	up, err := f.ib.ListByCursor(ctx, f.dom, "1", chat.Cursor{After: pos(first.Entries[0]), Limit: 10})
	if err != nil || peers(up) != "[12 20]" || up.Newer || !up.Older {
		t.Errorf("after the start = %s older=%v newer=%v (%v), want [12 20] older only", peers(up), up.Older, up.Newer, err)
	}
	// Just below the top, by the bare peer id (its current place).
	near, err := f.ib.ListByCursor(ctx, f.dom, "1", chat.Cursor{After: "19", Limit: 2})
	if err != nil || peers(near) != "[20 21]" || !near.Newer || !near.Older {
		t.Errorf("after 19 = %s older=%v newer=%v (%v), want [20 21] both", peers(near), near.Older, near.Newer, err)
	}
	top, err := f.ib.ListByCursor(ctx, f.dom, "1", chat.Cursor{After: "12", Limit: 2})
	if err != nil || len(top.Entries) != 0 || top.Older || top.Newer {
		t.Errorf("after the top = %s older=%v newer=%v (%v), want empty", peers(top), top.Older, top.Newer, err)
	}
	if _, err := f.ib.ListByCursor(ctx, f.dom, "1", chat.Cursor{Before: "99", Limit: 2}); chat.KindOf(err) != chat.NotFound {
		t.Errorf("unknown peer: %v, want NotFound", err)
	}
	// A pinned place needs no entry (99 and 0 were never listed); at a tied
	// score the member decides: "user-99" sorts above "user-19", "user-0" below.
	for peer, want := range map[string]string{"99": "[19 18]", "0": "[18 17]"} {
		below, err := f.ib.ListByCursor(ctx, f.dom, "1", chat.Cursor{Before: peer + "@" + fmt.Sprint(first.Entries[2].Epoch), Limit: 2})
		if err != nil || peers(below) != want {
			t.Errorf("before %s@<epoch of 19> = %s (%v), want %s", peer, peers(below), err, want)
		}
	}
}

// TestListByCursorTies: conversations whose latest messages share a
// millisecond are ordered by member, and a walk with limit 1 sees each once.
func TestListByCursorTies(t *testing.T) {
	t.Parallel()
	f := newInboxFixture(t)
	ctx := context.Background()
	for _, p := range []string{"b", "a", "c.d", "C", "a-b", "a_b"} {
		f.send(t, "1", p)
	}
	*f.now = f.now.Add(time.Millisecond)
	f.send(t, "1", "z")
	want, err := f.ib.List(ctx, f.dom, "1", chat.Page{Number: 1, Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"before", "after"} {
		var got []inbox.Entry
		c := chat.Cursor{Before: pos(want.Entries[0]), Limit: 1}
		got = append(got, want.Entries[0])
		if dir == "after" {
			c = chat.Cursor{After: pos(want.Entries[len(want.Entries)-1]), Limit: 1}
			got = []inbox.Entry{want.Entries[len(want.Entries)-1]}
		}
		for range 20 {
			p, err := f.ib.ListByCursor(ctx, f.dom, "1", c)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Entries) == 0 {
				break
			}
			got = append(got, p.Entries[0])
			if dir == "before" {
				c.Before = pos(p.Entries[0])
			} else {
				c.After = pos(p.Entries[0])
			}
		}
		if dir == "after" {
			for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
				got[i], got[j] = got[j], got[i]
			}
		}
		if g, w := peers(inbox.Page{Entries: got}), peers(want); g != w {
			t.Errorf("%s walk = %s, want %s", dir, g, w)
		}
	}
}
