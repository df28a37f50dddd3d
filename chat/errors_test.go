package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// replyError is an error reply from Redis, as go-redis reports one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ redis.Error = replyError("")

// TestStoreError pins the one classification of Redis failures: a Redis
// that is unreachable or refuses work for now (full, read-only, loading,
// busy, failing over) is Unavailable with a Retry-After; a caller that went
// away is Canceled; any other reply is Internal.
func TestStoreError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"OOM", replyError("OOM command not allowed when used memory > 'maxmemory'."), Unavailable},
		{"OOM in a script (Redis 7)", replyError("OOM command not allowed when used memory > 'maxmemory'. script: 369f96, on @user_script:1."), Unavailable},
		{"OOM in a script (Redis 6)", replyError("ERR Error running script (call to f_369f96): @user_script:1: @user_script: 1: -OOM command not allowed when used memory > 'maxmemory'. "), Unavailable},
		{"READONLY", replyError("READONLY You can't write against a read only replica."), Unavailable},
		{"READONLY in a script", fmt.Errorf("chat.Send: %w", replyError("READONLY You can't write against a read only replica. script: 1, on @user_script:3.")), Unavailable},
		{"MASTERDOWN", replyError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), Unavailable},
		{"LOADING", replyError("LOADING Redis is loading the dataset in memory"), Unavailable},
		{"BUSY", replyError("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."), Unavailable},
		{"CLUSTERDOWN", replyError("CLUSTERDOWN The cluster is down"), Unavailable},
		{"TRYAGAIN", replyError("TRYAGAIN Multiple keys request during rehashing of slot"), Unavailable},
		{"NOSCRIPT after a flush", replyError("NOSCRIPT No matching script. Please use EVAL."), Unavailable},
		{"timeout", context.DeadlineExceeded, Unavailable},
		{"closed client", redis.ErrClosed, Unavailable},
		{"EOF", io.EOF, Unavailable},
		{"client went away", context.Canceled, Canceled},
		{"client went away, wrapped", fmt.Errorf("pipeline: %w", context.Canceled), Canceled},
		{"WRONGTYPE", replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), Internal},
		{"script error", replyError("ERR user_script:3: attempt to compare nil with number script: 1"), Internal},
		{"busy key is not busy", replyError("BUSYKEY Target key name already exists."), Internal},
		{"OOM only named in a script's own error", replyError("ERR user_script:1: my OOM handling failed"), Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := StoreError("op", tt.err)
			if got := KindOf(err); got != tt.want {
				t.Fatalf("KindOf(StoreError(%q)) = %v, want %v", tt.err, got, tt.want)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("StoreError dropped the cause %v", tt.err)
			}
			if got := RetryAfterOf(err); (got > 0) != (tt.want == Unavailable) || got > time.Minute {
				t.Errorf("RetryAfterOf = %v for kind %v, want a wait only for Unavailable", got, tt.want)
			}
		})
	}
	if StoreError("op", nil) != nil {
		t.Error("StoreError(nil) != nil")
	}
}
