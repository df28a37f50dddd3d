package chat

// SetStepHook lets a test stop a write between its steps (see stepHook).
func (s *Store) SetStepHook(f func(stage string) error) { s.hook = f }
