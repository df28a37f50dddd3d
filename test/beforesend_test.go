package test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/webhook"
)

// hookPlatform is the platform's before-send hook, a real HTTP server: it
// verifies every request's signature with webhook.Verify, records what it
// was asked and answers by the text it sees:
//
//	"...reject..."  {"action":"reject","reason":"no thanks: <text>"}
//	"...darn..."    {"action":"replace","text": the text with darn masked}
//	"...toolong..." {"action":"replace","text": longer than PARLEY_MAX_TEXT}
//	"...garbage..." a 200 whose body is not JSON
//	"...broken..."  a 500
//	"...slow..."    no answer until Parley gives up (PARLEY_HOOK_TIMEOUT)
//	anything else   {"action":"allow"}
type hookPlatform struct {
	srv      *httptest.Server
	secret   []byte
	mu       sync.Mutex
	asked    []webhook.HookRequest
	unsigned int // requests whose signature did not verify
}

const hookMaxText = 40

func newHookPlatform(t *testing.T) *hookPlatform {
	t.Helper()
	p := &hookPlatform{secret: []byte(randomHex(t, 16))}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		var req webhook.HookRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Errorf("hook request %s: %v", raw, err)
		}
		p.mu.Lock()
		if webhook.Verify(p.secret, r.Header.Get(webhook.SignatureHeader), raw, time.Now(), time.Minute) != nil {
			p.unsigned++
		}
		p.asked = append(p.asked, req)
		p.mu.Unlock()
		reply := func(v any) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		}
		switch text := req.Text; {
		case strings.Contains(text, "reject"):
			reply(map[string]string{"action": "reject", "reason": "no thanks: " + text})
		case strings.Contains(text, "darn"):
			reply(map[string]string{"action": "replace", "text": strings.ReplaceAll(text, "darn", "****")})
		case strings.Contains(text, "toolong"):
			reply(map[string]string{"action": "replace", "text": strings.Repeat("x", req.MaxText+1)})
		case strings.Contains(text, "garbage"):
			_, _ = io.WriteString(w, "<html>allow</html>")
		case strings.Contains(text, "broken"):
			http.Error(w, "down", http.StatusInternalServerError)
		case strings.Contains(text, "slow"):
			<-r.Context().Done() // Parley hangs up after PARLEY_HOOK_TIMEOUT
		default:
			reply(map[string]string{"action": "allow"})
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// requests returns what the hook was asked so far, and fails t if any
// request was not signed with the secret.
func (p *hookPlatform) requests(t *testing.T) []webhook.HookRequest {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unsigned != 0 {
		t.Errorf("%d of %d hook requests had no valid signature", p.unsigned, len(p.asked))
	}
	return append([]webhook.HookRequest(nil), p.asked...)
}

// startHookServer runs a node whose before-send hook is p.
func startHookServer(t *testing.T, p *hookPlatform, failOpen bool, extra map[string]string) *node {
	t.Helper()
	env := map[string]string{
		"PARLEY_HOOK_BEFORE_SEND_URL": p.srv.URL + "/hooks/before-send",
		"PARLEY_WEBHOOK_SECRET":       string(p.secret),
		"PARLEY_HOOK_TIMEOUT":         "200ms",
		"PARLEY_HOOK_FAIL_OPEN":       map[bool]string{true: "true", false: "false"}[failOpen],
		"PARLEY_MAX_TEXT":             "40",
	}
	for k, v := range extra {
		env[k] = v
	}
	return startServer(t, env)
}

// historyTexts returns the texts of the conversation's messages, oldest
// first.
func historyTexts(t *testing.T, n *node, token, peer string) []string {
	t.Helper()
	r := n.get(t, token, "/api/user/"+peer)
	mustStatus(t, r, http.StatusOK)
	var out []string
	for _, m := range objs(t, r.obj, "messages") {
		s, _ := m["text"].(string)
		out = append(out, s)
	}
	return out
}

// refusedUntouched runs write, which must be refused with status and code,
// and checks that Redis did not change at all: nothing stored, no inbox or
// unread count moved, no event logged for either user, no budget spent.
func refusedUntouched(t *testing.T, n *node, status int, code string, write func() reply) reply {
	t.Helper()
	before := redisSnapshot(t, n.rdb, n.prefix)
	r := write()
	wantError(t, r, status, code)
	if d := diffSnapshots(before, redisSnapshot(t, n.rdb, n.prefix)); d != "" {
		t.Errorf("Redis changed:\n%s", d)
	}
	return r
}

// TestBeforeSendHook: every send and text edit goes through the hook,
// signed; allow stores as sent, reject refuses with 403 MESSAGE_REJECTED
// and changes nothing, replace stores the platform's text; with
// PARLEY_HOOK_FAIL_OPEN=false a hook that times out, fails or answers
// garbage refuses with 503 MODERATION_UNAVAILABLE and changes nothing.
func TestBeforeSendHook(t *testing.T) {
	t.Parallel()
	p := newHookPlatform(t)
	// Real budgets, so that a refused write that spent one would show in
	// the Redis snapshot.
	n := startHookServer(t, p, false, map[string]string{"PARLEY_SEND_RATE": "1000", "PARLEY_SEND_BURST": "1000",
		"PARLEY_WRITE_RATE": "1000", "PARLEY_WRITE_BURST": "1000"})
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)

	// Allow: stored as sent; the hook saw the documented body.
	r := n.send(t, t1, "2", map[string]any{"type": "text", "text": "hello there", "client_id": "c-allow"})
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "text", obj(t, r.obj, "entry")["text"], "hello there")
	allowedID := obj(t, r.obj, "entry")["id"].(string)
	asked := p.requests(t)
	if len(asked) != 1 {
		t.Fatalf("hook asked %d times, want 1", len(asked))
	}
	want := webhook.HookRequest{Type: "message.new", Domain: n.domain, From: "1", To: "2",
		Conversation: obj(t, r.obj, "state")["key"].(string), MessageType: "text", Text: "hello there", ClientID: "c-allow", MaxText: hookMaxText}
	if asked[0] != want {
		t.Errorf("hook asked %+v, want %+v", asked[0], want)
	}
	_, unread := inboxEntry(t, n, t2, "1")

	// Reject: 403 with the platform's reason, nothing written.
	r = refusedUntouched(t, n, http.StatusForbidden, "MESSAGE_REJECTED", func() reply {
		return n.send(t, t1, "2", map[string]any{"type": "text", "text": "please reject me"})
	})
	wantString(t, "message", r.obj["message"], "no thanks: please reject me")
	wantString(t, "name", r.obj["name"], "MessageRejectedError")
	if _, u := inboxEntry(t, n, t2, "1"); u != unread {
		t.Errorf("recipient's unread = %s after a rejected send, want %s", u, unread)
	}

	// Replace: the stored and returned text is the platform's; the hook
	// saw the original.
	r = n.send(t, t1, "2", map[string]any{"type": "text", "text": "oh darn it", "client_id": "c-replace"})
	mustStatus(t, r, http.StatusCreated)
	wantString(t, "text", obj(t, r.obj, "entry")["text"], "oh **** it")
	replacedID := obj(t, r.obj, "entry")["id"].(string)
	if asked := p.requests(t); asked[len(asked)-1].Text != "oh darn it" {
		t.Errorf("hook saw %q, want the original text", asked[len(asked)-1].Text)
	}
	// A retry of that send (same client_id, same text) is answered from
	// the stored message, without asking the hook again.
	nAsked := len(p.requests(t))
	r = n.send(t, t1, "2", map[string]any{"type": "text", "text": "oh darn it", "client_id": "c-replace"})
	mustStatus(t, r, http.StatusOK)
	wantString(t, "id", obj(t, r.obj, "entry")["id"], replacedID)
	wantString(t, "text", obj(t, r.obj, "entry")["text"], "oh **** it")
	if got := len(p.requests(t)); got != nAsked {
		t.Errorf("the retry asked the hook %d more times, want 0", got-nAsked)
	}

	// Edits go through the hook too: reject changes nothing, replace
	// stores the platform's text.
	edit := func(id, text string) reply {
		return n.post(t, t1, "/api/user/2/"+id, map[string]any{"text": text})
	}
	r = refusedUntouched(t, n, http.StatusForbidden, "MESSAGE_REJECTED", func() reply { return edit(allowedID, "reject this edit") })
	wantString(t, "message", r.obj["message"], "no thanks: reject this edit")
	r = edit(allowedID, "darn edit")
	mustStatus(t, r, http.StatusOK)
	wantString(t, "text", obj(t, r.obj, "entry")["text"], "**** edit")
	asked = p.requests(t)
	last := asked[len(asked)-1]
	if last.Type != "message.edit" || last.MessageID != allowedID || last.Text != "darn edit" || last.From != "1" || last.To != "2" {
		t.Errorf("hook asked %+v for the edit, want message.edit of %s with the original text", last, allowedID)
	}
	// An edit the store refuses anyway (not the author) never reaches the hook.
	nAsked = len(asked)
	wantError(t, n.post(t, t2, "/api/user/1/"+allowedID, map[string]any{"text": "not mine"}), http.StatusForbidden, "FORBIDDEN")
	if got := len(p.requests(t)); got != nAsked {
		t.Errorf("a refused edit asked the hook %d times, want 0", got-nAsked)
	}

	// Fail-closed: a timeout, a 500, a body that is not an answer and an
	// unusable replacement all refuse with 503 and change nothing.
	for _, text := range []string{"slow", "broken", "garbage", "toolong"} {
		t.Run("fail closed/"+text, func(t *testing.T) {
			r := refusedUntouched(t, n, http.StatusServiceUnavailable, "MODERATION_UNAVAILABLE", func() reply {
				return n.send(t, t1, "2", map[string]any{"type": "text", "text": text})
			})
			if r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			refusedUntouched(t, n, http.StatusServiceUnavailable, "MODERATION_UNAVAILABLE", func() reply {
				return edit(allowedID, text+" edit")
			})
		})
	}

	if got, want := historyTexts(t, n, t2, "1"), []string{"**** edit", "oh **** it"}; !slices.Equal(got, want) {
		t.Errorf("history = %q, want %q", got, want)
	}
	// The recipient's event log (what a reconnecting client replays) holds
	// the allowed and replaced writes only.
	frames, cancel, resp := sseStream(t, n, "token="+t2+"&lastEventId=0&types=message:new,message:edit", nil)
	defer cancel()
	mustStatus(t, reply{status: resp.StatusCode}, http.StatusOK)
	if f := nextFrame(t, frames, true); f.event != "ready" {
		t.Fatalf("first frame %q, want ready", f.event)
	}
	var events []string
	for range 3 {
		f := nextFrame(t, frames, true)
		e := obj(t, frameJSON(t, f), "entry")
		text, _ := e["text"].(string)
		events = append(events, f.event+" "+text)
	}
	if want := []string{"message:new hello there", "message:new oh **** it", "message:edit **** edit"}; !slices.Equal(events, want) {
		t.Errorf("recipient's events = %q, want %q", events, want)
	}
	select {
	case f := <-frames:
		if f.event != "ping" {
			t.Errorf("unexpected event %s %s after the three", f.event, f.data)
		}
	default:
	}

	// Each outcome is counted.
	m := scrape(t, n.srv.MetricsHandler())
	for result, want := range map[string]float64{"allow": 1, "reject": 2, "replace": 2, "failed_closed": 8, "failed_open": 0} {
		if got, _ := sum(m, "parley_hook_before_send_total", `result="`+result+`"`); got != want {
			t.Errorf("parley_hook_before_send_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	p.requests(t) // every request signed
}

// TestBeforeSendHookFailOpen: with PARLEY_HOOK_FAIL_OPEN=true a hook that
// times out, fails or answers garbage lets the message through as sent.
func TestBeforeSendHookFailOpen(t *testing.T) {
	t.Parallel()
	p := newHookPlatform(t)
	n := startHookServer(t, p, true, nil)
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	var sent []string
	for _, text := range []string{"slow one", "broken one", "garbage one", "toolong one"} {
		r := n.send(t, t1, "2", map[string]any{"type": "text", "text": text})
		mustStatus(t, r, http.StatusCreated)
		wantString(t, "text", obj(t, r.obj, "entry")["text"], text)
		sent = append(sent, text)
	}
	// An edit whose screening fails is applied as sent too; a rejection
	// still refuses.
	id := n.sendText(t, t1, "2", "plain")["id"].(string)
	r := n.post(t, t1, "/api/user/2/"+id, map[string]any{"text": "slow edit"})
	mustStatus(t, r, http.StatusOK)
	wantString(t, "text", obj(t, r.obj, "entry")["text"], "slow edit")
	refusedUntouched(t, n, http.StatusForbidden, "MESSAGE_REJECTED", func() reply {
		return n.send(t, t1, "2", map[string]any{"type": "text", "text": "reject me"})
	})
	if got, want := historyTexts(t, n, t2, "1"), append(sent, "slow edit"); !slices.Equal(got, want) {
		t.Errorf("history = %q, want %q", got, want)
	}
	m := scrape(t, n.srv.MetricsHandler())
	for result, want := range map[string]float64{"failed_open": 5, "failed_closed": 0, "allow": 1, "reject": 1} {
		if got, _ := sum(m, "parley_hook_before_send_total", `result="`+result+`"`); got != want {
			t.Errorf("parley_hook_before_send_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	if got := len(p.requests(t)); got != 7 {
		t.Errorf("hook asked %d times, want 7", got)
	}
}

// TestBeforeSendHookImage: an image message is screened too (its URL, no
// text); a replacement for it is unusable.
func TestBeforeSendHookImage(t *testing.T) {
	t.Parallel()
	p := newHookPlatform(t)
	n := startHookServer(t, p, false, nil)
	t1 := n.tok(t, 1, nil)
	r := n.send(t, t1, "2", map[string]any{"type": "image", "image": "https://cdn.example/cat.png"})
	mustStatus(t, r, http.StatusCreated)
	asked := p.requests(t)
	if len(asked) != 1 || asked[0].MessageType != "image" || asked[0].Image != "https://cdn.example/cat.png" || asked[0].Text != "" {
		t.Errorf("hook asked %+v, want one image screening", asked)
	}
}

// TestBeforeSendHookNotConfigured: without PARLEY_HOOK_BEFORE_SEND_URL
// nothing is screened (a text the fake platform would reject is stored).
func TestBeforeSendHookNotConfigured(t *testing.T) {
	t.Parallel()
	n := startServer(t, nil)
	n.sendText(t, n.tok(t, 1, nil), "2", "please reject me")
}
