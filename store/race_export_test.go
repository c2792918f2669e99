package store

// Attempt is how an apply transaction went about its batch: whether it
// inserted its events with ON CONFLICT rather than copied them, whether it
// created placeholder rows for new entities, and whether it locked the
// entities it read.
type Attempt struct{ InsertEvents, Placeholders, LockEntities bool }

// SetHookBeforeWrite makes s's apply transactions call hook when they have
// read their entities and are about to write. Set it before s applies
// anything.
func SetHookBeforeWrite(s *Store, hook func(Attempt)) {
	s.testHookBeforeWrite = func(m applyMode) { hook(Attempt{m.insertEvents, m.placeholders, m.lockEntities}) }
}
