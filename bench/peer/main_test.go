package main

import (
	"strings"
	"testing"
	"time"
)

func TestCheckOpts(t *testing.T) {
	good := opts{clients: 1000, rate: 500, pairs: 1, dur: 10 * time.Second}
	if err := checkOpts(good); err != nil {
		t.Fatal(err)
	}
	stepped := good
	stepped.step, stepped.p99Max = 100, 50*time.Millisecond
	if err := checkOpts(stepped); err != nil {
		t.Fatal(err)
	}
	for flag, set := range map[string]func(*opts){
		"-clients": func(o *opts) { o.clients = 1 },
		"-rate":    func(o *opts) { o.rate = 0 },
		"-dur":     func(o *opts) { o.dur = 0 },
		"-pairs":   func(o *opts) { o.pairs = 0 },
		"-step":    func(o *opts) { o.step = 600 },
	} {
		o := good
		set(&o)
		if err := checkOpts(o); err == nil || !strings.Contains(err.Error(), flag+" ") {
			t.Errorf("%s: got %v", flag, err)
		}
	}
}

// TestSignHS256: a token has three parts and its signature depends on the
// secret.
func TestSignHS256(t *testing.T) {
	s := &system{name: centrifugoName, secret: "k"}
	tok := s.token(42)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tok)
	}
	again := signHS256("k", nil)
	other := signHS256("other", nil)
	if strings.Split(again, ".")[2] == strings.Split(other, ".")[2] {
		t.Error("signature does not depend on the secret")
	}
}

// TestSustains: a run sustains its rate only with every message delivered
// once, no slot skipped and its p99 within the bound.
func TestSustains(t *testing.T) {
	ok := result{sent: 100, lat: []time.Duration{time.Millisecond, 2 * time.Millisecond}}
	if !ok.sustains(50 * time.Millisecond) {
		t.Error("a clean run within the p99 bound does not sustain")
	}
	for name, r := range map[string]result{
		"slow":    {sent: 100, lat: []time.Duration{time.Millisecond, 80 * time.Millisecond}},
		"skipped": {sent: 100, skipped: 1, lat: ok.lat},
		"lost":    {sent: 100, lost: 1, lat: ok.lat},
		"dropped": {sent: 100, dropped: 1, lat: ok.lat},
		"nothing": {},
	} {
		if r.sustains(50 * time.Millisecond) {
			t.Errorf("%s: sustains", name)
		}
	}
}

// TestSustainsAll: a rate is sustained over several runs when none skipped
// or lost anything and the median p99 is within the bound, so one run's
// late tail does not decide, but one skipped slot does.
func TestSustainsAll(t *testing.T) {
	fast := result{sent: 100, lat: []time.Duration{time.Millisecond, 2 * time.Millisecond}}
	slow := result{sent: 100, lat: []time.Duration{time.Millisecond, 80 * time.Millisecond}}
	skipped := fast
	skipped.skipped = 1
	for name, tc := range map[string]struct {
		runs []result
		want bool
	}{
		"all fast":         {[]result{fast, fast, fast}, true},
		"one slow of 3":    {[]result{fast, slow, fast}, true},
		"two slow of 3":    {[]result{slow, fast, slow}, false},
		"one skipped of 3": {[]result{fast, skipped, fast}, false},
		"no runs":          {nil, false},
	} {
		if got := sustainsAll(tc.runs, 50*time.Millisecond); got != tc.want {
			t.Errorf("%s: sustainsAll = %v, want %v", name, got, tc.want)
		}
	}
}
