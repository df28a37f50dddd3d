package test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"parley/internal/testutil"
	"parley/webhook"
)

// platform is a real HTTP receiver standing for the platform: it verifies
// every request's signature and keeps the webhooks it accepted, by id.
type platform struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server
	mu     sync.Mutex
	got    map[string][]map[string]any // id -> every accepted delivery's body
	tries  map[string]int              // id -> attempts seen
	bad    int                         // requests whose signature failed
	// answer decides the status of the attempt-th request (1-based) of id;
	// nil answers 200.
	answer func(id string, attempt int) int
}

func newPlatform(t *testing.T, secret string) *platform {
	p := &platform{t: t, secret: []byte(secret), got: map[string][]map[string]any{}, tries: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(webhook.EventIDHeader)
		if err := webhook.Verify(p.secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil ||
			r.Header.Get("Content-Type") != "application/json" {
			p.mu.Lock()
			p.bad++
			p.mu.Unlock()
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		p.tries[id]++
		n := p.tries[id]
		answer := p.answer
		p.mu.Unlock()
		status := http.StatusOK
		if answer != nil {
			status = answer(id, n)
		}
		if err := loadContract(t).validateJSON("WebhookPayload", body); err != nil {
			t.Errorf("webhook violates api/openapi.yaml WebhookPayload: %v\nbody: %s", err, body)
		}
		if status/100 == 2 {
			var m map[string]any
			d := json.NewDecoder(bytes.NewReader(body))
			d.UseNumber()
			if err := d.Decode(&m); err != nil {
				t.Errorf("webhook body %q: %v", body, err)
			}
			if m["id"] != id {
				t.Errorf("webhook body id %v, header %s", m["id"], id)
			}
			p.mu.Lock()
			p.got[id] = append(p.got[id], m)
			p.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// env is what points a node's webhooks at p.
func (p *platform) env(extra map[string]string) map[string]string {
	m := map[string]string{"PARLEY_WEBHOOK_URL": p.srv.URL + "/hooks", "PARLEY_WEBHOOK_SECRET": string(p.secret)}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// to returns the accepted webhooks addressed to user, deduplicated by id.
func (p *platform) to(user string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, ds := range p.got {
		if ds[0]["to"] == user {
			out = append(out, ds[0])
		}
	}
	return out
}

// waitFor waits until n distinct webhooks to user arrived.
func (p *platform) waitFor(user string, n int, within time.Duration) []map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := p.to(user)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d webhooks to %s after %v, want %d", len(got), user, within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// queued is node n's count of webhooks queued so far.
func queued(t *testing.T, n *node) float64 {
	t.Helper()
	v, ok := sum(scrape(t, n.srv.MetricsHandler()), "parley_webhooks_queued_total")
	if !ok {
		t.Fatal("no parley_webhooks_queued_total series")
	}
	return v
}

// TestWebhookOfflineRecipients: message.new goes to the platform only for
// a recipient with no live connection on any node. User 2 online over
// Socket.IO on the other node, then over SSE: no webhook queued; once
// gone, the next message makes one, signed, with the documented body.
func TestWebhookOfflineRecipients(t *testing.T) {
	t.Parallel()
	secret := randomHex(t, 16)
	p := newPlatform(t, secret)
	nodes := cluster(t, 2, p.env(nil))
	n1, n2 := nodes[0], nodes[1]
	t1, t2 := n1.tok(t, 1, nil), n1.tok(t, 2, nil)

	sock := dial(t, n2, t2)
	waitOnline(t, n1, t1, "2", true)
	n1.sendText(t, t1, "2", "while on a socket")
	if q := queued(t, n1); q != 0 {
		t.Fatalf("%v webhooks queued for a recipient with a live socket on another node, want 0", q)
	}
	_ = sock.Close()
	waitOnline(t, n1, t1, "2", false)

	frames, stopSSE, _ := sseStream(t, n2, "token="+t2, nil)
	if f := nextFrame(t, frames, true); f.event != "ready" {
		t.Fatalf("first SSE frame %q, want ready", f.event)
	}
	waitOnline(t, n1, t1, "2", true)
	n1.sendText(t, t1, "2", "while on a stream")
	if q := queued(t, n1); q != 0 {
		t.Fatalf("%v webhooks queued for a recipient with a live event stream, want 0", q)
	}
	stopSSE()
	waitOnline(t, n1, t1, "2", false)

	r := n1.send(t, t1, "2", map[string]any{"type": "text", "text": "while away"})
	mustStatus(t, r, http.StatusCreated)
	if q := queued(t, n1); q != 1 {
		t.Fatalf("%v webhooks queued for an offline recipient, want 1", q)
	}
	got := p.waitFor("2", 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("webhooks to 2: %v, want the one for the message sent while away", got)
	}
	w := got[0]
	wantKeys(t, "webhook", w, "id", "type", "domain", "created", "to", "from", "conversation", "message", "unread")
	wantString(t, "type", w["type"], "message.new")
	wantString(t, "from", w["from"], "1")
	wantString(t, "domain", w["domain"], n1.domain)
	entry := obj(t, r.obj, "entry")
	msg := obj(t, w, "message")
	wantString(t, "message.id", msg["id"], entry["id"].(string))
	wantString(t, "message.text", msg["text"], "while away")
	wantString(t, "conversation", w["conversation"], obj(t, r.obj, "state")["key"].(string))
	wantNumber(t, "unread (three messages, none read)", w["unread"], "3")
	wantTimestamp(t, "created", w["created"])
	if _, ok := w["online"]; ok {
		t.Error("online in an offline-only webhook")
	}
	// The sender is not told of their own message.
	if got := p.to("1"); len(got) != 0 {
		t.Errorf("webhooks to the sender: %v", got)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad != 0 {
		t.Errorf("%d webhook requests with a bad signature", p.bad)
	}
}

// TestWebhookEveryEvent: with PARLEY_WEBHOOK_OFFLINE_ONLY=false and every
// event type on, an edit, a read receipt and a delete each reach the other
// party, with "online"; retried deliveries (two 500s each) arrive once
// after deduplication.
func TestWebhookEveryEvent(t *testing.T) {
	t.Parallel()
	p := newPlatform(t, randomHex(t, 16))
	p.answer = func(_ string, attempt int) int {
		if attempt <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	}
	n := startServer(t, p.env(map[string]string{"PARLEY_WEBHOOK_OFFLINE_ONLY": "false",
		"PARLEY_WEBHOOK_EVENTS": "message.new,message.edit,message.delete,message.read"}))
	t1, t2 := n.tok(t, 1, nil), n.tok(t, 2, nil)
	id := n.sendText(t, t1, "2", "hello")["id"].(string)
	mustStatus(t, n.do(t, call{method: "POST", path: "/api/user/2/" + id, token: t1, body: map[string]any{"text": "hello!"}}), http.StatusOK)
	mustStatus(t, n.do(t, call{method: "POST", path: "/api/user/1/read", token: t2, body: map[string]any{"upTo": id}}), http.StatusOK)
	mustStatus(t, n.do(t, call{method: "DELETE", path: "/api/user/2/" + id, token: t1}), http.StatusOK)

	to2 := p.waitFor("2", 3, 30*time.Second)
	to1 := p.waitFor("1", 1, 30*time.Second)
	types := map[string]int{}
	for _, w := range append(to2, to1...) {
		types[w["to"].(string)+":"+w["type"].(string)]++
		if on, ok := w["online"].(bool); !ok || on {
			t.Errorf("webhook %v: online %v, want false present", w["type"], w["online"])
		}
	}
	want := map[string]int{"2:message.new": 1, "2:message.edit": 1, "2:message.delete": 1, "1:message.read": 1}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("webhooks %v, want %v", types, want)
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, n := range p.tries {
		if n != 3 || len(p.got[id]) != 1 {
			t.Errorf("webhook %s: %d attempts, %d accepted; want 3 and 1", id, n, len(p.got[id]))
		}
	}
}

// TestWebhookNodeKilled: a node is SIGKILLed with webhooks in flight (the
// platform holds their requests); another node reclaims and delivers every
// one: 0 lost.
func TestWebhookNodeKilled(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	secret := randomHex(t, 32)
	p := newPlatform(t, randomHex(t, 16))
	var killed sync.WaitGroup
	killed.Add(1)
	var holdOnce sync.Once
	held := make(chan struct{})
	p.answer = func(_ string, attempt int) int {
		if attempt == 1 { // the first node's requests hang until it dies
			holdOnce.Do(func() { close(held) })
			killed.Wait()
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	}
	env := append(testutil.RedisEnvList(t), "PARLEY_KEY_PREFIX="+testutil.Prefix(t),
		"PARLEY_DEFAULT_DOMAIN="+testutil.Domain(t), "PARLEY_JWT_SECRET="+secret, "PARLEY_SEND_RATE=0",
		"PARLEY_WEBHOOK_URL="+p.srv.URL, "PARLEY_WEBHOOK_SECRET="+string(p.secret), "PARLEY_WEBHOOK_TIMEOUT=1s")
	a, cmdA, exitedA, _ := startBinary(t, bin, env...)
	a.secret = secret
	t1 := a.tok(t, 1, nil)
	const users = 20
	for i := range users {
		a.sendText(t, t1, "u"+string(rune('a'+i)), "ping")
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook request reached the platform from node A")
	}
	if err := cmdA.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exitedA
	killed.Done()
	startBinary(t, bin, env...)
	for i := range users {
		p.waitFor("u"+string(rune('a'+i)), 1, 30*time.Second)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.got) != users {
		t.Errorf("%d webhooks accepted, want %d (one per recipient)", len(p.got), users)
	}
	for id, ds := range p.got {
		if len(ds) != 1 {
			t.Errorf("webhook %s accepted %d times", id, len(ds))
		}
	}
	t.Logf("node SIGKILL with %d webhooks queued or in flight: the other node delivered all %d, 0 lost", users, len(p.got))
}

// TestRejectedSendQueuesNoWebhook: a send the before-send hook rejects
// queues no webhook for its (offline) recipient; the next, allowed, one
// does, and it is the only one the platform gets.
func TestRejectedSendQueuesNoWebhook(t *testing.T) {
	t.Parallel()
	hook := newHookPlatform(t)
	p := newPlatform(t, string(hook.secret))
	n := startHookServer(t, hook, false, p.env(nil))
	t1 := n.tok(t, 1, nil)
	wantError(t, n.send(t, t1, "2", map[string]any{"type": "text", "text": "please reject me"}), http.StatusForbidden, "MESSAGE_REJECTED")
	if q := queued(t, n); q != 0 {
		t.Fatalf("%v webhooks queued after a rejected send, want 0", q)
	}
	n.sendText(t, t1, "2", "fine")
	if q := queued(t, n); q != 1 {
		t.Fatalf("%v webhooks queued after an allowed send, want 1", q)
	}
	got := p.waitFor("2", 1, 10*time.Second)
	if msg := obj(t, got[0], "message"); msg["text"] != "fine" {
		t.Errorf("webhook for %v, want the allowed message", msg["text"])
	}
}
