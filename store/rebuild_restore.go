package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RestoreEvents records in the ledger those of the events that are not in
// it (the first copy of each id), and returns how many it recorded. It
// holds the generation lock shared like an apply transaction, so that a
// rebuild's watermark covers what it records; it changes no counter: a
// rebuild counts the restored events.
func (s *Store) RestoreEvents(ctx context.Context, in []Incoming) (int, error) {
	var n int
	err := withTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1)", generationLockKey); err != nil {
			return fmt.Errorf("take the generation lock: %w", err)
		}
		first, _ := splitByID(in)
		a := applier{tx: tx}
		isNew, _, err := a.recordEvents(ctx, first)
		n = len(isNew)
		return err
	})
	return n, err
}
