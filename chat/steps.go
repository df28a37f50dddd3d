package chat

import (
	"context"
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// Every step script's body (send.lua, guard_step.lua, apply.lua, ...) is
// the body of a Lua function of its KEYS and ARGV (stepFunc): run alone,
// the script calls it with the script's own; on a single Redis
// (Limits.SingleNode) send_fused.lua calls the steps of a whole send in
// one script, each with its slice of the fused script's KEYS and ARGV. So
// each step's logic has one source.

//go:embed send_fused.lua
var sendFusedLua string

// stepFunc wraps a step script's body as the local function name(KEYS,
// ARGV). conv adds dry, a conversation step's mode (see fanout.lua).
func stepFunc(name, body string, conv bool) string {
	head := "local function " + name + "(KEYS, ARGV)\n"
	if conv {
		head += "local dry = ARGV[1] == 'dry'\n"
	}
	return head + body + "\nend\n"
}

// stepScript is a step script: prelude, then the step's body as a
// function called with the script's KEYS and ARGV.
func stepScript(prelude, body string, conv bool) string {
	return prelude + stepFunc("step", body, conv) + "return step(KEYS, ARGV)\n"
}

// fusedSendScript is send_fused.lua with the steps it calls.
func fusedSendScript(conv string) string {
	return conv + stepFunc("guard_step", guardStepLua, false) + stepFunc("send_step", sendLua, true) +
		stepFunc("apply_step", applyLua, false) + stepFunc("done_step", doneLua, false) + sendFusedLua
}

// SingleNode reports whether every key rdb reaches is on one Redis (not
// a cluster): then Limits.SingleNode may be set.
func SingleNode(rdb redis.UniversalClient) bool {
	_, cluster := rdb.(*redis.ClusterClient)
	return !cluster
}

// Where a fused send stopped (send_fused.lua); Send goes on from there
// with the steps one by one.
const (
	stageRetry  = iota // the client id record: a retry
	stageGuardB        // the recipient's guard
	stageGuardA        // the sender's guard
	stageIndex         // the pending index entry (fused: then a conversation step that failed)
	stageConv          // the conversation step
	stageFanout        // the participant steps
	stageDone          // done and the index entry's removal
	stageFinished
)

// fusedSend is what a fused send answered: the stage it stopped at and,
// when the step there answered, its reply (set on that step's call, with
// the replies of the steps before it that Send reads on).
type fusedSend struct {
	stage int
	rec   string // a retry's record (stageRetry)
}

// sendFused runs the steps of a send as one script (send_fused.lua) and
// fills the cmd of each of guardB, guardA and conv whose reply Send needs
// to go on.
func (s *Store) sendFused(ctx context.Context, c Conversation, guardB, guardA, conv *scriptCall, score int64, member string, notify bool) (fusedSend, error) {
	keys := make([]string, 0, len(conv.keys)+len(guardB.keys)+len(guardA.keys)+1)
	keys = append(append(append(append(keys, conv.keys...), guardB.keys...), guardA.keys...), s.keys.FanoutIndex(fanoutShard(c)))
	args := make([]any, 0, len(conv.args)+len(guardB.args)+len(guardA.args)+6)
	args = append(append(append(args, conv.args...), guardB.args...), guardA.args...)
	// notify: the script stops before done (stage 6), Go tells the
	// notifier, then marks the op done (finish).
	stop := ""
	if notify {
		stop = "1"
	}
	args = append(args, c.Key(), s.limits.EventLogMax, s.limits.EventLogAge.Milliseconds(), score, member, stop)
	call := &scriptCall{script: s.fusedSend, keys: keys, args: args}
	s.runCalls(ctx, call)
	res, err := call.cmd.Slice()
	if err != nil {
		return fusedSend{}, err
	}
	if len(res) != 4 {
		return fusedSend{}, errorf("chat.Send", "unexpected fused send reply %v", res)
	}
	st, _ := res[0].(int64)
	f := fusedSend{stage: int(st)}
	reply, _ := res[1].([]any)
	ga, _ := res[2].([]any)
	cv, _ := res[3].([]any)
	set := func(call *scriptCall, v []any) {
		if len(v) > 0 {
			call.cmd = redis.NewCmd(ctx)
			call.cmd.SetVal(v)
		}
	}
	set(guardA, ga)
	set(conv, cv)
	switch f.stage {
	case stageRetry:
		if len(reply) == 1 {
			f.rec, _ = reply[0].(string)
		}
	case stageGuardB:
		set(guardB, reply)
	case stageGuardA:
		set(guardA, reply)
	case stageConv:
		set(conv, reply)
	}
	return f, nil
}
