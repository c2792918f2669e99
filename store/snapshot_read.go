package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ListSnapshots returns the snapshots taken at or after since, oldest
// first; with limit > 0, only the latest limit of them.
func (s *Store) ListSnapshots(ctx context.Context, since time.Time, limit int) ([]Snapshot, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.pool.Query(ctx, `SELECT * FROM (
		SELECT `+snapshotColumns+` FROM tally.snapshots WHERE taken_at >= $1
		ORDER BY taken_at DESC, id DESC LIMIT NULLIF($2, -1)) AS s
		ORDER BY taken_at, id`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Snapshot])
	return out, wrap(err, "list snapshots")
}

// ViewsAt is the counter views as of one snapshot, read through the
// tally.X_at functions. Freshness has no history and stays empty.
type ViewsAt struct {
	TakenAt time.Time
	Views
}

// ReadViewsAt reads every tally.X_at(t) in one transaction, sorted as
// ReadViews sorts: the counters of the latest snapshot taken at or before t. It returns ErrNoSnapshot
// when there is none.
func (s *Store) ReadViewsAt(ctx context.Context, t time.Time) (ViewsAt, error) {
	var v ViewsAt
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return readViewsAt(ctx, tx, t, &v) })
	return v, err
}

func readViewsAt(ctx context.Context, tx pgx.Tx, t time.Time, v *ViewsAt) error {
	err := tx.QueryRow(ctx, "SELECT taken_at FROM tally.snapshot_at($1)", t).Scan(&v.TakenAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoSnapshot
	}
	if err != nil {
		return fmt.Errorf("find snapshot: %w", err)
	}
	if v.ActiveCars, err = collectArgs[ActiveCarsRow](ctx, tx,
		"SELECT city, cars, updated_at FROM tally.active_cars_at($1) ORDER BY city", t); err != nil {
		return err
	}
	if v.BookingsByStatus, err = collectArgs[BookingsByStatusRow](ctx, tx,
		"SELECT city, status, bookings, updated_at FROM tally.bookings_by_status_at($1) ORDER BY city, status", t); err != nil {
		return err
	}
	if v.DailyRevenue, err = collectArgs[DailyRevenueRow](ctx, tx, `SELECT day, city, currency, gross_minor,
		refunded_minor, net_minor, payments, refunds, updated_at FROM tally.daily_revenue_at($1)
		ORDER BY day, city, currency`, t); err != nil {
		return err
	}
	if v.DailyBookings, err = collectArgs[DailyBookingsRow](ctx, tx, `SELECT day, city, confirmed, started, ended,
		cancelled, updated_at FROM tally.daily_bookings_at($1) ORDER BY day, city`, t); err != nil {
		return err
	}
	v.OverdueBookings, err = collectArgs[OverdueRow](ctx, tx,
		"SELECT city, bookings, oldest_start_at FROM tally.overdue_bookings_at($1) ORDER BY city", t)
	return err
}

func collectArgs[T any](ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	return out, wrap(err, "%s", sql)
}

// PruneSnapshots deletes the snapshots taken before the cutoff, never the
// latest one, and the row versions that no kept snapshot sees. Versions
// still valid at the oldest kept snapshot stay: they are its rows, so
// X_at stays right for every snapshot kept. It returns how many snapshots
// it deleted.
func (s *Store) PruneSnapshots(ctx context.Context, before time.Time) (int64, error) {
	var deleted int64
	err := s.withHistoryLock(ctx, func(conn *pgxpool.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var err error
			deleted, err = pruneSnapshots(ctx, tx, before)
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("prune snapshots: %w", err)
	}
	return deleted, nil
}

func pruneSnapshots(ctx context.Context, tx pgx.Tx, before time.Time) (int64, error) {
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil { // see takeSnapshot
		return 0, fmt.Errorf("turn jit off: %w", err)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM tally.snapshots
		WHERE taken_at < $1 AND id < (SELECT max(id) FROM tally.snapshots)`, before)
	if err != nil || tag.RowsAffected() == 0 {
		return 0, wrap(err, "delete snapshots")
	}
	var oldest int64
	if err := tx.QueryRow(ctx, "SELECT min(id) FROM tally.snapshots").Scan(&oldest); err != nil {
		return 0, fmt.Errorf("oldest snapshot kept: %w", err)
	}
	for i, q := range historySQL {
		if _, err := tx.Exec(ctx, q.prune, oldest); err != nil {
			return 0, fmt.Errorf("prune rows of %s: %w", historyViews[i].name, err)
		}
	}
	return tag.RowsAffected(), nil
}
