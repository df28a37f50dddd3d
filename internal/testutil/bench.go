package testutil

import (
	"sync"
	"testing"
)

// Baselines records the ns/op of baseline sub-benchmarks so the benchmark
// measured next to one can report its ratio against it (x-baseline): the
// figures the repository quotes are ratios within one run.
type Baselines struct{ m sync.Map }

// Keep records b's ns/op under name; call it at the end of a baseline
// sub-benchmark.
func (bl *Baselines) Keep(b *testing.B, name string) {
	bl.m.Store(name, float64(b.Elapsed().Nanoseconds())/float64(b.N))
}

// Report reports b's ns/op over the baseline's as the metric x-baseline.
func (bl *Baselines) Report(b *testing.B, name string) {
	if v, ok := bl.m.Load(name); ok && v.(float64) > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/v.(float64), "x-baseline")
	}
}
