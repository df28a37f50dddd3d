package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"parley/chat"
)

// MaxAnswer bounds the body of a before-send hook's answer; a longer one
// is a failed hook.
const MaxAnswer = 64 << 10

// DefaultHookTimeout is a Hook's timeout when NewHook is given none.
const DefaultHookTimeout = time.Second

// Result is the outcome of one screening, as counted in metrics.
type Result string

// Results of Hook.Screen.
const (
	ResultAllow        Result = "allow"         // the platform allowed the message
	ResultReject       Result = "reject"        // the platform rejected it
	ResultReplace      Result = "replace"       // the platform replaced its text
	ResultFailedOpen   Result = "failed_open"   // the hook failed and the message was allowed (fail-open)
	ResultFailedClosed Result = "failed_closed" // the hook failed and the message was refused (fail-closed)
)

// Results lists every Result, for metrics that export them at zero.
func Results() []Result {
	return []Result{ResultAllow, ResultReject, ResultReplace, ResultFailedOpen, ResultFailedClosed}
}

// HookRequest is the body Parley POSTs to the before-send hook
// (PARLEY_HOOK_BEFORE_SEND_URL), signed in SignatureHeader. User ids are
// always strings here, whatever PARLEY_NUMERIC_IDS says.
type HookRequest struct {
	Type         string `json:"type"` // chat.ScreenNew ("message.new") or chat.ScreenEdit ("message.edit")
	Domain       string `json:"domain"`
	From         string `json:"from"` // the author
	To           string `json:"to"`   // the recipient
	Conversation string `json:"conversation"`
	MessageID    string `json:"message_id,omitempty"` // message.edit only
	MessageType  string `json:"message_type"`         // "text" or "image"
	Text         string `json:"text,omitempty"`
	Image        string `json:"image,omitempty"`
	ClientID     string `json:"client_id,omitempty"` // message.new with a client_id only
	MaxText      int    `json:"max_text"`            // the longest replacement text allowed, in characters
}

// HookAnswer is the body the before-send hook answers with (2xx):
// {"action":"allow"}, {"action":"reject","reason":"..."} or
// {"action":"replace","text":"..."}.
type HookAnswer struct {
	Action string  `json:"action"`
	Reason string  `json:"reason,omitempty"`
	Text   *string `json:"text,omitempty"`
}

// Hook is the before-send moderation hook's client: it implements
// chat.Screener by POSTing each screening to the platform.
type Hook struct {
	url      string
	secret   []byte
	timeout  time.Duration
	failOpen bool
	client   *http.Client
	log      *slog.Logger
	observe  func(Result)
	now      func() time.Time
}

var _ chat.Screener = (*Hook)(nil)

// HookOption adjusts a Hook.
type HookOption func(*Hook)

// WithLogger logs the hook's failures to log (default: discarded).
func WithLogger(log *slog.Logger) HookOption { return func(h *Hook) { h.log = log } }

// WithObserver has observe told every screening's Result (metrics).
func WithObserver(observe func(Result)) HookOption { return func(h *Hook) { h.observe = observe } }

// NewHook returns the hook at url, signing with secret. Each request may
// take timeout (<= 0: DefaultHookTimeout). failOpen says what a failed hook
// (a timeout, a network error, a non-2xx status, an answer that is not
// one of the three, too long, or a replacement a client could not send)
// means: true allows the message as sent, false refuses it. client nil is
// a client of the hook's own that follows no redirects.
func NewHook(url string, secret []byte, timeout time.Duration, failOpen bool, client *http.Client, opts ...HookOption) *Hook {
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	if client == nil {
		// Every send waits on this one host: keep enough connections to it
		// open (the default transport keeps 2).
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 100
		client = &http.Client{Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	h := &Hook{url: url, secret: secret, timeout: timeout, failOpen: failOpen, client: client,
		log: slog.New(slog.DiscardHandler), observe: func(Result) {}, now: time.Now}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Screen asks the platform about s. A failed hook allows (failOpen) or
// returns an error that refuses the write; a caller that went away gets its
// context's error, counted as neither.
func (h *Hook) Screen(ctx context.Context, s chat.Screening) (chat.Verdict, error) {
	v, err := h.ask(ctx, s)
	if err == nil {
		h.observe(map[chat.Action]Result{chat.Allow: ResultAllow, chat.Reject: ResultReject, chat.Replace: ResultReplace}[v.Action])
		return v, nil
	}
	if ctx.Err() != nil {
		return chat.Verdict{}, ctx.Err()
	}
	attrs := []any{"event", s.Event, "domain", string(s.Domain), "from", string(s.From), "to", string(s.To), "err", err}
	if h.failOpen {
		h.observe(ResultFailedOpen)
		h.log.WarnContext(ctx, "before-send hook failed; message allowed (PARLEY_HOOK_FAIL_OPEN=true)", attrs...)
		return chat.Verdict{Action: chat.Allow}, nil
	}
	h.observe(ResultFailedClosed)
	h.log.ErrorContext(ctx, "before-send hook failed; message refused (PARLEY_HOOK_FAIL_OPEN=false)", attrs...)
	return chat.Verdict{}, fmt.Errorf("before-send hook: %w", err)
}

// ask makes one request and parses its answer; any failure is an error.
func (h *Hook) ask(ctx context.Context, s chat.Screening) (chat.Verdict, error) {
	body, err := json.Marshal(HookRequest{Type: s.Event, Domain: string(s.Domain), From: string(s.From), To: string(s.To),
		Conversation: s.Conversation, MessageID: s.MessageID, MessageType: s.Type, Text: s.Text, Image: s.Image,
		ClientID: s.ClientID, MaxText: s.MaxText})
	if err != nil {
		return chat.Verdict{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return chat.Verdict{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Parley")
	req.Header.Set(SignatureHeader, Sign(h.secret, h.now(), body))
	resp, err := h.client.Do(req)
	if err != nil {
		return chat.Verdict{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return chat.Verdict{}, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return chat.Verdict{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	if len(raw) > MaxAnswer {
		return chat.Verdict{}, fmt.Errorf("answer longer than %d bytes", MaxAnswer)
	}
	return parseAnswer(raw, s)
}

// parseAnswer reads a 2xx answer's body.
func parseAnswer(raw []byte, s chat.Screening) (chat.Verdict, error) {
	var a HookAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return chat.Verdict{}, fmt.Errorf("answer is not a JSON object: %w", err)
	}
	switch a.Action {
	case "allow":
		return chat.Verdict{Action: chat.Allow}, nil
	case "reject":
		return chat.Verdict{Action: chat.Reject, Reason: a.Reason}, nil
	case "replace":
		if a.Text == nil {
			return chat.Verdict{}, errors.New(`"replace" answer without "text"`)
		}
		if err := s.CheckReplacement(*a.Text); err != nil {
			return chat.Verdict{}, fmt.Errorf("replacement refused: %s", chat.MessageOf(err))
		}
		return chat.Verdict{Action: chat.Replace, Text: *a.Text}, nil
	}
	return chat.Verdict{}, fmt.Errorf("unknown action %q", a.Action)
}
