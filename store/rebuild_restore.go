package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RestoreEvents records in the ledger those of the events that are not in
// it (the first copy of each id), and returns how many it recorded. It
// holds the generation lock shared like an apply transaction, so that a
// rebuild's watermark covers what it records; it changes no counter: a
// rebuild counts the restored events.
//
// Like Apply, it records the events as eventsMode says, and again with ON
// CONFLICT in a new transaction if a worker recorded one of them meanwhile.
func (s *Store) RestoreEvents(ctx context.Context, in []Incoming) (int, error) {
	first, _ := splitByID(in)
	mode := s.eventsMode()
	n, err := s.restoreEvents(ctx, first, mode)
	if errors.Is(err, errLedgerRace) && !mode.insertEvents {
		s.lostLedgerRace("restore", err)
		n, err = s.restoreEvents(ctx, first, applyMode{insertEvents: true})
	}
	return n, err
}

func (s *Store) restoreEvents(ctx context.Context, first []Incoming, mode applyMode) (int, error) {
	var n int
	err := withTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1)", generationLockKey); err != nil {
			return fmt.Errorf("take the generation lock: %w", err)
		}
		a := applier{tx: tx, mode: mode}
		fresh, _, err := a.recordEvents(ctx, first, nil, nil)
		n = len(fresh)
		return err
	})
	return n, err
}
