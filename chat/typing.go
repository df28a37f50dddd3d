package chat

import (
	"context"
	_ "embed"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed typing.lua
	typingLua string
	//go:embed typing_publish.lua
	typingPublishLua string
)

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
	script   *redis.Script // the sender's step
	publish  *redis.Script // the recipient's step
	// rate and burst are the write budget each publication spends from.
	rate  float64
	burst int
}

// NewTyping returns a Typing on s's Redis, keyspace, clock and write
// budget. ttl is
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
	return &Typing{rdb: s.rdb, keys: s.keys, ttl: ttl, interval: interval, now: s.now,
		script:  redis.NewScript(scriptHeader(s.keys) + eventsLua + guardLua + typingLua),
		publish: redis.NewScript(scriptHeader(s.keys) + eventsLua + typingPublishLua), rate: s.limits.WriteRate, burst: s.limits.WriteBurst}
}

// Announce tells to's connections that from is typing, until the returned
// time. Repeats within the interval succeed without publishing again, and
// without spending: a publication spends one token of from's write budget.
// Errors: Invalid for typing to oneself, Forbidden when either user blocked
// the other, RateLimited when the budget is spent, Unavailable when Redis
// is down.
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
	// Three steps, each in one slot: the recipient's block list, the
	// sender's (block list, interval, budget), then the publication in the
	// recipient's slot, which checks their block list again.
	recv := []string{t.keys.Blocks(d, to), t.keys.EventLog(d, to)}
	if err := t.recipientStep(ctx, op, recv, from, ev, "dry"); err != nil {
		return time.Time{}, err
	}
	keys := []string{t.keys.Blocks(d, from), t.keys.Typing(d, from, to), t.keys.WriteBucket(d, from)}
	res, err := t.script.Run(ctx, t.rdb, keys, string(to), t.interval.Milliseconds(), t.rate, t.burst).Result()
	if err != nil {
		return time.Time{}, StoreError(op, err)
	}
	if err := refusal(op, msgWriteRate, res); err != nil {
		return time.Time{}, err
	}
	n, err := replyInt(op, res)
	if err != nil {
		return time.Time{}, err
	}
	if n == 1 {
		if err := t.recipientStep(ctx, op, recv, from, ev, "run"); err != nil {
			return time.Time{}, err
		}
	}
	return until, nil
}

// recipientStep runs typing_publish.lua: the recipient's block check, and
// the publication unless mode is "dry".
func (t *Typing) recipientStep(ctx context.Context, op string, keys []string, from UserID, ev []byte, mode string) error {
	res, err := t.publish.Run(ctx, t.rdb, keys, string(from), ev, mode).Result()
	if err != nil {
		return StoreError(op, err)
	}
	if err := refusal(op, msgWriteRate, res); err != nil {
		return err
	}
	_, err = replyInt(op, res)
	return err
}
