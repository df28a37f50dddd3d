package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// figure is one measured number of Parley next to its baseline.
type figure struct {
	scenario, name, unit string
	parley, baseline     float64
	// target describes the goal on the ratio parley/baseline (or on the
	// absolute value when abs is set); empty = reported only.
	target string
	met    *bool
}

func (f figure) ratio() float64 {
	if f.baseline == 0 {
		return math.NaN()
	}
	return f.parley / f.baseline
}

// report collects figures in the order they were measured.
type report struct {
	mu      sync.Mutex
	figures []figure
	notes   []string // printed under the figures: what the run could not do as asked, and why
}

func (r *report) addNote(s string) {
	r.mu.Lock()
	r.notes = append(r.notes, s)
	r.mu.Unlock()
}

func (r *report) add(f figure) {
	r.mu.Lock()
	r.figures = append(r.figures, f)
	r.mu.Unlock()
	logf("%s", f.line())
}

// addRatio adds a figure whose target is ratio <= max (or >= min when atLeast).
func (r *report) addRatio(scenario, name, unit string, parley, baseline, bound float64, atLeast bool) {
	f := figure{scenario: scenario, name: name, unit: unit, parley: parley, baseline: baseline}
	ok := f.ratio() <= bound
	f.target = fmt.Sprintf("ratio <= %.2f", bound)
	if atLeast {
		ok = f.ratio() >= bound
		f.target = fmt.Sprintf("ratio >= %.2f", bound)
	}
	f.met = &ok
	r.add(f)
}

// addAbs adds a figure whose target is parley <= max (an absolute bound).
func (r *report) addAbs(scenario, name, unit string, parley, baseline, max float64) {
	ok := parley <= max
	r.add(figure{scenario: scenario, name: name, unit: unit, parley: parley, baseline: baseline,
		target: fmt.Sprintf("<= %s %s", num(max), unit), met: &ok})
}

// addInfo adds a figure without a target.
func (r *report) addInfo(scenario, name, unit string, parley, baseline float64) {
	r.add(figure{scenario: scenario, name: name, unit: unit, parley: parley, baseline: baseline})
}

func (f figure) verdict() string {
	switch {
	case f.met == nil:
		return "-"
	case *f.met:
		return "met"
	default:
		return "MISSED"
	}
}

func (f figure) line() string {
	return fmt.Sprintf("%-4s %-34s parley=%-12s baseline=%-12s ratio=%-7s target=%-16s %s", f.scenario,
		f.name+" ("+f.unit+")", num(f.parley), num(f.baseline), num(f.ratio()), orDash(f.target), f.verdict())
}

func (r *report) print(w io.Writer, markdown bool) {
	fmt.Fprintln(w, "== figures")
	for _, f := range r.figures {
		fmt.Fprintln(w, f.line())
	}
	for _, n := range r.notes {
		fmt.Fprintln(w, "note:", n)
	}
	if !markdown {
		return
	}
	fmt.Fprintln(w, "\n| scenario | figure | Parley | baseline | ratio | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, f := range r.figures {
		fmt.Fprintf(w, "| %s | %s (%s) | %s | %s | %s | %s | %s |\n", f.scenario, f.name, f.unit, num(f.parley),
			num(f.baseline), num(f.ratio()), orDash(f.target), f.verdict())
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// num prints a figure with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "n/a"
	case a == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.4f", v), "0"), ".")
	}
}

// latencies is a set of samples with percentiles.
type latencies []time.Duration

func (l latencies) sorted() latencies {
	out := slices.Clone(l)
	slices.Sort(out)
	return out
}

// pct returns the p-th percentile (0..100) of sorted samples in milliseconds.
func (l latencies) pct(p float64) float64 {
	if len(l) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(l)))) - 1
	i = max(0, min(i, len(l)-1))
	return float64(l[i]) / float64(time.Millisecond)
}
