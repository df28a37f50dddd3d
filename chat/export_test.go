package chat

// SetStepHook lets a test stop a write between its steps (see stepHook).
func (s *Store) SetStepHook(f func(stage string) error) { s.hook = f }

// OneScript is a copy of s that runs each send as one script
// (Limits.SingleNode).
func (s *Store) OneScript() *Store {
	l := s.limits
	l.SingleNode = true
	c := NewStore(s.rdb, s.keys, l, s.now)
	c.newID = s.newID
	c.notifier = s.notifier
	return c
}

// SetNewID replaces the store's id source (message and op ids).
func (s *Store) SetNewID(f func() (string, error)) { s.newID = f }
