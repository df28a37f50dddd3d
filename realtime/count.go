package realtime

// Subscribers is the number of live subscriptions on the node (one per
// connection that has not stopped): what tests and leak checks compare
// with the connections they know of.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.chans {
		n += len(c.subs)
	}
	return n
}
