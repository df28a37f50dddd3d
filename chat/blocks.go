package chat

import (
	"context"
	"slices"
)

// Block makes u refuse every write from target, and keeps u from writing
// to target until the unblock: sends, edits, "seen", read receipts, typing
// and deletes in that DM are Forbidden either way, checked by guard.lua
// inside each write's script. Blocking is idempotent and leaves the history
// as it is.
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

// Contact errors, shared by every write that reaches another user (see
// guard.lua).
var (
	errBlockedBy = E("chat.Contact", Forbidden, "this user does not accept your messages", nil)
	errBlocking  = E("chat.Contact", Forbidden, "you have blocked this user; unblock them first", nil)
)
