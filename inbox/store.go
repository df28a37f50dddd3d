package inbox

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

//go:embed latest.lua
var latestLua string

// Entry is one conversation in a user's inbox.
type Entry struct {
	Peer   chat.UserID
	Epoch  int64         // time of the latest message (the inbox score)
	Latest *chat.Message // nil only if the conversation emptied while reading
}

// Page is one page of an inbox.
type Page struct {
	Total   int64
	Entries []Entry
}

// Store reads inboxes from Redis.
type Store struct {
	rdb    redis.UniversalClient
	keys   chat.Keys
	latest *redis.Script
}

// NewStore returns a Store reading the keyspace keys on rdb.
func NewStore(rdb redis.UniversalClient, keys chat.Keys) *Store {
	return &Store{rdb: rdb, keys: keys, latest: redis.NewScript(latestLua)}
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
	zs := rng.Val()
	if len(zs) == 0 {
		return out, nil
	}
	if err := s.latest.Load(ctx, s.rdb).Err(); err != nil { // EVALSHA below must not meet NOSCRIPT in a pipeline
		return Page{}, chat.StoreError(op, err)
	}
	cmds := make([]*redis.Cmd, len(zs))
	out.Entries = make([]Entry, 0, len(zs))
	_, err = s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
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
		return nil
	})
	if err != nil {
		return Page{}, chat.StoreError(op, err)
	}
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
	}
	return out, nil
}
