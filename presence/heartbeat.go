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
	now := t.now()
	renew := t.renewed.IsZero() || now.Sub(t.renewed) >= ttlRenewal
	t.mu.Unlock()
	if err := t.refreshAll(ctx, id, users, renew); err != nil {
		t.log.Warn("presence: heartbeat failed", "node", id, "err", err)
		return // no sweeping either: this node cannot tell dead nodes from its own trouble
	}
	t.mu.Lock()
	t.refreshed = now
	if renew {
		t.renewed = now
	}
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

// refreshAll pushes id's heartbeat and its users' expiries forward. The
// node step (beat.lua, the node's slot) goes first: when it finds the node
// declared dead, the node renews its id and writes nothing else. Then one
// pipeline (split per node on a cluster) refreshes the registry entry and,
// per user, this node's entry (ZADD XX: an entry removed meanwhile, the
// user left, is not brought back) and, with renew (once per ttlRenewal),
// the key's TTL.
func (t *Tracker) refreshAll(ctx context.Context, id string, users []string, renew bool) error {
	const op = "presence.Beat"
	now := t.now()
	n, err := t.beatScript.Run(ctx, t.rdb, []string{t.keys.NodeBeat(id)}, ms(now), keyTTL.Milliseconds()).Int64()
	if err != nil {
		return chat.StoreError(op, err)
	}
	if n < 0 {
		t.renew(ctx, id)
		return nil
	}
	exp := float64(ms(now.Add(t.expiry)))
	for start := 0; start == 0 || start < len(users); start += t.batch {
		part := users[start:min(start+t.batch, len(users))]
		p := t.rdb.Pipeline()
		if start == 0 {
			p.ZAdd(ctx, t.nodes(), redis.Z{Score: float64(ms(now)), Member: id})
		}
		for _, m := range part {
			d, u := split(m)
			p.ZAddXX(ctx, t.userNodes(d, u), redis.Z{Score: exp, Member: id})
			if renew {
				p.PExpire(ctx, t.userNodes(d, u), keyTTL)
			}
		}
		if _, err := p.Exec(ctx); err != nil {
			return chat.StoreError(op, err)
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
		seen, err := t.claim.Run(ctx, t.rdb, []string{t.keys.NodeBeat(node), t.nodeUsers(node), t.claimed(node)},
			deadline, (10 * t.expiry).Milliseconds()).Int64()
		if err != nil {
			return chat.StoreError(op, err)
		}
		if seen == -1 {
			continue // it came back (its registry entry lags its heartbeat key)
		}
		// Claimed by this caller, or earlier by another, or the node left:
		// its registry entry goes (idempotent; a different slot).
		if err := t.rdb.ZRem(ctx, t.nodes(), node).Err(); err != nil {
			return chat.StoreError(op, err)
		}
		if seen < 0 {
			continue
		}
		t.log.Info("presence: swept a dead node", "node", node, "last_heartbeat", seen)
		if err := t.evictAll(ctx, node, seen); err != nil {
			return err
		}
	}
	return nil
}

// evictAll removes the claimed dead node from each of its users: per user
// the user step (evict.lua, the user's slot), pipelined by batch, then the
// users done leave the claim (the node's slot). A sweeper that dies midway
// leaves the rest in the claim, which expires (as before the split); their
// entries expire by themselves, without an offline event.
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
		now := ms(t.now())
		p := t.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(users))
		for i, m := range users {
			d, u := split(m)
			cmds[i] = t.evict.Eval(ctx, p, []string{t.userNodes(d, u), t.userAt(d, u)}, node, now, seen, keyTTL.Milliseconds())
		}
		_, _ = p.Exec(ctx) // errors are per command, below
		var done []any
		var firstErr error
		for i, c := range cmds {
			at, err := c.Int64()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			done = append(done, users[i])
			if at > 0 {
				d, u := split(users[i])
				t.announce(ctx, d, u, false, at)
			}
		}
		if len(done) > 0 {
			if err := t.rdb.SRem(ctx, claim, done...).Err(); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		if firstErr != nil {
			return chat.StoreError(op, firstErr)
		}
	}
}
