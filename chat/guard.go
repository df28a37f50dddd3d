package chat

import (
	_ "embed"
	"time"
)

// guardLua is the prelude of every script that writes toward another user:
// the block check both ways and the token bucket (see guard.lua).
//
//go:embed guard.lua
var guardLua string

// Messages of the two budgets' refusals.
const (
	msgSendRate  = "too many messages; slow down"
	msgWriteRate = "too many changes; slow down"
)

// refusal reads guard.lua's refusals: {'blocked_by'}, {'blocking'},
// {'rate', retry ms}. It returns nil for any other reply.
func refusal(op, rateMsg string, res any) error {
	r, ok := res.([]any)
	if !ok || len(r) == 0 {
		return nil
	}
	switch head, _ := r[0].(string); head {
	case "blocked_by":
		return errBlockedBy
	case "blocking":
		return errBlocking
	case "conflict":
		return errClientIDReused
	case "rate":
		var ms int64
		if len(r) > 1 {
			ms, _ = r[1].(int64)
		}
		return &Error{Op: op, Kind: RateLimited, Msg: rateMsg, RetryAfter: time.Duration(max(ms, 1)) * time.Millisecond}
	}
	return nil
}

// errClientIDReused answers a send whose client id the sender used for
// another message within the window.
var errClientIDReused = E("chat.Send", Conflict, `"client_id" was already used for a different message`, nil)

// replyInt reads a script's integer reply.
func replyInt(op string, res any) (int64, error) {
	n, ok := res.(int64)
	if !ok {
		return 0, errorf(op, "unexpected script reply %v", res)
	}
	return n, nil
}
