package test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// historyPage is one decoded history answer: message ids (oldest first) and
// the state's cursors ("" for null).
type historyPage struct {
	ids        []string
	next, prev string
	state      map[string]any
}

func (n *node) history(t *testing.T, token, peer, query string) historyPage {
	t.Helper()
	r := n.get(t, token, "/api/user/"+peer+"?"+query)
	mustStatus(t, r, http.StatusOK)
	st := obj(t, r.obj, "state")
	p := historyPage{state: st}
	for _, m := range objs(t, r.obj, "messages") {
		p.ids = append(p.ids, m["id"].(string))
	}
	for _, c := range []struct {
		name string
		dst  *string
	}{{"next", &p.next}, {"prev", &p.prev}} {
		v, ok := st[c.name]
		switch v := v.(type) {
		case nil:
			if !ok {
				t.Fatalf("%s: state has no %q", query, c.name)
			}
		case string:
			*c.dst = v
		default:
			t.Fatalf("%s: state.%s = %#v, want a string or null", query, c.name, v)
		}
	}
	return p
}

// TestHistoryCursorsUnderConcurrentSends walks a conversation back to its
// start with before= and forward with after= while another goroutine keeps
// sending: the backward walk returns exactly the messages that existed at
// the start, each once, and the forward walk catches up with every new one.
func TestHistoryCursorsUnderConcurrentSends(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1, u2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	var initial []string
	for i := range 40 {
		initial = append(initial, n.sendText(t, u1, "2", fmt.Sprint("m", i))["id"].(string))
	}
	first := n.history(t, u2, "1", "limit=7")
	if strings.Join(first.ids, ",") != strings.Join(initial[33:], ",") || first.next != "" || first.prev != first.ids[0] {
		t.Fatalf("newest page = %v next %q prev %q", first.ids, first.next, first.prev)
	}

	var (
		stop    atomic.Bool
		mu      sync.Mutex
		written []string
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			r := n.send(t, u2, "1", map[string]any{"type": "text", "text": fmt.Sprint("new", i)})
			if r.status != http.StatusCreated {
				t.Errorf("concurrent send: %d %s", r.status, r.raw)
				return
			}
			mu.Lock()
			written = append(written, obj(t, r.obj, "entry")["id"].(string))
			mu.Unlock()
		}
	})

	// sent waits until the writer has sent at least one more message, so that
	// new messages land between any two pages of the walks.
	seen := 0
	sent := func() {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			k := len(written)
			mu.Unlock()
			if k > seen {
				seen = k
				return
			}
		}
		t.Fatal("the concurrent writer stalled")
	}

	// Backward: before=prev until prev is null.
	got := append([]string(nil), first.ids...)
	for cur := first.prev; cur != ""; sent() {
		p := n.history(t, u1, "2", "limit=5&before="+cur)
		wantKeys(t, "cursor state", p.state, "key", "per_page", "total", "cursor", "next", "prev")
		wantString(t, "cursor.before", obj(t, p.state, "cursor")["before"], cur)
		wantNumber(t, "per_page", p.state["per_page"], "5")
		if p.next != p.ids[len(p.ids)-1] {
			t.Errorf("before=%s: next = %q, want the page's newest %q", cur, p.next, p.ids[len(p.ids)-1])
		}
		got = append(p.ids, got...)
		cur = p.prev
	}
	if strings.Join(got, ",") != strings.Join(initial, ",") {
		t.Errorf("backward walk = %d ids, want exactly the %d initial ones in order:\n%v\n%v", len(got), len(initial), got, initial)
	}

	// Forward: after= from the start's newest until next is null, twice with
	// the writer running, then once more after it stopped.
	var fwd []string
	last := initial[len(initial)-1]
	walk := func() {
		for {
			p := n.history(t, u1, "2", "limit=6&after="+last)
			fwd = append(fwd, p.ids...)
			if len(p.ids) > 0 {
				last = p.ids[len(p.ids)-1]
				if p.prev != p.ids[0] {
					t.Errorf("after=: prev = %q, want the page's oldest %q", p.prev, p.ids[0])
				}
			}
			if p.next == "" {
				return
			}
			if !stop.Load() {
				sent()
			}
			if p.next != last {
				t.Errorf("after=: next = %q, want the page's newest %q", p.next, last)
			}
		}
	}
	walk()
	time.Sleep(20 * time.Millisecond)
	walk()
	stop.Store(true)
	wg.Wait()
	walk()
	mu.Lock()
	defer mu.Unlock()
	if len(written) < 2 || strings.Join(fwd, ",") != strings.Join(written, ",") {
		t.Errorf("forward walk = %d ids, want the %d sent meanwhile, in order", len(fwd), len(written))
	}
	t.Logf("backward walk: %d messages; forward walk caught up with %d concurrent sends", len(got), len(written))
}

func TestHistoryTimeWindow(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1 := n.tok(t, 1, nil)
	var ids []string
	var epochs []int64
	for i := range 10 {
		e := n.sendText(t, u1, "2", fmt.Sprint("m", i))
		ids = append(ids, e["id"].(string))
		epochs = append(epochs, wantTimestamp(t, "timestamp", e["timestamp"]))
		time.Sleep(2 * time.Millisecond) // distinct epochs, so the edges are exact
	}
	since, until := epochs[3], epochs[7]
	window := fmt.Sprintf("since=%d&until=%d", since, until)

	all := n.history(t, u1, "2", window)
	if strings.Join(all.ids, ",") != strings.Join(ids[3:8], ",") || all.next != "" || all.prev != "" {
		t.Errorf("%s = %v next %q prev %q, want m3..m7 (both edges included), no cursors", window, all.ids, all.next, all.prev)
	}
	c := obj(t, all.state, "cursor")
	wantKeys(t, "window cursor", c, "since", "until")
	wantNumber(t, "cursor.since", c["since"], fmt.Sprint(since))
	wantNumber(t, "total", all.state["total"], "10")

	// Walk the window two at a time, keeping since/until.
	var walked []string
	p := n.history(t, u1, "2", window+"&limit=2")
	for i := 0; ; i++ {
		walked = append(walked, p.ids...)
		if p.next == "" || i > 5 {
			break
		}
		p = n.history(t, u1, "2", window+"&limit=2&after="+p.next)
	}
	if strings.Join(walked, ",") != strings.Join(ids[3:8], ",") {
		t.Errorf("window walk = %v, want m3..m7", walked)
	}
	// One millisecond inside either edge drops the edge message.
	inner := n.history(t, u1, "2", fmt.Sprintf("since=%d&until=%d", since+1, until-1))
	if strings.Join(inner.ids, ",") != strings.Join(ids[4:7], ",") {
		t.Errorf("inner window = %v, want m4..m6", inner.ids)
	}
	if p := n.history(t, u1, "2", fmt.Sprintf("since=%d", epochs[8])); strings.Join(p.ids, ",") != strings.Join(ids[8:], ",") {
		t.Errorf("since only = %v, want m8, m9", p.ids)
	}
	if p := n.history(t, u1, "2", fmt.Sprintf("until=%d&limit=3", epochs[1])); strings.Join(p.ids, ",") != strings.Join(ids[:2], ",") {
		t.Errorf("until only = %v, want m0, m1", p.ids)
	}
	// Page mode hands out cursors too.
	pg := n.history(t, u1, "2", "limit=4&page=2")
	if strings.Join(pg.ids, ",") != strings.Join(ids[2:6], ",") || pg.prev != ids[2] || pg.next != ids[5] {
		t.Errorf("page 2 = %v next %q prev %q", pg.ids, pg.next, pg.prev)
	}
	if pg := n.history(t, u1, "2", "limit=4&page=3"); pg.prev != "" || pg.next != ids[1] {
		t.Errorf("page 3: next %q prev %q, want next %q, prev null", pg.next, pg.prev, ids[1])
	}
	if pg := n.history(t, u1, "2", "limit=4&page=9"); pg.prev != "" || pg.next != "" || len(pg.ids) != 0 {
		t.Errorf("page past the end: %v next %q prev %q, want empty, null cursors", pg.ids, pg.next, pg.prev)
	}
}

func TestHistoryCursorErrors(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1 := n.tok(t, 1, nil)
	mine := n.sendText(t, u1, "2", "mine")["id"].(string)
	other := n.sendText(t, u1, "3", "other")["id"].(string)

	// A message of another DM, or of none, is not a cursor here.
	for _, q := range []string{"before=" + other, "after=" + other, "after=" + uuid.Must(uuid.NewV7()).String(),
		"since=0&after=" + other} {
		before := redisSnapshot(t, n.rdb, n.prefix)
		r := n.get(t, u1, "/api/user/2?"+q)
		wantError(t, r, http.StatusNotFound, "NOT_FOUND")
		wantString(t, q+" message", r.obj["message"], "cursor message not found")
		if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
			t.Errorf("%s changed Redis:\n%s", q, d)
		}
	}

	bad := []string{"before=" + mine + "&after=" + mine, "before=" + mine + "&page=2", "after=" + mine + "&page=1",
		"since=1&page=1", "before=abc", "before=", "after=" + strings.ToUpper(mine), "after=" + url.QueryEscape("{"+mine+"}"),
		"since=abc", "since=-1", "until=1.5", "until=", "since=10&until=9", "since=99999999999999999999",
		"before=" + mine + "&limit=0", "before=" + mine + "&limit=101", "after=null"}
	for _, q := range bad {
		before := redisSnapshot(t, n.rdb, n.prefix)
		r := n.get(t, u1, "/api/user/2?"+q)
		wantError(t, r, http.StatusBadRequest, "BAD_REQUEST")
		if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
			t.Errorf("%s changed Redis:\n%s", q, d)
		}
	}
	for _, q := range []string{"before=2&after=3", "before=2&page=1", "since=1", "until=1", "before=bad!id", "before=7@abc",
		"before=7@", "after=", "before=2&limit=0"} {
		before := redisSnapshot(t, n.rdb, n.prefix)
		wantError(t, n.get(t, u1, "/api/list?"+q), http.StatusBadRequest, "BAD_REQUEST")
		if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
			t.Errorf("list?%s changed Redis:\n%s", q, d)
		}
	}
	r := n.get(t, u1, "/api/list?before=9")
	wantError(t, r, http.StatusNotFound, "NOT_FOUND")
	wantString(t, "list unknown cursor message", r.obj["message"], "cursor conversation not found")
}

// TestListCursorWalk walks the inbox with before= and after= through the
// REST API; conversations that get a message mid-walk are never seen twice.
func TestListCursorWalk(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1 := n.tok(t, 1, nil)
	for p := 100; p < 112; p++ {
		n.sendText(t, u1, fmt.Sprint(p), fmt.Sprint("to ", p))
		time.Sleep(2 * time.Millisecond)
	}
	list := func(q string) (peers []string, next, prev string, st map[string]any) {
		t.Helper()
		r := n.get(t, u1, "/api/list?"+q)
		mustStatus(t, r, http.StatusOK)
		for _, e := range objs(t, r.obj, "entries") {
			peers = append(peers, fmt.Sprint(e["id"]))
		}
		st = obj(t, r.obj, "state")
		next, _ = st["next"].(string)
		prev, _ = st["prev"].(string)
		return peers, next, prev, st
	}
	first, next, prev, _ := list("limit=5")
	if fmt.Sprint(first) != "[111 110 109 108 107]" || next != "" || !strings.HasPrefix(prev, "107@") {
		t.Fatalf("page 1 = %v next %q prev %q", first, next, prev)
	}
	top := first[0]
	// 110 (already seen) and 103 (not yet) move up mid-walk.
	n.sendText(t, n.tok(t, 110, nil), "1", "back from 110")
	// Inbox scores are epoch ms and equal scores order by member, so the
	// second message must come a millisecond later to be the newer one.
	time.Sleep(2 * time.Millisecond)
	n.sendText(t, n.tok(t, 103, nil), "1", "back from 103")

	seen := map[string]int{}
	for _, p := range first {
		seen[p]++
	}
	for cur := prev; cur != ""; {
		var ps []string
		var st map[string]any
		ps, _, cur, st = list("limit=5&before=" + url.QueryEscape(cur))
		wantKeys(t, "list cursor state", st, "key", "per_page", "total", "cursor", "next", "prev")
		wantNumber(t, "total", st["total"], "12")
		for _, p := range ps {
			seen[p]++
		}
	}
	for p, c := range seen {
		if c != 1 {
			t.Errorf("%s seen %d times", p, c)
		}
	}
	if len(seen) != 11 || seen["103"] != 0 {
		t.Errorf("backward walk saw %v, want all but 103 (it moved above the start)", seen)
	}
	// Above the start of the walk: the two that moved, newest first.
	up, next, _, _ := list("after=" + top)
	if fmt.Sprint(up) != "[103 110]" || next != "" {
		t.Errorf("after=%s = %v next %q, want [103 110] and no next", top, up, next)
	}
}
