package chat

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

var (
	//go:embed events.lua
	eventsLua string
	//go:embed fanout.lua
	fanoutLua string
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
	//go:embed apply.lua
	applyLua string
	//go:embed guard_step.lua
	guardStepLua string
	//go:embed done.lua
	doneLua string
	//go:embed guard_refund.lua
	guardRefundLua string
)

// casRetries bounds how often an edit or delete re-reads a message that
// changed between its read and its write before giving up with Conflict.
const casRetries = 5

// Store keeps direct messages in Redis. Every method is safe for concurrent
// use. A write runs as steps, each one atomic script over the keys of one
// Redis Cluster slot (see fanout.go); the whole is idempotent.
type Store struct {
	rdb    redis.UniversalClient
	keys   Keys
	limits Limits
	now    func() time.Time
	newID  func() (string, error)
	hook   stepHook
	// notifier hears of every op before it is marked done (SetNotifier).
	notifier Notifier
	// screener, when set (SetScreener), is asked about every new message
	// and text edit before anything is written.
	screener Screener

	send, replace, del, page, read, apply, guard, doneScript, unlease, refundScript *redis.Script
	// fusedSend runs a whole send as one script (Limits.SingleNode).
	fusedSend *redis.Script
	repaired  repairStats
}

// scriptHeader is the first line of every chat script that publishes:
// which command publish() (events.lua) uses.
func scriptHeader(k Keys) string {
	if k.Sharded {
		return "local PUBLISH_CMD = 'SPUBLISH'\n"
	}
	return "local PUBLISH_CMD = 'PUBLISH'\n"
}

// NewStore returns a Store on rdb. now is the clock for message times.
func NewStore(rdb redis.UniversalClient, keys Keys, limits Limits, now func() time.Time) *Store {
	pre := scriptHeader(keys) + eventsLua + guardLua
	conv := pre + fanoutLua
	return &Store{
		rdb: rdb, keys: keys, limits: limits.withDefaults(), now: now,
		newID: func() (string, error) {
			id, err := uuid.NewV7()
			return id.String(), err
		},
		send:         redis.NewScript(stepScript(conv, sendLua, true)),
		replace:      redis.NewScript(stepScript(conv, replaceLua, true)),
		del:          redis.NewScript(stepScript(conv, deleteLua, true)),
		page:         redis.NewScript(pageLua),
		read:         redis.NewScript(stepScript(conv, readLua, true)),
		apply:        redis.NewScript(stepScript(pre, applyLua, false)),
		guard:        redis.NewScript(stepScript(pre, guardStepLua, false)),
		doneScript:   redis.NewScript(stepScript("", doneLua, false)),
		fusedSend:    redis.NewScript(fusedSendScript(conv)),
		unlease:      redis.NewScript(unleaseLua),
		refundScript: redis.NewScript(guardRefundLua),
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

// Send validates and stores a message, updates both inboxes, unread counts
// and event logs, in steps (see fanout.go), and answers once every step
// applied. It is refused when either user blocked the other (Forbidden)
// or the sender's send budget is spent (RateLimited), and recognises a
// retry (see SendRequest.ClientID), which also completes the first send's
// steps if its node died between them. With a Screener (SetScreener) the
// content is screened first (a retry is not): it may be refused (Rejected)
// or its text replaced, and a failed screener refuses it (Unavailable,
// ErrModerationUnavailable). Errors: Invalid for bad content or
// a message to oneself, Unavailable when Redis is down (then nothing was
// written, or the message was stored and its fan-out is completed by the
// repair loop or a retry).
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
		fp = fingerprint(r.To, c) // of the content sent, so a retry matches whatever the screener made of it
	}
	if s.screener != nil {
		// A retry of a stored send is answered from its record (below),
		// never screened again: the platform saw it the first time.
		if fp != "" {
			rec, err := s.rdb.Get(ctx, s.keys.ConvClientID(conv, r.From, r.ClientID)).Result()
			switch {
			case err == nil:
				return s.replay(ctx, op, conv, rec, fp)
			case err != redis.Nil:
				return Message{}, conv, StoreError(op, err)
			}
		}
		// Before any write: a rejection stores, sends and spends nothing.
		if c, err = s.screen(ctx, op, Screening{Event: ScreenNew, Domain: r.Domain, From: r.From, To: r.To,
			Conversation: conv.Key(), Content: c, ClientID: r.ClientID}); err != nil {
			return Message{}, conv, err
		}
	}
	id, err := s.newID()
	if err != nil {
		return Message{}, conv, errorf(op, "message id: %w", err)
	}
	m := Message{ID: id, Author: r.From, Epoch: s.now().UnixMilli(), Type: c.Type, Text: c.Text, Image: c.Image}
	d, a, b := r.Domain, r.From, r.To
	keys := append([]string{s.keys.DM(conv), s.keys.Messages(conv), s.keys.Seq(conv), s.keys.TimeIndex(conv)},
		s.opKeys(conv)...)
	keys = append(keys, s.keys.ConvClientID(conv, a, r.ClientID))
	args := []any{m.ID, m.encode(), m.Epoch, string(a), string(b), fp, s.limits.ClientIDWindow.Milliseconds()}
	guardB := s.guardCall(conv, b, a, "blocked_by", "", 0, 0, 0)
	guardA := s.guardCall(conv, a, b, "blocking", s.keys.SendBucket(d, a), s.limits.SendRate, s.limits.SendBurst, 0)
	guardA.keys = append(guardA.keys, s.keys.ClientID(d, a, r.ClientID))
	guardA.args[5], guardA.args[6] = fp, s.limits.ClientIDWindow.Milliseconds()
	step := &scriptCall{script: s.send, keys: keys, args: append([]any{"run"}, args...)}
	member := indexMember(conv, m.ID)
	score := s.now().UnixMilli()
	// On a single Redis the steps run as one script, up to the first that
	// is not ok; the steps below go on from there (f.stage), reading the
	// replies it gave (the cmd of guardB, guardA, step).
	var f fusedSend
	if s.limits.SingleNode && s.hook == nil {
		if f, err = s.sendFused(ctx, conv, &guardB, &guardA, step, score, member, s.wantsNotice(ctx, d, a, b)); err != nil {
			return Message{}, conv, StoreError(op, err)
		}
	}
	// 1. A retry is answered from its record, spending nothing (GET in
	// the conversation's slot); then B's guard.
	if fp != "" && f.stage == stageRetry {
		rec, err := f.rec, error(nil)
		if rec == "" {
			rec, err = s.rdb.Get(ctx, s.keys.ConvClientID(conv, a, r.ClientID)).Result()
		}
		switch {
		case err == nil:
			return s.replay(ctx, op, conv, rec, fp)
		case err != redis.Nil:
			return Message{}, conv, StoreError(op, err)
		}
	}
	if f.stage <= stageGuardB {
		if guardB.cmd == nil {
			s.runCalls(ctx, &guardB)
		}
		if err := guardReply(op, msgSendRate, &guardB); err != nil {
			return Message{}, conv, err
		}
	}
	// 2. A's guard (spends A's send budget), then the pending index entry.
	if f.stage <= stageGuardA {
		if guardA.cmd == nil || f.stage < stageGuardA {
			s.runCalls(ctx, &guardA)
		}
		if err := guardReply(op, msgSendRate, &guardA); err != nil {
			return Message{}, conv, err
		}
	}
	if f.stage <= stageIndex {
		if err := s.index(ctx, conv, member, score); err != nil {
			s.refund(ctx, &guardA)
			return Message{}, conv, StoreError(op, err)
		}
	}
	// 3. The conversation step. When it writes nothing (a key of the
	// wrong kind, a retry that raced the first send) A's spend is undone.
	if f.stage <= stageConv && (step.cmd == nil || f.stage < stageConv) {
		s.runCalls(ctx, step)
	}
	res, err := step.cmd.Slice()
	if err != nil {
		s.unindex(ctx, conv, member)
		var reply redis.Error
		if errors.As(err, &reply) { // an error reply: the step refused before its first write
			s.refund(ctx, &guardA)
		}
		return Message{}, conv, StoreError(op, err)
	}
	switch st, _ := res[0].(string); {
	case st == "dup" && len(res) == 2:
		s.unindex(ctx, conv, member)
		s.refund(ctx, &guardA)
		rec, _ := res[1].(string)
		return s.replay(ctx, op, conv, rec, fp)
	case st != "ok" || len(res) != 4:
		s.unindex(ctx, conv, member)
		return Message{}, conv, errorf(op, "unexpected send reply %v", res)
	}
	m.Seq, _ = res[1].(int64)
	n, _ := res[2].(int64)
	raw, _ := res[3].(string)
	if err := s.step("conversation"); err != nil {
		return Message{}, conv, err
	}
	// 4, 5. The participant steps, then done.
	switch f.stage {
	case stageFinished:
	case stageDone:
		if err := s.finish(ctx, op, conv, n, raw, member, nil); err != nil {
			return Message{}, conv, err
		}
	default:
		if _, err := s.fanOut(ctx, op, conv, n, raw, member, false); err != nil {
			return Message{}, conv, err
		}
	}
	return m, conv, nil
}

// replay answers a retry from the first send's record (or Conflict when
// it is not the same request), once the first send's fan-out, and that of
// every earlier op of the conversation, is complete.
func (s *Store) replay(ctx context.Context, op string, conv Conversation, rec, fp string) (Message, Conversation, error) {
	m, n, err := replayed(op, rec, fp)
	if n > 0 {
		if _, err := s.completePending(ctx, op, conv, n); err != nil {
			return Message{}, conv, err
		}
	}
	return m, conv, err
}

// replayed answers a retry from the first send's record, or Conflict when
// the retry is not the same request.
// The record is "<fingerprint>\n<seq>\n<message JSON>\n<op>"; n is the op
// (0 in a record without one).
func replayed(op, rec, fp string) (m Message, n int64, err error) {
	recFP, rest, ok1 := strings.Cut(rec, "\n")
	seq, rest, ok2 := strings.Cut(rest, "\n")
	if !ok1 || !ok2 {
		return Message{}, 0, errorf(op, "bad client id record %q", rec)
	}
	// The JSON holds no raw newline (encoding/json escapes it): the op is
	// after the last one.
	raw, opNo := rest, ""
	if i := strings.LastIndexByte(rest, '\n'); i >= 0 {
		raw, opNo = rest[:i], rest[i+1:]
	}
	n, _ = strconv.ParseInt(opNo, 10, 64)
	if recFP != fp {
		return Message{}, n, E(op, Conflict, `"client_id" was already used for a different message`, nil)
	}
	if m, err = DecodeMessage(raw); err != nil {
		return Message{}, n, err
	}
	m.Seq, _ = strconv.ParseInt(seq, 10, 64)
	m.Replayed = true
	return m, n, nil
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
// underneath). A new text goes through the Screener, if any, after those
// checks and before the write, as in Send: Rejected, or Unavailable
// (ErrModerationUnavailable) when the screener failed closed.
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
	var screened *string // the text to store once the screener answered (asked once, not per retry)
	err = s.casMessage(ctx, op, conv, r.MessageID, func(m Message) (Message, error) {
		if r.Text != nil {
			if m.Author != r.Caller {
				return m, E(op, Forbidden, "only the author can edit a message", nil)
			}
			if m.Type != TypeText {
				return m, E(op, Invalid, "only text messages can be edited", nil)
			}
		}
		if r.Seen && m.Author == r.Caller {
			return m, E(op, Forbidden, "only the recipient can mark a message seen", nil)
		}
		if r.Text != nil {
			// Screened after the checks (a refused edit asks nobody) and
			// before the write script.
			if s.screener != nil && screened == nil {
				c, err := s.screen(ctx, op, Screening{Event: ScreenEdit, Domain: r.Domain, From: r.Caller, To: r.Peer,
					Conversation: conv.Key(), MessageID: r.MessageID, Content: Content{Type: TypeText, Text: *r.Text}})
				if err != nil {
					return m, err
				}
				screened = &c.Text
			}
			text := *r.Text
			if screened != nil {
				text = *screened
			}
			m.Text, m.Edited = text, s.now().UnixMilli()
		}
		if r.Seen && m.Seen == 0 {
			m.Seen = s.now().UnixMilli()
		}
		out = m
		return m, nil
	}, func(old, updated string) (int64, error) {
		if r.Seen { // the status and the read horizon move together
			n, _, err := s.runRead(ctx, op, conv, r.Caller, r.MessageID, old, updated)
			return min(n, 1), err // 2 (the horizon moved) is done too
		}
		res, err := s.runOp(ctx, opRun{op: op, rateMsg: msgWriteRate, conv: conv, writer: r.Caller, peer: r.Peer,
			script: s.replace, keys: append([]string{s.keys.Messages(conv)}, s.opKeys(conv)...),
			args: []any{r.MessageID, old, updated, string(r.Caller), string(r.Peer), s.now().UnixMilli()}})
		return res.code, err
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
		a := out.Author
		b := conv.Peer(a)
		res, err := s.runOp(ctx, opRun{op: op, rateMsg: msgWriteRate, conv: conv, writer: a, peer: b,
			moderator: r.Moderator, script: s.del,
			keys: append([]string{s.keys.DM(conv), s.keys.Messages(conv), s.keys.TimeIndex(conv)}, s.opKeys(conv)...),
			args: []any{r.MessageID, old, string(a), string(b), s.now().UnixMilli()}})
		return res.code, err
	})
	return out, conv, err
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
