package chat

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

var (
	//go:embed events.lua
	eventsLua string
	//go:embed send.lua
	sendLua string
	//go:embed replace.lua
	replaceLua string
	//go:embed delete.lua
	deleteLua string
	//go:embed page.lua
	pageLua string
	//go:embed read.lua
	readLua string
)

// casRetries bounds how often an edit or delete re-reads a message that
// changed between its read and its write before giving up with Conflict.
const casRetries = 5

// Store keeps direct messages in Redis. Every method is safe for concurrent
// use; every multi-key write is one atomic script.
type Store struct {
	rdb    redis.UniversalClient
	keys   Keys
	limits Limits
	now    func() time.Time
	newID  func() (string, error)

	send, replace, del, page, read *redis.Script
}

// NewStore returns a Store on rdb. now is the clock for message times.
func NewStore(rdb redis.UniversalClient, keys Keys, limits Limits, now func() time.Time) *Store {
	return &Store{
		rdb: rdb, keys: keys, limits: limits.withDefaults(), now: now,
		newID: func() (string, error) {
			id, err := uuid.NewV7()
			return id.String(), err
		},
		send:    redis.NewScript(eventsLua + guardLua + sendLua),
		replace: redis.NewScript(eventsLua + guardLua + replaceLua),
		del:     redis.NewScript(eventsLua + guardLua + deleteLua),
		page:    redis.NewScript(pageLua),
		read:    redis.NewScript(eventsLua + guardLua + readLua),
	}
}

// Keys returns the keyspace the store writes.
func (s *Store) Keys() Keys { return s.keys }

// SendRequest is a new message from From to To.
type SendRequest struct {
	Domain   Domain
	From, To UserID
	Content
	// ClientID, when set, makes the send idempotent: a retry with the same
	// ClientID within the window returns the first message (Replayed) and
	// changes nothing; one with different content is a Conflict.
	ClientID string
}

// MaxClientID bounds a client id's length.
const MaxClientID = 64

// Send validates and stores a message and updates both inboxes in one atomic
// script, which also refuses it when either user blocked the other
// (Forbidden) or the sender's send budget is spent (RateLimited), and
// recognises a retry (see SendRequest.ClientID). Errors: Invalid for bad
// content or a message to oneself, Unavailable when Redis is down (then
// nothing was written, or the whole message was).
func (s *Store) Send(ctx context.Context, r SendRequest) (Message, Conversation, error) {
	const op = "chat.Send"
	conv, err := NewConversation(r.Domain, r.From, r.To)
	if err != nil {
		return Message{}, conv, err
	}
	c, err := r.Content.validate(op, s.limits)
	if err != nil {
		return Message{}, conv, err
	}
	fp := ""
	if r.ClientID != "" {
		if err := validateClientID(op, r.ClientID); err != nil {
			return Message{}, conv, err
		}
		fp = fingerprint(r.To, c)
	}
	id, err := s.newID()
	if err != nil {
		return Message{}, conv, errorf(op, "message id: %w", err)
	}
	m := Message{ID: id, Author: r.From, Epoch: s.now().UnixMilli(), Type: c.Type, Text: c.Text, Image: c.Image}
	d, a, b := r.Domain, r.From, r.To
	keys := append([]string{s.keys.DM(conv), s.keys.Messages(conv), s.keys.Seq(conv),
		s.keys.Inbox(d, a), s.keys.Inbox(d, b)}, s.eventKeys(d, a, b)...)
	keys = append(keys, s.keys.TimeIndex(conv), s.keys.Blocks(d, a), s.keys.Blocks(d, b),
		s.keys.Read(d, a), s.keys.Unread(d, a), s.keys.Unread(d, b), s.keys.SendBucket(d, a), s.keys.ClientID(d, a, r.ClientID))
	args := append([]any{m.ID, m.encode(), m.Epoch, InboxMember(b), InboxMember(a)}, s.eventArgs(a, b)...)
	args = append(args, s.limits.SendRate, s.limits.SendBurst, fp, s.limits.ClientIDWindow.Milliseconds())
	reply, err := s.runGuarded(ctx, op, msgSendRate, s.send, keys, args...)
	if err != nil {
		return Message{}, conv, err
	}
	res, _ := reply.([]any)
	if len(res) == 2 {
		switch status, _ := res[0].(string); status {
		case "ok":
			m.Seq, _ = res[1].(int64)
			return m, conv, nil
		case "dup":
			rec, _ := res[1].(string)
			m, err := replayed(op, rec, fp)
			return m, conv, err
		}
	}
	return Message{}, conv, errorf(op, "unexpected send reply %v", reply)
}

// replayed answers a retry from the first send's record, or Conflict when
// the retry is not the same request.
func replayed(op, rec, fp string) (Message, error) {
	recFP, rest, ok1 := strings.Cut(rec, "\n")
	seq, raw, ok2 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 {
		return Message{}, errorf(op, "bad client id record %q", rec)
	}
	if recFP != fp {
		return Message{}, E(op, Conflict, `"client_id" was already used for a different message`, nil)
	}
	m, err := DecodeMessage(raw)
	if err != nil {
		return Message{}, err
	}
	m.Seq, _ = strconv.ParseInt(seq, 10, 64)
	m.Replayed = true
	return m, nil
}

// validateClientID accepts 1-64 printable ASCII characters without spaces.
func validateClientID(op, cid string) error {
	if len(cid) > MaxClientID {
		return E(op, Invalid, `"client_id" is longer than 64 characters`, nil)
	}
	for i := 0; i < len(cid); i++ {
		if cid[i] <= ' ' || cid[i] > '~' {
			return E(op, Invalid, `"client_id" may only hold printable ASCII characters without spaces`, nil)
		}
	}
	return nil
}

// fingerprint identifies what a send asks for, so a retry can be told from
// a different message reusing the client id.
func fingerprint(to UserID, c Content) string {
	h := sha256.New()
	for _, p := range []string{string(to), c.Type, c.Text, c.Image} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// HistoryPage is one page of a conversation.
type HistoryPage struct {
	Total    int64
	Messages []Message // oldest first within the page
	// Older and Newer report whether messages exist before the first and
	// after the last of Messages; both are false for an empty page.
	Older, Newer bool
}

// History returns page p of conv: page 1 holds the newest messages, each page
// is in chronological order, with "seen" as both read horizons say. It
// costs O(log N + page size) in one round trip. A page past the
// end, or an empty conversation, is an empty page with the right total.
func (s *Store) History(ctx context.Context, conv Conversation, p Page) (HistoryPage, error) {
	return s.readDM(ctx, "chat.History", conv, "page", p.Start(), p.Stop())
}

// EditRequest changes a message: Text (author only) and/or Seen (recipient
// only).
type EditRequest struct {
	Domain       Domain
	Caller, Peer UserID
	MessageID    string
	Text         *string
	Seen         bool
}

// Edit applies r atomically and returns the updated message; the id and the
// position in the conversation never change. Errors: Invalid (nothing to
// change, bad text, editing an image's text), NotFound (no such message in
// this conversation), Forbidden (editing another's text, marking one's own
// message seen, or either user blocked the other), RateLimited (the
// caller's write budget is spent), Conflict (the message kept changing
// underneath).
func (s *Store) Edit(ctx context.Context, r EditRequest) (Message, Conversation, error) {
	const op = "chat.Edit"
	conv, err := NewConversation(r.Domain, r.Caller, r.Peer)
	if err != nil {
		return Message{}, conv, err
	}
	if r.Text == nil && !r.Seen {
		return Message{}, conv, E(op, Invalid, `nothing to change: send "text" and/or "status":"seen"`, nil)
	}
	if r.Text != nil {
		if err := validateText(op, *r.Text, s.limits); err != nil {
			return Message{}, conv, err
		}
	}
	var out Message
	err = s.casMessage(ctx, op, conv, r.MessageID, func(m Message) (Message, error) {
		if r.Text != nil {
			if m.Author != r.Caller {
				return m, E(op, Forbidden, "only the author can edit a message", nil)
			}
			if m.Type != TypeText {
				return m, E(op, Invalid, "only text messages can be edited", nil)
			}
			m.Text, m.Edited = *r.Text, s.now().UnixMilli()
		}
		if r.Seen {
			if m.Author == r.Caller {
				return m, E(op, Forbidden, "only the recipient can mark a message seen", nil)
			}
			if m.Seen == 0 {
				m.Seen = s.now().UnixMilli()
			}
		}
		out = m
		return m, nil
	}, func(old, updated string) (int64, error) {
		if r.Seen { // the status and the read horizon move together
			n, _, err := s.runRead(ctx, op, conv, r.Caller, r.MessageID, old, updated)
			return min(n, 1), err // 2 (the horizon moved) is done too
		}
		d, a, b := r.Domain, r.Caller, r.Peer
		keys := append([]string{s.keys.Messages(conv)}, s.eventKeys(d, a, b)...)
		keys = append(keys, s.guardKeys(d, a, b, s.keys.WriteBucket(d, a))...)
		args := append([]any{r.MessageID, old, updated}, s.eventArgs(a, b, s.now().UnixMilli())...)
		res, err := s.runGuarded(ctx, op, msgWriteRate, s.replace, keys, append(args, s.writeBudget()...)...)
		if err != nil {
			return 0, err
		}
		return replyInt(op, res)
	})
	return out, conv, err
}

// DeleteRequest removes one message.
type DeleteRequest struct {
	Domain       Domain
	Caller, Peer UserID
	MessageID    string
	// Moderator lets Caller delete a message of the conversation between
	// Author and Peer whoever wrote it: the platform's admins, in their own
	// domain. Empty for a user deleting their own message.
	Moderator bool
}

// Delete removes the caller's own message and repairs both inboxes in one
// atomic script. It returns the deleted message. A delete reaches the peer
// (their history changes, they get message:delete), so it is refused while
// either user blocks the other, and spends from the caller's write budget.
// With r.Moderator it removes any message of the DM between r.Caller and
// r.Peer, authorship, blocks and budgets unchecked. Errors: NotFound,
// Forbidden (not the author, or a block), RateLimited, Conflict.
func (s *Store) Delete(ctx context.Context, r DeleteRequest) (Message, Conversation, error) {
	const op = "chat.Delete"
	conv, err := NewConversation(r.Domain, r.Caller, r.Peer)
	if err != nil {
		return Message{}, conv, err
	}
	var out Message
	err = s.casMessage(ctx, op, conv, r.MessageID, func(m Message) (Message, error) {
		if m.Author != r.Caller && !r.Moderator {
			return m, E(op, Forbidden, "only the author can delete a message", nil)
		}
		out = m
		return m, nil
	}, func(old, _ string) (int64, error) {
		// The script's A is the author, B the recipient whose unread count
		// the message may be in.
		d, a := r.Domain, out.Author
		b := conv.Peer(a)
		keys := append([]string{s.keys.DM(conv), s.keys.Messages(conv), s.keys.Inbox(d, a), s.keys.Inbox(d, b)},
			s.eventKeys(d, a, b)...)
		keys = append(keys, s.keys.TimeIndex(conv), s.keys.Read(d, b), s.keys.Unread(d, b))
		keys = append(keys, s.guardKeys(d, a, b, s.keys.WriteBucket(d, a))...)
		args := append([]any{r.MessageID, old, InboxMember(b), InboxMember(a)}, s.eventArgs(a, b, s.now().UnixMilli())...)
		guarded := "1"
		if r.Moderator {
			guarded = ""
		}
		args = append(append(args, guarded), s.writeBudget()...)
		res, err := s.runGuarded(ctx, op, msgWriteRate, s.del, keys, args...)
		if err != nil {
			return 0, err
		}
		return replyInt(op, res)
	})
	return out, conv, err
}

// eventKeys are the event counter and log of a, then of b.
func (s *Store) eventKeys(d Domain, a, b UserID) []string {
	return []string{s.keys.EventSeq(d, a), s.keys.EventLog(d, a), s.keys.EventSeq(d, b), s.keys.EventLog(d, b)}
}

// eventArgs are the script arguments every event append needs: the peer of
// each party as that party sees it, the event time when the script has no
// other (ts), and the retention bounds.
func (s *Store) eventArgs(a, b UserID, ts ...int64) []any {
	args := []any{string(b), string(a)}
	for _, t := range ts {
		args = append(args, t)
	}
	return append(args, s.limits.EventLogMax, s.limits.EventLogAge.Milliseconds())
}

// casMessage reads a message, lets decide check and change it, and hands the
// old and new JSON to write, a compare-and-set script returning 1 (done),
// 0 (gone) or -1 (changed: read again), or the error (a *Error) that
// refused the write.
func (s *Store) casMessage(ctx context.Context, op string, conv Conversation, id string,
	decide func(Message) (Message, error), write func(old, updated string) (int64, error)) error {
	if !validMessageID(id) {
		return E(op, NotFound, "Message not found", nil)
	}
	for range casRetries {
		raw, err := s.rdb.HGet(ctx, s.keys.Messages(conv), id).Result()
		if err == redis.Nil {
			return E(op, NotFound, "Message not found", nil)
		}
		if err != nil {
			return StoreError(op, err)
		}
		m, err := DecodeMessage(raw)
		if err != nil {
			return err
		}
		updated, err := decide(m)
		if err != nil {
			return err
		}
		n, err := write(raw, updated.encode())
		if err != nil {
			return err
		}
		switch n {
		case 1:
			return nil
		case 0:
			return E(op, NotFound, "Message not found", nil)
		}
	}
	return E(op, Conflict, "the message changed while it was being updated; try again", nil)
}

// validMessageID reports whether id can be a message id (a canonical UUID),
// so nothing else reaches Redis.
func validMessageID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}
