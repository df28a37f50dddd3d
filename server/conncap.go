package server

import "sync"

// connCounter counts a node's open connections per key and refuses one
// beyond its max. One type serves every cap: connections per user (Socket.IO
// sockets and SSE streams together) and unauthenticated Engine.IO sessions.
type connCounter struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func newConnCounter(max int) *connCounter {
	return &connCounter{max: max, n: map[string]int{}}
}

// acquire counts one connection for key. When key already holds max it
// counts nothing and ok is false. release uncounts it; calling it again
// does nothing, so every close path may call it.
func (c *connCounter) acquire(key string) (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		return func() {}, false
	}
	c.n[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.n[key]--; c.n[key] <= 0 {
				delete(c.n, key)
			}
		})
	}, true
}

// count is how many connections key holds.
func (c *connCounter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// userConnKey is the per-user key of a caller.
func userConnKey(cl caller) string { return string(cl.Domain) + "\x00" + string(cl.User) }
