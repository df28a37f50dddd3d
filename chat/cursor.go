package chat

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// MaxEpoch bounds since/until (year 9999 in Unix ms), so a time bound is
// always an exact integer in Redis and Lua.
const MaxEpoch = 253402300799999

// Cursor positions a read by an item instead of a page number, so it stays
// correct while new items arrive. Before and After name an item and are
// exclusive: the read returns the Limit items right before (older than) or
// right after (newer than) it. In a conversation they are message ids; in
// an inbox, inbox positions (see ParseInboxCursor). Since and Until bound a
// conversation read by message time (epoch ms, both inclusive).
type Cursor struct {
	Before, After string
	Since, Until  *int64
	Limit         int
}

// IsZero reports whether c selects nothing by cursor: a page-number read.
func (c Cursor) IsZero() bool {
	return c.Before == "" && c.After == "" && c.Since == nil && c.Until == nil
}

// Window reports whether c is bounded by time.
func (c Cursor) Window() bool { return c.Since != nil || c.Until != nil }

// CursorParams are the raw query values of a cursor read; a nil field was
// not in the query. An empty value is not "absent": it is malformed.
type CursorParams struct {
	Before, After, Since, Until *string
	Page                        string // the page number, to reject mixing both styles
}

// ParseMessageCursor validates a conversation cursor: Before or After (not
// both) is a message id, Since and Until are epoch ms with Since <= Until,
// and none of them comes with a page number. limit is the page size the
// caller already validated. Errors are Invalid.
func ParseMessageCursor(q CursorParams, limit int) (Cursor, error) {
	const op = "chat.ParseMessageCursor"
	c, err := parseCursor(op, q, limit, func(name, s string) error {
		if u, err := uuid.Parse(s); err != nil || u.String() != s {
			return E(op, Invalid, `"`+name+`" must be a message id`, err)
		}
		return nil
	})
	if err != nil {
		return Cursor{}, err
	}
	for _, b := range []struct {
		name string
		raw  *string
		dst  **int64
	}{{"since", q.Since, &c.Since}, {"until", q.Until, &c.Until}} {
		if b.raw == nil {
			continue
		}
		n, err := strconv.ParseInt(*b.raw, 10, 64)
		if err != nil || n < 0 || n > MaxEpoch {
			return Cursor{}, E(op, Invalid, `"`+b.name+`" must be a time in epoch milliseconds from 0 to `+strconv.Itoa(MaxEpoch), err)
		}
		*b.dst = &n
	}
	if c.Since != nil && c.Until != nil && *c.Since > *c.Until {
		return Cursor{}, E(op, Invalid, `"since" must not be after "until"`, nil)
	}
	if c.Window() && q.Page != "" {
		return Cursor{}, E(op, Invalid, `"since" and "until" cannot be combined with "page"`, nil)
	}
	return c, nil
}

// parseCursor reads Before/After with valid checking the id, and rejects
// both at once or either with a page number.
func parseCursor(op string, q CursorParams, limit int, valid func(name, s string) error) (Cursor, error) {
	c := Cursor{Limit: limit}
	if q.Before != nil && q.After != nil {
		return Cursor{}, E(op, Invalid, `"before" and "after" cannot be combined`, nil)
	}
	for _, p := range []struct {
		name string
		raw  *string
		dst  *string
	}{{"before", q.Before, &c.Before}, {"after", q.After, &c.After}} {
		if p.raw == nil {
			continue
		}
		if q.Page != "" {
			return Cursor{}, E(op, Invalid, `"`+p.name+`" cannot be combined with "page"`, nil)
		}
		if err := valid(p.name, *p.raw); err != nil {
			return Cursor{}, err
		}
		*p.dst = *p.raw
	}
	return c, nil
}

// HistoryByCursor reads conv around a cursor in one script, as one
// snapshot, in O(log N + limit):
//
//   - Before/After alone: the Limit messages right before or after that
//     message in conversation order (its sequence), oldest first.
//   - Since and/or Until: a time window in time order (epoch, then id),
//     oldest first: the first Limit messages of the window, or with After
//     (Before) the Limit messages of the window right after (before) that
//     message's place in time order.
//
// Older and Newer say whether messages exist before the first and after the
// last one returned (within the window, for a window); both are false for
// an empty page. Total is the whole conversation. Errors: NotFound when the
// cursor message is not in conv, Unavailable.
func (s *Store) HistoryByCursor(ctx context.Context, conv Conversation, c Cursor) (HistoryPage, error) {
	const op = "chat.HistoryByCursor"
	id, dir := c.After, "after"
	if c.Before != "" {
		id, dir = c.Before, "before"
	}
	args := []any{dir, id, c.Limit}
	if c.Window() {
		args[0] = "window-" + dir
		args = append(args, epochArg(c.Since), epochArg(c.Until))
	}
	return s.readDM(ctx, op, conv, args...)
}

func epochArg(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

// readDM runs page.lua with args and decodes its reply.
func (s *Store) readDM(ctx context.Context, op string, conv Conversation, args ...any) (HistoryPage, error) {
	// The page and both read horizons in one round trip: every history shows
	// "seen" as the horizons say (ApplyReadMarks).
	keys := []string{s.keys.DM(conv), s.keys.Messages(conv), s.keys.TimeIndex(conv)}
	var page *redis.Cmd
	var marks [2]*redis.StringCmd
	read := func() error {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			page = s.page.EvalSha(ctx, p, keys, args...)
			marks[0] = p.HGet(ctx, s.keys.Read(conv.Domain, conv.Lo), string(conv.Hi))
			marks[1] = p.HGet(ctx, s.keys.Read(conv.Domain, conv.Hi), string(conv.Lo))
			return nil
		})
		return err
	}
	err := read()
	if redis.HasErrorPrefix(page.Err(), "NOSCRIPT") { // a fresh or flushed Redis: load the script once
		if err = s.page.Load(ctx, s.rdb).Err(); err == nil {
			err = read()
		}
	}
	if err != nil && err != redis.Nil {
		return HistoryPage{}, StoreError(op, err)
	}
	res, err := page.Slice()
	if err != nil {
		return HistoryPage{}, StoreError(op, err)
	}
	var rm [2]ReadMark
	for i, c := range marks {
		if rm[i], err = ParseReadMark(c.Val()); err != nil {
			return HistoryPage{}, errorf(op, "%w", err)
		}
	}
	if len(res) == 1 && res[0] == int64(-1) {
		return HistoryPage{}, E(op, NotFound, "cursor message not found", nil)
	}
	total, ok1 := res[0].(int64)
	older, ok2 := res[1].(int64)
	newer, ok3 := res[2].(int64)
	if !ok1 || !ok2 || !ok3 || len(res)%2 != 1 {
		return HistoryPage{}, errorf(op, "unexpected page reply %v", res)
	}
	msgs := make([]Message, 0, len(res)/2-1)
	for i := 3; i < len(res); i += 2 {
		raw, ok := res[i+1].(string)
		if !ok {
			continue // a message without its JSON cannot happen inside a script; tolerate anyway
		}
		m, err := DecodeMessage(raw)
		if err != nil {
			return HistoryPage{}, err
		}
		m.Seq, _ = strconv.ParseInt(fmt.Sprint(res[i]), 10, 64)
		msgs = append(msgs, m)
	}
	ApplyReadMarks(conv, rm[0], rm[1], msgs)
	p := HistoryPage{Total: total, Messages: msgs}
	if len(msgs) > 0 {
		p.Older, p.Newer = older == 1, newer == 1
	}
	return p, nil
}

// InboxPosition is a place in a newest-first inbox, the (score, member)
// pair of the sorted set: where Peer's entry is now, or, with AtEpoch, where
// it was when its conversation's latest message had time Epoch. It is
// written "<peer>" or "<peer>@<epoch ms>"; ids cannot contain '@'.
type InboxPosition struct {
	Peer    UserID
	Epoch   int64
	AtEpoch bool
}

// String writes p as a cursor value.
func (p InboxPosition) String() string {
	if !p.AtEpoch {
		return string(p.Peer)
	}
	return string(p.Peer) + "@" + strconv.FormatInt(p.Epoch, 10)
}

// ParseInboxPosition reads "<peer>" or "<peer>@<epoch ms>"; anything else
// is Invalid.
func ParseInboxPosition(s string) (InboxPosition, error) {
	const op = "chat.ParseInboxPosition"
	peer, epoch, pinned := strings.Cut(s, "@")
	u, err := ParseUserID(peer)
	if err != nil {
		return InboxPosition{}, E(op, Invalid, "an inbox cursor must be a user id, optionally followed by @<epoch ms>", err)
	}
	p := InboxPosition{Peer: u}
	if pinned {
		n, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil || n < 0 || n > MaxEpoch || !allDigits(epoch) {
			return InboxPosition{}, E(op, Invalid, "an inbox cursor must be a user id, optionally followed by @<epoch ms>", err)
		}
		p.Epoch, p.AtEpoch = n, true
	}
	return p, nil
}

// ParseInboxCursor validates an inbox cursor: Before or After (not both) is
// an InboxPosition and comes without a page number; inboxes have no time
// window. limit is the page size the caller already validated. Errors are
// Invalid.
func ParseInboxCursor(q CursorParams, limit int) (Cursor, error) {
	const op = "chat.ParseInboxCursor"
	if q.Since != nil || q.Until != nil {
		return Cursor{}, E(op, Invalid, `"since" and "until" apply to conversations, not to the inbox`, nil)
	}
	return parseCursor(op, q, limit, func(name, s string) error {
		if _, err := ParseInboxPosition(s); err != nil {
			return E(op, Invalid, `"`+name+`" must be a user id, optionally followed by @<epoch ms>`, err)
		}
		return nil
	})
}
