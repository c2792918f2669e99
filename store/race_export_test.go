package store

// SetHookBeforeWrite makes s's apply transactions call hook when they have
// read their entities and are about to write (placeholders says whether
// the transaction creates placeholder rows, after a lost race for an
// entity). Set it before s applies anything.
func SetHookBeforeWrite(s *Store, hook func(placeholders bool)) {
	s.testHookBeforeWrite = hook
}
