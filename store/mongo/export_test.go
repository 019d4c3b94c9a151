package mongo

// SetHook installs a test hook called at each step of the no-transaction
// protocol ("begun", "applied 1", ..., "committed"); an error it returns
// stops the write there as a crash would.
func SetHook(s *Store, hook func(step string) error) { s.hook = hook }
