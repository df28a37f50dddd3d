package userapi

import (
	"container/list"
	"time"
)

// cache is a bounded TTL map from id to User. It is not safe for concurrent
// use; Client guards it with its mutex.
//
// Found users and failures live in two insertion-ordered lists. Each kind has
// one fixed TTL, so each list is also in expiry order (given a clock that does
// not go backwards): expired entries sit at the fronts, and eviction is O(1)
// amortized.
type cache struct {
	max      int
	items    map[string]*list.Element
	pos, neg *list.List
}

type entry struct {
	id      string
	user    User
	expires time.Time
	neg     bool
}

func newCache(max int) *cache {
	return &cache{max: max, items: make(map[string]*list.Element), pos: list.New(), neg: list.New()}
}

// get returns the unexpired entry for id, dropping it if it has expired.
func (c *cache) get(id string, now time.Time) (User, bool) {
	el, ok := c.items[id]
	if !ok {
		return User{}, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		c.remove(el)
		return User{}, false
	}
	return e.user, true
}

// put stores u for id until expires. When the cache is full it drops expired
// entries first, then the entries closest to expiry.
func (c *cache) put(id string, u User, expires time.Time, neg bool, now time.Time) {
	if el, ok := c.items[id]; ok {
		c.remove(el)
	}
	c.purge(now)
	for len(c.items) >= c.max {
		c.evictOne()
	}
	l := c.pos
	if neg {
		l = c.neg
	}
	c.items[id] = l.PushBack(&entry{id: id, user: u, expires: expires, neg: neg})
}

func (c *cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	if e.neg {
		c.neg.Remove(el)
	} else {
		c.pos.Remove(el)
	}
	delete(c.items, e.id)
}

// purge drops the expired entries at the front of both lists.
func (c *cache) purge(now time.Time) {
	for _, l := range []*list.List{c.pos, c.neg} {
		for el := l.Front(); el != nil && !now.Before(el.Value.(*entry).expires); el = l.Front() {
			c.remove(el)
		}
	}
}

// evictOne drops whichever list front expires first.
func (c *cache) evictOne() {
	p, n := c.pos.Front(), c.neg.Front()
	switch {
	case p == nil && n == nil:
		return
	case p == nil:
		c.remove(n)
	case n == nil:
		c.remove(p)
	case n.Value.(*entry).expires.Before(p.Value.(*entry).expires):
		c.remove(n)
	default:
		c.remove(p)
	}
}
