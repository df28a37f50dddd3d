package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeadEntry is one dead-lettered webhook.
type DeadEntry struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	To          string          `json:"to"`
	Error       string          `json:"error"`    // why it was given up on
	Attempts    int             `json:"attempts"` // requests made
	FirstQueued time.Time       `json:"first_queued"`
	Died        time.Time       `json:"died"`
	Payload     json.RawMessage `json:"payload"`
}

// deadBatch bounds the dead entries read per round trip.
const deadBatch = 500

// Dead returns up to limit dead-lettered webhooks over all shards, the
// most recently dead first.
func (q *Queue) Dead(ctx context.Context, limit int) ([]DeadEntry, error) {
	if limit <= 0 {
		return nil, nil
	}
	var all []DeadEntry
	for s := range q.o.Shards {
		msgs, err := q.rdb.XRevRangeN(ctx, q.keys.WebhookDead(s), "+", "-", int64(limit)).Result()
		if err != nil {
			return nil, fmt.Errorf("webhook: dead letters of shard %d: %w", s, err)
		}
		for _, m := range msgs {
			all = append(all, deadEntry(m))
		}
	}
	slices.SortStableFunc(all, func(a, b DeadEntry) int { return b.Died.Compare(a.Died) })
	return all[:min(limit, len(all))], nil
}

// deadEntry decodes a dead stream entry; the stream id holds when it died.
func deadEntry(m redis.XMessage) DeadEntry {
	raw, _ := m.Values["r"].(string)
	var rec record
	_ = json.Unmarshal([]byte(raw), &rec) // a malformed one still lists, with what is known
	ms, _ := strconv.ParseInt(strings.SplitN(m.ID, "-", 2)[0], 10, 64)
	return DeadEntry{ID: rec.ID, Type: rec.Type, To: rec.To, Error: rec.Err, Attempts: rec.Attempts,
		FirstQueued: time.UnixMilli(rec.First).UTC(), Died: time.UnixMilli(ms).UTC(), Payload: rec.Body}
}

// Replay queues dead-lettered webhooks again, as if first queued now
// (a fresh MaxAge, no attempts): those with the given ids, or every one
// when ids is empty. It returns how many it queued; ids not among the
// dead are skipped. Each entry moves in one atomic step, so replaying
// twice, or from two processes, queues it once.
func (q *Queue) Replay(ctx context.Context, ids ...string) (int, error) {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	total := 0
	var errs []error
	for s := range q.o.Shards {
		n, err := q.replayShard(ctx, s, want)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook: replay shard %d: %w", s, err))
		}
	}
	q.stats.replayed.Add(int64(total))
	return total, errors.Join(errs...)
}

// replayShard replays shard s's dead entries that want names (all when
// it is empty), reading the dead stream in batches.
func (q *Queue) replayShard(ctx context.Context, s int, want map[string]bool) (int, error) {
	dead := q.keys.WebhookDead(s)
	keys := []string{dead, q.keys.WebhookQueue(s), q.keys.WebhookIDs(s)}
	n, start := 0, "-"
	for {
		msgs, err := q.rdb.XRangeN(ctx, dead, start, "+", deadBatch).Result()
		if err != nil {
			return n, err
		}
		for _, m := range msgs {
			raw, _ := m.Values["r"].(string)
			var rec record
			if err := json.Unmarshal([]byte(raw), &rec); err != nil || rec.ID == "" || len(rec.Body) == 0 {
				continue // not replayable: left for an operator to look at
			}
			if len(want) > 0 && !want[rec.ID] {
				continue
			}
			now := q.now().UnixMilli()
			rec.First, rec.Attempts, rec.Err = now, 0, ""
			b, err := json.Marshal(rec)
			if err != nil {
				return n, err
			}
			ok, err := q.replay.Run(ctx, q.rdb, keys, m.ID, rec.ID, now, string(b)).Int64()
			if err != nil {
				return n, err
			}
			n += int(ok)
		}
		if len(msgs) < deadBatch {
			return n, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}
