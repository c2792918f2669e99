package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SwapInGeneration creates generation gen and makes it current the way a
// rebuild's swap does, for tests of what outlives a swap (grants).
func SwapInGeneration(ctx context.Context, s *Store, gen int) error {
	return withTx(ctx, s.pool, func(tx pgx.Tx) error {
		g, err := currentGeneration(ctx, tx)
		if err != nil {
			return err
		}
		if err := createGeneration(ctx, tx, gen, g.Zones, "building"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", generationLockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE tally.generations SET state = 'retired' WHERE state = 'current'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE tally.generations SET state = 'current', swapped_at = now() WHERE gen = $1", gen); err != nil {
			return err
		}
		return pointViews(ctx, tx, gen)
	})
}
