package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/chat"
	"parley/inbox"
	"parley/internal/migrate"
	"parley/internal/testutil"
)

// world is a keyspace written by today's chat.Store (the tagged layout),
// then renamed by hand to the names the old layout used (unmigrate), so
// the migration has real data to move and a known end state to reach.
type world struct {
	rdb    redis.UniversalClient
	keys   chat.Keys
	dom    chat.Domain
	chat   *chat.Store
	inbox  *inbox.Store
	want   map[string]value // the tagged keyspace the migration must give back
	other  string           // a key outside the prefix, which must not change
	convs  []chat.Conversation
	people []chat.UserID
}

// value is a key's type, content and whether it expires.
type value struct {
	Type    string
	Content string
	Expires bool
}

func newWorld(t *testing.T, convs int) *world {
	t.Helper()
	ctx := context.Background()
	// The old names are untagged: on a cluster they spread over slots and
	// RENAME to the tagged name would cross slots (CROSSSLOT).
	testutil.SkipInMode(t, "migrate-keys moves a single Redis's untagged keyspace; RENAME across slots is refused on a cluster", testutil.ModeCluster)
	rdb := testutil.Redis(t)
	w := &world{rdb: rdb, keys: chat.Keys{Prefix: testutil.Prefix(t)}, dom: chat.Domain(testutil.Domain(t))}
	clock := time.UnixMilli(1764547200000)
	now := func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	w.chat = chat.NewStore(rdb, w.keys, chat.Limits{MaxText: 1000,
		// Buckets refill slowly, so they outlive the test (a full bucket
		// expires, and the snapshots must not change on their own).
		SendRate: 0.001, SendBurst: 100, WriteRate: 0.001, WriteBurst: 100}, now)
	w.inbox = inbox.NewStore(rdb, w.keys)
	// "a-b" puts a '-' in a DM key (escaped %2D); 9 and 10 order numerically.
	w.people = []chat.UserID{"1", "2", "a-b", "9", "10"}
	for i := 0; i < convs; i++ {
		w.people = append(w.people, chat.UserID(fmt.Sprintf("u%d", i)))
	}
	send := func(from, to chat.UserID, text string) chat.Message {
		t.Helper()
		m, _, err := w.chat.Send(ctx, chat.SendRequest{Domain: w.dom, From: from, To: to, Content: chat.Content{Type: chat.TypeText, Text: text}})
		if err != nil {
			t.Fatalf("send %s -> %s: %v", from, to, err)
		}
		return m
	}
	m := send("1", "2", "hello")
	send("2", "1", "hi")
	send("1", "2", "how are you")
	send("a-b", "2", "dash")
	send("a-b", "2", "dash again")
	send("9", "10", "nine to ten")
	for i := 0; i < convs; i++ {
		send(w.people[5+i], "1", "fan "+fmt.Sprint(i))
	}
	if _, _, err := w.chat.MarkRead(ctx, w.dom, "2", "1", m.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.chat.Block(ctx, w.dom, "10", "9"); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]chat.UserID{{"1", "2"}, {"2", "a-b"}, {"9", "10"}} {
		c, _ := chat.NewConversation(w.dom, pair[0], pair[1])
		w.convs = append(w.convs, c)
	}
	// Presence, typing and rate keys, as the presence package and the
	// scripts leave them.
	k, d := w.keys, w.dom
	p := rdb.Pipeline()
	p.ZAdd(ctx, k.PresenceNodes(d, "1"), redis.Z{Score: 1764547300000, Member: "9f86d081884c7d65"})
	p.Set(ctx, k.PresenceAt(d, "1"), "1764547200000", time.Hour)
	p.Set(ctx, k.PresenceAt(d, "2"), "1764547100000", time.Hour)
	p.ZAdd(ctx, k.Nodes(), redis.Z{Score: 1764547200000, Member: "9f86d081884c7d65"})
	p.SAdd(ctx, k.NodeUsers("9f86d081884c7d65"), string(d)+":1")
	p.SAdd(ctx, k.NodeClaim("0123456789abcdef"), string(d)+":2")
	p.Set(ctx, k.Typing(d, "1", "2"), "1", time.Hour)
	// Keys under the prefix that the old layout never wrote stay.
	p.Set(ctx, k.Prefix+string(d)+":dm:2-1", "not canonical", 0)
	p.Set(ctx, k.Prefix+"stray", "not parley's", 0)
	w.other = "parleytest:other:" + testutil.RandomHex(t, 6) + ":" + string(d) + ":inbox:1"
	p.Set(ctx, w.other, "another prefix", 0)
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Leave nothing behind in a shared Redis.
		rdb.Del(context.Background(), append(scanAll(t, rdb, k.Prefix), w.other)...)
	})
	// The keys writes keep since they run as per-slot steps (issue 16:
	// ops counters, applied-ops and unread-per-peer hashes) did not exist
	// in the old layout: the world drops them, so it is one the old
	// release wrote (unread_by is what DeriveUnread rebuilds). The old
	// release kept each user's unread total instead (the sum of unread_by,
	// which is how the total is read now): the world writes it.
	var split []string
	for _, key := range scanAll(t, rdb, k.Prefix) {
		if strings.HasSuffix(key, ":ops") || strings.HasSuffix(key, ":applied") || strings.HasSuffix(key, ":unread_by") {
			split = append(split, key)
		}
		if total, ok := strings.CutSuffix(key, ":unread_by"); ok {
			if n := chat.SumUnread(rdb.HVals(ctx, key).Val()); n > 0 {
				rdb.Set(ctx, total+":unread", n, 0)
			}
		}
	}
	if len(split) == 0 {
		t.Fatal("no ops, applied or unread_by keys: the world was not written by the split writes")
	}
	if err := rdb.Del(ctx, split...).Err(); err != nil {
		t.Fatal(err)
	}
	w.want = snapshot(t, rdb, k.Prefix)
	// A client-id record is left to expire, not moved: only its old name
	// is seeded.
	if err := rdb.Set(ctx, k.Prefix+string(d)+":cid:1:"+strings.Repeat("ab", 32), "fp\n1\n{}", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	w.unmigrate(t)
	return w
}

// oldName gives the old layout's name of a tagged key, by rules written
// independently of migrate.Plan.
func oldName(prefix, key string) (string, bool) {
	q := regexp.QuoteMeta(prefix)
	rules := []struct{ re, repl string }{
		{`^` + q + `\{([a-z0-9_-]+):dm:([^}]+)\}(:msgs|:seq|:ts)?$`, prefix + "$1:dm:$2$3"},
		{`^` + q + `\{([a-z0-9_-]+):u:([^}]+)\}:(inbox|read|unread|blocks|events|presence)$`, prefix + "$1:$3:$2"},
		{`^` + q + `\{([a-z0-9_-]+):u:([^}]+)\}:(events|presence):(seq|at)$`, prefix + "$1:$3:$2:$4"},
		{`^` + q + `\{([a-z0-9_-]+):u:([^}]+)\}:rate:(send|write)$`, prefix + "$1:rate:$3:$2"},
		{`^` + q + `\{([a-z0-9_-]+):u:([^}]+)\}:typing:(.+)$`, prefix + "$1:typing:$2:$3"},
		{`^` + q + `\{nodes\}$`, prefix + "presence.nodes"},
		{`^` + q + `\{node:([^}]+)\}:users$`, prefix + "presence.node:$1"},
		{`^` + q + `\{node:([^}]+)\}:users:claimed$`, prefix + "presence.node:$1:claimed"},
	}
	for _, r := range rules {
		re := regexp.MustCompile(r.re)
		if re.MatchString(key) {
			return re.ReplaceAllString(key, r.repl), true
		}
	}
	return "", false
}

// unmigrate renames every tagged key to its old name.
func (w *world) unmigrate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, k := range scanAll(t, w.rdb, w.keys.Prefix) {
		if old, ok := oldName(w.keys.Prefix, k); ok {
			if err := w.rdb.Rename(ctx, k, old).Err(); err != nil {
				t.Fatal(err)
			}
			n++
		} else if strings.HasPrefix(k, w.keys.Prefix+"{") {
			t.Fatalf("no old name for %s", k)
		}
	}
	if n < 30 {
		t.Fatalf("unmigrated %d keys, want a full keyspace", n)
	}
}

func scanAll(t *testing.T, rdb redis.UniversalClient, prefix string) []string {
	t.Helper()
	var out []string
	iter := rdb.Scan(context.Background(), 0, prefix+"*", 100).Iterator()
	for iter.Next(context.Background()) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// snapshot reads every key under prefix: its type, content and whether it
// expires.
func snapshot(t *testing.T, rdb redis.UniversalClient, prefix string) map[string]value {
	t.Helper()
	out := map[string]value{}
	for _, k := range scanAll(t, rdb, prefix) {
		out[k] = read(t, rdb, k)
	}
	return out
}

func read(t *testing.T, rdb redis.UniversalClient, k string) value {
	t.Helper()
	ctx := context.Background()
	typ, err := rdb.Type(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	var content any
	switch typ {
	case "string":
		content, err = rdb.Get(ctx, k).Result()
	case "hash":
		content, err = rdb.HGetAll(ctx, k).Result()
	case "set":
		var m []string
		m, err = rdb.SMembers(ctx, k).Result()
		sort.Strings(m)
		content = m
	case "zset":
		content, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
	case "stream":
		content, err = rdb.XRange(ctx, k, "-", "+").Result()
	default:
		t.Fatalf("%s: type %q", k, typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	ttl, err := rdb.PTTL(ctx, k).Result()
	if err != nil {
		t.Fatal(err)
	}
	return value{Type: typ, Content: fmt.Sprint(content), Expires: ttl > 0}
}

// views are what Parley's stores read: every DM's history, every inbox
// and unread total.
func (w *world) views(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, c := range w.convs {
		h, err := w.chat.History(ctx, c, chat.Page{Number: 1, Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %+v\n", c.Key(), h)
	}
	for _, u := range w.people {
		p, err := w.inbox.List(ctx, w.dom, u, chat.Page{Number: 1, Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "inbox %s total %d unread %d:", u, p.Total, p.Unread)
		for _, e := range p.Entries {
			fmt.Fprintf(&b, " %s@%d unread %d read %+v latest %+v;", e.Peer, e.Epoch, e.Unread, e.Read, *e.Latest)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func cid(w *world) string {
	return w.keys.Prefix + string(w.dom) + ":cid:1:" + strings.Repeat("ab", 32)
}

// TestMigrate: a dry run changes nothing and counts what it would move;
// --apply moves every key with its data and TTL, and Parley's stores read
// the DMs and inboxes as before; a second run is a no-op.
func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 3)
	// What the stores read before the old layout replaced the new one.
	for k := range w.want {
		if old, ok := oldName(w.keys.Prefix, k); ok {
			w.rdb.Rename(ctx, old, k)
		}
	}
	before := w.views(t)
	// Unread counts are 0: they live in unread_by since issue 16's split
	// writes, which an old-release world lacks (DeriveUnread rebuilds
	// them; TestDeriveUnread).
	if !strings.Contains(before, "dash again") || !strings.Contains(before, "total 2 unread 0") {
		t.Fatalf("views before:\n%s\nwant the messages and unread counts", before)
	}
	w.unmigrate(t)
	old := snapshot(t, w.rdb, w.keys.Prefix)
	if !reflect.DeepEqual(w.views(t), viewsOfNothing(t, w)) {
		t.Fatal("the stores still read data after the rename to old names: the test does not test anything")
	}

	rep, err := migrate.Run(ctx, w.rdb, w.keys, migrate.Options{Count: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, w.rdb, w.keys.Prefix); !reflect.DeepEqual(got, old) {
		t.Errorf("the dry run changed the keyspace:\n%s", diff(old, got))
	}
	moves := int64(0)
	for _, k := range []migrate.Kind{migrate.KindDM, migrate.KindMessages, migrate.KindSeq, migrate.KindTimeIndex,
		migrate.KindInbox, migrate.KindEvents, migrate.KindEventSeq, migrate.KindRead, migrate.KindUnread,
		migrate.KindBlocks, migrate.KindSendBucket, migrate.KindTyping, migrate.KindPresence, migrate.KindPresenceAt,
		migrate.KindNodes, migrate.KindNodeUsers, migrate.KindNodeClaim} {
		c := rep.ByKind[k]
		if c == nil || c.Moved == 0 {
			t.Errorf("dry run: %s: %+v, want keys to move", k, c)
			continue
		}
		moves += c.Moved
	}
	if c := rep.ByKind[migrate.KindDM]; c == nil || c.Moved != 3+3 {
		t.Errorf("dry run: dm %+v, want 6 to move", c)
	}
	if c := rep.ByKind[migrate.KindClientID]; c == nil || c.Left != 1 {
		t.Errorf("dry run: cid %+v, want 1 left to expire", c)
	}
	if rep.Unknown != 2 || rep.NewLayout != 0 || !rep.Done || rep.Cursor != 0 || rep.Applied {
		t.Errorf("dry run report %+v, want 2 unknown keys, none new, done", rep)
	}

	rep, err = migrate.Run(ctx, w.rdb, w.keys, migrate.Options{Apply: true, Count: 7})
	if err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, w.rdb, w.keys.Prefix)
	want := map[string]value{cid(w): read(t, w.rdb, cid(w))}
	for k, v := range w.want {
		want[k] = v
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after --apply:\n%s", diff(want, got))
	}
	var applied int64
	for _, c := range rep.ByKind {
		applied += c.Moved
		if c.Conflicts+c.Gone+c.AlreadyMoved != 0 {
			t.Errorf("apply: %+v, want only moves", c)
		}
	}
	if applied != moves {
		t.Errorf("apply moved %d keys, the dry run said %d", applied, moves)
	}
	if after := w.views(t); after != before {
		t.Errorf("the stores read after the migration:\n%s\nwant as before:\n%s", after, before)
	}
	if v, err := w.rdb.Get(ctx, w.other).Result(); err != nil || v != "another prefix" {
		t.Errorf("the key outside the prefix: %q, %v", v, err)
	}

	rep, err = migrate.Run(ctx, w.rdb, w.keys, migrate.Options{Apply: true})
	if err != nil {
		t.Fatal(err)
	}
	for k, c := range rep.ByKind {
		if k != migrate.KindClientID && *c != (migrate.Counts{}) {
			t.Errorf("second run: %s %+v, want nothing", k, c)
		}
	}
	if rep.NewLayout != int64(len(w.want))-2 {
		t.Errorf("second run saw %d new-layout keys, want %d", rep.NewLayout, len(w.want)-2)
	}
	if again := snapshot(t, w.rdb, w.keys.Prefix); !reflect.DeepEqual(again, got) {
		t.Errorf("the second run changed the keyspace:\n%s", diff(got, again))
	}
}

// viewsOfNothing is what the stores read from an empty keyspace.
func viewsOfNothing(t *testing.T, w *world) string {
	t.Helper()
	empty := *w
	empty.keys = chat.Keys{Prefix: testutil.Prefix(t)}
	empty.chat = chat.NewStore(w.rdb, empty.keys, chat.Limits{}, time.Now)
	empty.inbox = inbox.NewStore(w.rdb, empty.keys)
	return empty.views(t)
}

// TestMigrateResumes: a run stopped between two SCAN round trips, after
// some keys moved (and after others were moved by a run that died
// mid-pipeline), goes on from the cursor it reported and ends with the
// same keyspace as an uninterrupted run.
func TestMigrateResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 20)
	// Two keys a run that died half-way through a round trip had moved.
	pre := []string{w.keys.Inbox(w.dom, "1"), w.keys.Messages(w.convs[0])}
	for _, k := range pre {
		old, _ := oldName(w.keys.Prefix, k)
		if err := w.rdb.Rename(ctx, old, k).Err(); err != nil {
			t.Fatal(err)
		}
	}
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	rounds, seen := 0, 0
	rep, err := migrate.Run(stop, w.rdb, w.keys, migrate.Options{Apply: true, Count: 5, Progress: func(e migrate.Event) {
		switch e.What {
		case migrate.Moved:
			seen++
		case migrate.Cursor:
			// Stop after the first round trip that moved keys.
			if rounds++; seen > 0 {
				cancel()
			}
		}
	}})
	var moved int64
	for _, c := range rep.ByKind {
		moved += c.Moved
	}
	if rep.Done {
		// The whole keyspace came in one or two round trips: the embedded
		// store answers SCAN with every key at once.
		if !testutil.OnEmbedded() && rounds > 1 {
			t.Fatalf("done after %d round trips", rounds)
		}
	} else {
		if !errors.Is(err, context.Canceled) || rep.Cursor == 0 {
			t.Fatalf("stopped run: %v, cursor %d; want context.Canceled and a cursor to resume from", err, rep.Cursor)
		}
		if left := len(scanOld(t, w)); moved == 0 || left == 0 {
			t.Fatalf("stopped run moved %d keys and left %d: want some of each", moved, left)
		}
		t.Logf("stopped at cursor %d after moving %d keys", rep.Cursor, moved)
		rep, err = migrate.Run(ctx, w.rdb, w.keys, migrate.Options{Apply: true, Count: 5, Cursor: rep.Cursor})
		if err != nil || !rep.Done {
			t.Fatalf("resumed run: %v, done %v", err, rep.Done)
		}
	}
	if old := scanOld(t, w); len(old) != 0 {
		t.Errorf("old keys left after the resumed run: %v", old)
	}
	got := snapshot(t, w.rdb, w.keys.Prefix)
	delete(got, cid(w))
	if !reflect.DeepEqual(got, w.want) {
		t.Errorf("after the resumed run:\n%s", diff(w.want, got))
	}
}

// scanOld lists the keys still under an old name (the client-id record
// aside, which stays).
func scanOld(t *testing.T, w *world) []string {
	t.Helper()
	var out []string
	for _, k := range scanAll(t, w.rdb, w.keys.Prefix) {
		if m, ok := migrate.Plan(w.keys, k); ok && m.New != "" {
			out = append(out, k)
		}
	}
	return out
}

// TestMigrateConflict: when both names of a key exist the migration
// reports it and leaves both as they are; everything else moves.
func TestMigrateConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 0)
	clash := w.keys.Inbox(w.dom, "2")
	oldClash, _ := oldName(w.keys.Prefix, clash)
	oldValue := read(t, w.rdb, oldClash)
	if err := w.rdb.ZAdd(ctx, clash, redis.Z{Score: 1, Member: "user-7"}).Err(); err != nil {
		t.Fatal(err)
	}
	newValue := read(t, w.rdb, clash)
	var conflicts []migrate.Move
	for _, apply := range []bool{false, true} {
		conflicts = nil
		rep, err := migrate.Run(ctx, w.rdb, w.keys, migrate.Options{Apply: apply, Progress: func(e migrate.Event) {
			if e.What == migrate.Conflict {
				conflicts = append(conflicts, e.Move)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Conflicts() != 1 || len(conflicts) != 1 || conflicts[0].Old != oldClash || conflicts[0].New != clash {
			t.Errorf("apply=%v: %d conflicts %v, want %s -> %s", apply, rep.Conflicts(), conflicts, oldClash, clash)
		}
		if got := read(t, w.rdb, oldClash); got != oldValue {
			t.Errorf("apply=%v: the old key became %+v, want %+v", apply, got, oldValue)
		}
		if got := read(t, w.rdb, clash); got != newValue {
			t.Errorf("apply=%v: the new key became %+v, want %+v", apply, got, newValue)
		}
	}
	if old := scanOld(t, w); len(old) != 1 || old[0] != oldClash {
		t.Errorf("old keys left: %v, want only %s", old, oldClash)
	}
}

// TestDeriveUnread: unread_by gets, per inbox entry, the messages after
// the user's read horizon: the unread count the inbox listing shows. A dry
// run (on the old names, before the move) writes nothing; a second run
// changes nothing.
func TestDeriveUnread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newWorld(t, 2)
	ub := w.keys.UnreadBy(w.dom, "2")
	if ub != w.keys.Prefix+"{"+string(w.dom)+":u:2}:unread_by" {
		t.Fatalf("UnreadBy = %s", ub)
	}
	rep, err := migrate.DeriveUnread(ctx, w.rdb, w.keys, false, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := w.rdb.Exists(ctx, ub).Val(); n != 0 || rep.Set == 0 || rep.Users != int64(len(w.people)) {
		t.Errorf("dry run: %+v, unread_by exists %d; want counts and nothing written", rep, n)
	}
	dry := rep
	if _, err := migrate.Run(ctx, w.rdb, w.keys, migrate.Options{Apply: true}); err != nil {
		t.Fatal(err)
	}
	rep, err = migrate.DeriveUnread(ctx, w.rdb, w.keys, true, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep != dry || rep.Mismatched != 0 || rep.Present != 0 {
		t.Errorf("apply: %+v, want as the dry run said %+v", rep, dry)
	}
	for _, u := range w.people {
		p, err := w.inbox.List(ctx, w.dom, u, chat.Page{Number: 1, Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for _, e := range p.Entries {
			want[string(e.Peer)] = fmt.Sprint(e.Unread)
		}
		got, err := w.rdb.HGetAll(ctx, w.keys.UnreadBy(w.dom, u)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("unread_by of %s = %v, want %v (the inbox's unread counts)", u, got, want)
		}
	}
	if got := w.rdb.HGet(ctx, ub, "a-b").Val(); got != "2" {
		t.Errorf("unread_by of 2 for a-b = %q, want 2", got)
	}
	if got := w.rdb.HGet(ctx, ub, "1").Val(); got != "1" {
		t.Errorf("unread_by of 2 for 1 = %q, want 1 (one message after the horizon)", got)
	}
	// A count a node already keeps is not overwritten.
	w.rdb.HSet(ctx, ub, "1", "5")
	rep, err = migrate.DeriveUnread(ctx, w.rdb, w.keys, true, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Set != 0 || rep.Present != dry.Set {
		t.Errorf("second run: %+v, want nothing set, %d present", rep, dry.Set)
	}
	if got := w.rdb.HGet(ctx, ub, "1").Val(); got != "5" {
		t.Errorf("a present count became %q, want it kept (5)", got)
	}
}

// diff lists the keys whose values differ.
func diff(want, got map[string]value) string {
	var b strings.Builder
	for k, v := range want {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "missing %s\n", k)
		} else if g != v {
			fmt.Fprintf(&b, "%s: %+v, want %+v\n", k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "extra %s\n", k)
		}
	}
	return b.String()
}
