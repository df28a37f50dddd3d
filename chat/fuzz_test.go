package chat

import (
	"math"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzKeys checks the keyspace for any ids and domain that pass
// validation, and any client id: every key stays under "<prefix><domain>:", holds no
// character that could address another key pattern or slot ('*', '{',
// space), and two different conversations never share a key.
func FuzzKeys(f *testing.F) {
	f.Add("default", "1", "2", "1", "3")
	f.Add("t-1", "a-b", "c", "a", "b-c")
	f.Add("x_y", "042", "42", "42", "042")
	f.Add("d", "..", ".", "-", "--")
	f.Add("d", "9", "10", "10", "9")
	f.Add("zz", strings.Repeat("a", MaxIDLen), "b", "A", "b")
	f.Fuzz(func(t *testing.T, domain, a, b, c, d string) {
		dom, err := ParseDomain(domain)
		if err != nil {
			return
		}
		ids := make([]UserID, 0, 4)
		for _, s := range []string{a, b, c, d} {
			u, err := ParseUserID(s)
			if err != nil {
				return
			}
			ids = append(ids, u)
		}
		const prefix = "parley:"
		keys := Keys{Prefix: prefix}
		conv1, err1 := NewConversation(dom, ids[0], ids[1])
		conv2, err2 := NewConversation(dom, ids[2], ids[3])
		if err1 != nil || err2 != nil {
			if (err1 != nil) != (ids[0] == ids[1]) || (err2 != nil) != (ids[2] == ids[3]) {
				t.Fatalf("NewConversation errors %v, %v for %q", err1, err2, ids)
			}
			return
		}
		rev, _ := NewConversation(dom, ids[1], ids[0])
		if rev != conv1 {
			t.Fatalf("NewConversation is not symmetric: %+v vs %+v", conv1, rev)
		}
		all := []string{keys.DM(conv1), keys.Messages(conv1), keys.Seq(conv1),
			keys.Inbox(dom, ids[0]), keys.Inbox(dom, ids[1]),
			keys.ClientID(dom, ids[0], c+"*{"+d+"}:"+a)} // client ids are free text
		if (a == b) != (keys.ClientID(dom, ids[0], a) == keys.ClientID(dom, ids[0], b)) {
			t.Fatalf("client ids %q and %q: keys not one per id", a, b)
		}
		for i, k := range all {
			if !strings.HasPrefix(k, prefix+"{"+string(dom)+":") {
				t.Fatalf("key %q is outside %s{%s:", k, prefix, dom)
			}
			// Exactly one hash tag, the one Keys put: the conversation's for
			// its keys, the user's for theirs.
			tag, rest, ok := strings.Cut(strings.TrimPrefix(k, prefix+"{"), "}")
			if !ok || strings.ContainsAny(tag, "{}") || strings.ContainsAny(rest, "{}") {
				t.Fatalf("key %q does not hold exactly one hash tag", k)
			}
			want := conv1.Key()
			if i >= 3 {
				want = string(dom) + ":u:" + string(ids[map[int]int{3: 0, 4: 1, 5: 0}[i]])
			}
			if tag != want {
				t.Fatalf("key %q has hash tag %q, want %q", k, tag, want)
			}
			if strings.ContainsAny(k, "*? []\\\n\r\t") {
				t.Fatalf("key %q holds a pattern or space character", k)
			}
			if strings.Count(k, ":") > strings.Count(prefix, ":")+4 {
				t.Fatalf("key %q has too many ':' separators", k)
			}
		}
		same := (conv1.Lo == conv2.Lo && conv1.Hi == conv2.Hi)
		if (keys.DM(conv1) == keys.DM(conv2)) != same {
			t.Fatalf("conversations %+v and %+v: keys %q and %q (same pair %v)", conv1, conv2, keys.DM(conv1), keys.DM(conv2), same)
		}
		if (keys.Inbox(dom, ids[0]) == keys.Inbox(dom, ids[2])) != (ids[0] == ids[2]) {
			t.Fatalf("inboxes of %q and %q collide", ids[0], ids[2])
		}
		if p, ok := PeerFromMember(InboxMember(ids[1])); !ok || p != ids[1] {
			t.Fatalf("PeerFromMember(InboxMember(%q)) = %q, %v", ids[1], p, ok)
		}
	})
}

// FuzzParsePage checks that the pagination parser never panics and that
// an accepted page has a positive number and size within bounds, and a
// rank range that cannot overflow.
func FuzzParsePage(f *testing.F) {
	f.Add("", "", 10, 100)
	f.Add("1", "10", 10, 100)
	f.Add("1073741824", "100", 10, 100)
	f.Add("1073741825", "1", 10, 100)
	f.Add("-1", "0", 10, 100)
	f.Add("99999999999999999999", "1e3", 10, 100)
	f.Add("+5", " 7", 10, 100)
	f.Add("0x10", "١", 10, 100)
	f.Fuzz(func(t *testing.T, page, size string, def, max int) {
		if max < 1 || max > 10000 || def < 1 || def > max {
			return // config guarantees 1 <= default <= max per page
		}
		p, err := ParsePage(page, size, def, max)
		if err != nil {
			if KindOf(err) != Invalid {
				t.Fatalf("ParsePage(%q, %q) error kind %v, want Invalid", page, size, KindOf(err))
			}
			return
		}
		if p.Number < 1 || p.Number > MaxPageNumber || p.Size < 1 || p.Size > max {
			t.Fatalf("ParsePage(%q, %q) = %+v out of range", page, size, p)
		}
		if p.Start() < 0 || p.Stop() < p.Start() || p.Stop() > math.MaxInt64/2 {
			t.Fatalf("ParsePage(%q, %q) = %+v: ranks %d..%d", page, size, p, p.Start(), p.Stop())
		}
		if tp := p.TotalPages(math.MaxInt32); tp < 1 {
			t.Fatalf("TotalPages = %d", tp)
		}
	})
}

// FuzzContentValidate checks message validation: it never panics, and
// what it accepts is a valid UTF-8 text within the limit holding at least
// one visible character (not white space, a control or a format character
// such as a zero-width space, joiner, BOM or bidi control), or an absolute
// http(s) image URL.
func FuzzContentValidate(f *testing.F) {
	f.Add("text", "hello", "", 10)
	f.Add("text", "  \n\t", "", 10)
	f.Add("text", "e\u0301e\u0301e\u0301", "", 6)
	f.Add("text", "a\xffb", "", 10)
	f.Add("text", "\u200b\u200d\ufeff", "", 10)
	f.Add("text", "\u202e\u2066\x00", "", 10)
	f.Add("text", strings.Repeat("😀", 11), "", 10)
	f.Add("image", "", "https://cdn.example/a.png", 10)
	f.Add("image", "", "javascript:alert(1)", 10)
	f.Add("image", "", "http://", 10)
	f.Add("video", "x", "y", 10)
	f.Fuzz(func(t *testing.T, typ, text, image string, max int) {
		if max < 1 || max > 100000 {
			return
		}
		c, err := Content{Type: typ, Text: text, Image: image}.validate("fuzz", Limits{MaxText: max})
		if err != nil {
			if KindOf(err) != Invalid {
				t.Fatalf("error kind %v, want Invalid: %v", KindOf(err), err)
			}
			return
		}
		switch c.Type {
		case TypeText:
			if !utf8.ValidString(c.Text) || !strings.ContainsFunc(c.Text, visible) || utf8.RuneCountInString(c.Text) > max || c.Image != "" {
				t.Fatalf("accepted bad text %q (image %q)", c.Text, c.Image)
			}
		case TypeImage:
			u, err := url.Parse(c.Image)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(c.Image) > MaxImageURL || c.Text != "" {
				t.Fatalf("accepted bad image %q (text %q)", c.Image, c.Text)
			}
		default:
			t.Fatalf("accepted type %q", c.Type)
		}
	})
}

func visible(r rune) bool {
	return !unicode.IsSpace(r) && !unicode.IsControl(r) && !unicode.Is(unicode.Cf, r)
}
