package inbox_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/inbox"
	"parley/internal/testutil"
)

func TestListNewestFirstPaginated(t *testing.T) {
	t.Parallel()
	rdb := testutil.Redis(t)
	keys := chat.Keys{Prefix: testutil.Prefix(t)}
	dom := chat.Domain(testutil.Domain(t))
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	chats := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, clock)
	ib := inbox.NewStore(rdb, keys)
	ctx := context.Background()

	// User 1 talks to peers 10..34; peer 20 then writes again, so it is newest.
	for p := 10; p < 35; p++ {
		if _, _, err := chats.Send(ctx, chat.SendRequest{Domain: dom, From: "1", To: chat.UserID(fmt.Sprint(p)), Content: chat.Content{Type: "text", Text: fmt.Sprint("to ", p)}}); err != nil {
			t.Fatal(err)
		}
	}
	last, _, err := chats.Send(ctx, chat.SendRequest{Domain: dom, From: "20", To: "1", Content: chat.Content{Type: "text", Text: "back"}})
	if err != nil {
		t.Fatal(err)
	}

	p1, err := ib.List(ctx, dom, "1", chat.Page{Number: 1, Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if p1.Total != 25 || len(p1.Entries) != 10 {
		t.Fatalf("page 1: total %d, %d entries; want 25, 10", p1.Total, len(p1.Entries))
	}
	if e := p1.Entries[0]; e.Peer != "20" || e.Latest == nil || e.Latest.ID != last.ID || e.Epoch != last.Epoch {
		t.Errorf("first entry = %+v, want peer 20 with the latest message", e)
	}
	if e := p1.Entries[1]; e.Peer != "34" || e.Latest == nil || e.Latest.Text != "to 34" {
		t.Errorf("second entry = %+v, want peer 34", e)
	}
	for i := 1; i < len(p1.Entries); i++ {
		if p1.Entries[i].Epoch > p1.Entries[i-1].Epoch {
			t.Errorf("entries not newest first at %d", i)
		}
	}
	p3, err := ib.List(ctx, dom, "1", chat.Page{Number: 3, Size: 10})
	if err != nil || p3.Total != 25 || len(p3.Entries) != 5 {
		t.Fatalf("page 3 = %d entries, total %d, %v; want 5, 25", len(p3.Entries), p3.Total, err)
	}
	p9, err := ib.List(ctx, dom, "1", chat.Page{Number: 9, Size: 10})
	if err != nil || p9.Total != 25 || len(p9.Entries) != 0 {
		t.Fatalf("page past the end = %+v, %v", p9, err)
	}
	other, err := ib.List(ctx, chat.Domain(testutil.Domain(t)), "1", chat.Page{Number: 1, Size: 10})
	if err != nil || other.Total != 0 {
		t.Fatalf("another domain sees %d entries (%v), want 0", other.Total, err)
	}
	peer, err := ib.List(ctx, dom, "20", chat.Page{Number: 1, Size: 10})
	if err != nil || peer.Total != 1 || peer.Entries[0].Peer != "1" || peer.Entries[0].Latest.ID != last.ID {
		t.Fatalf("peer inbox = %+v, %v", peer, err)
	}
}

// TestListWithoutReadPositionOnBothStores lists the inbox of a user who has
// received messages but never read any, on Redis and on the embedded store
// (`go run .`): both answer, with every message unread.
func TestListWithoutReadPositionOnBothStores(t *testing.T) {
	t.Parallel()
	stores := map[string]func(testing.TB) redis.UniversalClient{"redis": testutil.Redis,
		"embedded": func(t testing.TB) redis.UniversalClient { return testutil.EmbeddedRedis(t) }}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb := open(t)
			keys := chat.Keys{Prefix: testutil.Prefix(t)}
			dom := chat.Domain(testutil.Domain(t))
			chats := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, time.Now)
			ib := inbox.NewStore(rdb, keys)
			ctx := context.Background()
			for _, text := range []string{"one", "two"} {
				if _, _, err := chats.Send(ctx, chat.SendRequest{Domain: dom, From: "1", To: "2", Content: chat.Content{Type: "text", Text: text}}); err != nil {
					t.Fatal(err)
				}
			}
			p, err := ib.List(ctx, dom, "2", chat.Page{Number: 1, Size: 10})
			if err != nil {
				t.Fatalf("list of a recipient with no read position: %v", err)
			}
			if len(p.Entries) != 1 || p.Entries[0].Peer != "1" || p.Entries[0].Unread != 2 || p.Entries[0].Latest == nil || p.Entries[0].Latest.Text != "two" {
				t.Fatalf("entries = %+v, want peer 1 with 2 unread and latest \"two\"", p.Entries)
			}
		})
	}
}
