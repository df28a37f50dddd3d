// Package migrate moves a Parley keyspace written before keys carried a
// Redis Cluster hash tag ("<prefix><domain>:inbox:<user>", ...) to the
// tagged names chat.Keys builds today ("<prefix>{<domain>:u:<user>}:inbox",
// ...): `parley migrate-keys`.
//
// It SCANs the keys under the prefix, parses each old name exactly (names.go:
// anything that does not parse as a key the old layout wrote is left alone)
// and renames it with RENAMENX, so a key is never overwritten: when both the
// old and the new name exist that is a conflict, reported and left as is.
// A key whose old name is gone and whose new name exists was moved before,
// so running it again changes nothing, and a run stopped half-way continues
// from the SCAN cursor it printed (or from the start: the same result).
// Without Apply nothing is written: the run reports what it would do.
//
// RENAMENX needs both names in one hash slot, which they are not on Redis
// Cluster: the command runs against the single Redis (or Sentinel primary)
// the old layout lives on, before the data moves to a cluster. The old
// layout could never run on a cluster anyway (its scripts span slots).
package migrate
