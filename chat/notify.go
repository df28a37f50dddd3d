package chat

import (
	"context"
	"encoding/json"
	"strconv"
)

// Notifier hears of every op of a conversation (a send, an edit, a
// delete, a read receipt) after each participant step applied it and
// before the op is marked done. So no notice is lost: a write whose node
// died before done stays pending, and the retry or the repair loop that
// completes it notifies again. Notify must therefore be idempotent (the
// same op may come twice); an error leaves the op pending and fails the
// write as a Redis error would. The webhooks hang here.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// SendFilter is what a Notifier may also answer before a send: whether a
// notice of it could lead to anything (a webhook to a recipient who is
// offline, say). When it says no, a send on a single Redis runs to done in
// its one script and the notifier hears nothing of it; it is asked when
// the send starts, so a recipient who goes offline during the send gets
// no notice of it. Any other path (a split send on a cluster, a send
// completed by a retry or the repair loop, every other write) notifies as
// usual, and the notifier decides then.
type SendFilter interface {
	WantsSend(ctx context.Context, d Domain, from, to UserID) (bool, error)
}

// wantsNotice reports whether a send from a to b must stop before done
// for the notifier: there is one, and it does not rule the send out (an
// error rules nothing out).
func (s *Store) wantsNotice(ctx context.Context, d Domain, a, b UserID) bool {
	if s.notifier == nil {
		return false
	}
	f, ok := s.notifier.(SendFilter)
	if !ok {
		return true
	}
	want, err := f.WantsSend(ctx, d, a, b)
	return want || err != nil
}

// Notice is one op as its participants saw it.
type Notice struct {
	Conv  Conversation
	Op    int64 // the op's number in the conversation: with Conv, unique
	At    int64 // epoch ms of the op
	Parts []NoticePart
}

// NoticePart is what one participant's step appended to their event log.
type NoticePart struct {
	User   UserID
	Events []Event // IDs are 0: the notice does not carry event ids
}

// opNotice is the op JSON as the notice reads it (see apply.lua).
type opNotice struct {
	TS string `json:"ts"`
	P  []struct {
		U    UserID `json:"u"`
		Peer UserID `json:"peer"`
		Ev   []struct {
			T string `json:"t"`
			F string `json:"f"`
			M string `json:"m"`
		} `json:"ev"`
	} `json:"p"`
}

// decodeNotice reads op n of conv (raw: its JSON). parts are the
// participant steps' answers, nil when unknown (a send run as one
// script): an event that only applies when a horizon moved (m) is left
// out unless its participant's step says it moved.
func decodeNotice(op string, conv Conversation, n int64, raw string, parts map[UserID]applied) (Notice, error) {
	var o opNotice
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return Notice{}, errorf(op, "decode op %d of %s: %w", n, conv.Key(), err)
	}
	at, _ := strconv.ParseInt(o.TS, 10, 64)
	no := Notice{Conv: conv, Op: n, At: at, Parts: make([]NoticePart, 0, len(o.P))}
	for _, p := range o.P {
		np := NoticePart{User: p.U}
		for _, e := range p.Ev {
			if e.M == "1" && !parts[p.U].Moved {
				continue
			}
			ev, err := DecodeEvent(`{"type":"` + e.T + `","peer":"` + string(p.Peer) + `","ts":` + strconv.FormatInt(at, 10) + `,` + e.F + `}`)
			if err != nil {
				return Notice{}, errorf(op, "op %d of %s: event of %s: %w", n, conv.Key(), p.U, err)
			}
			np.Events = append(np.Events, ev)
		}
		no.Parts = append(no.Parts, np)
	}
	return no, nil
}

// SetNotifier makes s tell n of every op (see Notifier); call it before
// s is used.
func (s *Store) SetNotifier(n Notifier) { s.notifier = n }

// finish notifies of op n of conv, then marks it done and takes member
// off the pending index (see fanOut).
func (s *Store) finish(ctx context.Context, op string, conv Conversation, n int64, raw, member string, parts map[UserID]applied) error {
	if s.notifier != nil {
		no, err := decodeNotice(op, conv, n, raw, parts)
		if err != nil {
			return err
		}
		if err := s.notifier.Notify(ctx, no); err != nil {
			return StoreError(op, err)
		}
	}
	return s.done(ctx, op, conv, n, member)
}
