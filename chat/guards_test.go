package chat_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/chat"
	"parley/internal/testutil"
)

// dmSeed is a DM between a and b with three messages from a, then three
// from b (all unread by a), written before any block or budget applies.
type dmSeed struct {
	a, b         chat.UserID
	mine, theirs []chat.Message // a's messages to b, b's messages to a
	store        *chat.Store    // the store under test
	typing       *chat.Typing   // on store
	fixture      fixture
}

func seedDM(t *testing.T, f fixture, s *chat.Store) *dmSeed {
	t.Helper()
	d := &dmSeed{a: "1", b: "2", store: s, typing: chat.NewTyping(s, 5*time.Second, time.Hour), fixture: f}
	for i := range 3 {
		d.mine = append(d.mine, f.send(t, d.a, d.b, fmt.Sprintf("mine %d", i)))
	}
	for i := range 3 {
		d.theirs = append(d.theirs, f.send(t, d.b, d.a, fmt.Sprintf("theirs %d", i)))
	}
	return d
}

// writeKind is one kind of write a user makes toward another. do makes the
// i-th such write (i < 3) from d.a to d.b; distinct i are distinct writes
// that each reach d.b.
type writeKind struct {
	name string
	do   func(ctx context.Context, d *dmSeed, i int) error
	// oneScript: the write runs as one script spanning slots (a send on a
	// single Redis, Limits.SingleNode).
	oneScript bool
}

// writeKinds are the writes the guard, atomicity and slot tests run: on a
// Redis Cluster without the one-script kinds (they span slots, CROSSSLOT;
// server.New uses them only on a single node).
var writeKinds = forThisRedis(allWriteKinds)

func forThisRedis(ks []writeKind) []writeKind {
	if !testutil.OnCluster() {
		return ks
	}
	var out []writeKind
	for _, w := range ks {
		if !w.oneScript {
			out = append(out, w)
		}
	}
	return out
}

var allWriteKinds = []writeKind{
	{name: "send", do: func(ctx context.Context, d *dmSeed, i int) error {
		_, _, err := d.store.Send(ctx, chat.SendRequest{Domain: d.fixture.dom, From: d.a, To: d.b,
			Content: chat.Content{Type: chat.TypeText, Text: fmt.Sprintf("new %d", i)}})
		return err
	}},
	{name: "send (one script)", oneScript: true, do: func(ctx context.Context, d *dmSeed, i int) error {
		_, _, err := d.store.OneScript().Send(ctx, chat.SendRequest{Domain: d.fixture.dom, From: d.a, To: d.b,
			Content: chat.Content{Type: chat.TypeText, Text: fmt.Sprintf("new %d", i)}})
		return err
	}},
	{name: "edit", do: func(ctx context.Context, d *dmSeed, i int) error {
		text := fmt.Sprintf("edited %d", i)
		_, _, err := d.store.Edit(ctx, chat.EditRequest{Domain: d.fixture.dom, Caller: d.a, Peer: d.b,
			MessageID: d.mine[i].ID, Text: &text})
		return err
	}},
	{name: "seen", do: func(ctx context.Context, d *dmSeed, i int) error {
		_, _, err := d.store.Edit(ctx, chat.EditRequest{Domain: d.fixture.dom, Caller: d.a, Peer: d.b,
			MessageID: d.theirs[i].ID, Seen: true})
		return err
	}},
	{name: "read", do: func(ctx context.Context, d *dmSeed, i int) error {
		_, _, err := d.store.MarkRead(ctx, d.fixture.dom, d.a, d.b, d.theirs[i].ID)
		return err
	}},
	{name: "typing", do: func(ctx context.Context, d *dmSeed, i int) error {
		_, err := d.typing.Announce(ctx, d.fixture.dom, d.a, d.b)
		// The next announcement is a new one: as if the interval had passed.
		d.fixture.rdb.Del(ctx, d.fixture.keys.Typing(d.fixture.dom, d.a, d.b))
		return err
	}},
	{name: "delete", do: func(ctx context.Context, d *dmSeed, i int) error {
		_, _, err := d.store.Delete(ctx, chat.DeleteRequest{Domain: d.fixture.dom, Caller: d.a, Peer: d.b,
			MessageID: d.mine[i].ID})
		return err
	}},
}

// snapshot dumps every key of the fixture's prefix: type and content.
func (f fixture) snapshot(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	for _, key := range testutil.ScanKeys(t, f.rdb, f.keys.Prefix+"*") {
		typ := f.rdb.Type(ctx, key).Val()
		var v any
		switch typ {
		case "string":
			v = f.rdb.Get(ctx, key).Val()
		case "hash":
			v = f.rdb.HGetAll(ctx, key).Val()
		case "set":
			m := f.rdb.SMembers(ctx, key).Val()
			slices.Sort(m)
			v = m
		case "zset":
			v = f.rdb.ZRangeWithScores(ctx, key, 0, -1).Val()
		case "stream":
			v = f.rdb.XRange(ctx, key, "-", "+").Val()
		}
		out[key] = fmt.Sprintf("%s %v", typ, v)
	}
	return out
}

// diff lists the keys whose content differs between two snapshots.
func diff(before, after map[string]string) string {
	var b strings.Builder
	for k, v := range after {
		if before[k] != v {
			fmt.Fprintf(&b, "  %s: %s -> %s\n", k, before[k], v)
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok {
			fmt.Fprintf(&b, "  %s: %s -> (gone)\n", k, v)
		}
	}
	return b.String()
}

// published returns a check that reports whether anything was published
// on u's channel since it was made.
func (f fixture) published(t *testing.T, u chat.UserID) func() string {
	t.Helper()
	ctx := context.Background()
	ch := f.keys.EventLog(f.dom, u)
	ps := f.rdb.Subscribe(ctx, ch)
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	return func() string {
		// A sentinel published now is the next message unless something
		// was published before it.
		if err := f.rdb.Publish(ctx, ch, "sentinel").Err(); err != nil {
			t.Fatal(err)
		}
		first := ""
		for {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if m.Payload == "sentinel" {
				return first
			}
			if first == "" {
				first = m.Payload
			}
		}
	}
}

// TestBlockRefusesEveryWrite: while either user blocks the other, every
// write from one to the other (send, edit, seen, read, typing, delete) is
// Forbidden, changes nothing and publishes nothing; after the unblock the
// same write goes through.
func TestBlockRefusesEveryWrite(t *testing.T) {
	t.Parallel()
	directions := []struct {
		name, msg string
		blocker   func(d *dmSeed) (u, target chat.UserID)
	}{
		{"peer blocked the writer", "does not accept", func(d *dmSeed) (chat.UserID, chat.UserID) { return d.b, d.a }},
		{"writer blocked the peer", "unblock them first", func(d *dmSeed) (chat.UserID, chat.UserID) { return d.a, d.b }},
	}
	for _, w := range writeKinds {
		for _, dir := range directions {
			t.Run(w.name+"/"+dir.name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				ctx := context.Background()
				d := seedDM(t, f, f.store)
				u, target := dir.blocker(d)
				if err := f.store.Block(ctx, f.dom, u, target); err != nil {
					t.Fatal(err)
				}
				toPeer := f.published(t, d.b)
				before := f.snapshot(t)
				err := w.do(ctx, d, 0)
				if chat.KindOf(err) != chat.Forbidden || !strings.Contains(chat.MessageOf(err), dir.msg) {
					t.Errorf("%s across a block: %v, want Forbidden %q", w.name, err, dir.msg)
				}
				if ch := diff(before, f.snapshot(t)); ch != "" {
					t.Errorf("refused %s changed Redis:\n%s", w.name, ch)
				}
				if p := toPeer(); p != "" {
					t.Errorf("refused %s published %s to the peer", w.name, p)
				}
				if err := f.store.Unblock(ctx, f.dom, u, target); err != nil {
					t.Fatal(err)
				}
				if err := w.do(ctx, d, 0); err != nil {
					t.Errorf("%s after the unblock: %v", w.name, err)
				}
				if toPeer() == "" {
					t.Errorf("%s after the unblock published nothing to the peer", w.name)
				}
			})
		}
	}
}

// TestModeratorDeleteIgnoresBlocksAndBudgets: an admin's delete is
// moderation, not a write between the two users.
func TestModeratorDeleteIgnoresBlocksAndBudgets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := chat.NewStore(f.rdb, f.keys, chat.Limits{MaxText: 100, WriteRate: 0.001, WriteBurst: 1}, f.clock.Now)
	d := seedDM(t, f, s)
	if err := f.store.Block(ctx, f.dom, d.b, d.a); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := s.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: d.a, Peer: d.b, MessageID: d.mine[i].ID, Moderator: true}); err != nil {
			t.Fatalf("moderator delete %d: %v", i, err)
		}
	}
	f.assertConsistent(t, d.a, d.b)
}

// budgetLimits give each user a burst of 2 writes of each budget and no
// refill within any test run (one token per 1000 s).
var budgetLimits = chat.Limits{MaxText: 100, SendRate: 0.001, SendBurst: 2, WriteRate: 0.001, WriteBurst: 2}

// TestWriteBudget: every kind of write spends from the writer's budget
// (sends from the send budget, the rest from the write budget); over it the
// write is RateLimited with a Retry-After and changes nothing.
func TestWriteBudget(t *testing.T) {
	t.Parallel()
	for _, w := range writeKinds {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			ctx := context.Background()
			s := chat.NewStore(f.rdb, f.keys, budgetLimits, f.clock.Now)
			d := seedDM(t, f, s)
			for i := range 2 {
				if err := w.do(ctx, d, i); err != nil {
					t.Fatalf("%s %d within the burst: %v", w.name, i, err)
				}
			}
			toPeer := f.published(t, d.b)
			before := f.snapshot(t)
			err := w.do(ctx, d, 2)
			if chat.KindOf(err) != chat.RateLimited {
				t.Fatalf("%s over the budget: %v, want RateLimited", w.name, err)
			}
			if ra := chat.RetryAfterOf(err); ra <= 0 || ra > 1000*time.Second {
				t.Errorf("retry after %v, want (0, 1000s]", ra)
			}
			if ch := diff(before, f.snapshot(t)); ch != "" {
				t.Errorf("refused %s changed Redis:\n%s", w.name, ch)
			}
			if p := toPeer(); p != "" {
				t.Errorf("refused %s published %s", w.name, p)
			}
			// The other budget is untouched, and the peer has a budget of
			// their own.
			other := "edit"
			if !strings.HasPrefix(w.name, "send") {
				other = "send"
			}
			for _, o := range writeKinds {
				if o.name == other {
					if err := o.do(ctx, d, 2); err != nil {
						t.Errorf("%s after the %s budget ran out: %v", other, w.name, err)
					}
				}
			}
			if _, err := d.typing.Announce(ctx, f.dom, d.b, d.a); err != nil {
				t.Errorf("the peer's own write: %v", err)
			}
		})
	}
}

// TestWriteBudgetIsShared: edits, reads and typing share one bucket, and
// writes that reach nobody cost nothing (a read that moves no horizon, a
// typing repeat within the interval, a send retried with its client id).
func TestWriteBudgetIsShared(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := chat.NewStore(f.rdb, f.keys, budgetLimits, f.clock.Now)
	d := seedDM(t, f, s)
	first := chat.SendRequest{Domain: f.dom, From: d.a, To: d.b, ClientID: "c1", Content: chat.Content{Type: chat.TypeText, Text: "x"}}
	steps := []struct {
		name string
		do   func() error
		want chat.Kind // 0: success
	}{
		{"read", func() error { _, _, err := s.MarkRead(ctx, f.dom, d.a, d.b, d.theirs[1].ID); return err }, 0},
		{"typing", func() error { _, err := d.typing.Announce(ctx, f.dom, d.a, d.b); return err }, 0},
		{"edit over the shared budget", func() error {
			text := "e"
			_, _, err := s.Edit(ctx, chat.EditRequest{Domain: f.dom, Caller: d.a, Peer: d.b, MessageID: d.mine[0].ID, Text: &text})
			return err
		}, chat.RateLimited},
		{"read that moves nothing", func() error { _, _, err := s.MarkRead(ctx, f.dom, d.a, d.b, d.theirs[0].ID); return err }, 0},
		{"typing repeat within the interval", func() error { _, err := d.typing.Announce(ctx, f.dom, d.a, d.b); return err }, 0},
		{"read moving the horizon", func() error { _, _, err := s.MarkRead(ctx, f.dom, d.a, d.b, d.theirs[2].ID); return err }, chat.RateLimited},
		{"send", func() error { _, _, err := s.Send(ctx, first); return err }, 0},
		{"send retried", func() error { _, _, err := s.Send(ctx, first); return err }, 0},
		{"send retried again", func() error { _, _, err := s.Send(ctx, first); return err }, 0},
	}
	for _, st := range steps {
		err := st.do()
		if st.want == 0 && err != nil || st.want != 0 && chat.KindOf(err) != st.want {
			t.Errorf("%s: %v, want kind %v", st.name, err, st.want)
		}
	}
}

// TestBudgetUsesRedisTime: the buckets refill on Redis's clock, so a node
// whose clock runs an hour ahead mints no tokens.
func TestBudgetUsesRedisTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	s := chat.NewStore(f.rdb, f.keys, budgetLimits, f.clock.Now)
	d := seedDM(t, f, s)
	for i := range 2 { // spends the write budget
		if _, _, err := s.MarkRead(ctx, f.dom, d.a, d.b, d.theirs[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // spends the send budget
		if _, _, err := s.Send(ctx, chat.SendRequest{Domain: f.dom, From: d.a, To: d.b, Content: chat.Content{Type: chat.TypeText, Text: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	skewed := chat.NewStore(f.rdb, f.keys, budgetLimits, ahead)
	_, _, err := skewed.Send(ctx, chat.SendRequest{Domain: f.dom, From: d.a, To: d.b, Content: chat.Content{Type: chat.TypeText, Text: "from the future"}})
	if chat.KindOf(err) != chat.RateLimited {
		t.Errorf("send from a node an hour ahead: %v, want RateLimited", err)
	}
	text := "from the future"
	_, _, err = skewed.Edit(ctx, chat.EditRequest{Domain: f.dom, Caller: d.a, Peer: d.b, MessageID: d.mine[0].ID, Text: &text})
	if chat.KindOf(err) != chat.RateLimited {
		t.Errorf("edit from a node an hour ahead: %v, want RateLimited", err)
	}
	_, err = chat.NewTyping(skewed, time.Second, time.Second).Announce(ctx, f.dom, d.a, d.b)
	if chat.KindOf(err) != chat.RateLimited {
		t.Errorf("typing from a node an hour ahead: %v, want RateLimited", err)
	}
}

// ageBucket moves a bucket's last refill back by d, as if d of Redis time
// had passed since.
func (f fixture) ageBucket(t *testing.T, key string, d time.Duration) {
	t.Helper()
	if err := f.rdb.HIncrBy(context.Background(), key, "us", -d.Microseconds()).Err(); err != nil {
		t.Fatal(err)
	}
}
