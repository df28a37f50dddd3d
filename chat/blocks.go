package chat

import (
	"context"
	"slices"
)

// Block makes u refuse messages (and typing) from target. Blocking is
// one-way, idempotent, and leaves the history as it is.
func (s *Store) Block(ctx context.Context, d Domain, u, target UserID) error {
	if u == target {
		return E("chat.Block", Invalid, "you cannot block yourself", nil)
	}
	key := s.keys.Blocks(d, u)
	n, err := s.rdb.SCard(ctx, key).Result()
	if err != nil {
		return StoreError("chat.Block", err)
	}
	if n >= MaxBlocks {
		return E("chat.Block", Invalid, "you have blocked too many users", nil)
	}
	return StoreError("chat.Block", s.rdb.SAdd(ctx, key, string(target)).Err())
}

// Unblock undoes Block; unblocking a user who is not blocked is no error.
func (s *Store) Unblock(ctx context.Context, d Domain, u, target UserID) error {
	if u == target {
		return E("chat.Unblock", Invalid, "you cannot block yourself", nil)
	}
	return StoreError("chat.Unblock", s.rdb.SRem(ctx, s.keys.Blocks(d, u), string(target)).Err())
}

// MaxBlocks bounds the users one user may block, so the set and its
// listing stay small.
const MaxBlocks = 10000

// Blocked lists the users u has blocked, sorted.
func (s *Store) Blocked(ctx context.Context, d Domain, u UserID) ([]UserID, error) {
	ids, err := s.rdb.SMembers(ctx, s.keys.Blocks(d, u)).Result()
	if err != nil {
		return nil, StoreError("chat.Blocked", err)
	}
	out := make([]UserID, len(ids))
	for i, id := range ids {
		out[i] = UserID(id)
	}
	slices.SortFunc(out, func(a, b UserID) int {
		switch {
		case less(a, b):
			return -1
		case less(b, a):
			return 1
		}
		return 0
	})
	return out, nil
}

// Contact errors, shared by every write that reaches another user.
var (
	errBlockedBy = E("chat.Contact", Forbidden, "this user does not accept your messages", nil)
	errBlocking  = E("chat.Contact", Forbidden, "you have blocked this user; unblock them first", nil)
)

// CheckContact returns Forbidden when either user has blocked the other.
// Sends check the same inside their script, atomically with the write;
// this is for what is never stored (typing).
func (s *Store) CheckContact(ctx context.Context, d Domain, from, to UserID) error {
	p := s.rdb.Pipeline()
	by := p.SIsMember(ctx, s.keys.Blocks(d, to), string(from))
	own := p.SIsMember(ctx, s.keys.Blocks(d, from), string(to))
	if _, err := p.Exec(ctx); err != nil {
		return StoreError("chat.CheckContact", err)
	}
	switch {
	case by.Val():
		return errBlockedBy
	case own.Val():
		return errBlocking
	}
	return nil
}
