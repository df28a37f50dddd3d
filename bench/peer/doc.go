// Command peer runs Parley and Centrifugo side by side on the same Redis
// and drives both identically (issue 17): N websocket clients, one user
// each; messages published over HTTP at a fixed rate between random pairs,
// each delivered to both parties' connections. It reports delivery latency
// (p50/p99), skipped send slots, lost/duplicated deliveries, and the CPU per
// message of each server process (/proc/<pid>/stat), of Redis (INFO cpu)
// and of this tool, and each server's RSS per idle connection (VmRSS with
// every client connected and idle for 2 s, less VmRSS before the first;
// no forced GC for either), alternating the two systems (P C C P ...).
// -parley-env passes extra environment to Parley's process only (GOGC=300,
// say).
//
// It is its own Go module so the server's go.mod never carries Centrifugo:
// Centrifugo is built with `go install github.com/centrifugal/centrifugo/v6@v6.9.1`
// into -cache, Parley with `go build` of the repository (-src) into -cache.
//
//	cd bench/peer && go run . -clients 1000 -rate 500 -dur 10s
//
// Everything listens on 127.0.0.1. Without -redis the tool starts its own
// redis-server on a free loopback port (both systems use it) and stops it
// at the end.
package main
