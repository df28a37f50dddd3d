package chat_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"parley/chat"
	"parley/internal/testutil"
)

// fakeScreener answers with answer and records what it was asked.
type fakeScreener struct {
	mu     sync.Mutex
	asked  []chat.Screening
	answer func(context.Context, chat.Screening) (chat.Verdict, error)
}

func (f *fakeScreener) Screen(ctx context.Context, s chat.Screening) (chat.Verdict, error) {
	f.mu.Lock()
	f.asked = append(f.asked, s)
	f.mu.Unlock()
	return f.answer(ctx, s)
}

func (f *fakeScreener) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.asked)
}

func screenedFixture(t *testing.T, sc chat.Screener) fixture {
	t.Helper()
	f := newFixture(t)
	f.store.SetScreener(sc)
	return f
}

func (f fixture) keyCount(t *testing.T) int {
	t.Helper()
	return len(testutil.ScanKeys(t, f.rdb, f.keys.Prefix+"*"))
}

func TestScreenSend(t *testing.T) {
	t.Parallel()
	failed := errors.New("hook down")
	tests := []struct {
		name     string
		content  chat.Content
		verdict  chat.Verdict
		err      error
		cancel   bool // the caller goes away while the screener works
		wantKind chat.Kind
		wantText string // stored text when the send succeeds
		wantMsg  string // user-facing message when it fails
		wantMod  bool   // errors.Is(err, ErrModerationUnavailable)
	}{
		{name: "allow", verdict: chat.Verdict{Action: chat.Allow}, wantText: "hello"},
		{name: "replace", verdict: chat.Verdict{Action: chat.Replace, Text: "h****"}, wantText: "h****"},
		{name: "reject with a reason", verdict: chat.Verdict{Action: chat.Reject, Reason: "not here"}, wantKind: chat.Rejected, wantMsg: "not here"},
		{name: "reject without a reason", verdict: chat.Verdict{Action: chat.Reject, Reason: " "}, wantKind: chat.Rejected,
			wantMsg: "the message was rejected by moderation"},
		{name: "reject with a long reason", verdict: chat.Verdict{Action: chat.Reject, Reason: strings.Repeat("é", 600)}, wantKind: chat.Rejected,
			wantMsg: strings.Repeat("é", chat.MaxRejectReason)},
		{name: "blank replacement", verdict: chat.Verdict{Action: chat.Replace, Text: "\u200b"}, wantKind: chat.Unavailable, wantMod: true},
		{name: "replacement too long", verdict: chat.Verdict{Action: chat.Replace, Text: strings.Repeat("x", 101)}, wantKind: chat.Unavailable, wantMod: true},
		{name: "replacing an image", content: chat.Content{Type: chat.TypeImage, Image: "https://cdn.example/a.png"},
			verdict: chat.Verdict{Action: chat.Replace, Text: "x"}, wantKind: chat.Unavailable, wantMod: true},
		{name: "unknown action", verdict: chat.Verdict{Action: 9}, wantKind: chat.Unavailable, wantMod: true},
		{name: "screener failed", err: failed, wantKind: chat.Unavailable, wantMod: true},
		{name: "caller went away", err: context.Canceled, wantKind: chat.Canceled, cancel: true},
		{name: "domain error passes through", err: chat.E("x", chat.Forbidden, "nope", nil), wantKind: chat.Forbidden, wantMsg: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sc := &fakeScreener{answer: func(context.Context, chat.Screening) (chat.Verdict, error) {
				if tt.cancel {
					cancel()
				}
				return tt.verdict, tt.err
			}}
			f := screenedFixture(t, sc)
			content := tt.content
			if content.Type == "" {
				content = chat.Content{Type: chat.TypeText, Text: "hello"}
			}
			m, _, err := f.store.Send(ctx, chat.SendRequest{Domain: f.dom, From: "1", To: "2", Content: content, ClientID: "cid"})
			if sc.count() != 1 {
				t.Fatalf("screener asked %d times, want 1", sc.count())
			}
			s := sc.asked[0]
			conv, _ := chat.NewConversation(f.dom, "1", "2")
			if s.Event != chat.ScreenNew || s.From != "1" || s.To != "2" || s.Domain != f.dom || s.Conversation != conv.Key() ||
				s.Content != content || s.ClientID != "cid" || s.MaxText != 100 || s.MessageID != "" {
				t.Errorf("screening = %+v", s)
			}
			if tt.wantText != "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if m.Text != tt.wantText {
					t.Errorf("Text = %q, want %q", m.Text, tt.wantText)
				}
				return
			}
			if got := chat.KindOf(err); got != tt.wantKind {
				t.Fatalf("Kind = %v, want %v (err %v)", got, tt.wantKind, err)
			}
			if got := errors.Is(err, chat.ErrModerationUnavailable); got != tt.wantMod {
				t.Errorf("errors.Is(ErrModerationUnavailable) = %v, want %v (err %v)", got, tt.wantMod, err)
			}
			if tt.wantMsg != "" && chat.MessageOf(err) != tt.wantMsg {
				t.Errorf("message = %q, want %q", chat.MessageOf(err), tt.wantMsg)
			}
			if n := f.keyCount(t); n != 0 {
				t.Errorf("a refused send left %d keys", n)
			}
		})
	}
}

// TestScreenSendNotAsked: input the store refuses anyway never reaches the
// screener, and a retry of a stored send is answered without it.
func TestScreenSendNotAsked(t *testing.T) {
	t.Parallel()
	sc := &fakeScreener{answer: func(_ context.Context, s chat.Screening) (chat.Verdict, error) {
		return chat.Verdict{Action: chat.Replace, Text: strings.ToUpper(s.Text)}, nil
	}}
	f := screenedFixture(t, sc)
	ctx := context.Background()
	for _, r := range []chat.SendRequest{
		{Domain: f.dom, From: "1", To: "1", Content: chat.Content{Type: chat.TypeText, Text: "me"}},
		{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: "  "}},
		{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: strings.Repeat("x", 101)}},
		{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: "x"}, ClientID: "has space"},
	} {
		if _, _, err := f.store.Send(ctx, r); chat.KindOf(err) != chat.Invalid {
			t.Errorf("Send(%+v) = %v, want Invalid", r, err)
		}
	}
	if sc.count() != 0 {
		t.Fatalf("invalid sends asked the screener %d times", sc.count())
	}
	req := chat.SendRequest{Domain: f.dom, From: "1", To: "2", Content: chat.Content{Type: chat.TypeText, Text: "hi"}, ClientID: "c1"}
	first, _, err := f.store.Send(ctx, req)
	if err != nil || first.Text != "HI" {
		t.Fatalf("Send = %+v, %v; want the replaced text HI", first, err)
	}
	again, _, err := f.store.Send(ctx, req)
	if err != nil || !again.Replayed || again.ID != first.ID || again.Text != "HI" {
		t.Errorf("retry = %+v, %v; want the first message replayed", again, err)
	}
	if sc.count() != 1 {
		t.Errorf("screener asked %d times, want 1 (the retry is not screened)", sc.count())
	}
	// The same client_id with other content is still a conflict, unscreened.
	req.Content.Text = "other"
	if _, _, err := f.store.Send(ctx, req); chat.KindOf(err) != chat.Conflict {
		t.Errorf("reused client_id = %v, want Conflict", err)
	}
	if sc.count() != 1 {
		t.Errorf("screener asked %d times, want 1", sc.count())
	}
}

func TestScreenEdit(t *testing.T) {
	t.Parallel()
	var f fixture
	var msgID string
	var once sync.Once
	sc := &fakeScreener{answer: func(ctx context.Context, s chat.Screening) (chat.Verdict, error) {
		switch {
		case s.Event == chat.ScreenNew:
			return chat.Verdict{}, nil
		case s.Text == "reject":
			return chat.Verdict{Action: chat.Reject, Reason: "no"}, nil
		case s.Text == "race":
			// The message changes between the edit's read and its write
			// (the recipient marks it seen): the edit reads it again, and
			// must not ask again.
			once.Do(func() {
				if _, _, err := f.store.Edit(ctx, chat.EditRequest{Domain: f.dom, Caller: "2", Peer: "1", MessageID: msgID, Seen: true}); err != nil {
					t.Errorf("seen: %v", err)
				}
			})
			return chat.Verdict{Action: chat.Replace, Text: "raced"}, nil
		}
		return chat.Verdict{Action: chat.Replace, Text: "[" + s.Text + "]"}, nil
	}}
	f = screenedFixture(t, sc)
	ctx := context.Background()
	msgID = f.send(t, "1", "2", "first").ID
	edit := func(caller, peer chat.UserID, text *string, seen bool) (chat.Message, error) {
		m, _, err := f.store.Edit(ctx, chat.EditRequest{Domain: f.dom, Caller: caller, Peer: peer, MessageID: msgID, Text: text, Seen: seen})
		return m, err
	}
	str := func(s string) *string { return &s }

	n := sc.count()
	m, err := edit("1", "2", str("second"), false)
	if err != nil || m.Text != "[second]" {
		t.Fatalf("edit = %+v, %v; want the replaced text", m, err)
	}
	if s := sc.asked[n]; s.Event != chat.ScreenEdit || s.MessageID != msgID || s.Text != "second" || s.From != "1" || s.To != "2" || s.Type != chat.TypeText {
		t.Errorf("screening = %+v", s)
	}
	if _, err := edit("1", "2", str("reject"), false); chat.KindOf(err) != chat.Rejected {
		t.Errorf("rejected edit = %v, want Rejected", err)
	}
	raw := f.rdb.HGet(ctx, f.keys.Messages(mustConv(t, f, "1", "2")), msgID).Val()
	if stored, _ := chat.DecodeMessage(raw); stored.Text != "[second]" {
		t.Errorf("stored text after a rejected edit = %q, want [second]", stored.Text)
	}

	// Not asked: a seen mark, another's message, a missing message.
	n = sc.count()
	if _, err := edit("2", "1", nil, true); err != nil {
		t.Errorf("seen: %v", err)
	}
	if _, err := edit("2", "1", str("mine now"), false); chat.KindOf(err) != chat.Forbidden {
		t.Errorf("edit of another's message = %v, want Forbidden", err)
	}
	if _, _, err := f.store.Edit(ctx, chat.EditRequest{Domain: f.dom, Caller: "1", Peer: "2", MessageID: "0190a0a0-0000-7000-8000-000000000000",
		Text: str("x")}); chat.KindOf(err) != chat.NotFound {
		t.Errorf("edit of a missing message = %v, want NotFound", err)
	}
	if got := sc.count(); got != n {
		t.Errorf("refused edits and a seen mark asked the screener %d times, want 0", got-n)
	}

	// A compare-and-set retry reuses the first answer.
	msgID = f.send(t, "1", "2", "another").ID
	n = sc.count()
	m, err = edit("1", "2", str("race"), false)
	if err != nil || m.Text != "raced" || m.Seen == 0 {
		t.Fatalf("edit = %+v, %v; want the replaced text on the seen message", m, err)
	}
	if got := sc.count() - n; got != 1 {
		t.Errorf("the edit asked the screener %d times, want 1", got)
	}
}

func mustConv(t *testing.T, f fixture, a, b chat.UserID) chat.Conversation {
	t.Helper()
	c, err := chat.NewConversation(f.dom, a, b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckReplacement(t *testing.T) {
	t.Parallel()
	s := chat.Screening{Content: chat.Content{Type: chat.TypeText, Text: "x"}, MaxText: 3}
	for _, tt := range []struct {
		text string
		ok   bool
	}{{"abc", true}, {"äöü", true}, {"abcd", false}, {"", false}, {" \t", false}, {"\xff", false}} {
		if err := s.CheckReplacement(tt.text); (err == nil) != tt.ok {
			t.Errorf("CheckReplacement(%q) = %v, want ok %v", tt.text, err, tt.ok)
		}
	}
	img := chat.Screening{Content: chat.Content{Type: chat.TypeImage, Image: "https://x.example/a.png"}, MaxText: 3}
	if err := img.CheckReplacement("a"); err == nil {
		t.Error("CheckReplacement of an image = nil, want an error")
	}
}
