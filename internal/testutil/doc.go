// Package testutil holds helpers shared by Parley's tests: a real Redis for
// integration tests and unique, non-colliding domains and key prefixes.
package testutil
