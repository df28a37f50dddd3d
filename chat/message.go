package chat

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Message types.
const (
	TypeText  = "text"
	TypeImage = "image"
)

// MaxImageURL bounds image URLs.
const MaxImageURL = 2048

// Message is one direct message as stored in Redis (JSON in the
// conversation's hash). Times are Unix milliseconds.
type Message struct {
	ID     string `json:"id"`
	Author UserID `json:"author"`
	Epoch  int64  `json:"epoch"`
	Type   string `json:"type"`
	Text   string `json:"text,omitempty"`
	Image  string `json:"image,omitempty"`
	Edited int64  `json:"edited,omitempty"` // last edit, 0 if never
	Seen   int64  `json:"seen,omitempty"`   // when the recipient marked it seen, 0 if not

	// Seq is the message's position in its conversation (its score); it is
	// not part of the stored JSON.
	Seq int64 `json:"-"`
	// Replayed is set by Send when a retry with a known client id returned
	// the original message instead of sending a new one.
	Replayed bool `json:"-"`
}

// DecodeMessage parses a stored message.
func DecodeMessage(raw string) (Message, error) {
	var m Message
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return Message{}, errorf("chat.DecodeMessage", "decode message: %w", err)
	}
	return m, nil
}

func (m Message) encode() string {
	b, _ := json.Marshal(m) // cannot fail: only strings and integers
	return string(b)
}

// Content is what a sender supplies: a text or an image URL.
type Content struct {
	Type  string
	Text  string
	Image string
}

// Limits bound user input and what Parley keeps per user.
type Limits struct {
	MaxText     int           // characters (runes) per text message
	EventLogMax int64         // events kept per user; 0 = DefaultEventLogMax
	EventLogAge time.Duration // how long an event is kept; 0 = DefaultEventLogAge
	SendRate    float64       // sends per second per user; 0 = unlimited
	SendBurst   int           // sends allowed at once before SendRate applies
	// WriteRate and WriteBurst are the budget of every other write toward
	// another user (edit, seen, read, typing, delete): per second, 0 =
	// unlimited, and allowed at once.
	WriteRate  float64
	WriteBurst int
	// ClientIDWindow is how long a send's client id is remembered; 0 =
	// DefaultClientIDWindow.
	ClientIDWindow time.Duration
	// WaitReplicas > 0: every write step WAITs on its primary until that
	// many replicas have it, at most WaitTimeout, or fails with
	// ReplicasError (PARLEY_REDIS_WAIT_REPLICAS, see run).
	WaitReplicas int
	WaitTimeout  time.Duration
	// SingleNode says every key is on one Redis (not a cluster; see
	// SingleNode(rdb)): a send then runs its steps as one script
	// (send_fused.lua), one round trip instead of eight.
	SingleNode bool
}

// DefaultClientIDWindow is how long retries with the same client id are
// recognised by default.
const DefaultClientIDWindow = 24 * time.Hour

// Event log retention defaults.
const (
	DefaultEventLogMax = 1000
	DefaultEventLogAge = 24 * time.Hour
)

func (l Limits) withDefaults() Limits {
	if l.EventLogMax <= 0 {
		l.EventLogMax = DefaultEventLogMax
	}
	if l.EventLogAge <= 0 {
		l.EventLogAge = DefaultEventLogAge
	}
	if l.ClientIDWindow <= 0 {
		l.ClientIDWindow = DefaultClientIDWindow
	}
	if l.SendBurst < 1 {
		l.SendBurst = 1
	}
	if l.WriteBurst < 1 {
		l.WriteBurst = 1
	}
	return l
}

func (c Content) validate(op string, l Limits) (Content, error) {
	switch c.Type {
	case TypeText:
		if c.Image != "" {
			return c, E(op, Invalid, `a text message has no "image"`, nil)
		}
		return c, validateText(op, c.Text, l)
	case TypeImage:
		if c.Text != "" {
			return c, E(op, Invalid, `an image message has no "text"`, nil)
		}
		return c, validateImage(op, c.Image)
	default:
		return c, E(op, Invalid, `"type" must be "text" or "image"`, ErrUnknownType)
	}
}

func validateText(op, s string, l Limits) error {
	switch {
	case !utf8.ValidString(s):
		return E(op, Invalid, `"text" must be valid UTF-8`, nil)
	case blank(s):
		return E(op, Invalid, `"text" must not be blank`, nil)
	case utf8.RuneCountInString(s) > l.MaxText:
		return E(op, Invalid, `"text" is longer than the limit`, nil)
	}
	return nil
}

// blank reports whether s shows nothing: it holds only white space and
// code points that render as nothing (controls such as NUL, format
// characters such as zero-width spaces and joiners, the BOM, bidi controls
// and tag characters, variation selectors and the other default-ignorable
// code points such as the Hangul fillers).
func blank(s string) bool {
	for _, r := range s {
		if !invisible(r) {
			return false
		}
	}
	return true
}

func invisible(r rune) bool {
	return unicode.IsSpace(r) || unicode.In(r, unicode.Cc, unicode.Cf,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

func validateImage(op, s string) error {
	if s == "" || len(s) > MaxImageURL || !utf8.ValidString(s) || strings.ContainsAny(s, " \t\r\n") {
		return E(op, Invalid, `"image" must be an absolute http(s) URL of at most 2048 characters`, nil)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return E(op, Invalid, `"image" must be an absolute http(s) URL of at most 2048 characters`, nil)
	}
	return nil
}
