// Package bench holds Parley's Go micro-benchmarks of the hot paths (JWT
// verify, the send script); the page-encoding and fan-out benchmarks live
// next to the unexported code in package server. Each benchmark runs a
// baseline sub-benchmark first and its Parley sub-benchmark reports
// x-baseline, its ns/op over the baseline's in the same run. The load tool
// is bench/load; figures and commands are in BENCHMARKS.md.
package bench
