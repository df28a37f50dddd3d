package chat

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// opRun describes a write other than a send, run as steps (see fanout.go):
// edit, "seen", read receipt, delete.
type opRun struct {
	op, rateMsg  string
	conv         Conversation
	writer, peer UserID
	// moderator: no block is checked and no budget spent (only the
	// participants' keys are).
	moderator bool
	// readSeq: the writer's budget is spent only when the message (the
	// dry step's seq) is after the writer's read horizon; otherwise the
	// write stops there, answering the horizon as it is (a read receipt
	// that moves nothing costs nothing).
	readSeq bool
	script  *redis.Script
	keys    []string // the conversation step's keys
	args    []any    // its arguments after the mode
}

// opResult is what a write's steps answered: code 1 (done), 0 (no such
// message) or -1 (it changed since it was read); still when a read
// receipt moved nothing; each participant's step otherwise.
type opResult struct {
	code  int64
	still *applied
	parts map[UserID]applied
}

// runOp runs r's steps: the conversation step dry with the peer's guard,
// the writer's guard with the pending index entry, the conversation step,
// the participant steps and done. A refusal or a failed check writes
// nothing; a failure after the conversation step leaves the op pending,
// for the repair loop.
func (s *Store) runOp(ctx context.Context, r opRun) (opResult, error) {
	d := r.conv.Domain
	peerRefusal, writerRefusal := "blocked_by", "blocking"
	bucket := s.keys.WriteBucket(d, r.writer)
	if r.moderator {
		peerRefusal, writerRefusal, bucket = "", "", ""
	}
	dry := &scriptCall{script: r.script, keys: r.keys, args: append([]any{"dry"}, r.args...)}
	guardPeer := s.guardCall(r.conv, r.peer, r.writer, peerRefusal, "", 0, 0, 0)
	s.runCalls(ctx, dry, &guardPeer)
	res, err := dry.cmd.Slice()
	if err != nil {
		return opResult{}, StoreError(r.op, err)
	}
	if code, _ := res[0].(int64); code != 1 {
		return opResult{code: code}, nil
	}
	if err := guardReply(r.op, r.rateMsg, &guardPeer); err != nil {
		return opResult{}, err
	}
	var seq int64
	if r.readSeq && len(res) == 4 {
		seq, _ = res[3].(int64)
	}
	guardWriter := s.guardCall(r.conv, r.writer, r.peer, writerRefusal, bucket, s.limits.WriteRate, s.limits.WriteBurst, seq)
	s.runCalls(ctx, &guardWriter)
	if err := guardReply(r.op, r.rateMsg, &guardWriter); err != nil {
		return opResult{}, err
	}
	if g, _ := guardWriter.cmd.Slice(); len(g) == 3 {
		if st, _ := g[0].(string); st == "still" {
			mark, _ := g[1].(string)
			unread, _ := g[2].(int64)
			return opResult{code: 1, still: &applied{Status: "done", Mark: mark, Unread: unread}}, nil
		}
	}
	token, err := s.newID()
	if err != nil {
		return opResult{}, errorf(r.op, "op id: %w", err)
	}
	member := indexMember(r.conv, token)
	if err := s.index(ctx, r.conv, member, s.now().UnixMilli()); err != nil {
		return opResult{}, StoreError(r.op, err)
	}
	res, err = s.run(ctx, r.script, r.keys, append([]any{"run"}, r.args...)...).Slice()
	if err != nil {
		s.unindex(ctx, r.conv, member)
		return opResult{}, StoreError(r.op, err)
	}
	code, _ := res[0].(int64)
	if code != 1 || len(res) < 3 {
		s.unindex(ctx, r.conv, member)
		if code == 1 {
			return opResult{}, errorf(r.op, "unexpected reply %v", res)
		}
		return opResult{code: code}, nil
	}
	n, _ := res[1].(int64)
	raw, _ := res[2].(string)
	if err := s.step("conversation"); err != nil {
		return opResult{}, err
	}
	parts, err := s.fanOut(ctx, r.op, r.conv, n, raw, member, r.readSeq || r.script == s.read)
	if err != nil {
		return opResult{}, err
	}
	return opResult{code: 1, parts: parts}, nil
}
