package chat_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/internal/testutil"
)

// budgeted is a store on f's Redis whose budgets are on (and never spent
// in a test), so every write also runs guard.lua's token bucket.
func budgeted(f fixture) *chat.Store {
	return chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100, SendRate: 1000, SendBurst: 1000,
		WriteRate: 1000, WriteBurst: 1000}, f.clock.Now)
}

// logTop is the id of the newest entry of u's event log (0 when empty).
func (f fixture) logTop(t *testing.T, u chat.UserID) int64 {
	t.Helper()
	xs, err := f.rdb.XRevRangeN(context.Background(), f.keys.EventLog(f.dom, u), "+", "-", 1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) == 0 {
		return 0
	}
	return streamSeq(t, xs[0].ID)
}

func streamSeq(t *testing.T, id string) int64 {
	t.Helper()
	ms, seq, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || seq != "0" {
		t.Fatalf("event log entry id %q, want <n>-0", id)
	}
	return n
}

// TestWriteWithLostEventCounter: a user's event counter that was lost (an
// evicting Redis, a stray DEL) or set back below the log's newest id
// cannot fail a write halfway through: every write that logs events (send,
// edit, seen, read, delete) succeeds, and the user's next events continue
// the log with no gap and no repeat, the counter repaired.
func TestWriteWithLostEventCounter(t *testing.T) {
	t.Parallel()
	corruptions := []struct {
		name string
		do   func(ctx context.Context, rdb redis.UniversalClient, key string) error
	}{
		{"deleted", func(ctx context.Context, rdb redis.UniversalClient, key string) error { return rdb.Del(ctx, key).Err() }},
		{"set back", func(ctx context.Context, rdb redis.UniversalClient, key string) error {
			return rdb.Set(ctx, key, 1, 0).Err()
		}},
	}
	for _, w := range writeKinds {
		if w.name == "typing" { // typing logs nothing
			continue
		}
		for _, who := range []string{"writer", "peer"} {
			for _, c := range corruptions {
				t.Run(w.name+"/"+who+"/"+c.name, func(t *testing.T) {
					t.Parallel()
					f := newFixture(t)
					ctx := context.Background()
					d := seedDM(t, f, budgeted(f))
					victim := d.a
					if who == "peer" {
						victim = d.b
					}
					top := f.logTop(t, victim)
					if err := c.do(ctx, f.rdb, f.keys.EventSeq(f.dom, victim)); err != nil {
						t.Fatal(err)
					}
					before := f.snapshot(t)
					if err := w.do(ctx, d, 0); err != nil {
						t.Fatalf("%s with %s's event counter %s: %v; what it wrote:\n%s", w.name, who, c.name, err,
							diff(before, f.snapshot(t)))
					}
					xs, err := f.rdb.XRange(ctx, f.keys.EventLog(f.dom, victim), strconv.FormatInt(top+1, 10)+"-0", "+").Result()
					if err != nil {
						t.Fatal(err)
					}
					if len(xs) == 0 {
						t.Fatalf("%s logged no event for the %s", w.name, who)
					}
					for i, x := range xs {
						want := top + 1 + int64(i)
						var ev struct {
							ID int64 `json:"id"`
						}
						raw, _ := x.Values["e"].(string)
						if err := json.Unmarshal([]byte(raw), &ev); err != nil {
							t.Fatal(err)
						}
						if got := streamSeq(t, x.ID); got != want || ev.ID != want {
							t.Errorf("new event %d: entry %s, event id %d; want %d (no gap, no repeat)", i, x.ID, ev.ID, want)
						}
					}
					last := top + int64(len(xs))
					if n, err := f.store.LastEventID(ctx, f.dom, victim); err != nil || n != last {
						t.Errorf("counter after the write: %d (%v), want %d", n, err, last)
					}
					evs, l, gone, err := f.store.EventsAfter(ctx, f.dom, victim, top, 100)
					if err != nil || gone || l != last || len(evs) != len(xs) {
						t.Errorf("EventsAfter(%d): %d events, last %d, gone %v, err %v; want %d, %d, false", top, len(evs), l, gone, err, len(xs), last)
					}
					// The next write continues from there.
					if err := w.do(ctx, d, 1); err != nil {
						t.Fatal(err)
					}
					if got := f.logTop(t, victim); got <= last {
						t.Errorf("next write's event id %d, want above %d", got, last)
					}
					if n, _ := f.store.LastEventID(ctx, f.dom, victim); n != f.logTop(t, victim) {
						t.Errorf("counter %d after the next write, log top %d", n, f.logTop(t, victim))
					}
				})
			}
		}
	}
}

// TestCorruptKeyWritesNothing: a key of the two users' keyspace that holds
// the wrong kind of value (another type, or a counter that is not a
// number) makes every write that needs it fail as an Internal error (500,
// "internal error"), before anything is written or published; a write
// that does not need that key goes through.
func TestCorruptKeyWritesNothing(t *testing.T) {
	t.Parallel()
	type corruption struct {
		name string
		key  func(f fixture, d *dmSeed) string
		// "string", "hash", "nan" (a string that is not a number), or
		// "bad json" (key is a hash of messages: its newest one is not JSON)
		as string
	}
	conv := func(f fixture, d *dmSeed) chat.Conversation {
		c, _ := chat.NewConversation(f.dom, d.a, d.b)
		return c
	}
	var corruptions []corruption
	for _, who := range []string{"writer", "peer"} {
		u := func(d *dmSeed) chat.UserID {
			if who == "peer" {
				return d.b
			}
			return d.a
		}
		corruptions = append(corruptions,
			corruption{who + " event log", func(f fixture, d *dmSeed) string { return f.keys.EventLog(f.dom, u(d)) }, "string"},
			corruption{who + " event counter", func(f fixture, d *dmSeed) string { return f.keys.EventSeq(f.dom, u(d)) }, "hash"},
			corruption{who + " event counter", func(f fixture, d *dmSeed) string { return f.keys.EventSeq(f.dom, u(d)) }, "nan"},
			corruption{who + " read horizons", func(f fixture, d *dmSeed) string { return f.keys.Read(f.dom, u(d)) }, "string"},
			corruption{who + " inbox", func(f fixture, d *dmSeed) string { return f.keys.Inbox(f.dom, u(d)) }, "string"},
			corruption{who + " blocks", func(f fixture, d *dmSeed) string { return f.keys.Blocks(f.dom, u(d)) }, "string"},
			corruption{who + " applied ops", func(f fixture, d *dmSeed) string { return f.keys.Applied(f.dom, u(d)) }, "string"},
			corruption{who + " unread per peer", func(f fixture, d *dmSeed) string { return f.keys.UnreadBy(f.dom, u(d)) }, "string"},
		)
	}
	corruptions = append(corruptions,
		corruption{"writer send bucket", func(f fixture, d *dmSeed) string { return f.keys.SendBucket(f.dom, d.a) }, "string"},
		corruption{"writer write bucket", func(f fixture, d *dmSeed) string { return f.keys.WriteBucket(f.dom, d.a) }, "string"},
		corruption{"dm", func(f fixture, d *dmSeed) string { return f.keys.DM(conv(f, d)) }, "string"},
		corruption{"messages", func(f fixture, d *dmSeed) string { return f.keys.Messages(conv(f, d)) }, "string"},
		corruption{"dm seq", func(f fixture, d *dmSeed) string { return f.keys.Seq(conv(f, d)) }, "hash"},
		corruption{"dm seq", func(f fixture, d *dmSeed) string { return f.keys.Seq(conv(f, d)) }, "nan"},
		corruption{"time index", func(f fixture, d *dmSeed) string { return f.keys.TimeIndex(conv(f, d)) }, "string"},
		corruption{"pending ops", func(f fixture, d *dmSeed) string { return f.keys.Pending(conv(f, d)) }, "string"},
		corruption{"fan-out", func(f fixture, d *dmSeed) string { return f.keys.Fanout(conv(f, d)) }, "string"},
		corruption{"op counter", func(f fixture, d *dmSeed) string { return f.keys.Ops(conv(f, d)) }, "nan"},
		corruption{"newest message", func(f fixture, d *dmSeed) string { return f.keys.Messages(conv(f, d)) }, "bad json"},
	)
	for _, w := range writeKinds {
		for _, c := range corruptions {
			t.Run(w.name+"/"+c.name+" as "+c.as, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				ctx := context.Background()
				d := seedDM(t, f, budgeted(f))
				key := c.key(f, d)
				var err error
				switch c.as {
				case "string":
					_, err = f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Del(ctx, key)
						p.Set(ctx, key, "x", 0)
						return nil
					})
				case "hash":
					_, err = f.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.Del(ctx, key)
						p.HSet(ctx, key, "n", "7")
						return nil
					})
				case "nan":
					err = f.rdb.Set(ctx, key, "seven", 0).Err()
				case "bad json":
					err = f.rdb.HSet(ctx, key, d.theirs[2].ID, "{not json").Err()
				}
				if err != nil {
					t.Fatal(err)
				}
				toPeer, toWriter := f.published(t, d.b), f.published(t, d.a)
				before := f.snapshot(t)
				err = w.do(ctx, d, 0)
				if err == nil {
					return // this write does not touch the key
				}
				if chat.KindOf(err) != chat.Internal || chat.MessageOf(err) != "internal error" {
					t.Errorf("%s with a corrupt %s: %v (kind %d), want Internal", w.name, c.name, err, chat.KindOf(err))
				}
				if ch := diff(before, f.snapshot(t)); ch != "" {
					t.Errorf("%s that failed on a corrupt %s (%v) wrote:\n%s", w.name, c.name, err, ch)
				}
				if p := toPeer(); p != "" {
					t.Errorf("failed %s published %s to the peer", w.name, p)
				}
				if p := toWriter(); p != "" {
					t.Errorf("failed %s published %s to the writer", w.name, p)
				}
			})
		}
	}
}

// TestLostCountersResume: a conversation's sequence counter or a read
// horizon that was lost or mangled cannot make a send fail halfway or
// reuse a place: the next message goes right after the newest one, and a
// mark that is not "<seq>:…" counts as no horizon.
func TestLostCountersResume(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		corrupt func(ctx context.Context, f fixture, conv chat.Conversation) error
	}{
		{"sequence deleted", func(ctx context.Context, f fixture, conv chat.Conversation) error {
			return f.rdb.Del(ctx, f.keys.Seq(conv)).Err()
		}},
		{"sequence set back", func(ctx context.Context, f fixture, conv chat.Conversation) error {
			return f.rdb.Set(ctx, f.keys.Seq(conv), 2, 0).Err()
		}},
		{"read mark mangled", func(ctx context.Context, f fixture, conv chat.Conversation) error {
			return f.rdb.HSet(ctx, f.keys.Read(f.dom, "1"), "2", "garbage").Err()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := context.Background()
			d := seedDM(t, f, f.store)
			conv, _ := chat.NewConversation(f.dom, d.a, d.b)
			if err := c.corrupt(ctx, f, conv); err != nil {
				t.Fatal(err)
			}
			before := f.snapshot(t)
			m, _, err := f.store.Send(ctx, chat.SendRequest{Domain: f.dom, From: d.a, To: d.b,
				Content: chat.Content{Type: chat.TypeText, Text: "after"}})
			if err != nil {
				t.Fatalf("send: %v; what it wrote:\n%s", err, diff(before, f.snapshot(t)))
			}
			if m.Seq != 7 {
				t.Errorf("send after the %s got seq %d, want 7 (right after the newest)", c.name, m.Seq)
			}
			ids := f.rdb.ZRangeWithScores(ctx, f.keys.DM(conv), 0, -1).Val()
			for i, z := range ids {
				if z.Score != float64(i+1) {
					t.Errorf("message %d of the DM has seq %v, want %d", i, z.Score, i+1)
				}
			}
			f.assertConsistent(t, d.a, d.b)
		})
	}
}

// TestLostEventCounterReads: before any write repairs a lost event counter,
// the log's newest id is still the user's last event id, so a client that
// reconnects in between replays (or is caught up) instead of being told to
// resync from REST.
func TestLostEventCounterReads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	d := seedDM(t, f, f.store)
	top := f.logTop(t, d.a)
	if err := f.rdb.Del(ctx, f.keys.EventSeq(f.dom, d.a)).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := f.store.LastEventID(ctx, f.dom, d.a); err != nil || n != top {
		t.Errorf("LastEventID with the counter lost: %d (%v), want the log's newest %d", n, err, top)
	}
	if _, last, gone, err := f.store.EventsAfter(ctx, f.dom, d.a, top, 100); err != nil || gone || last != top {
		t.Errorf("EventsAfter(%d): last %d, gone %v, err %v; want caught up at %d", top, last, gone, err, top)
	}
	evs, last, gone, err := f.store.EventsAfter(ctx, f.dom, d.a, top-2, 100)
	if err != nil || gone || last != top || len(evs) != 2 || evs[0].ID != top-1 {
		t.Errorf("EventsAfter(%d): %d events, last %d, gone %v, err %v; want 2 from %d", top-2, len(evs), last, gone, err, top-1)
	}
}

// TestOutOfMemoryRedisWritesNothing: a Redis at its memory limit with
// noeviction refuses a script at its first write, so every write fails
// whole, as Unavailable (503: retry later), and goes through once memory
// is back. Runs on a private redis-server (it reconfigures it).
func TestOutOfMemoryRedisWritesNothing(t *testing.T) {
	t.Parallel()
	testutil.NeedRedisServer(t)
	for _, w := range writeKinds {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			rdb := redis.NewClient(&redis.Options{Addr: testutil.StartRedis(t, "--maxmemory-policy", "noeviction")})
			t.Cleanup(func() { _ = rdb.Close() })
			f := newFixture(t)
			f.rdb = rdb
			f.store = chat.NewStore(rdb, f.keys, chat.Limits{MaxText: 100}, f.clock.Now)
			ctx := context.Background()
			d := seedDM(t, f, budgeted(f))
			toPeer := f.published(t, d.b)
			before := f.snapshot(t)
			if err := rdb.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
				t.Fatal(err)
			}
			err := w.do(ctx, d, 0)
			if err := rdb.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
				t.Fatal(err)
			}
			if chat.KindOf(err) != chat.Unavailable {
				t.Errorf("%s on a Redis out of memory: %v (kind %d), want Unavailable", w.name, err, chat.KindOf(err))
			}
			if ch := diff(before, f.snapshot(t)); ch != "" {
				t.Errorf("%s refused for memory wrote:\n%s", w.name, ch)
			}
			if p := toPeer(); p != "" {
				t.Errorf("%s refused for memory published %s", w.name, p)
			}
			if err := w.do(ctx, d, 0); err != nil {
				t.Errorf("%s once memory is back: %v", w.name, err)
			}
		})
	}
}
