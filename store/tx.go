package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// beginner is what can start a transaction: a pool or a connection.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// withTx runs fn in a transaction and commits when fn returns nil. The
// rollback runs with a context that is never cancelled, so a cancelled
// caller still releases the connection cleanly.
func withTx(ctx context.Context, db beginner, fn func(tx pgx.Tx) error) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
