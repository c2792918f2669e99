package store

// SetHookBeforeWrite makes s's apply transactions call hook when they have
// read their entities and are about to write (cautious says whether it
// is the second attempt, after a lost race). Set it before s applies
// anything.
func SetHookBeforeWrite(s *Store, hook func(cautious bool)) {
	s.testHookBeforeWrite = hook
}
