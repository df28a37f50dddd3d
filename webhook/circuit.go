package webhook

import (
	"sync"
	"time"
)

// circuit keeps a failing receiver from being hammered: after threshold
// consecutive failures it opens for a pause, then lets one probe through
// (half-open); a failed probe opens it again for twice the pause (up to
// max), a success closes it.
type circuit struct {
	threshold int
	base, max time.Duration

	mu      sync.Mutex
	fails   int
	pause   time.Duration
	until   time.Time
	probing bool
}

// wait returns how long a reader should wait before taking more work: 0
// when the circuit is closed, or open with its pause over and no probe
// out.
func (c *circuit) wait(now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.fails < c.threshold:
		return 0
	case now.Before(c.until):
		return c.until.Sub(now)
	case c.probing:
		return min(c.pause, 50*time.Millisecond) // the probe's answer is awaited
	}
	return 0
}

// admit reports whether a request may be sent now, and whether it is the
// half-open probe; when not, retry says when to try again.
func (c *circuit) admit(now time.Time) (ok, probe bool, retry time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.fails < c.threshold:
		return true, false, 0
	case now.Before(c.until):
		return false, false, c.until.Sub(now)
	case c.probing:
		return false, false, c.pause
	}
	c.probing = true
	return true, true, 0
}

// done records the outcome of a request admit let through. Only a
// failure that opens the circuit or a failed probe (re)starts a pause:
// requests sent before it opened do not stretch it.
func (c *circuit) done(now time.Time, ok, probe bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if probe {
		c.probing = false
	}
	if ok {
		c.fails, c.pause = 0, 0
		return
	}
	c.fails++
	switch {
	case c.fails == c.threshold:
		c.pause = c.base
	case probe:
		c.pause = min(2*c.pause, c.max)
	default:
		return
	}
	c.until = now.Add(c.pause)
}

// abandon records that a request admit let through got no outcome (it was
// cut short by shutdown): a probe may be sent again.
func (c *circuit) abandon(probe bool) {
	if probe {
		c.mu.Lock()
		c.probing = false
		c.mu.Unlock()
	}
}
