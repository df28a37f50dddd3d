package chat_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"parley/chat"
	"parley/internal/testutil"
)

// texts lists the texts of msgs, in order.
func texts(msgs []chat.Message) string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Text
	}
	return strings.Join(out, " ")
}

func span(from, to int) string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprint("m", i))
	}
	return strings.Join(out, " ")
}

func TestHistoryByCursor(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var sent []chat.Message
	for i := range 25 {
		sent = append(sent, f.send(t, "1", "2", fmt.Sprint("m", i)))
	}
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	id := func(i int) string { return sent[i].ID }
	tests := []struct {
		name         string
		cur          chat.Cursor
		want         string
		older, newer bool
	}{
		{"before the newest", chat.Cursor{Before: id(24), Limit: 5}, span(19, 24), true, true},
		{"before near the start", chat.Cursor{Before: id(3), Limit: 5}, span(0, 3), false, true},
		{"before exactly limit from the start", chat.Cursor{Before: id(5), Limit: 5}, span(0, 5), false, true},
		{"before the oldest", chat.Cursor{Before: id(0), Limit: 5}, "", false, false},
		{"after", chat.Cursor{After: id(10), Limit: 5}, span(11, 16), true, true},
		{"after near the end", chat.Cursor{After: id(20), Limit: 5}, span(21, 25), true, false},
		{"after exactly limit from the end", chat.Cursor{After: id(19), Limit: 5}, span(20, 25), true, false},
		{"after the newest", chat.Cursor{After: id(24), Limit: 5}, "", false, false},
	}
	for _, tt := range tests {
		p, err := f.store.HistoryByCursor(ctx, conv, tt.cur)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := texts(p.Messages); got != tt.want || p.Older != tt.older || p.Newer != tt.newer || p.Total != 25 {
			t.Errorf("%s: %q older=%v newer=%v total=%d; want %q older=%v newer=%v total 25",
				tt.name, got, p.Older, p.Newer, p.Total, tt.want, tt.older, tt.newer)
		}
		for _, m := range p.Messages {
			if m.Seq != sent[m.Seq-1].Seq || m.ID != sent[m.Seq-1].ID {
				t.Errorf("%s: %s has seq %d", tt.name, m.Text, m.Seq)
			}
		}
	}

	// Page mode reports the same flags.
	for _, tt := range []struct {
		page         chat.Page
		older, newer bool
	}{{chat.Page{Number: 1, Size: 10}, true, false}, {chat.Page{Number: 2, Size: 10}, true, true},
		{chat.Page{Number: 3, Size: 10}, false, true}, {chat.Page{Number: 4, Size: 10}, false, false},
		{chat.Page{Number: 1, Size: 25}, false, false}} {
		p, err := f.store.History(ctx, conv, tt.page)
		if err != nil || p.Older != tt.older || p.Newer != tt.newer {
			t.Errorf("page %+v: older=%v newer=%v (%v), want %v %v", tt.page, p.Older, p.Newer, err, tt.older, tt.newer)
		}
	}

	// A cursor from another conversation, or no message at all, is NotFound.
	other := f.send(t, "1", "3", "elsewhere")
	for _, c := range []chat.Cursor{{Before: other.ID, Limit: 5}, {After: other.ID, Limit: 5},
		{After: uuid.Must(uuid.NewV7()).String(), Limit: 5}, {After: other.ID, Since: ptr(0), Limit: 5}} {
		if _, err := f.store.HistoryByCursor(ctx, conv, c); chat.KindOf(err) != chat.NotFound {
			t.Errorf("cursor %+v: err %v, want NotFound", c, err)
		}
	}
}

func ptr(n int64) *int64 { return &n }

func TestHistoryByTimeWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var sent []chat.Message
	for i := range 12 {
		sent = append(sent, f.send(t, "1", "2", fmt.Sprint("m", i)))
	}
	conv, _ := chat.NewConversation(f.dom, "1", "2")
	ep := func(i int) *int64 { return ptr(sent[i].Epoch) }
	tests := []struct {
		name         string
		cur          chat.Cursor
		want         string
		older, newer bool
	}{
		{"inclusive edges", chat.Cursor{Since: ep(3), Until: ep(7), Limit: 10}, span(3, 8), false, false},
		{"first page of the window", chat.Cursor{Since: ep(3), Until: ep(7), Limit: 2}, span(3, 5), false, true},
		{"walk on", chat.Cursor{Since: ep(3), Until: ep(7), After: sent[4].ID, Limit: 2}, span(5, 7), true, true},
		{"last of the window", chat.Cursor{Since: ep(3), Until: ep(7), After: sent[6].ID, Limit: 2}, "m7", true, false},
		{"walk back", chat.Cursor{Since: ep(3), Until: ep(7), Before: sent[7].ID, Limit: 2}, span(5, 7), true, true},
		{"since only", chat.Cursor{Since: ep(9), Limit: 10}, span(9, 12), false, false},
		{"until only", chat.Cursor{Until: ep(1), Limit: 10}, span(0, 2), false, false},
		{"between messages", chat.Cursor{Since: ptr(sent[3].Epoch + 1), Until: ptr(sent[4].Epoch - 1), Limit: 10}, "", false, false},
		{"cursor outside the window", chat.Cursor{Since: ep(3), Until: ep(7), After: sent[9].ID, Limit: 2}, "", false, false},
		{"cursor before the window", chat.Cursor{Since: ep(3), Until: ep(7), After: sent[0].ID, Limit: 2}, span(3, 5), false, true},
	}
	for _, tt := range tests {
		p, err := f.store.HistoryByCursor(ctx, conv, tt.cur)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := texts(p.Messages); got != tt.want || p.Older != tt.older || p.Newer != tt.newer || p.Total != 12 {
			t.Errorf("%s: %q older=%v newer=%v total=%d; want %q older=%v newer=%v total 12",
				tt.name, got, p.Older, p.Newer, p.Total, tt.want, tt.older, tt.newer)
		}
	}

	// Delete keeps the time index in step.
	if _, _, err := f.store.Delete(ctx, chat.DeleteRequest{Domain: f.dom, Caller: "1", Peer: "2", MessageID: sent[5].ID}); err != nil {
		t.Fatal(err)
	}
	p, err := f.store.HistoryByCursor(ctx, conv, chat.Cursor{Since: ep(3), Until: ep(7), Limit: 10})
	if err != nil || texts(p.Messages) != "m3 m4 m6 m7" {
		t.Errorf("after deleting m5: %q (%v)", texts(p.Messages), err)
	}
	if a, b := f.rdb.ZCard(ctx, f.keys.DM(conv)).Val(), f.rdb.ZCard(ctx, f.keys.TimeIndex(conv)).Val(); a != b || a != 11 {
		t.Errorf("DM holds %d ids, time index %d; want 11 both", a, b)
	}
	for i, m := range sent {
		score, err := f.rdb.ZScore(ctx, f.keys.TimeIndex(conv), m.ID).Result()
		if i != 5 && (err != nil || int64(score) != m.Epoch) {
			t.Errorf("time index scores m%d %v (%v), want %d", i, score, err, m.Epoch)
		}
	}
}

// TestTimeWindowTies: messages of the same millisecond are ordered by id and
// a window walk with limit 1 still sees each exactly once.
func TestTimeWindowTies(t *testing.T) {
	t.Parallel()
	rdb := testutil.Redis(t)
	keys := chat.Keys{Prefix: testutil.Prefix(t)}
	dom := chat.Domain(testutil.Domain(t))
	at := time.UnixMilli(1_700_000_000_000)
	store := chat.NewStore(rdb, keys, chat.Limits{MaxText: 100}, func() time.Time { return at })
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 7 {
		if i == 5 {
			at = at.Add(time.Millisecond)
		}
		m, _, err := store.Send(ctx, chat.SendRequest{Domain: dom, From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: fmt.Sprint("m", i)}})
		if err != nil {
			t.Fatal(err)
		}
		want[m.ID] = true
	}
	conv, _ := chat.NewConversation(dom, "1", "2")
	since, until := ptr(1_700_000_000_000), ptr(1_700_000_000_001)
	c := chat.Cursor{Since: since, Until: until, Limit: 1}
	seen, last := map[string]bool{}, ""
	for range 10 {
		p, err := store.HistoryByCursor(ctx, conv, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) != 1 {
			t.Fatalf("page of %d messages", len(p.Messages))
		}
		m := p.Messages[0]
		if seen[m.ID] || (last != "" && m.ID < last && m.Epoch == 1_700_000_000_000) {
			t.Fatalf("%s seen twice or out of order", m.Text)
		}
		seen[m.ID], last = true, m.ID
		if !p.Newer {
			break
		}
		c.After = m.ID
	}
	if len(seen) != len(want) {
		t.Errorf("walk saw %d messages, want %d", len(seen), len(want))
	}
}

func TestParseMessageCursor(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	id := uuid.Must(uuid.NewV7()).String()
	bad := []chat.CursorParams{
		{Before: s(id), After: s(id)},
		{Before: s(id), Page: "2"},
		{After: s(id), Page: "1"},
		{Since: s("5"), Page: "1"},
		{Before: s("abc")},
		{Before: s("")},
		{After: s(strings.ToUpper(id))},
		{Since: s("abc")},
		{Since: s("-1")},
		{Until: s("1.5")},
		{Until: s("")},
		{Since: s("10"), Until: s("9")},
		{Since: s("99999999999999999999")},
	}
	for _, q := range bad {
		if _, err := chat.ParseMessageCursor(q, 10); chat.KindOf(err) != chat.Invalid {
			t.Errorf("%s: err %v, want Invalid", show(q), err)
		}
	}
	good := []chat.CursorParams{{}, {Page: "3"}, {Before: s(id)}, {After: s(id), Since: s("1"), Until: s("1")}, {Since: s("0")}}
	for _, q := range good {
		if _, err := chat.ParseMessageCursor(q, 10); err != nil {
			t.Errorf("%s: %v", show(q), err)
		}
	}
	for _, q := range []chat.CursorParams{{Since: s("1")}, {Until: s("1")}, {Before: s("7"), After: s("8")},
		{Before: s("7"), Page: "1"}, {After: s("bad!")}, {Before: s("7@x")}} {
		if _, err := chat.ParseInboxCursor(q, 10); chat.KindOf(err) != chat.Invalid {
			t.Errorf("inbox %s: err %v, want Invalid", show(q), err)
		}
	}
	if c, err := chat.ParseInboxCursor(chat.CursorParams{Before: s("7@12")}, 10); err != nil || c.Before != "7@12" || c.Limit != 10 {
		t.Errorf("inbox before=7@12: %+v, %v", c, err)
	}
	for _, v := range []string{"7", "7@0", "a.b-c@1700000000000"} {
		p, err := chat.ParseInboxPosition(v)
		if err != nil || p.String() != v {
			t.Errorf("ParseInboxPosition(%q) = %v (%v)", v, p, err)
		}
	}
	for _, v := range []string{"", "@1", "7@", "7@x", "7@-1", "7@1@2", "a:b", "7@+1"} {
		if _, err := chat.ParseInboxPosition(v); chat.KindOf(err) != chat.Invalid {
			t.Errorf("ParseInboxPosition(%q): err %v, want Invalid", v, err)
		}
	}
}

func show(q chat.CursorParams) string {
	v := func(p *string) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%q", *p)
	}
	return fmt.Sprintf("before=%s after=%s since=%s until=%s page=%q", v(q.Before), v(q.After), v(q.Since), v(q.Until), q.Page)
}
