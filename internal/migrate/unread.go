package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

// UnreadReport sums up a DeriveUnread.
type UnreadReport struct {
	Users   int64 // inboxes read
	Entries int64 // inbox entries (conversations) counted
	Set     int64 // unread_by fields written (in a dry run: that would be)
	Present int64 // fields that existed already: left as they are
	// Mismatched counts users whose unread total differs from the sum of
	// their per-conversation counts (reported, not changed).
	Mismatched int64
}

// UserUnread is one user's derivation, for progress output.
type UserUnread struct {
	Key          string // the unread_by hash
	Entries, Sum int64  // conversations, and their unread messages summed
	Total        int64  // the user's unread total (the :unread key)
}

// DeriveUnread fills each user's unread_by hash (chat.Keys.UnreadBy) from the
// tagged keyspace: for every peer in the user's inbox, the count of
// messages in their DM after the user's read horizon, the rule of
// inbox/latest.lua (ZCOUNT dm (<horizon seq> +inf). It only adds missing
// fields (HSETNX): a count a running node keeps is never overwritten, and
// running it again changes nothing. Without apply it writes nothing; keys
// not moved yet are then read under their old names, so a dry run before
// the move shows what the derivation will do. It reads Redis while it
// counts: run it with no node writing, as the move. progress, when set, is
// told of each user.
func DeriveUnread(ctx context.Context, rdb redis.UniversalClient, keys chat.Keys, apply bool, count int64, progress func(UserUnread)) (UnreadReport, error) {
	if count <= 0 {
		count = DefaultCount
	}
	var rep UnreadReport
	old := oldNames{keys.Prefix}
	var cursor uint64
	for {
		names, next, err := rdb.Scan(ctx, cursor, globEscape(keys.Prefix)+"*", count).Result()
		if err != nil {
			return rep, fmt.Errorf("SCAN %d: %w", cursor, err)
		}
		for _, name := range names {
			d, u, ok := parseTaggedInbox(keys, name)
			if !ok && !apply {
				// A dry run before the move: the inbox under its old name,
				// unless it has a new one too (then that one is counted).
				if m, planned := Plan(keys, name); planned && m.Kind == KindInbox {
					d, u, ok = parseOldInbox(keys.Prefix, name)
				}
				if ok {
					n, err := rdb.Exists(ctx, keys.Inbox(d, u)).Result()
					if err != nil {
						return rep, err
					}
					ok = n == 0
				}
			}
			if !ok {
				continue
			}
			uu, err := deriveUser(ctx, rdb, keys, old, d, u, apply, &rep)
			if err != nil {
				return rep, err
			}
			if progress != nil {
				progress(uu)
			}
		}
		if cursor = next; cursor == 0 {
			return rep, nil
		}
	}
}

// deriveUser derives the unread_by hash of u.
func deriveUser(ctx context.Context, rdb redis.UniversalClient, keys chat.Keys, old oldNames,
	d chat.Domain, u chat.UserID, apply bool, rep *UnreadReport) (UserUnread, error) {
	// pick returns the new name, or in a dry run the old one while the
	// new one does not exist yet.
	pick := func(newName, oldName string) (string, error) {
		if apply {
			return newName, nil
		}
		n, err := rdb.Exists(ctx, newName).Result()
		if err != nil || n == 1 {
			return newName, err
		}
		return oldName, nil
	}
	inbox, err1 := pick(keys.Inbox(d, u), old.inbox(d, u))
	read, err2 := pick(keys.Read(d, u), old.read(d, u))
	total, err3 := pick(keys.Unread(d, u), old.unread(d, u))
	if err := errors.Join(err1, err2, err3); err != nil {
		return UserUnread{}, err
	}
	ub := keys.UnreadBy(d, u)
	out := UserUnread{Key: ub}
	rep.Users++
	var zc uint64
	for {
		members, next, err := rdb.ZScan(ctx, inbox, zc, "*", DefaultCount).Result()
		if err != nil {
			return out, fmt.Errorf("ZSCAN %s: %w", inbox, err)
		}
		// ZSCAN answers member, score, member, score, ...
		var peers []chat.UserID
		var dms []string
		for i := 0; i < len(members); i += 2 {
			peer, ok := chat.PeerFromMember(members[i])
			if !ok {
				continue
			}
			c, err := chat.NewConversation(d, u, peer)
			if err != nil {
				continue
			}
			dm, err := pick(keys.DM(c), old.dm(c))
			if err != nil {
				return out, err
			}
			peers, dms = append(peers, peer), append(dms, dm)
		}
		counts, err := countAfterHorizons(ctx, rdb, read, peers, dms)
		if err != nil {
			return out, err
		}
		for _, n := range counts {
			out.Sum += n
		}
		out.Entries += int64(len(peers))
		rep.Entries += int64(len(peers))
		if err := setMissing(ctx, rdb, ub, peers, counts, apply, rep); err != nil {
			return out, err
		}
		if zc = next; zc == 0 {
			break
		}
	}
	t, err := rdb.Get(ctx, total).Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return out, fmt.Errorf("GET %s: %w", total, err)
	}
	out.Total = t
	if out.Total != out.Sum {
		rep.Mismatched++
	}
	return out, nil
}

// countAfterHorizons returns, for each peer, the messages of dms[i] after
// the user's read horizon in it (the mark's seq; 0 when none).
func countAfterHorizons(ctx context.Context, rdb redis.UniversalClient, read string, peers []chat.UserID, dms []string) ([]int64, error) {
	if len(peers) == 0 {
		return nil, nil
	}
	fields := make([]string, len(peers))
	for i, p := range peers {
		fields[i] = string(p)
	}
	marks, err := rdb.HMGet(ctx, read, fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("HMGET %s: %w", read, err)
	}
	cmds := make([]*redis.IntCmd, len(peers))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range peers {
			mark, _ := marks[i].(string)
			cmds[i] = p.ZCount(ctx, dms[i], "("+strconv.FormatInt(horizonSeq(mark), 10), "+inf")
		}
		return nil
	})
	out := make([]int64, len(peers))
	for i, c := range cmds {
		n, err := c.Result()
		if err != nil {
			return nil, fmt.Errorf("ZCOUNT %s: %w", dms[i], err)
		}
		out[i] = n
	}
	return out, nil
}

// horizonSeq is the seq of a read mark "<seq>:<id>:<ms>": its leading
// digits, 0 when it has none, as inbox/latest.lua reads it.
func horizonSeq(mark string) int64 {
	i := 0
	for i < len(mark) && mark[i] >= '0' && mark[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(mark[:i], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// setMissing writes each peer's count into ub unless the field exists
// (HSETNX); a dry run asks HEXISTS instead.
func setMissing(ctx context.Context, rdb redis.UniversalClient, ub string, peers []chat.UserID, counts []int64, apply bool, rep *UnreadReport) error {
	if len(peers) == 0 {
		return nil
	}
	cmds := make([]*redis.BoolCmd, len(peers))
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, peer := range peers {
			if apply {
				cmds[i] = p.HSetNX(ctx, ub, string(peer), counts[i])
			} else {
				cmds[i] = p.HExists(ctx, ub, string(peer))
			}
		}
		return nil
	})
	for _, c := range cmds {
		b, err := c.Result()
		if err != nil {
			return fmt.Errorf("unread_by %s: %w", ub, err)
		}
		// HSETNX: true = set; HEXISTS: true = present.
		if b == apply {
			rep.Set++
		} else {
			rep.Present++
		}
	}
	return nil
}

// parseTaggedInbox parses "<prefix>{<d>:u:<u>}:inbox".
func parseTaggedInbox(keys chat.Keys, name string) (chat.Domain, chat.UserID, bool) {
	rest, ok := strings.CutPrefix(name, keys.Prefix+"{")
	if !ok {
		return "", "", false
	}
	rest, ok = strings.CutSuffix(rest, "}:inbox")
	if !ok {
		return "", "", false
	}
	ds, us, ok := strings.Cut(rest, ":u:")
	if !ok {
		return "", "", false
	}
	d, err1 := chat.ParseDomain(ds)
	u, err2 := chat.ParseUserID(us)
	if err1 != nil || err2 != nil || keys.Inbox(d, u) != name {
		return "", "", false
	}
	return d, u, true
}

// parseOldInbox parses "<prefix><d>:inbox:<u>" (Plan has checked it).
func parseOldInbox(prefix, name string) (chat.Domain, chat.UserID, bool) {
	p := strings.Split(strings.TrimPrefix(name, prefix), ":")
	if len(p) != 3 {
		return "", "", false
	}
	return chat.Domain(p[0]), chat.UserID(p[2]), true
}
