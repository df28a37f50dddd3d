package presence

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"parley/chat"
)

// Beat is one heartbeat: refresh this node's entries, register users whose
// registration failed or was lost, and sweep dead nodes. Run calls it; tests
// with a fake clock call it directly.
func (t *Tracker) Beat(ctx context.Context) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	id := t.id
	var users []string
	for m, e := range t.local {
		if e.registered && e.node == id {
			users = append(users, m)
		}
	}
	prev := t.refreshed
	t.mu.Unlock()
	now := t.now()
	if err := t.refreshAll(ctx, id, users); err != nil {
		t.log.Warn("presence: heartbeat failed", "node", id, "err", err)
		return // no sweeping either: this node cannot tell dead nodes from its own trouble
	}
	t.mu.Lock()
	t.refreshed = now
	t.mu.Unlock()
	t.registerPending(ctx)
	if !prev.IsZero() && now.Sub(prev) > t.expiry {
		// This node could not beat for longer than the expiry (Redis was
		// unreachable, or the process stalled): the others most likely
		// could not either. Give them one heartbeat to come back before
		// declaring anyone dead, instead of sweeping every node at once.
		return
	}
	if err := t.Sweep(ctx); err != nil {
		t.log.Warn("presence: sweep failed", "node", id, "err", err)
	}
}

// refreshAll pushes the expiry of id's entries forward, in batches; a batch
// that finds the node declared dead renews its id.
func (t *Tracker) refreshAll(ctx context.Context, id string, users []string) error {
	now := t.now()
	for start := 0; start == 0 || start < len(users); start += t.batch {
		part := users[start:min(start+t.batch, len(users))]
		keys := make([]string, 0, len(part)+1)
		keys = append(keys, t.nodes())
		for _, m := range part {
			d, u := split(m)
			keys = append(keys, t.userNodes(d, u))
		}
		n, err := t.refresh.Run(ctx, t.rdb, keys, id, ms(now), ms(now.Add(t.expiry)), keyTTL.Milliseconds()).Int64()
		if err != nil {
			return chat.StoreError("presence.Beat", err)
		}
		if n < 0 {
			t.renew(ctx, id)
			return nil
		}
	}
	return nil
}

// registerPending registers the users held here whose entry Redis lacks.
func (t *Tracker) registerPending(ctx context.Context) {
	t.mu.Lock()
	var pending []string
	for m, e := range t.local {
		if !e.registered {
			pending = append(pending, m)
		}
	}
	t.mu.Unlock()
	for _, m := range pending {
		lk := t.stripe(m)
		lk.Lock()
		t.mu.Lock()
		e := t.local[m]
		todo := e != nil && !e.registered && !t.closed
		t.mu.Unlock()
		var err error
		if todo {
			err = t.register(ctx, m, e)
		}
		lk.Unlock()
		if err != nil {
			t.log.Warn("presence: register failed", "user", m, "err", err)
			return
		}
	}
}

// Sweep evicts nodes whose last heartbeat is older than the expiry: each is
// claimed by exactly one sweeper, which removes it from its users and
// announces those left on no live node as offline.
func (t *Tracker) Sweep(ctx context.Context) error {
	const op = "presence.Sweep"
	now := t.now()
	deadline := ms(now.Add(-t.expiry))
	dead, err := t.rdb.ZRangeByScore(ctx, t.nodes(), &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(deadline), Count: 16}).Result()
	if err != nil {
		return chat.StoreError(op, err)
	}
	self := t.NodeID()
	for _, node := range dead {
		if node == self {
			continue // our own heartbeat is late; refresh will tell us if we lost the node
		}
		seen, err := t.claim.Run(ctx, t.rdb, []string{t.nodes(), t.nodeUsers(node), t.claimed(node)},
			node, deadline, (10 * t.expiry).Milliseconds()).Int64()
		if err != nil {
			return chat.StoreError(op, err)
		}
		if seen < 0 {
			continue // another node claimed it, or it came back
		}
		t.log.Info("presence: swept a dead node", "node", node, "last_heartbeat", seen)
		if err := t.evictAll(ctx, node, seen); err != nil {
			return err
		}
	}
	return nil
}

// evictAll removes the claimed dead node from each of its users.
func (t *Tracker) evictAll(ctx context.Context, node string, seen int64) error {
	const op = "presence.Sweep"
	claim := t.claimed(node)
	for {
		users, err := t.rdb.SRandMemberN(ctx, claim, int64(t.batch)).Result()
		if err != nil {
			return chat.StoreError(op, err)
		}
		if len(users) == 0 {
			return nil
		}
		keys := make([]string, 0, 2*len(users)+1)
		keys = append(keys, claim)
		args := []any{node, ms(t.now()), seen, keyTTL.Milliseconds()}
		for _, m := range users {
			d, u := split(m)
			keys = append(keys, t.userNodes(d, u), t.userAt(d, u))
			args = append(args, m)
		}
		gone, err := t.evict.Run(ctx, t.rdb, keys, args...).Int64Slice()
		if err != nil {
			return chat.StoreError(op, err)
		}
		for i, at := range gone {
			if at > 0 && i < len(users) {
				d, u := split(users[i])
				t.announce(ctx, d, u, false, at)
			}
		}
	}
}
