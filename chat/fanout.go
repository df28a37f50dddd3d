package chat

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// A write toward another user runs as steps, each one atomic script whose
// keys share one Redis Cluster slot:
//
//  1. the conversation step, dry (checks its keys, a send's client id),
//     with the recipient's guard (their keys, their block list);
//  2. the writer's guard (their keys, their block list, their budget) and
//     the write's entry in the pending index (FanoutIndex);
//  3. the conversation step: the change, numbered as op n of the
//     conversation, with each participant's effects (Fanout, Pending);
//  4. one participant step per participant (apply.lua, in that user's
//     slot), idempotent and in op order;
//  5. done: the op leaves Fanout and Pending, the write leaves the index.
//
// A writer that dies between steps leaves the op pending: the next op of
// the conversation, a retry with the same client id, or the repair loop
// (RepairPending) completes it.

// opPart is what Go reads of an op: who its participants are.
type opPart struct {
	U UserID `json:"u"`
}

type opJSON struct {
	P []opPart `json:"p"`
}

// applied is a participant step's answer.
type applied struct {
	Status string // "ok" (applied now) or "done" (applied before)
	Moved  bool   // a horizon in the op moved (read receipts)
	Mark   string // the user's horizon in the DM after the step
	Unread int64  // the user's unread messages in the DM after it
}

// stepHook, when set (tests only), runs after each step of a write:
// "conversation" after the conversation step, "participant" after the
// first participant step. An error stops the write there, as if its node
// died, and is returned.
type stepHook func(stage string) error

func (s *Store) step(stage string) error {
	if s.hook == nil {
		return nil
	}
	return s.hook(stage)
}

// participantKeys are u's keys a participant step writes, in apply.lua's
// order; guard_step.lua checks the same.
func (s *Store) participantKeys(d Domain, u UserID) []string {
	return []string{s.keys.Applied(d, u), s.keys.Inbox(d, u), s.keys.UnreadBy(d, u),
		s.keys.Read(d, u), s.keys.EventSeq(d, u), s.keys.EventLog(d, u)}
}

// opKeys are the conversation's op keys, the last keys of every
// conversation step: op counter, fan-out hash, pending ops.
func (s *Store) opKeys(c Conversation) []string {
	return []string{s.keys.Ops(c), s.keys.Fanout(c), s.keys.Pending(c)}
}

// fanoutShard picks the index shard of a conversation.
func fanoutShard(c Conversation) int {
	h := fnv.New32a()
	h.Write([]byte(c.Key()))
	return int(h.Sum32() % FanoutShards)
}

// indexMember names one write (token: unique to it) of c in the pending
// index. Each write has its own entry and removes it when done, so an
// index entry never outlives its write but when the write's node died.
func indexMember(c Conversation, token string) string {
	return string(c.Domain) + "\n" + string(c.Lo) + "\n" + string(c.Hi) + "\n" + token
}

// parseIndexMember reads an index member back.
func parseIndexMember(m string) (Conversation, bool) {
	p := strings.Split(m, "\n")
	if len(p) != 4 {
		return Conversation{}, false
	}
	d, err1 := ParseDomain(p[0])
	lo, err2 := ParseUserID(p[1])
	hi, err3 := ParseUserID(p[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return Conversation{}, false
	}
	c, err := NewConversation(d, lo, hi)
	return c, err == nil
}

// guardCall is the guard step of user u toward other in conversation c:
// refusal is the answer when u blocked other ("" checks no block), spend
// whether u's budget (bucket, rate, burst) is spent, seq a message seq for
// a read receipt (0: none). Its ARGV[6..7] (a send's client id) are empty
// until the caller sets them.
func (s *Store) guardCall(c Conversation, u, other UserID, refusal string, bucket string, rate float64, burst int, seq int64) scriptCall {
	d := c.Domain
	rateArg, seqArg := "", ""
	if bucket != "" {
		rateArg = strconv.FormatFloat(rate, 'g', -1, 64)
	} else {
		bucket = s.keys.WriteBucket(d, u) // not read: the key only keeps the slot
	}
	if seq > 0 {
		seqArg = strconv.FormatInt(seq, 10)
	}
	keys := append([]string{s.keys.Blocks(d, u), bucket}, s.participantKeys(d, u)...)
	return scriptCall{script: s.guard, keys: keys, args: []any{string(other), refusal, rateArg, burst, seqArg, "", "", c.Key()}}
}

// scriptCall is one script run of a pipeline.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
}

// runCalls runs calls one after the other and fills each call's cmd
// (Script.Run: EVALSHA, loading the script on NOSCRIPT). Not a pipeline:
// go-redis serves pipelines from a second pool whose connections carry
// 128 KiB buffers, a memory cost per node that one round trip saved per
// step does not pay for; the steps' Redis cost is the same either way.
func (s *Store) runCalls(ctx context.Context, calls ...*scriptCall) {
	for _, c := range calls {
		c.cmd = s.run(ctx, c.script, c.keys, c.args...)
	}
}

// guardReply reads a guard step's answer: nil to go on, or the refusal.
func guardReply(op, rateMsg string, c *scriptCall) error {
	res, err := c.cmd.Result()
	if err != nil {
		return StoreError(op, err)
	}
	return refusal(op, rateMsg, res)
}

// applyOp runs participant u's step of op n of conv; force says every
// earlier op is applied or done. A gap comes back as status "gap" with
// Unread holding the last op applied.
// The step answers the user's horizon and unread count only for ops that
// move a horizon on request (read receipts: state).
func (s *Store) applyCall(conv Conversation, u UserID, n int64, raw string, force, state bool) *scriptCall {
	f, st := "", ""
	if force {
		f = "1"
	}
	if state {
		st = "1"
	}
	return &scriptCall{script: s.apply, keys: s.participantKeys(conv.Domain, u),
		args: []any{conv.Key(), n, raw, string(u), f, s.limits.EventLogMax, s.limits.EventLogAge.Milliseconds(), st}}
}

func applyReply(op string, c *scriptCall) (applied, error) {
	res, err := c.cmd.Slice()
	if err != nil {
		return applied{}, StoreError(op, err)
	}
	if len(res) == 2 {
		if st, _ := res[0].(string); st == "gap" {
			n, _ := res[1].(int64)
			return applied{Status: "gap", Unread: n}, nil
		}
	}
	if len(res) != 4 {
		return applied{}, errorf(op, "unexpected participant step reply %v", res)
	}
	st, _ := res[0].(string)
	moved, _ := res[1].(int64)
	mark, _ := res[2].(string)
	unread, _ := res[3].(int64)
	return applied{Status: st, Moved: moved == 1, Mark: mark, Unread: unread}, nil
}

// fanOut runs every participant step of op n of conv (raw: its JSON),
// then tells the notifier (if any) and marks it done and takes the write's entry (member, "" for none)
// off the pending index. It returns each participant's answer (with
// their horizon and unread count when state is set).
func (s *Store) fanOut(ctx context.Context, op string, conv Conversation, n int64, raw, member string, state bool) (map[UserID]applied, error) {
	var o opJSON
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		return nil, errorf(op, "decode op %d of %s: %w", n, conv.Key(), err)
	}
	calls := make([]*scriptCall, len(o.P))
	for i, p := range o.P {
		calls[i] = s.applyCall(conv, p.U, n, raw, false, state)
	}
	out := make(map[UserID]applied, len(o.P))
	if s.hook != nil { // one step at a time, so a test can stop between them
		for i, c := range calls {
			s.runCalls(ctx, c)
			if err := s.settle(ctx, op, conv, o.P[i].U, n, raw, state, c, out); err != nil {
				return nil, err
			}
			if i == 0 {
				if err := s.step("participant"); err != nil {
					return nil, err
				}
			}
		}
	} else {
		s.runCalls(ctx, calls...)
		for i, c := range calls {
			if err := s.settle(ctx, op, conv, o.P[i].U, n, raw, state, c, out); err != nil {
				return nil, err
			}
		}
	}
	if err := s.finish(ctx, op, conv, n, raw, member, out); err != nil {
		return nil, err
	}
	return out, nil
}

// settle reads participant u's step answer; on a gap it applies the
// conversation's earlier pending ops to u first, then op n again.
func (s *Store) settle(ctx context.Context, op string, conv Conversation, u UserID, n int64, raw string, state bool, c *scriptCall, out map[UserID]applied) error {
	r, err := applyReply(op, c)
	if err != nil {
		return err
	}
	if r.Status == "gap" {
		if r, err = s.fillGap(ctx, op, conv, u, r.Unread, n, raw, state); err != nil {
			return err
		}
	}
	out[u] = r
	return nil
}

// fillGap applies to u the pending ops of conv after the last one applied
// (from) and before n, in order, then op n: every op in between that is
// not pending any more is done, so applied everywhere.
func (s *Store) fillGap(ctx context.Context, op string, conv Conversation, u UserID, from, n int64, raw string, state bool) (applied, error) {
	ops, err := s.pendingOps(ctx, op, conv, from, n-1)
	if err != nil {
		return applied{}, err
	}
	for _, p := range ops {
		c := s.applyCall(conv, u, p.n, p.raw, true, false)
		s.runCalls(ctx, c)
		if _, err := applyReply(op, c); err != nil {
			return applied{}, err
		}
	}
	c := s.applyCall(conv, u, n, raw, true, state)
	s.runCalls(ctx, c)
	r, err := applyReply(op, c)
	if err == nil && r.Status == "gap" {
		err = errorf(op, "op %d of %s: still a gap for %s after filling it", n, conv.Key(), u)
	}
	return r, err
}

type pendingOp struct {
	n   int64
	raw string
}

// pendingOps reads conv's pending ops numbered above after and up to
// upTo, in order, as one snapshot.
func (s *Store) pendingOps(ctx context.Context, op string, conv Conversation, after, upTo int64) ([]pendingOp, error) {
	if upTo <= after {
		return nil, nil
	}
	ns, err := s.rdb.ZRangeByScore(ctx, s.keys.Pending(conv), &redis.ZRangeBy{
		Min: "(" + strconv.FormatInt(after, 10), Max: strconv.FormatInt(upTo, 10)}).Result()
	if err != nil {
		return nil, StoreError(op, err)
	}
	if len(ns) == 0 {
		return nil, nil
	}
	raws, err := s.rdb.HMGet(ctx, s.keys.Fanout(conv), ns...).Result()
	if err != nil {
		return nil, StoreError(op, err)
	}
	out := make([]pendingOp, 0, len(ns))
	for i, v := range raws {
		raw, ok := v.(string)
		if !ok {
			continue // done since the ZRANGEBYSCORE: applied everywhere
		}
		n, err := strconv.ParseInt(ns[i], 10, 64)
		if err != nil {
			return nil, errorf(op, "pending op %q of %s", ns[i], conv.Key())
		}
		out = append(out, pendingOp{n, raw})
	}
	return out, nil
}

// done marks conv's fan-out done up to op n (done.lua), then takes member
// off the pending index.
func (s *Store) done(ctx context.Context, op string, conv Conversation, n int64, member string) error {
	err := s.run(ctx, s.doneScript, []string{s.keys.Fanout(conv), s.keys.Pending(conv)}, n).Err()
	if err == nil && member != "" {
		err = s.rdb.ZRem(ctx, s.keys.FanoutIndex(fanoutShard(conv)), member).Err()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return StoreError(op, err)
	}
	return nil
}

// completePending applies every pending op of conv up to upTo, in order,
// and marks them done: a retry with a client id, and the repair loop.
// Returns how many ops it completed.
func (s *Store) completePending(ctx context.Context, op string, conv Conversation, upTo int64) (int, error) {
	ops, err := s.pendingOps(ctx, op, conv, 0, upTo)
	if err != nil {
		return 0, err
	}
	for _, p := range ops {
		if _, err := s.fanOut(ctx, op, conv, p.n, p.raw, "", false); err != nil {
			return 0, err
		}
	}
	return len(ops), nil
}

// index records a write of conv, before its conversation step, in the
// pending index, scored by the time it started (ms).
func (s *Store) index(ctx context.Context, conv Conversation, member string, ms int64) error {
	return s.rdb.ZAdd(ctx, s.keys.FanoutIndex(fanoutShard(conv)),
		redis.Z{Score: float64(ms), Member: member}).Err()
}

// unindex takes a write that created no op off the pending index.
func (s *Store) unindex(ctx context.Context, conv Conversation, member string) {
	_ = s.rdb.ZRem(context.WithoutCancel(ctx), s.keys.FanoutIndex(fanoutShard(conv)), member).Err()
}

// refund undoes the spend of a writer's guard step g (guard_refund.lua)
// when the write's conversation step then wrote nothing; best effort.
func (s *Store) refund(ctx context.Context, g *scriptCall) {
	res, _ := g.cmd.Slice()
	if len(res) != 6 {
		return
	}
	args := make([]any, 5)
	for i := range args {
		args[i], _ = res[i+1].(string)
	}
	keys := []string{g.keys[1], g.keys[1]}
	if len(g.keys) > 9 {
		keys[1] = g.keys[9]
	}
	_ = s.run(context.WithoutCancel(ctx), s.refundScript, keys, args...).Err()
}
