package chat

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ReadMark is a user's read horizon in one DM: every message up to and
// including MessageID (position Seq) counts as read since At (epoch ms).
// The zero value means nothing read yet.
type ReadMark struct {
	Seq       int64
	MessageID string
	At        int64
}

// ParseReadMark reads "<seq>:<message id>:<epoch ms>" as the scripts write
// it; "" is the zero mark.
func ParseReadMark(s string) (ReadMark, error) {
	if s == "" {
		return ReadMark{}, nil
	}
	seq, rest, ok1 := strings.Cut(s, ":")
	id, at, ok2 := strings.Cut(rest, ":")
	n, err1 := strconv.ParseInt(seq, 10, 64)
	ms, err2 := strconv.ParseInt(at, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return ReadMark{}, fmt.Errorf("bad read mark %q", s)
	}
	return ReadMark{Seq: n, MessageID: id, At: ms}, nil
}

// Covers reports whether m, written by the other party, is read under mark.
func (mark ReadMark) Covers(m Message) bool { return mark.Seq > 0 && m.Seq > 0 && m.Seq <= mark.Seq }

// ReadState is the result of marking a DM read.
type ReadState struct {
	Mark   ReadMark
	Unread int64 // the caller's unread messages left in the DM
	Moved  bool  // false when the horizon already was at or past the message
}

// MarkRead moves caller's read horizon in the DM with peer up to message
// id, never back. Moving it takes the messages passed off the caller's
// unread counts and sends both users a message:read event, in one atomic
// script; a horizon already there or further changes nothing (and costs
// nothing). Errors: NotFound (no such message in this DM), Invalid,
// Forbidden (either user blocked the other), RateLimited (moving the
// horizon spends from the caller's write budget), Unavailable.
func (s *Store) MarkRead(ctx context.Context, d Domain, caller, peer UserID, id string) (ReadState, Conversation, error) {
	const op = "chat.MarkRead"
	conv, err := NewConversation(d, caller, peer)
	if err != nil {
		return ReadState{}, conv, err
	}
	if !validMessageID(id) {
		return ReadState{}, conv, E(op, NotFound, "Message not found", nil)
	}
	n, st, err := s.runRead(ctx, op, conv, caller, id, "", "")
	switch {
	case err != nil:
		return ReadState{}, conv, err
	case n == 0:
		return ReadState{}, conv, E(op, NotFound, "Message not found", nil)
	}
	return st, conv, nil
}

// runRead runs read.lua's steps for caller in conv: code 0 (no such
// message), -1 (the message changed since old was read), 1 (done) or 2
// (moved). Errors are *Error: a block either way (Forbidden), the caller's
// write budget (RateLimited), Redis.
func (s *Store) runRead(ctx context.Context, op string, conv Conversation, caller UserID, id, old, updated string) (int64, ReadState, error) {
	peer := conv.Peer(caller)
	res, err := s.runOp(ctx, opRun{op: op, rateMsg: msgWriteRate, conv: conv, writer: caller, peer: peer,
		readSeq: old == "", script: s.read,
		keys: append([]string{s.keys.DM(conv), s.keys.Messages(conv)}, s.opKeys(conv)...),
		args: []any{id, string(caller), string(peer), s.now().UnixMilli(), old, updated}})
	if err != nil || res.code != 1 {
		return res.code, ReadState{}, err
	}
	a := res.parts[caller]
	if res.still != nil {
		a = *res.still
	}
	mark, err := ParseReadMark(a.Mark)
	if err != nil {
		return 0, ReadState{}, errorf(op, "%w", err)
	}
	code := int64(1)
	if a.Status == "ok" && a.Moved {
		code = 2
	}
	return code, ReadState{Mark: mark, Unread: a.Unread, Moved: code == 2}, nil
}

// ReadMarks returns both parties' read horizons in conv: the one of Lo,
// then the one of Hi.
func (s *Store) ReadMarks(ctx context.Context, conv Conversation) (lo, hi ReadMark, err error) {
	const op = "chat.ReadMarks"
	p := s.rdb.Pipeline()
	a := p.HGet(ctx, s.keys.Read(conv.Domain, conv.Lo), string(conv.Hi))
	b := p.HGet(ctx, s.keys.Read(conv.Domain, conv.Hi), string(conv.Lo))
	if _, err := p.Exec(ctx); err != nil && err != redis.Nil {
		return lo, hi, StoreError(op, err)
	}
	if lo, err = ParseReadMark(a.Val()); err != nil {
		return lo, hi, errorf(op, "%w", err)
	}
	if hi, err = ParseReadMark(b.Val()); err != nil {
		return lo, hi, errorf(op, "%w", err)
	}
	return lo, hi, nil
}

// ApplyReadMarks sets Seen on the messages of conv that their recipient's
// horizon covers, so the per-message status and the horizon never
// disagree: a message is seen since the horizon passed it.
func ApplyReadMarks(conv Conversation, lo, hi ReadMark, msgs []Message) {
	for i, m := range msgs {
		mark := hi // Lo wrote it: Hi reads it
		if m.Author == conv.Hi {
			mark = lo
		}
		if m.Seen == 0 && mark.Covers(m) {
			msgs[i].Seen = mark.At
		}
	}
}

// UnreadTotal is u's number of unread messages over all conversations.
func (s *Store) UnreadTotal(ctx context.Context, d Domain, u UserID) (int64, error) {
	counts, err := s.rdb.HVals(ctx, s.keys.UnreadBy(d, u)).Result()
	if err != nil {
		return 0, StoreError("chat.UnreadTotal", err)
	}
	return SumUnread(counts), nil
}

// SumUnread is the unread total of a user's unread counts per DM (the
// values of Keys.UnreadBy); a count that is not a positive number adds
// nothing.
func SumUnread(counts []string) int64 {
	var n int64
	for _, c := range counts {
		if v, err := strconv.ParseInt(c, 10, 64); err == nil && v > 0 {
			n += v
		}
	}
	return n
}
