package test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestHistoryPagination(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1, u2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	for i := range 25 {
		if i%2 == 0 {
			n.sendText(t, u1, "2", fmt.Sprintf("m%02d", i))
		} else {
			n.sendText(t, u2, "1", fmt.Sprintf("m%02d", i))
		}
	}
	tests := []struct {
		query             string
		page, perPage     string
		first, count      int // the page holds m<first> .. m<first+count-1>
		total, totalPages string
	}{
		{"", "1", "10", 15, 10, "25", "3"},
		{"?page=1", "1", "10", 15, 10, "25", "3"},
		{"?page=2", "2", "10", 5, 10, "25", "3"},
		{"?page=3", "3", "10", 0, 5, "25", "3"},
		{"?page=4", "4", "10", 0, 0, "25", "3"},
		{"?page=1000", "1000", "10", 0, 0, "25", "3"},
		{"?limit=7&page=2", "2", "7", 11, 7, "25", "4"},
		{"?per_page=7&page=2", "2", "7", 11, 7, "25", "4"},
		{"?per_page=4&page=7", "7", "4", 0, 1, "25", "7"},
		{"?limit=100", "1", "100", 0, 25, "25", "1"},
		{"?limit=25", "1", "25", 0, 25, "25", "1"},
	}
	for _, tt := range tests {
		for _, who := range []struct{ tok, peer string }{{u1, "2"}, {u2, "1"}} {
			r := n.get(t, who.tok, "/api/user/"+who.peer+tt.query)
			mustStatus(t, r, http.StatusOK)
			st := obj(t, r.obj, "state")
			wantString(t, tt.query+" key", st["key"], n.domain+":dm:1-2")
			wantNumber(t, tt.query+" page", st["page"], tt.page)
			wantNumber(t, tt.query+" per_page", st["per_page"], tt.perPage)
			wantNumber(t, tt.query+" total", st["total"], tt.total)
			wantNumber(t, tt.query+" total_pages", st["total_pages"], tt.totalPages)
			msgs := arr(t, r.obj, "messages")
			if len(msgs) != tt.count {
				t.Fatalf("%s: %d messages, want %d", tt.query, len(msgs), tt.count)
			}
			for i, m := range msgs {
				wantString(t, fmt.Sprintf("%s [%d]", tt.query, i), m.(map[string]any)["text"], fmt.Sprintf("m%02d", tt.first+i))
			}
		}
	}

	// An empty or unknown conversation is an empty page.
	for _, peer := range []string{"3", "nobody"} {
		r := n.get(t, u1, "/api/user/"+peer)
		mustStatus(t, r, http.StatusOK)
		st := obj(t, r.obj, "state")
		wantNumber(t, peer+" total", st["total"], "0")
		wantNumber(t, peer+" total_pages", st["total_pages"], "0")
		if msgs := arr(t, r.obj, "messages"); len(msgs) != 0 {
			t.Errorf("%s: %d messages, want none", peer, len(msgs))
		}
	}
	badQueries(t, n, u1, "/api/user/2")
}

// badQueries checks that malformed paging parameters are 400.
func badQueries(t *testing.T, n *node, token, path string) {
	t.Helper()
	for _, q := range []string{"page=0", "page=-1", "page=abc", "page=1.5", "page=", "page=1e3", "page=99999999999999999999",
		"limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=101", "per_page=101", "per_page=0", "limit=1000"} {
		before := redisSnapshot(t, n.rdb, n.prefix)
		r := n.get(t, token, path+"?"+q)
		if q == "page=" { // an empty value is the default
			mustStatus(t, r, http.StatusOK)
			continue
		}
		wantError(t, r, http.StatusBadRequest, "BAD_REQUEST")
		if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
			t.Errorf("%s?%s changed Redis:\n%s", path, q, d)
		}
	}
}

func TestMaxPerPage(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_MAX_PER_PAGE": "5"})
	u1 := n.tok(t, 1, nil)
	for i := range 7 {
		n.sendText(t, u1, "2", fmt.Sprint(i))
	}
	for _, path := range []string{"/api/user/2", "/api/list"} {
		for _, q := range []string{"limit=6", "per_page=6", "limit=100"} {
			wantError(t, n.get(t, u1, path+"?"+q), http.StatusBadRequest, "BAD_REQUEST")
		}
		r := n.get(t, u1, path+"?limit=5")
		mustStatus(t, r, http.StatusOK)
		wantNumber(t, path+" per_page", obj(t, r.obj, "state")["per_page"], "5")
	}
}

// TestDefaultPageRespectsMaxPerPage: with PARLEY_MAX_PER_PAGE below the
// default page size (10), a request without limit must not get a bigger
// page than the configured maximum.
func TestDefaultPageRespectsMaxPerPage(t *testing.T) {
	t.Parallel()
	n := startServer(t, map[string]string{"PARLEY_MAX_PER_PAGE": "5"})
	u1 := n.tok(t, 1, nil)
	for i := range 7 {
		n.sendText(t, u1, "2", fmt.Sprint(i))
	}
	r := n.get(t, u1, "/api/user/2")
	mustStatus(t, r, http.StatusOK)
	if msgs := arr(t, r.obj, "messages"); len(msgs) > 5 {
		t.Errorf("default page holds %d messages (per_page %v), above PARLEY_MAX_PER_PAGE=5", len(msgs), obj(t, r.obj, "state")["per_page"])
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	u1 := n.tok(t, 1, nil)
	// 12 conversations, one message each, 2 ms apart so scores differ.
	for p := 100; p < 112; p++ {
		n.sendText(t, u1, fmt.Sprint(p), fmt.Sprint("to ", p))
		time.Sleep(2 * time.Millisecond)
	}
	peers := func(q string) []string {
		t.Helper()
		r := n.get(t, u1, "/api/list"+q)
		mustStatus(t, r, http.StatusOK)
		var out []string
		for _, e := range objs(t, r.obj, "entries") {
			out = append(out, fmt.Sprint(e["id"]))
		}
		return out
	}
	state := func(q string) map[string]any {
		t.Helper()
		return obj(t, n.get(t, u1, "/api/list"+q).obj, "state")
	}
	tests := []struct {
		query         string
		want          string
		page, perPage string
		totalPages    string
	}{
		{"", "[111 110 109 108 107 106 105 104 103 102]", "1", "10", "2"},
		{"?page=2", "[101 100]", "2", "10", "2"},
		{"?page=3", "[]", "3", "10", "2"},
		{"?limit=5&page=2", "[106 105 104 103 102]", "2", "5", "3"},
		{"?per_page=5&page=3", "[101 100]", "3", "5", "3"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(peers(tt.query)); got != tt.want {
			t.Errorf("list%s = %s, want %s", tt.query, got, tt.want)
		}
		st := state(tt.query)
		wantString(t, tt.query+" key", st["key"], n.domain+":inbox:1")
		wantNumber(t, tt.query+" page", st["page"], tt.page)
		wantNumber(t, tt.query+" per_page", st["per_page"], tt.perPage)
		wantNumber(t, tt.query+" total", st["total"], "12")
		wantNumber(t, tt.query+" total_pages", st["total_pages"], tt.totalPages)
	}

	// A reply moves its conversation to the top, for both parties.
	reply := n.sendText(t, n.tok(t, 100, nil), "1", "reply")
	if got := peers("?limit=3"); fmt.Sprint(got) != "[100 111 110]" {
		t.Errorf("after a reply from 100: %v, want [100 111 110]", got)
	}
	r := n.get(t, u1, "/api/list?limit=1")
	e := objs(t, r.obj, "entries")[0]
	wantString(t, "top latest.id", obj(t, e, "latest")["id"], reply["id"].(string))
	wantNumber(t, "top latest.author", obj(t, e, "latest")["author"], "100")

	// An empty inbox.
	r = n.get(t, n.tok(t, 5, nil), "/api/list")
	mustStatus(t, r, http.StatusOK)
	wantNumber(t, "empty total", obj(t, r.obj, "state")["total"], "0")
	wantNumber(t, "empty total_pages", obj(t, r.obj, "state")["total_pages"], "0")
	if es := arr(t, r.obj, "entries"); len(es) != 0 {
		t.Errorf("empty inbox has %d entries", len(es))
	}
	badQueries(t, n, u1, "/api/list")
}
