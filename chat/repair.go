package chat

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// unleaseLua releases a lease only if it is still the caller's.
// KEYS[1] the lease  ARGV[1] the holder
const unleaseLua = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

// Repair defaults: a write whose fan-out is still pending this long after
// it started is taken for dead and completed by the repair loop, which
// looks every RepairEvery; a repairing node holds a conversation's lease
// for at most RepairLease.
const (
	DefaultRepairStale = 5 * time.Second
	DefaultRepairEvery = time.Second
	RepairLease        = 10 * time.Second
	repairBatch        = 50
)

// repairStats count the repair loop's work on this node.
type repairStats struct {
	ops    atomic.Int64 // ops whose fan-out the loop completed
	oldest atomic.Int64 // age in ms of the oldest index entry seen by the last pass
}

// RepairStats reports how many pending ops the repair loop completed on
// this node, and the age of the oldest pending write the last pass saw
// (0 when none was stale).
func (s *Store) RepairStats() (ops int64, oldest time.Duration) {
	return s.repaired.ops.Load(), time.Duration(s.repaired.oldest.Load()) * time.Millisecond
}

// RepairPending completes the fan-out of every write that started more
// than stale ago and is still in the pending index (its node died or
// lost Redis between steps): every pending op of its conversation, in
// order, under a lease held by node, so two nodes do not repeat each
// other's work; each op applies once to each participant whoever
// completes it (apply.lua records what is applied). Returns the ops it
// completed.
func (s *Store) RepairPending(ctx context.Context, node string, stale time.Duration) (int, error) {
	const op = "chat.RepairPending"
	cutoff := s.now().Add(-stale).UnixMilli()
	total := 0
	var oldest int64
	for i := range FanoutShards {
		idx := s.keys.FanoutIndex(i)
		zs, err := s.rdb.ZRangeByScoreWithScores(ctx, idx, &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(cutoff, 10), Count: repairBatch}).Result()
		if err != nil {
			return total, StoreError(op, err)
		}
		for _, z := range zs {
			member, _ := z.Member.(string)
			if age := s.now().UnixMilli() - int64(z.Score); age > oldest {
				oldest = age
			}
			conv, ok := parseIndexMember(member)
			if !ok {
				_ = s.rdb.ZRem(ctx, idx, member).Err()
				continue
			}
			left, err := s.rdb.ZCard(ctx, s.keys.Pending(conv)).Result()
			if err != nil {
				return total, StoreError(op, err)
			}
			if left == 0 {
				if err := s.rdb.ZRem(ctx, idx, member).Err(); err != nil {
					return total, StoreError(op, err)
				}
				continue
			}
			lease := s.keys.Lease(conv)
			got, err := s.rdb.SetNX(ctx, lease, node, RepairLease).Result()
			if err != nil {
				return total, StoreError(op, err)
			}
			if !got {
				continue // another node repairs it now
			}
			n, err := s.completePending(ctx, op, conv, 1<<62)
			_ = s.unlease.Run(context.WithoutCancel(ctx), s.rdb, []string{lease}, node).Err()
			if err != nil {
				return total, err
			}
			total += n
			s.repaired.ops.Add(int64(n))
			if err := s.rdb.ZRem(ctx, idx, member).Err(); err != nil {
				return total, StoreError(op, err)
			}
		}
	}
	s.repaired.oldest.Store(oldest)
	return total, nil
}

// RunRepair runs RepairPending every `every` until ctx ends (zero values:
// DefaultRepairEvery, DefaultRepairStale). Every node runs it; errors (a
// Redis away) are retried on the next pass; report, when set, hears them.
func (s *Store) RunRepair(ctx context.Context, node string, every, stale time.Duration, report func(error)) {
	if every <= 0 {
		every = DefaultRepairEvery
	}
	if stale <= 0 {
		stale = DefaultRepairStale
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.RepairPending(ctx, node, stale); err != nil && ctx.Err() == nil && report != nil {
			report(err)
		}
	}
}
