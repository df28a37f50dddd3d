package chat

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Event types in a user's event log.
const (
	EventNew    = "message:new"
	EventEdit   = "message:edit"
	EventDelete = "message:delete"
	EventRead   = "message:read" // a read horizon moved
	// Ephemeral events (ID 0) are published, never logged: a client that
	// misses one loses nothing it cannot ask for again.
	EventTyping   = "typing"
	EventPresence = "presence"
)

// Event is one entry of a user's event log: something that happened in one
// of their conversations. IDs are per user, start at 1 and never skip: the
// scripts assign them in the same atomic step as the write.
type Event struct {
	ID   int64   `json:"id"` // 0 for an ephemeral event
	Type string  `json:"type"`
	Peer UserID  `json:"peer"`         // the other party of the conversation (presence: the user it is about)
	TS   int64   `json:"ts"`           // epoch ms
	Msg  Message `json:"msg,omitzero"` // message events: the message after the change (before it, for a delete)

	UpTo   string `json:"upTo,omitempty"`   // message:read: the last message read
	Reader UserID `json:"reader,omitempty"` // message:read: who read it
	Until  int64  `json:"until,omitempty"`  // typing: epoch ms the indicator lasts until
	Online bool   `json:"online,omitempty"` // presence: whether the user is online
}

// Ephemeral reports whether ev is published only, without a log id.
func (ev Event) Ephemeral() bool { return ev.ID == 0 }

// DecodeEvent parses an event as stored and published by the scripts.
func DecodeEvent(raw string) (Event, error) {
	var e Event
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return Event{}, errorf("chat.DecodeEvent", "decode event: %w", err)
	}
	return e, nil
}

// EventsAfter returns up to limit of u's events with ids above after, oldest
// first, and u's latest event id. gone is true when the log no longer holds
// the event right after `after` (trimmed by count or age), or when after is
// beyond the latest id (the log was reset): the caller must resync from
// REST instead of replaying.
func (s *Store) EventsAfter(ctx context.Context, d Domain, u UserID, after, limit int64) (evs []Event, last int64, gone bool, err error) {
	const op = "chat.EventsAfter"
	var seq *redis.StringCmd
	var top, rng *redis.XMessageSliceCmd
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		seq, top = s.lastEventCmds(ctx, p, d, u)
		rng = p.XRangeN(ctx, s.keys.EventLog(d, u), strconv.FormatInt(after+1, 10)+"-0", "+", limit)
		return nil
	})
	if err != nil && err != redis.Nil {
		return nil, 0, false, StoreError(op, err)
	}
	last = lastEventID(seq, top)
	// Events past the log's age are gone, as if trimmed: appends do not
	// drain them (events.lua), so they are skipped here.
	cutoff := s.now().Add(-s.limits.EventLogAge).UnixMilli()
	for _, x := range rng.Val() {
		if ts, _ := x.Values["t"].(string); ts != "" {
			if ms, err := strconv.ParseInt(ts, 10, 64); err == nil && ms < cutoff {
				continue
			}
		}
		raw, _ := x.Values["e"].(string)
		e, err := DecodeEvent(raw)
		if err != nil {
			return nil, 0, false, err
		}
		evs = append(evs, e)
	}
	switch {
	case after > last:
		gone = true
	case after < last && (len(evs) == 0 || evs[0].ID != after+1):
		gone = true
	}
	return evs, last, gone, nil
}

// Signal publishes an ephemeral event (typing, presence) on u's channel
// (SPUBLISH when Keys.Sharded):
// connections of u on every node receive it; nothing is logged, so a
// client that is not connected misses it.
func (s *Store) Signal(ctx context.Context, d Domain, u UserID, ev Event) error {
	ev.ID = 0
	b, err := json.Marshal(ev)
	if err != nil {
		return errorf("chat.Signal", "encode event: %w", err)
	}
	if s.keys.Sharded {
		return StoreError("chat.Signal", s.rdb.SPublish(ctx, s.keys.EventLog(d, u), b).Err())
	}
	return StoreError("chat.Signal", s.rdb.Publish(ctx, s.keys.EventLog(d, u), b).Err())
}

// LastEventID is u's latest event id (0 before the first).
func (s *Store) LastEventID(ctx context.Context, d Domain, u UserID) (int64, error) {
	var seq *redis.StringCmd
	var top *redis.XMessageSliceCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		seq, top = s.lastEventCmds(ctx, p, d, u)
		return nil
	})
	if err != nil && err != redis.Nil {
		return 0, StoreError("chat.LastEventID", err)
	}
	return lastEventID(seq, top), nil
}

// lastEventCmds queue the reads of u's latest event id: the counter and the
// log's newest entry.
func (s *Store) lastEventCmds(ctx context.Context, p redis.Pipeliner, d Domain, u UserID) (*redis.StringCmd, *redis.XMessageSliceCmd) {
	return p.Get(ctx, s.keys.EventSeq(d, u)), p.XRevRangeN(ctx, s.keys.EventLog(d, u), "+", "-", 1)
}

// lastEventID is the larger of the counter and the log's newest id: they
// agree unless the counter was lost or set back (evicted, a stray DEL),
// which the next write repairs (events.lua next_event_id); until then the
// log still knows the latest id, so no client is sent to resync for it.
func lastEventID(seq *redis.StringCmd, top *redis.XMessageSliceCmd) int64 {
	last, _ := strconv.ParseInt(seq.Val(), 10, 64)
	if xs := top.Val(); len(xs) > 0 {
		ms, _, _ := strings.Cut(xs[0].ID, "-")
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil && n > last {
			last = n
		}
	}
	return last
}
