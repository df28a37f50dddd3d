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
)

// Error is the domain error: Msg is safe to show to users, Err is the cause
// and is only logged.
type Error struct {
	Op   string
	Kind Kind
	Msg  string
	Err  error
	// RetryAfter is how long a RateLimited caller should wait.
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

// RetryAfterOf returns the wait of a RateLimited error, 0 for any other.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.Kind == RateLimited {
		return e.RetryAfter
	}
	return 0
}

// StoreError wraps a Redis failure. Connection faults, timeouts and a server
// that is loading, read-only or out of memory (OOM: it refuses a script at
// its first write, so nothing was written) are Unavailable (503: retry
// later); any other reply error is Internal because it means a bug in a
// script or a key of the wrong type.
func StoreError(op string, err error) error {
	if err == nil {
		return nil
	}
	if isUnavailable(err) {
		return E(op, Unavailable, "storage unavailable, try again later", err)
	}
	return E(op, Internal, "", err)
}

func isUnavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, redis.ErrClosed), errors.As(err, &netErr):
		return true
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "BUSY", "TRYAGAIN", "OOM "} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	// Dial and I/O failures surface as plain errors (io.EOF, "connection
	// refused", pool timeouts); none of them is a reply from Redis.
	return true
}

func errorf(op string, format string, args ...any) error {
	return E(op, Internal, "", fmt.Errorf(format, args...))
}
