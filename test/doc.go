// Package test holds Parley's end-to-end tests: the real server.New behind a
// real HTTP listener on real Redis (PARLEY_TEST_REDIS_URL, else a throwaway
// redis-server, else the embedded store), the real binary, and the
// architecture test that enforces the package import rules.
//
// Every test uses its own key prefix and domain, so tests run in parallel on
// one shared Redis and never flush it.
package test
