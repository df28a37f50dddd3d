package inbox

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

var (
	//go:embed latest.lua
	latestLua string
	//go:embed cursor.lua
	cursorLua string
)

// Entry is one conversation in a user's inbox.
type Entry struct {
	Peer   chat.UserID
	Epoch  int64         // time of the latest message (the inbox score)
	Latest *chat.Message // nil only if the conversation emptied while reading
	Unread int64         // the user's unread messages in the conversation
	Read   chat.ReadMark // the user's read horizon; zero when nothing read
}

// Page is one page of an inbox, most recent conversation first.
type Page struct {
	Total   int64
	Entries []Entry
	// Older and Newer report whether entries exist below the last and above
	// the first of Entries; both are false for an empty page.
	Older, Newer bool
	// Unread is the user's unread messages over all conversations.
	Unread int64
}

// Store reads inboxes from Redis.
type Store struct {
	rdb            redis.UniversalClient
	keys           chat.Keys
	latest, cursor *redis.Script
}

// NewStore returns a Store reading the keyspace keys on rdb.
func NewStore(rdb redis.UniversalClient, keys chat.Keys) *Store {
	return &Store{rdb: rdb, keys: keys, latest: redis.NewScript(latestLua), cursor: redis.NewScript(cursorLua)}
}

// List returns page p of user's inbox, most recent conversation first, in
// two round trips whatever the inbox's size: the page of the sorted set with
// its total, then every entry's latest message in one pipeline. A page past
// the end is empty with the right total. Errors: Unavailable.
func (s *Store) List(ctx context.Context, d chat.Domain, user chat.UserID, p chat.Page) (Page, error) {
	const op = "inbox.List"
	key := s.keys.Inbox(d, user)
	var card *redis.IntCmd
	var rng *redis.ZSliceCmd
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		card = pl.ZCard(ctx, key)
		rng = pl.ZRevRangeWithScores(ctx, key, p.Start(), p.Stop())
		return nil
	})
	if err != nil {
		return Page{}, chat.StoreError(op, err)
	}
	out := Page{Total: card.Val()}
	if len(rng.Val()) > 0 {
		out.Older = p.Stop()+1 < out.Total
		out.Newer = p.Start() > 0
	}
	return s.withLatest(ctx, op, d, user, out, rng.Val())
}

// ListByCursor returns the c.Limit entries of user's inbox right below
// (c.Before: older) or above (c.After: newer) a position, most recent first,
// in two round trips: the entries with the total from one script in
// O(log N + limit), then their latest messages. A position is an
// InboxPosition: a peer's current place, or the place it had at an epoch,
// which stays valid after that conversation moves up. Errors: NotFound for
// a peer-only position whose peer is not in the inbox, Invalid, Unavailable.
func (s *Store) ListByCursor(ctx context.Context, d chat.Domain, user chat.UserID, c chat.Cursor) (Page, error) {
	const op = "inbox.ListByCursor"
	raw, dir := c.After, "after"
	if c.Before != "" {
		raw, dir = c.Before, "before"
	}
	pos, err := chat.ParseInboxPosition(raw)
	if err != nil {
		return Page{}, err
	}
	score := ""
	if pos.AtEpoch {
		score = strconv.FormatInt(pos.Epoch, 10)
	}
	res, err := s.cursor.Run(ctx, s.rdb, []string{s.keys.Inbox(d, user)}, dir, chat.InboxMember(pos.Peer), score, c.Limit).Slice()
	if err != nil {
		return Page{}, chat.StoreError(op, err)
	}
	if len(res) == 1 && res[0] == int64(-1) {
		return Page{}, chat.E(op, chat.NotFound, "cursor conversation not found", nil)
	}
	total, ok1 := res[0].(int64)
	older, ok2 := res[1].(int64)
	newer, ok3 := res[2].(int64)
	if !ok1 || !ok2 || !ok3 || len(res)%2 != 1 {
		return Page{}, chat.E(op, chat.Internal, "", fmt.Errorf("unexpected cursor reply %v", res))
	}
	zs := make([]redis.Z, 0, len(res)/2-1)
	for i := 3; i < len(res); i += 2 {
		score, err := strconv.ParseFloat(fmt.Sprint(res[i+1]), 64)
		if err != nil {
			return Page{}, chat.E(op, chat.Internal, "", fmt.Errorf("inbox score %v: %w", res[i+1], err))
		}
		zs = append(zs, redis.Z{Member: res[i], Score: score})
	}
	out := Page{Total: total}
	if len(zs) > 0 {
		out.Older, out.Newer = older == 1, newer == 1
	}
	return s.withLatest(ctx, op, d, user, out, zs)
}

// withLatest fills out.Entries from the inbox members zs, with every
// conversation's latest message read in one pipeline.
func (s *Store) withLatest(ctx context.Context, op string, d chat.Domain, user chat.UserID, out Page, zs []redis.Z) (Page, error) {
	if err := s.latest.Load(ctx, s.rdb).Err(); err != nil { // EVALSHA below must not meet NOSCRIPT in a pipeline
		return Page{}, chat.StoreError(op, err)
	}
	cmds := make([]*redis.Cmd, len(zs))
	out.Entries = make([]Entry, 0, len(zs))
	var unread *redis.StringSliceCmd
	var marks, counts *redis.SliceCmd
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		unread = pl.HVals(ctx, s.keys.UnreadBy(d, user))
		for _, z := range zs {
			peer, ok := chat.PeerFromMember(fmt.Sprint(z.Member))
			if !ok {
				continue
			}
			conv, err := chat.NewConversation(d, user, peer)
			if err != nil {
				continue
			}
			out.Entries = append(out.Entries, Entry{Peer: peer, Epoch: int64(z.Score)})
			cmds[len(out.Entries)-1] = s.latest.EvalSha(ctx, pl, []string{s.keys.DM(conv), s.keys.Messages(conv)})
		}
		// The user's horizons and unread counts of every entry, from the
		// user's own hashes (the user's slot): one HMGET each.
		peers := make([]string, len(out.Entries))
		for i, e := range out.Entries {
			peers[i] = string(e.Peer)
		}
		if len(peers) > 0 {
			marks = pl.HMGet(ctx, s.keys.Read(d, user), peers...)
			counts = pl.HMGet(ctx, s.keys.UnreadBy(d, user), peers...)
		}
		return nil
	})
	if err != nil && err != redis.Nil {
		return Page{}, chat.StoreError(op, err)
	}
	out.Unread = chat.SumUnread(unread.Val())
	for i := range out.Entries {
		res, err := cmds[i].Slice()
		if err != nil || len(res) != 2 {
			continue
		}
		raw, ok := res[1].(string)
		if !ok {
			continue
		}
		m, err := chat.DecodeMessage(raw)
		if err != nil {
			return Page{}, err
		}
		m.Seq, _ = strconv.ParseInt(fmt.Sprint(res[0]), 10, 64)
		out.Entries[i].Latest = &m
		mark, _ := marks.Val()[i].(string)
		if out.Entries[i].Read, err = chat.ParseReadMark(mark); err != nil {
			return Page{}, chat.E(op, chat.Internal, "", err)
		}
		n, _ := counts.Val()[i].(string)
		out.Entries[i].Unread, _ = strconv.ParseInt(n, 10, 64)
	}
	return out, nil
}
