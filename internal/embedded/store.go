// Package embedded runs the in-process store that `go run .` uses when
// PARLEY_REDIS_URL is unset, and that the tests use on a machine without
// redis-server: miniredis on a loopback port, with keys expiring on the wall
// clock as they do in Redis (miniredis alone only expires them when told).
//
// What it cannot do, the server detects and works around (see
// server.Capabilities): it has no sharded pub/sub (SSUBSCRIBE), so the
// Socket.IO adapter uses classic pub/sub on it.
package embedded

import (
	"fmt"

	"github.com/alicebob/miniredis/v2"
)

// Store is a running embedded store. Its data lives in memory only and is
// lost when the process stops.
type Store struct{ m *miniredis.Miniredis }

// Start starts an embedded store on a free loopback port.
func Start() (*Store, error) {
	m := miniredis.NewMiniRedis()
	m.ClockTTL(true) // TTLs run on time.Now(), like Redis
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	return &Store{m: m}, nil
}

// Addr is the store's host:port.
func (s *Store) Addr() string { return s.m.Addr() }

// URL is the store's redis:// URL.
func (s *Store) URL() string { return "redis://" + s.m.Addr() }

// Close stops the store; its data is gone.
func (s *Store) Close() { s.m.Close() }
