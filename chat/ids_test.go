package chat

import "testing"

func TestParseUserID(t *testing.T) {
	long := string(make([]byte, 65))
	tests := []struct {
		in   string
		ok   bool
		num  bool
		desc string
	}{
		{"42", true, true, "number"},
		{"388636", true, true, "seed id"},
		{"042", true, false, "leading zero stays a string"},
		{"0", true, true, "zero"},
		{"1234567890123456", true, false, "16 digits is not exact in JSON"},
		{"123456789012345", true, true, "15 digits"},
		{"alice.b-c_d", true, false, "all allowed punctuation"},
		{"", false, false, "empty"},
		{"30:data", false, false, "colon"},
		{"a*", false, false, "star"},
		{"{x}", false, false, "braces"},
		{"a b", false, false, "space"},
		{".", false, false, "dot segment"},
		{"..", false, false, "dot-dot segment"},
		{"...", true, false, "three dots are not a path segment"},
		{"a..b", true, false, "inner dots"},
		{"é", false, false, "non-ascii"},
		{long, false, false, "65 chars"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			u, err := ParseUserID(tt.in)
			if got := err == nil; got != tt.ok {
				t.Fatalf("ParseUserID(%q) ok = %v, want %v", tt.in, got, tt.ok)
			}
			if err != nil && KindOf(err) != Invalid {
				t.Errorf("kind = %v, want Invalid", KindOf(err))
			}
			if tt.ok && u.IsNumeric() != tt.num {
				t.Errorf("IsNumeric(%q) = %v, want %v", tt.in, u.IsNumeric(), tt.num)
			}
		})
	}
}

func TestConversationKey(t *testing.T) {
	tests := []struct {
		a, b UserID
		want string
	}{
		{"388636", "524376", "d:dm:388636-524376"},
		{"524376", "388636", "d:dm:388636-524376"},
		{"9", "10", "d:dm:9-10"}, // numeric, not bytewise
		{"10", "9", "d:dm:9-10"},
		{"bob", "alice", "d:dm:alice-bob"},
		{"42", "alice", "d:dm:42-alice"},
		{"042", "42", "d:dm:042-42"},
		{"a-b", "c", "d:dm:a%2Db-c"},
		{"a", "b-c", "d:dm:a-b%2Dc"},
	}
	for _, tt := range tests {
		c, err := NewConversation("d", tt.a, tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Key(); got != tt.want {
			t.Errorf("Key(%s, %s) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
	if _, err := NewConversation("d", "1", "1"); KindOf(err) != Invalid {
		t.Errorf("self conversation: kind = %v, want Invalid", KindOf(err))
	}
}

func TestParseDomain(t *testing.T) {
	for in, ok := range map[string]bool{"acme": true, "a_b-9": true, "": false, "Acme": false, "a:b": false, "abcdefghijabcdefghijabcdefghijabc": false} {
		if _, err := ParseDomain(in); (err == nil) != ok {
			t.Errorf("ParseDomain(%q) ok = %v, want %v", in, err == nil, ok)
		}
	}
}

func TestParsePage(t *testing.T) {
	tests := []struct {
		page, size string
		want       Page
		ok         bool
	}{
		{"", "", Page{1, 10}, true},
		{"2", "5", Page{2, 5}, true},
		{"1", "100", Page{1, 100}, true},
		{"1", "101", Page{}, false},
		{"0", "", Page{}, false},
		{"-1", "", Page{}, false},
		{"x", "", Page{}, false},
		{"1.5", "", Page{}, false},
		{"99999999999999999999", "", Page{}, false},
		{"", "0", Page{}, false},
		{"", "-3", Page{}, false},
		{"", "abc", Page{}, false},
	}
	for _, tt := range tests {
		got, err := ParsePage(tt.page, tt.size, 10, 100)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePage(%q, %q) = %v, %v; want %v ok=%v", tt.page, tt.size, got, err, tt.want, tt.ok)
		}
	}
	if n := (Page{Number: 1, Size: 10}).TotalPages(21); n != 3 {
		t.Errorf("TotalPages(21) = %d, want 3", n)
	}
}

func TestContentValidate(t *testing.T) {
	l := Limits{MaxText: 5}
	tests := []struct {
		name string
		c    Content
		ok   bool
	}{
		{"text", Content{Type: "text", Text: "hi"}, true},
		{"text at limit with emoji", Content{Type: "text", Text: "😀😀😀😀😀"}, true},
		{"text over limit", Content{Type: "text", Text: "123456"}, false},
		{"blank", Content{Type: "text", Text: " \n\t"}, false},
		{"zero-width space only", Content{Type: "text", Text: "\u200b"}, false},
		{"joiners and word joiner only", Content{Type: "text", Text: "\u200c\u200d\u2060"}, false},
		{"BOM only", Content{Type: "text", Text: "\ufeff"}, false},
		{"bidi controls only", Content{Type: "text", Text: "\u202a\u202e\u2066\u2069"}, false},
		{"NUL only", Content{Type: "text", Text: "\x00"}, false},
		{"other controls and spaces", Content{Type: "text", Text: "\x01\x7f\u0085\u00a0\u3000"}, false},
		{"tag characters only", Content{Type: "text", Text: "\U000e0041\U000e007f"}, false},
		{"hangul filler and variation selector", Content{Type: "text", Text: "\u3164\ufe0f"}, false},
		{"soft hyphen only", Content{Type: "text", Text: "\u00ad"}, false},
		{"visible text among invisibles", Content{Type: "text", Text: "\u200bhi\u200d"}, true},
		{"emoji ZWJ sequence", Content{Type: "text", Text: "\U0001F469\u200d\U0001F4BB"}, true},
		{"empty", Content{Type: "text"}, false},
		{"invalid utf8", Content{Type: "text", Text: "a\xffb"}, false},
		{"text with image", Content{Type: "text", Text: "a", Image: "https://x/y"}, false},
		{"image", Content{Type: "image", Image: "https://cdn.example/a.png"}, true},
		{"image http", Content{Type: "image", Image: "http://cdn.example/a.png"}, true},
		{"image javascript", Content{Type: "image", Image: "javascript:alert(1)"}, false},
		{"image relative", Content{Type: "image", Image: "/a.png"}, false},
		{"image no host", Content{Type: "image", Image: "https:///a.png"}, false},
		{"image with space", Content{Type: "image", Image: "https://x/a b.png"}, false},
		{"unknown type", Content{Type: "video"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.validate("test", l)
			if (err == nil) != tt.ok {
				t.Fatalf("validate = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && KindOf(err) != Invalid {
				t.Errorf("kind = %v, want Invalid", KindOf(err))
			}
		})
	}
}
