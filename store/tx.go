package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// beginner is what can start a transaction: a pool or a connection.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// closeWait bounds how long withTx waits for a connection closed mid-
// transaction to be cleaned up.
const closeWait = 2 * time.Second

// withTx runs fn in a transaction and commits when fn returns nil. The
// rollback runs with a context that is never cancelled, so a cancelled
// caller still releases the connection cleanly.
//
// A statement cut off by ctx (a timeout) closes its connection, and pgx
// then cancels the backend's statement in the background: the backend
// may still be waiting for a lock when the caller tries again, and queue
// behind it. So when the connection was closed, withTx returns only once
// pgx has cleaned it up, which means the backend has ended (at most
// closeWait).
//
// From a pool, withTx holds the connection itself until then: a pool's
// transaction hands its connection back as it ends, and another
// goroutine may be using it by the time the connection is checked.
func withTx(ctx context.Context, db beginner, fn func(tx pgx.Tx) error) error {
	pool, ok := db.(*pgxpool.Pool)
	if !ok {
		return inTx(ctx, db, fn)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Release()
	return inTx(ctx, conn.Conn(), fn)
}

// inTx is withTx on a connection that nothing else uses meanwhile.
func inTx(ctx context.Context, db beginner, fn func(tx pgx.Tx) error) (err error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	pc := tx.Conn().PgConn()
	defer func() {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if err != nil && pc.IsClosed() {
			select {
			case <-pc.CleanupDone():
			case <-time.After(closeWait):
			}
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
