package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rows of the contract's views.
type (
	// ActiveCarsRow is a row of tally.active_cars.
	ActiveCarsRow struct {
		City      string    `db:"city" json:"city"`
		Cars      int64     `db:"cars" json:"cars"`
		UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
	}
	// BookingsByStatusRow is a row of tally.bookings_by_status.
	BookingsByStatusRow struct {
		City      string    `db:"city" json:"city"`
		Status    string    `db:"status" json:"status"`
		Bookings  int64     `db:"bookings" json:"bookings"`
		UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
	}
	// DailyRevenueRow is a row of tally.daily_revenue.
	DailyRevenueRow struct {
		Day           time.Time `db:"day" json:"day"`
		City          string    `db:"city" json:"city"`
		Currency      string    `db:"currency" json:"currency"`
		GrossMinor    int64     `db:"gross_minor" json:"gross_minor"`
		RefundedMinor int64     `db:"refunded_minor" json:"refunded_minor"`
		NetMinor      int64     `db:"net_minor" json:"net_minor"`
		Payments      int64     `db:"payments" json:"payments"`
		Refunds       int64     `db:"refunds" json:"refunds"`
		UpdatedAt     time.Time `db:"updated_at" json:"updated_at"`
	}
	// DailyBookingsRow is a row of tally.daily_bookings.
	DailyBookingsRow struct {
		Day       time.Time `db:"day" json:"day"`
		City      string    `db:"city" json:"city"`
		Confirmed int64     `db:"confirmed" json:"confirmed"`
		Started   int64     `db:"started" json:"started"`
		Ended     int64     `db:"ended" json:"ended"`
		Cancelled int64     `db:"cancelled" json:"cancelled"`
		UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
	}
	// OverdueRow is a row of tally.overdue_bookings.
	OverdueRow struct {
		City          string    `db:"city" json:"city"`
		Bookings      int64     `db:"bookings" json:"bookings"`
		OldestStartAt time.Time `db:"oldest_start_at" json:"oldest_start_at"`
	}
	// Freshness is tally.freshness.
	Freshness struct {
		LastEventAt *time.Time `db:"last_event_at" json:"last_event_at"`
		AppliedAt   *time.Time `db:"applied_at" json:"applied_at"`
		Pending     *int64     `db:"pending" json:"pending"`
		ObservedAt  *time.Time `db:"observed_at" json:"observed_at"`
	}
)

// Views is every contract view, read in one snapshot.
type Views struct {
	ActiveCars       []ActiveCarsRow       `json:"active_cars"`
	BookingsByStatus []BookingsByStatusRow `json:"bookings_by_status"`
	DailyRevenue     []DailyRevenueRow     `json:"daily_revenue"`
	DailyBookings    []DailyBookingsRow    `json:"daily_bookings"`
	OverdueBookings  []OverdueRow          `json:"overdue_bookings"`
	Freshness        Freshness             `json:"freshness"`
}

// ReadViews reads every contract view in one read-only, repeatable-read
// transaction, so the numbers agree with each other.
func (s *Store) ReadViews(ctx context.Context) (Views, error) {
	var v Views
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error { return readViews(ctx, tx, &v) })
	return v, err
}

// ReadViewsTx reads every contract view in the caller's transaction.
func ReadViewsTx(ctx context.Context, tx pgx.Tx) (Views, error) {
	var v Views
	err := readViews(ctx, tx, &v)
	return v, err
}

func readViews(ctx context.Context, tx pgx.Tx, v *Views) error {
	var err error
	if v.ActiveCars, err = collect[ActiveCarsRow](ctx, tx, "SELECT * FROM tally.active_cars ORDER BY city"); err != nil {
		return err
	}
	if v.BookingsByStatus, err = collect[BookingsByStatusRow](ctx, tx, "SELECT * FROM tally.bookings_by_status ORDER BY city, status"); err != nil {
		return err
	}
	if v.DailyRevenue, err = collect[DailyRevenueRow](ctx, tx, "SELECT * FROM tally.daily_revenue ORDER BY day, city, currency"); err != nil {
		return err
	}
	if v.DailyBookings, err = collect[DailyBookingsRow](ctx, tx, "SELECT * FROM tally.daily_bookings ORDER BY day, city"); err != nil {
		return err
	}
	if v.OverdueBookings, err = collect[OverdueRow](ctx, tx, "SELECT * FROM tally.overdue_bookings ORDER BY city"); err != nil {
		return err
	}
	f, err := collect[Freshness](ctx, tx, "SELECT last_event_at, applied_at, pending, observed_at FROM tally.freshness")
	if err != nil || len(f) == 0 {
		return wrap(err, "read freshness")
	}
	v.Freshness = f[0]
	return nil
}

func collect[T any](ctx context.Context, tx pgx.Tx, sql string) ([]T, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sql, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	return out, wrap(err, "%s", sql)
}

// ReadFreshness reads tally.freshness.
func (s *Store) ReadFreshness(ctx context.Context) (Freshness, error) {
	rows, err := s.pool.Query(ctx, "SELECT last_event_at, applied_at, pending, observed_at FROM tally.freshness")
	if err != nil {
		return Freshness{}, fmt.Errorf("read freshness: %w", err)
	}
	f, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Freshness])
	return f, wrap(err, "read freshness")
}

// RecordPending stores how many messages were waiting for tally when
// observed, so a frozen worker shows as an old observed_at.
func (s *Store) RecordPending(ctx context.Context, pending int64, observedAt time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE tally.freshness_state SET pending = $1, observed_at = $2
		WHERE observed_at IS NULL OR observed_at <= $2`, pending, observedAt)
	return wrap(err, "record pending")
}

// SchemaVersion returns the schema version of the database, 0 when it was
// never migrated.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(max(version_id), 0) FROM tally.goose_db_version WHERE is_applied`).Scan(&v)
	switch pgCode(err) {
	case "42P01", "3F000": // no table or no schema
		return 0, nil
	}
	return v, wrap(err, "read schema version")
}

// CheckSchema fails with ErrNotMigrated unless the database has the schema
// this binary needs.
func (s *Store) CheckSchema(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v < LatestVersion() {
		return fmt.Errorf("%w (schema version %d, this tally needs %d)", ErrNotMigrated, v, LatestVersion())
	}
	return nil
}

// CodeCount is a number of dead letters with one code.
type CodeCount struct {
	Code  string `db:"code" json:"code"`
	Count int64  `db:"count" json:"count"`
}

// DeadLettersByCode counts the recorded dead letters by code.
func (s *Store) DeadLettersByCode(ctx context.Context) ([]CodeCount, error) {
	rows, err := s.pool.Query(ctx, "SELECT code, count(*) AS count FROM tally.dead_letters GROUP BY code ORDER BY code")
	if err != nil {
		return nil, fmt.Errorf("count dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[CodeCount])
	return out, wrap(err, "count dead letters")
}
