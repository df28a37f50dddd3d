package chat

import (
	"context"
	_ "embed"
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

	send, replace, del, page *redis.Script
}

// NewStore returns a Store on rdb. now is the clock for message times.
func NewStore(rdb redis.UniversalClient, keys Keys, limits Limits, now func() time.Time) *Store {
	return &Store{
		rdb: rdb, keys: keys, limits: limits.withDefaults(), now: now,
		newID: func() (string, error) {
			id, err := uuid.NewV7()
			return id.String(), err
		},
		send:    redis.NewScript(eventsLua + sendLua),
		replace: redis.NewScript(eventsLua + replaceLua),
		del:     redis.NewScript(eventsLua + deleteLua),
		page:    redis.NewScript(pageLua),
	}
}

// Keys returns the keyspace the store writes.
func (s *Store) Keys() Keys { return s.keys }

// SendRequest is a new message from From to To.
type SendRequest struct {
	Domain   Domain
	From, To UserID
	Content
}

// Send validates and stores a message and updates both inboxes in one atomic
// script. Errors: Invalid for bad content or a message to oneself,
// Unavailable when Redis is down (then nothing was written, or the whole
// message was).
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
	id, err := s.newID()
	if err != nil {
		return Message{}, conv, errorf(op, "message id: %w", err)
	}
	m := Message{ID: id, Author: r.From, Epoch: s.now().UnixMilli(), Type: c.Type, Text: c.Text, Image: c.Image}
	keys := append([]string{s.keys.DM(conv), s.keys.Messages(conv), s.keys.Seq(conv),
		s.keys.Inbox(r.Domain, r.From), s.keys.Inbox(r.Domain, r.To)}, append(s.eventKeys(r.Domain, r.From, r.To), s.keys.TimeIndex(conv))...)
	args := append([]any{m.ID, m.encode(), m.Epoch, InboxMember(r.To), InboxMember(r.From)}, s.eventArgs(r.From, r.To)...)
	seq, err := s.send.Run(ctx, s.rdb, keys, args...).Int64()
	if err != nil {
		return Message{}, conv, StoreError(op, err)
	}
	m.Seq = seq
	return m, conv, nil
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
// is in chronological order. It costs O(log N + page size). A page past the
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
// this conversation), Forbidden (editing another's text, or marking one's
// own message seen), Conflict (the message kept changing underneath).
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
		keys := append([]string{s.keys.Messages(conv)}, s.eventKeys(r.Domain, r.Caller, r.Peer)...)
		args := append([]any{r.MessageID, old, updated}, s.eventArgs(r.Caller, r.Peer, s.now().UnixMilli())...)
		return s.replace.Run(ctx, s.rdb, keys, args...).Int64()
	})
	return out, conv, err
}

// DeleteRequest removes one message.
type DeleteRequest struct {
	Domain       Domain
	Caller, Peer UserID
	MessageID    string
}

// Delete removes the caller's own message and repairs both inboxes in one
// atomic script. It returns the deleted message. Errors: NotFound, Forbidden
// (not the author), Conflict.
func (s *Store) Delete(ctx context.Context, r DeleteRequest) (Message, Conversation, error) {
	const op = "chat.Delete"
	conv, err := NewConversation(r.Domain, r.Caller, r.Peer)
	if err != nil {
		return Message{}, conv, err
	}
	var out Message
	keys := append([]string{s.keys.DM(conv), s.keys.Messages(conv), s.keys.Inbox(r.Domain, r.Caller), s.keys.Inbox(r.Domain, r.Peer)},
		append(s.eventKeys(r.Domain, r.Caller, r.Peer), s.keys.TimeIndex(conv))...)
	err = s.casMessage(ctx, op, conv, r.MessageID, func(m Message) (Message, error) {
		if m.Author != r.Caller {
			return m, E(op, Forbidden, "only the author can delete a message", nil)
		}
		out = m
		return m, nil
	}, func(old, _ string) (int64, error) {
		args := append([]any{r.MessageID, old, InboxMember(r.Peer), InboxMember(r.Caller)}, s.eventArgs(r.Caller, r.Peer, s.now().UnixMilli())...)
		return s.del.Run(ctx, s.rdb, keys, args...).Int64()
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
// 0 (gone) or -1 (changed: read again).
func (s *Store) casMessage(ctx context.Context, op string, conv Conversation, id string,
	decide func(Message) (Message, error), write func(old, updated string) (int64, error)) error {
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
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
			return StoreError(op, err)
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
