package chat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Kind classifies an error for the transports. Its zero value, Internal,
// marks anything unclassified as a server fault.
type Kind uint8

// Error kinds; append only.
const (
	Internal    Kind = iota // a bug or an unexpected reply; never shown to users
	Invalid                 // bad input; retrying the same request fails again
	NotFound                // no such message or conversation entry
	Forbidden               // the caller may not do this (e.g. not the author)
	Conflict                // the state changed underneath; retry
	Unavailable             // a dependency (Redis) is down; retry later
	RateLimited             // too many requests; retry after Error.RetryAfter
	Canceled                // the caller went away before the answer; nobody to tell
	Rejected                // the moderation hook refused the message; Msg is its reason
)

// Error is the domain error: Msg is safe to show to users, Err is the cause
// and is only logged.
type Error struct {
	Op   string
	Kind Kind
	Msg  string
	Err  error
	// RetryAfter is how long a RateLimited or Unavailable caller should
	// wait (Unavailable: StorageRetryAfter when zero).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrUnknownType is the cause of the Invalid error for a message type other
// than text or image; the transports give it the seed's own code.
var ErrUnknownType = errors.New("unknown message type")

// E builds an *Error.
func E(op string, k Kind, msg string, cause error) error {
	return &Error{Op: op, Kind: k, Msg: msg, Err: cause}
}

// KindOf reports the Kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// MessageOf returns the user-facing message of err, never a cause's text.
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal && e.Msg != "" {
		return e.Msg
	}
	return "internal error"
}

// StorageRetryAfter is the Retry-After of an Unavailable error that names
// no wait of its own: long enough for a failover, a restart or an operator
// freeing memory to make progress, short enough for a user to wait.
const StorageRetryAfter = 2 * time.Second

// RetryAfterOf returns how long the caller should wait before retrying: the
// wait of a RateLimited error, that of an Unavailable one (at least
// StorageRetryAfter when it names none), 0 for any other.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if !errors.As(err, &e) {
		return 0
	}
	switch {
	case e.Kind == RateLimited:
		return e.RetryAfter
	case e.Kind == Unavailable && e.RetryAfter <= 0:
		return StorageRetryAfter
	case e.Kind == Unavailable:
		return e.RetryAfter
	}
	return 0
}

// StoreError wraps a Redis failure; it is the one place a Redis error gets
// its Kind. A caller that went away (its context canceled) is Canceled: no
// fault of Redis or of Parley. Connection faults, timeouts and a Redis that
// refuses work for now (see refusalCodes) are Unavailable (503 with
// Retry-After); any other reply error is Internal because it means a bug in
// a script or a key of the wrong type.
func StoreError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return E(op, Canceled, "request canceled", err)
	case errors.As(err, new(*ReplicasError)):
		return &Error{Op: op, Kind: Unavailable, Err: err, RetryAfter: StorageRetryAfter,
			Msg: "the write reached the Redis primary but too few replicas confirmed it in time; retrying it (with the same client_id for a send) is safe"}
	case isUnavailable(err):
		return &Error{Op: op, Kind: Unavailable, Msg: "storage unavailable, try again later", Err: err,
			RetryAfter: StorageRetryAfter}
	}
	return E(op, Internal, "", err)
}

// refusalCodes are the error codes of a Redis that is up but refuses
// commands for now: out of memory under noeviction (OOM), a replica
// (READONLY), a replica cut off from its master (MASTERDOWN), loading its
// dataset (LOADING), running a slow script (BUSY), a cluster down or
// resharding (CLUSTERDOWN, TRYAGAIN), too few replicas for
// min-replicas-to-write (NOREPLICAS), a failed snapshot with
// stop-writes-on-bgsave-error (MISCONF), and a script cache flushed between
// a load and its EVALSHA (NOSCRIPT; the next request loads it again).
var refusalCodes = map[string]bool{"OOM": true, "READONLY": true, "MASTERDOWN": true, "LOADING": true,
	"BUSY": true, "CLUSTERDOWN": true, "TRYAGAIN": true, "NOREPLICAS": true, "MISCONF": true, "NOSCRIPT": true}

func isUnavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, redis.ErrClosed), errors.As(err, &netErr):
		return true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return refusalCodes[replyCode(rerr.Error())]
	}
	// Dial and I/O failures surface as plain errors (io.EOF, "connection
	// refused", pool timeouts); none of them is a reply from Redis.
	return true
}

// replyCode is the error code of a Redis error reply: its first word, or
// for a command refused inside a script on Redis 6 ("ERR Error running
// script ...: -OOM command not allowed ..."), the code of that command.
func replyCode(msg string) string {
	code, _, _ := strings.Cut(msg, " ")
	if code == "ERR" && strings.HasPrefix(msg, "ERR Error running script") {
		if i := strings.LastIndex(msg, ": -"); i >= 0 {
			code, _, _ = strings.Cut(msg[i+3:], " ")
		}
	}
	return code
}

func errorf(op string, format string, args ...any) error {
	return E(op, Internal, "", fmt.Errorf(format, args...))
}
