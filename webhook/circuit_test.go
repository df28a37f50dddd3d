package webhook

import (
	"testing"
	"time"

	"parley/chat"
)

// TestCircuitStates walks the circuit through its states on a fake clock:
// closed until the threshold, open for the pause, one probe, a failed
// probe doubles the pause up to the maximum, a success closes it, and
// stragglers sent before it opened do not stretch the pause.
func TestCircuitStates(t *testing.T) {
	c := circuit{threshold: 3, base: time.Second, max: 3 * time.Second}
	now := time.Unix(1_000, 0)
	fail := func(probe bool) { c.done(now, false, probe) }
	for range 2 {
		if ok, probe, _ := c.admit(now); !ok || probe {
			t.Fatalf("closed: admit = %v, %v; want a plain request", ok, probe)
		}
		fail(false)
	}
	fail(false) // the third consecutive failure opens it
	if ok, _, retry := c.admit(now); ok || retry != time.Second {
		t.Fatalf("open: admit = %v, retry in %s; want refused for 1s", ok, retry)
	}
	fail(false) // a straggler
	if w := c.wait(now.Add(999 * time.Millisecond)); w != time.Millisecond {
		t.Errorf("a straggler moved the pause: wait = %s, want 1ms", w)
	}
	now = now.Add(time.Second)
	if w := c.wait(now); w != 0 {
		t.Errorf("pause over: wait = %s, want 0", w)
	}
	ok, probe, _ := c.admit(now)
	if !ok || !probe {
		t.Fatalf("half-open: admit = %v, %v; want the probe", ok, probe)
	}
	if ok, _, _ := c.admit(now); ok {
		t.Errorf("half-open with a probe out: a second request was admitted")
	}
	if w := c.wait(now); w == 0 {
		t.Errorf("half-open with a probe out: readers need not wait")
	}
	for _, want := range []time.Duration{2 * time.Second, 3 * time.Second, 3 * time.Second} {
		fail(true)
		if _, _, retry := c.admit(now); retry != want {
			t.Errorf("after a failed probe: retry in %s, want %s", retry, want)
		}
		now = now.Add(want)
		if ok, probe, _ := c.admit(now); !ok || !probe {
			t.Fatalf("after the pause: admit = %v, %v; want the probe", ok, probe)
		}
	}
	c.done(now, true, true)
	if ok, probe, _ := c.admit(now); !ok || probe {
		t.Errorf("after a successful probe: admit = %v, %v; want closed", ok, probe)
	}
	if w := c.wait(now); w != 0 {
		t.Errorf("closed: wait = %s", w)
	}
}

// TestBackoffBounds: the delay after failure n lies in [c/2, c), c =
// min(RetryMax, RetryBase * 2^(n-1)), so each delay is at least the
// longest the one before could be, until the cap.
func TestBackoffBounds(t *testing.T) {
	q := New(nil, chatKeys(), Options{RetryBase: 100 * time.Millisecond, RetryMax: 5 * time.Second})
	for n := 1; n <= 70; n++ {
		c := 5 * time.Second
		if n <= 6 {
			c = min(c, 100*time.Millisecond<<(n-1))
		}
		for range 200 {
			if d := q.backoff(n); d < c/2 || d >= c {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s)", n, d, c/2, c)
			}
		}
	}
}

func chatKeys() chat.Keys { return chat.Keys{Prefix: "unused:"} }
