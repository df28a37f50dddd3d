package chat

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Screener is the before-send moderation hook: Send and Edit ask it about
// every new text or image and every text edit, after validating the input
// and before writing anything, so no transport can bypass it. It answers a
// Verdict; an error refuses the write (Unavailable, ErrModerationUnavailable,
// unless it is an *Error or a cancellation). Whether a hook that fails
// allows or refuses is the Screener's own policy (webhook.Hook:
// PARLEY_HOOK_FAIL_OPEN). webhook.Hook implements it.
type Screener interface {
	Screen(ctx context.Context, s Screening) (Verdict, error)
}

// Screening events.
const (
	ScreenNew  = "message.new"
	ScreenEdit = "message.edit"
)

// Screening is what a Screener is asked about: a message about to be
// stored, or a text edit about to be applied.
type Screening struct {
	Event        string // ScreenNew or ScreenEdit
	Domain       Domain
	From, To     UserID // the author and the recipient
	Conversation string // Conversation.Key()
	MessageID    string // the edited message (ScreenEdit only)
	Content             // the would-be content (an edit: type text)
	ClientID     string // the send's client_id, when it has one
	// MaxText is the longest text (in characters) a replacement may have:
	// the same limit a client's text has (PARLEY_MAX_TEXT).
	MaxText int
}

// Action is what a Screener decided.
type Action uint8

// Actions; the zero value allows.
const (
	Allow   Action = iota // store the message as sent
	Reject                // refuse it (Rejected, Verdict.Reason)
	Replace               // store Verdict.Text instead of the text sent
)

// Verdict is a Screener's answer.
type Verdict struct {
	Action Action
	Reason string // Reject: shown to the sender; empty = a generic message
	Text   string // Replace: the text to store
}

// ErrModerationUnavailable is the cause of the Unavailable error of a
// write refused because the moderation hook failed (fail-closed); the
// transports give it its own code (MODERATION_UNAVAILABLE).
var ErrModerationUnavailable = errors.New("moderation hook unavailable")

// MaxRejectReason bounds the reason of a rejection shown to the sender, in
// characters; a longer one is cut.
const MaxRejectReason = 500

// CheckReplacement reports why text cannot replace the screened content, or
// nil: it must be valid UTF-8, not blank and at most MaxText characters,
// the rules a client's text obeys, and only a text has text to replace.
func (s Screening) CheckReplacement(text string) error {
	const op = "chat.Screen"
	if s.Type != TypeText {
		return E(op, Invalid, "only a text message's text can be replaced", nil)
	}
	return validateText(op, text, Limits{MaxText: s.MaxText})
}

// SetScreener makes Send and Edit ask sc about every new message and text
// edit (nil: nobody is asked); call it before s is used.
func (s *Store) SetScreener(sc Screener) { s.screener = sc }

// screen asks the screener about in and returns the content to store: in's
// own, or its replacement. A rejection is Rejected; a failed screener or an
// unusable replacement is Unavailable (ErrModerationUnavailable).
func (s *Store) screen(ctx context.Context, op string, in Screening) (Content, error) {
	in.MaxText = s.limits.MaxText
	v, err := s.screener.Screen(ctx, in)
	if err != nil {
		var e *Error
		switch {
		case errors.As(err, &e):
			return in.Content, err
		case ctx.Err() != nil:
			return in.Content, E(op, Canceled, "request canceled", err)
		}
		return in.Content, moderationUnavailable(op, err)
	}
	switch v.Action {
	case Allow:
		return in.Content, nil
	case Reject:
		return in.Content, E(op, Rejected, rejectReason(v.Reason), nil)
	case Replace:
		if err := in.CheckReplacement(v.Text); err != nil {
			return in.Content, moderationUnavailable(op, err)
		}
		out := in.Content
		out.Text = v.Text
		return out, nil
	}
	return in.Content, moderationUnavailable(op, fmt.Errorf("unknown action %d", v.Action))
}

func moderationUnavailable(op string, cause error) error {
	return &Error{Op: op, Kind: Unavailable, Msg: "the moderation service is unavailable; try again later",
		Err: fmt.Errorf("%w: %w", ErrModerationUnavailable, cause)}
}

// rejectReason is what a rejected sender reads: the screener's reason, made
// valid UTF-8 and cut to MaxRejectReason characters, or a generic message.
func rejectReason(r string) string {
	if !utf8.ValidString(r) {
		r = string([]rune(r)) // invalid bytes become U+FFFD
	}
	if blank(r) {
		return "the message was rejected by moderation"
	}
	if rs := []rune(r); len(rs) > MaxRejectReason {
		r = string(rs[:MaxRejectReason])
	}
	return r
}
