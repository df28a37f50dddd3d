package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/chat"
	"parley/webhook"
)

// platform is a fake before-send hook: it verifies every request's
// signature and records the request bodies.
type platform struct {
	t      *testing.T
	secret []byte
	mu     sync.Mutex
	seen   []webhook.HookRequest
	bad    int // requests whose signature did not verify
}

func newPlatform(t *testing.T, secret []byte, answer http.HandlerFunc) (*platform, *httptest.Server) {
	t.Helper()
	p := &platform{t: t, secret: secret}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request: %v", err)
		}
		var req webhook.HookRequest
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("request body %s: %v", body, err)
		}
		p.mu.Lock()
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			p.bad++
		}
		p.seen = append(p.seen, req)
		p.mu.Unlock()
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("request %s with Content-Type %q, want POST application/json", r.Method, r.Header.Get("Content-Type"))
		}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return p, srv
}

func answer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func screening() chat.Screening {
	return chat.Screening{Event: chat.ScreenNew, Domain: "d", From: "1", To: "2", Conversation: "d:dm:1-2",
		Content: chat.Content{Type: chat.TypeText, Text: "hello darn world"}, ClientID: "c1", MaxText: 20}
}

func TestHookAnswers(t *testing.T) {
	t.Parallel()
	secret := []byte("hook-secret-0123456789")
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		failOpen   bool
		want       chat.Verdict
		wantErr    bool
		wantResult webhook.Result
	}{
		{"allow", answer(200, `{"action":"allow"}`), false, chat.Verdict{Action: chat.Allow}, false, webhook.ResultAllow},
		{"reject with reason", answer(200, `{"action":"reject","reason":"no swearing"}`), true,
			chat.Verdict{Action: chat.Reject, Reason: "no swearing"}, false, webhook.ResultReject},
		{"replace", answer(200, `{"action":"replace","text":"hello **** world"}`), false,
			chat.Verdict{Action: chat.Replace, Text: "hello **** world"}, false, webhook.ResultReplace},
		{"2xx other than 200", answer(202, `{"action":"allow"}`), false, chat.Verdict{Action: chat.Allow}, false, webhook.ResultAllow},
		{"unknown fields are ignored", answer(200, `{"action":"allow","score":0.1}`), false, chat.Verdict{Action: chat.Allow}, false, webhook.ResultAllow},
		// Failures, closed: an error; open: allowed as sent.
		{"500 closed", answer(500, `{"action":"allow"}`), false, chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"500 open", answer(500, `{"action":"reject"}`), true, chat.Verdict{Action: chat.Allow}, false, webhook.ResultFailedOpen},
		{"redirect is a failure", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) },
			false, chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"not JSON", answer(200, `allow`), false, chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"empty body", answer(200, ``), false, chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"unknown action", answer(200, `{"action":"quarantine"}`), false, chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"action missing", answer(200, `{}`), true, chat.Verdict{Action: chat.Allow}, false, webhook.ResultFailedOpen},
		{"replace without text", answer(200, `{"action":"replace"}`), false, chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"replace with blank text", answer(200, `{"action":"replace","text":" \u200b "}`), false, chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"replace longer than max_text", answer(200, `{"action":"replace","text":"123456789012345678901"}`), false,
			chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"answer over 64 KiB", answer(200, `{"action":"allow","pad":"`+strings.Repeat("x", webhook.MaxAnswer)+`"}`), false,
			chat.Verdict{}, true, webhook.ResultFailedClosed},
		{"slow answer times out", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			answer(200, `{"action":"reject"}`)(w, r)
		}, true, chat.Verdict{Action: chat.Allow}, false, webhook.ResultFailedOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, srv := newPlatform(t, secret, tt.handler)
			var results []webhook.Result
			var mu sync.Mutex
			h := webhook.NewHook(srv.URL, secret, 200*time.Millisecond, tt.failOpen, nil,
				webhook.WithObserver(func(r webhook.Result) { mu.Lock(); results = append(results, r); mu.Unlock() }))
			v, err := h.Screen(context.Background(), screening())
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Screen error = %v, want error: %v", err, tt.wantErr)
			}
			if v != tt.want {
				t.Errorf("verdict = %+v, want %+v", v, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(results) != 1 || results[0] != tt.wantResult {
				t.Errorf("observed %v, want [%s]", results, tt.wantResult)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.seen) != 1 || p.bad != 0 {
				t.Errorf("platform saw %d requests, %d with a bad signature; want 1 signed", len(p.seen), p.bad)
			}
		})
	}
}

// TestHookRequestBody: the documented body, every field, signed over the
// exact bytes sent.
func TestHookRequestBody(t *testing.T) {
	t.Parallel()
	secret := []byte("hook-secret-0123456789")
	var raw []byte
	var sig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ = io.ReadAll(r.Body)
		sig = r.Header.Get(webhook.SignatureHeader)
		_, _ = io.WriteString(w, `{"action":"allow"}`)
	}))
	t.Cleanup(srv.Close)
	h := webhook.NewHook(srv.URL, secret, time.Second, false, nil)
	s := screening()
	s.Event, s.MessageID, s.ClientID = chat.ScreenEdit, "0190a0a0-0000-7000-8000-000000000000", ""
	if _, err := h.Screen(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(secret, sig, raw, time.Now(), time.Minute); err != nil {
		t.Errorf("Verify(%q) = %v", sig, err)
	}
	if err := webhook.Verify([]byte("another secret"), sig, raw, time.Now(), time.Minute); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("Verify with another secret = %v, want ErrBadSignature", err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "message.edit", "domain": "d", "from": "1", "to": "2", "conversation": "d:dm:1-2",
		"message_id": "0190a0a0-0000-7000-8000-000000000000", "message_type": "text", "text": "hello darn world", "max_text": float64(20)}
	if len(got) != len(want) {
		t.Errorf("body %s has %d fields, want %d", raw, len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("body %s: %s = %#v, want %#v", raw, k, got[k], v)
		}
	}
}

// hangingPlatform never answers a request until the client gives up or
// the test ends.
func hangingPlatform(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv
}

// TestHookCallerGone: a caller that went away is neither allowed nor
// refused by policy, and not counted as a hook failure.
func TestHookCallerGone(t *testing.T) {
	t.Parallel()
	srv := hangingPlatform(t)
	var observed []webhook.Result
	h := webhook.NewHook(srv.URL, []byte("s"), time.Minute, true, nil,
		webhook.WithObserver(func(r webhook.Result) { observed = append(observed, r) }))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	_, err := h.Screen(ctx, screening())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Screen = %v, want context.Canceled", err)
	}
	if len(observed) != 0 {
		t.Errorf("observed %v, want nothing", observed)
	}
}

func TestNewHookDefaultTimeout(t *testing.T) {
	t.Parallel()
	// A hook given no timeout still gives up (DefaultHookTimeout) instead of
	// waiting for the platform forever.
	srv := hangingPlatform(t)
	h := webhook.NewHook(srv.URL, []byte("s"), 0, false, nil)
	if _, err := h.Screen(context.Background(), screening()); err == nil {
		t.Fatal("Screen of a hook that never answers succeeded")
	}
}
