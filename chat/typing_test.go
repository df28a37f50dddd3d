package chat_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

// TestTypingAnnounce: a typing announcement is published once per interval
// per sender and peer, refused for oneself and across a block either way,
// and stores nothing but its rate-limit key.
func TestTypingAnnounce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	typing := chat.NewTyping(f.store, 5*time.Second, time.Hour) // an hour: repeats are surely suppressed
	if err := f.store.Block(ctx, f.dom, "1", "4"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.Block(ctx, f.dom, "5", "1"); err != nil {
		t.Fatal(err)
	}
	ps := f.rdb.Subscribe(ctx, f.keys.EventLog(f.dom, "2"), f.keys.EventLog(f.dom, "3"))
	t.Cleanup(func() { _ = ps.Close() })
	for range 2 {
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	events := ps.Channel()

	tests := []struct {
		name      string
		from, to  chat.UserID
		wantKind  chat.Kind // 0 (Internal) stands for success here
		published bool
	}{
		{"first announcement", "1", "2", 0, true},
		{"repeat within the interval", "1", "2", 0, false},
		{"another sender to the same peer", "3", "2", 0, true},
		{"the peer back", "2", "3", 0, true},
		{"to oneself", "1", "1", chat.Invalid, false},
		{"to a user the sender blocked", "1", "4", chat.Forbidden, false},
		{"to a user who blocked the sender", "1", "5", chat.Forbidden, false},
	}
	for _, tt := range tests {
		before := f.clock.Now() // the fake clock ticks 1ms per reading
		until, err := typing.Announce(ctx, f.dom, tt.from, tt.to)
		switch {
		case tt.wantKind != 0:
			if err == nil || chat.KindOf(err) != tt.wantKind {
				t.Errorf("%s: err = %v, want kind %v", tt.name, err, tt.wantKind)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case !until.Equal(before.Add(time.Millisecond + 5*time.Second)):
			t.Errorf("%s: until %v, want the announcement time + 5s", tt.name, until)
		}
		// A sentinel published after the call is the next message unless
		// the call published an event. On a Redis Cluster a PUBLISH reaches
		// the subscriber through the node it was sent to, and two nodes'
		// messages are not ordered (CI's cluster pass once saw the sentinel
		// first): the sentinel goes through the node that ran the call's
		// script, the primary of the recipient's slot.
		via := redis.UniversalClient(f.rdb)
		if cc, ok := f.rdb.(*redis.ClusterClient); ok {
			node, err := cc.MasterForKey(ctx, f.keys.EventLog(f.dom, tt.to))
			if err != nil {
				t.Fatal(err)
			}
			via = node
		}
		if err := via.Publish(ctx, f.keys.EventLog(f.dom, "2"), "sentinel").Err(); err != nil {
			t.Fatal(err)
		}
		m := <-events
		if got := m.Payload != "sentinel"; got != tt.published {
			t.Fatalf("%s: published = %v, want %v (%s)", tt.name, got, tt.published, m.Payload)
		}
		if !tt.published {
			continue
		}
		<-events // the sentinel
		ev, err := chat.DecodeEvent(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != chat.EventTyping || !ev.Ephemeral() || ev.Peer != tt.from || ev.Until != until.UnixMilli() {
			t.Errorf("%s: event %+v, want typing from %s until %d", tt.name, ev, tt.from, until.UnixMilli())
		}
		if m.Channel != f.keys.EventLog(f.dom, tt.to) {
			t.Errorf("%s: published on %s, want %s's channel", tt.name, m.Channel, tt.to)
		}
	}
	// Nothing stored: no event log, no counter.
	for _, u := range []chat.UserID{"2", "3"} {
		if n, _ := f.rdb.Exists(ctx, f.keys.EventLog(f.dom, u), f.keys.EventSeq(f.dom, u)).Result(); n != 0 {
			t.Errorf("user %s has %d event keys, want none", u, n)
		}
	}
	if ttl := f.rdb.PTTL(ctx, f.keys.Typing(f.dom, "1", "2")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("rate-limit key TTL = %v, want at most the interval", ttl)
	}
}
