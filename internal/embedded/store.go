// Package embedded runs the in-process store that `go run .` uses when
// PARLEY_REDIS_URL is unset, and that the tests use on a machine without
// redis-server: miniredis on a loopback port, with keys expiring on the wall
// clock as they do in Redis (miniredis alone only expires them when told).
//
// It lacks what Parley does not use (sharded pub/sub, CLIENT PAUSE) and
// what only a Redis process has (persistence, CONFIG, maxmemory,
// replication): the tests of those need a redis-server (see README).
package embedded

import (
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// tick is how often TTLs advance: a key outlives its TTL by at most this.
const tick = 100 * time.Millisecond

// Store is a running embedded store. Its data lives in memory only and is
// lost when the process stops.
type Store struct {
	m    *miniredis.Miniredis
	stop chan struct{}
	done chan struct{}
}

// Start starts an embedded store on a free loopback port.
func Start() (*Store, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	s := &Store{m: m, stop: make(chan struct{}), done: make(chan struct{})}
	go s.expire()
	return s, nil
}

// expire advances every TTL by the time passed, each tick. (miniredis's
// ClockTTL does it on every command instead, walking every key each time:
// too slow once a test binary's keys share one store.)
func (s *Store) expire() {
	defer close(s.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.m.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr is the store's host:port.
func (s *Store) Addr() string { return s.m.Addr() }

// URL is the store's redis:// URL.
func (s *Store) URL() string { return "redis://" + s.m.Addr() }

// Close stops the store; its data is gone.
func (s *Store) Close() {
	close(s.stop)
	<-s.done
	s.m.Close()
}
