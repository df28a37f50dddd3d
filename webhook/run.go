package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Run delivers webhooks until ctx ends: it reads every shard as this
// node's consumer, sends, retries, dead-letters, moves due retries back
// into the queue and takes over entries other nodes hold too long. Every
// node runs it. It returns once every request it started has finished;
// an entry whose request ctx cut short stays in the queue, for this node
// or another to reclaim. Redis errors are logged and the shard's loop
// tries again after a short backoff; no entry is lost to them.
func (q *Queue) Run(ctx context.Context) {
	for s := range q.o.Shards {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			q.consume(ctx, s)
		}()
	}
	q.wg.Wait() // the loops and every request they started
}

// consume is shard s's loop.
func (q *Queue) consume(ctx context.Context, s int) {
	stream := q.keys.WebhookQueue(s)
	backoff := newRedisBackoff()
	groupReady := false
	var lastReclaim time.Time
	reclaimCursor := "0-0"
	for ctx.Err() == nil {
		if !groupReady {
			if err := q.ensureGroup(ctx, s); err != nil {
				q.redisError(ctx, backoff, "create consumer group", s, err)
				continue
			}
			groupReady = true
		}
		nextDue, err := q.promoteDue(ctx, s)
		if err != nil {
			q.redisError(ctx, backoff, "promote retries", s, err)
			continue
		}
		if w := q.cb.wait(q.now()); w > 0 {
			sleep(ctx, w)
			continue
		}
		if now := q.now(); now.Sub(lastReclaim) >= q.o.ReclaimIdle/2 {
			msgs, next, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: group,
				Consumer: q.o.Node, MinIdle: q.o.ReclaimIdle, Start: reclaimCursor, Count: int64(q.o.Batch)}).Result()
			if err != nil {
				groupReady = !isNoGroup(err)
				q.redisError(ctx, backoff, "reclaim", s, err)
				continue
			}
			if len(msgs) > 0 {
				q.log.InfoContext(ctx, "webhook: reclaimed idle entries (of a node that stopped, or that could not settle them)", "shard", s, "entries", len(msgs))
			}
			reclaimCursor = next
			if next == "0-0" || next == "" {
				reclaimCursor, lastReclaim = "0-0", now
				q.forgetConsumers(ctx, s)
			}
			q.dispatch(ctx, s, msgs)
		}
		// Read no more than there are free request slots (waiting for one
		// if none is), so what is read is sent soon, well before
		// ReclaimIdle would let another node take it over.
		select {
		case q.slots <- struct{}{}:
			<-q.slots
		case <-ctx.Done():
			return
		}
		block := q.o.Poll
		if nextDue > 0 {
			block = min(block, time.Until(time.UnixMilli(nextDue)))
		}
		block = max(block, time.Millisecond) // BLOCK 0 would wait forever
		count := max(1, cap(q.slots)-len(q.slots))
		res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: q.o.Node,
			Streams: []string{stream, ">"}, Count: int64(min(count, q.o.Batch)), Block: block}).Result()
		if errors.Is(err, redis.Nil) {
			backoff.reset()
			continue
		}
		if err != nil {
			groupReady = !isNoGroup(err)
			q.redisError(ctx, backoff, "read", s, err)
			continue
		}
		backoff.reset()
		for _, r := range res {
			q.dispatch(ctx, s, r.Messages)
		}
	}
}

// ensureGroup creates shard s's consumer group (and stream) when missing.
// The group starts at 0: whatever the stream holds is undelivered, as
// delivered entries are deleted.
func (q *Queue) ensureGroup(ctx context.Context, s int) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.keys.WebhookQueue(s), group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

// promoteDue moves shard s's due retries into its queue and returns the
// epoch ms the next one is due (0: none).
func (q *Queue) promoteDue(ctx context.Context, s int) (int64, error) {
	for {
		next, err := q.promote.Run(ctx, q.rdb, []string{q.keys.WebhookRetry(s), q.keys.WebhookQueue(s)},
			q.now().UnixMilli(), q.o.Batch).Int64()
		if err != nil {
			return 0, err
		}
		if next < 0 {
			return 0, nil
		}
		if next > q.now().UnixMilli() {
			return next, nil
		}
		// More than a batch was due: go on.
	}
}

// redisError logs a Redis error of shard s's loop and waits a backoff.
func (q *Queue) redisError(ctx context.Context, b *redisBackoff, what string, s int, err error) {
	if ctx.Err() != nil {
		return
	}
	q.log.WarnContext(ctx, "webhook: redis error, retrying", "op", what, "shard", s, "err", err)
	sleep(ctx, b.next())
}

// forgetConsumers deletes shard s's consumers that hold nothing and have
// been idle for 4 * ReclaimIdle (stopped nodes); an error is only logged.
func (q *Queue) forgetConsumers(ctx context.Context, s int) {
	n, err := q.consumers.Run(ctx, q.rdb, []string{q.keys.WebhookQueue(s)}, group, (4 * q.o.ReclaimIdle).Milliseconds()).Int64()
	if err != nil && ctx.Err() == nil {
		q.log.WarnContext(ctx, "webhook: cannot forget idle consumers", "shard", s, "err", err)
	}
	if n > 0 {
		q.log.InfoContext(ctx, "webhook: forgot idle consumers", "shard", s, "consumers", n)
	}
}

// dispatch hands each entry to a worker once a request slot is free. An
// entry left when ctx ends stays pending in the queue, to be reclaimed.
func (q *Queue) dispatch(ctx context.Context, s int, msgs []redis.XMessage) {
	read := q.now()
	for _, m := range msgs {
		select {
		case q.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if waited := q.now().Sub(read); waited > q.o.ReclaimIdle/4 && !q.stillOurs(ctx, s, m.ID, waited) {
			<-q.slots
			continue
		}
		q.wg.Add(1)
		go func() {
			defer func() { <-q.slots; q.wg.Done() }()
			q.handle(ctx, s, m)
		}()
	}
}

// stillOurs reports whether entry id, read waited ago, is still this
// node's, and resets its idle time so no other node takes it over while
// it is sent. Another node may have claimed it meanwhile, which it did
// at least ReclaimIdle after the read, so the claim's idle time is well
// under waited - ReclaimIdle/2 and XCLAIM with that minimum fails; then
// it is that node's to send. On a Redis error the entry is sent anyway
// (at least once).
func (q *Queue) stillOurs(ctx context.Context, s int, id string, waited time.Duration) bool {
	ids, err := q.rdb.XClaimJustID(ctx, &redis.XClaimArgs{Stream: q.keys.WebhookQueue(s), Group: group,
		Consumer: q.o.Node, MinIdle: max(0, waited-q.o.ReclaimIdle/2), Messages: []string{id}}).Result()
	return err != nil || len(ids) == 1
}

// handle delivers one entry and settles it: acked on success, scheduled
// for a retry, or dead-lettered.
func (q *Queue) handle(ctx context.Context, s int, m redis.XMessage) {
	raw, _ := m.Values["r"].(string)
	var rec record
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		q.settle(ctx, "dead", s, m.ID, func(c context.Context) error {
			return q.deadLetter(c, s, m.ID, record{ID: m.ID, Shard: s, Err: "malformed queue entry: " + err.Error(), Body: json.RawMessage(strconv.Quote(raw))})
		})
		return
	}
	now := q.now()
	first := time.UnixMilli(rec.First)
	if now.Sub(first) > q.o.MaxAge {
		last := rec.Err
		if last == "" {
			last = "none (never sent: the circuit was open, or no node ran)"
		}
		rec.Err = fmt.Sprintf("older than the maximum age %s after %d attempts; last error: %s", q.o.MaxAge, rec.Attempts, last)
		q.settle(ctx, "dead", s, m.ID, func(c context.Context) error { return q.deadLetter(c, s, m.ID, rec) })
		return
	}
	ok, probe, wait := q.cb.admit(now)
	if !ok {
		// The circuit is open: back to the retry set until it may close,
		// without counting an attempt.
		q.settle(ctx, "retry", s, m.ID, func(c context.Context) error { return q.schedule(c, s, m.ID, rec, now.Add(wait)) })
		return
	}
	out := q.send(ctx, rec)
	if ctx.Err() != nil && out.status == 0 {
		// Cut short by our own shutdown, which says nothing of the
		// receiver: the entry stays pending, to be reclaimed.
		q.cb.abandon(probe)
		return
	}
	rec.Attempts++
	now = q.now()
	q.cb.done(now, out.err == nil, probe)
	switch {
	case out.err == nil:
		q.settle(ctx, "ack", s, m.ID, func(c context.Context) error { return q.ack(c, s, m.ID) })
		q.stats.observe(now.Sub(first))
	case out.permanent:
		rec.Err = out.err.Error()
		q.settle(ctx, "dead", s, m.ID, func(c context.Context) error { return q.deadLetter(c, s, m.ID, rec) })
	default:
		rec.Err = out.err.Error()
		delay := max(q.backoff(rec.Attempts), out.retryAfter)
		if now.Add(delay).Sub(first) > q.o.MaxAge {
			rec.Err = fmt.Sprintf("gave up after %d attempts (the next would pass the maximum age %s); last error: %s", rec.Attempts, q.o.MaxAge, rec.Err)
			q.settle(ctx, "dead", s, m.ID, func(c context.Context) error { return q.deadLetter(c, s, m.ID, rec) })
			return
		}
		q.stats.retried.Add(1)
		q.settle(ctx, "retry", s, m.ID, func(c context.Context) error { return q.schedule(c, s, m.ID, rec, now.Add(delay)) })
	}
}

// settle runs a step that moves an entry out of the queue. It outlives
// ctx by a little (the request's outcome must not be lost to shutdown)
// and tries a few times; an entry it cannot settle stays pending and is
// reclaimed, so it is delivered again rather than lost.
func (q *Queue) settle(ctx context.Context, what string, s int, id string, step func(context.Context) error) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b := newRedisBackoff()
	var err error
	for range 3 {
		if err = step(c); err == nil {
			return
		}
		sleep(c, b.next())
	}
	q.log.ErrorContext(ctx, "webhook: cannot settle an entry; it is delivered again after the reclaim interval",
		"op", what, "shard", s, "entry", id, "err", err)
}

func (q *Queue) ack(ctx context.Context, s int, id string) error {
	stream := q.keys.WebhookQueue(s)
	_, err := q.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, stream, group, id)
		p.XDel(ctx, stream, id)
		return nil
	})
	return err
}

func (q *Queue) schedule(ctx context.Context, s int, id string, rec record, due time.Time) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return q.retry.Run(ctx, q.rdb, []string{q.keys.WebhookQueue(s), q.keys.WebhookRetry(s)},
		group, id, due.UnixMilli(), string(b)).Err()
}

func (q *Queue) deadLetter(ctx context.Context, s int, id string, rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	n, err := q.dead.Run(ctx, q.rdb, []string{q.keys.WebhookQueue(s), q.keys.WebhookDead(s)},
		group, id, string(b), q.o.DeadMax).Int64()
	if err == nil && n == 1 {
		q.stats.dead.Add(1)
		q.log.WarnContext(ctx, "webhook: dead-lettered", "id", rec.ID, "type", rec.Type, "attempts", rec.Attempts, "err", rec.Err)
	}
	return err
}

// backoff returns the delay after failed attempt n (1-based): a random
// duration in [c/2, c), where c = min(RetryMax, RetryBase * 2^(n-1)).
// Jitter spreads the retries of many webhooks; keeping it in the upper
// half makes every delay at least as long as the one before could be
// (until the cap), so the gaps grow, which full jitter cannot promise.
func (q *Queue) backoff(n int) time.Duration {
	d := q.o.RetryBase
	for i := 1; i < n && d < q.o.RetryMax; i++ {
		d *= 2 // stops at the cap, so it never overflows
	}
	d = min(d, q.o.RetryMax)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2)
}

// outcome is what one attempt came to.
type outcome struct {
	status     int           // HTTP status; 0: no answer
	err        error         // nil: delivered
	permanent  bool          // not to be retried
	retryAfter time.Duration // the receiver's Retry-After
}

// maxErrorBody bounds what of a failed answer's body goes into the error.
const maxErrorBody = 256

// send makes one attempt at delivering rec.
func (q *Queue) send(ctx context.Context, rec record) outcome {
	ctx, cancel := context.WithTimeout(ctx, q.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.o.URL, bytes.NewReader(rec.Body))
	if err != nil {
		return outcome{err: err, permanent: true}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(EventIDHeader, rec.ID)
	req.Header.Set(SignatureHeader, Sign(q.o.Secret, q.now(), rec.Body))
	q.stats.requests.Add(1)
	resp, err := q.o.Client.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return outcome{status: resp.StatusCode}
	}
	out := outcome{status: resp.StatusCode, err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))}
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		out.permanent = true
		return out
	}
	if sec, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && sec > 0 {
		out.retryAfter = time.Duration(sec) * time.Second
	}
	return out
}

// redisBackoff is the wait between tries of a Redis step: 50ms doubling
// to 5s.
type redisBackoff struct{ d time.Duration }

func newRedisBackoff() *redisBackoff { return &redisBackoff{} }

func (b *redisBackoff) next() time.Duration {
	b.d = min(max(2*b.d, 50*time.Millisecond), 5*time.Second)
	return b.d
}

func (b *redisBackoff) reset() { b.d = 0 }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
