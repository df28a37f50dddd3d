package chat

import (
	"context"
	_ "embed"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed typing.lua
var typingLua string

// Typing default timings: an indicator lasts TypingTTL after the last
// announcement; a sender's announcements to one peer are published at most
// once per TypingInterval, so clients may announce on every keystroke.
const (
	DefaultTypingTTL      = 5 * time.Second
	DefaultTypingInterval = time.Second
)

// Typing relays "typing" indicators between users. Nothing is stored: the
// peer's live connections on every node get an ephemeral event, and a
// peer that is offline misses it.
type Typing struct {
	rdb      redis.UniversalClient
	keys     Keys
	ttl      time.Duration
	interval time.Duration
	now      func() time.Time
	script   *redis.Script
}

// NewTyping returns a Typing on s's Redis and keyspace and clock. ttl is
// how long an indicator lasts, interval the minimum gap between two
// publications from one sender to one peer (across nodes); zero values
// take the defaults.
func NewTyping(s *Store, ttl, interval time.Duration) *Typing {
	if ttl <= 0 {
		ttl = DefaultTypingTTL
	}
	if interval <= 0 {
		interval = DefaultTypingInterval
	}
	return &Typing{rdb: s.rdb, keys: s.keys, ttl: ttl, interval: interval, now: s.now, script: redis.NewScript(typingLua)}
}

// Announce tells to's connections that from is typing, until the returned
// time. Repeats within the interval succeed without publishing again.
// Errors: Invalid for typing to oneself, Forbidden when either user blocked
// the other, Unavailable when Redis is down.
func (t *Typing) Announce(ctx context.Context, d Domain, from, to UserID) (until time.Time, err error) {
	const op = "chat.Typing"
	if from == to {
		return time.Time{}, E(op, Invalid, "you cannot type to yourself", nil)
	}
	now := t.now()
	until = now.Add(t.ttl)
	ev, err := json.Marshal(Event{Type: EventTyping, Peer: from, TS: now.UnixMilli(), Until: until.UnixMilli()})
	if err != nil {
		return time.Time{}, errorf(op, "encode event: %w", err)
	}
	keys := []string{t.keys.Blocks(d, to), t.keys.Blocks(d, from), t.keys.Typing(d, from, to), t.keys.EventLog(d, to)}
	res, err := t.script.Run(ctx, t.rdb, keys, string(from), string(to), t.interval.Milliseconds(), ev).Int64()
	if err != nil {
		return time.Time{}, StoreError(op, err)
	}
	switch res {
	case -1:
		return time.Time{}, errBlockedBy
	case -2:
		return time.Time{}, errBlocking
	}
	return until, nil
}

// Typing is the key that rate-limits from's typing announcements to to; it
// expires after one interval.
func (k Keys) Typing(d Domain, from, to UserID) string {
	return k.Prefix + string(d) + ":typing:" + string(from) + ":" + string(to)
}
