//go:build race

package test

// raceEnabled reports whether the tests run under the race detector; the
// binary test then builds with -race too, reusing the cached packages.
const raceEnabled = true
