package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Errors of ReadCounter, for callers to tell a bad request from a failure.
var (
	// ErrUnknownCounter is returned for a name that is not a counter view.
	ErrUnknownCounter = errors.New("no such counter")
	// ErrBadFilter is returned for a filter the counter does not have,
	// such as a day on a counter that has no days.
	ErrBadFilter = errors.New("the counter has no such filter")
)

// CounterFilter narrows a counter view's rows; zero fields do not filter.
type CounterFilter struct {
	Day  time.Time // a date (its year, month and day); daily counters only
	City string
}

// Counter is the rows of one counter view and the newest updated_at among
// them (zero when the view has none, as overdue_bookings).
type Counter struct {
	Name      string    `json:"name"`
	Rows      any       `json:"rows"`
	UpdatedAt time.Time `json:"-"`
}

// counterView describes one contract view for ReadCounter.
type counterView struct {
	order string
	daily bool
	read  func(ctx context.Context, q pgx.Tx, sql string, args []any) (any, time.Time, error)
}

var counterViews = map[string]counterView{
	"active_cars":        {"city", false, readRows[ActiveCarsRow]},
	"bookings_by_status": {"city, status", false, readRows[BookingsByStatusRow]},
	"daily_revenue":      {"day, city, currency", true, readRows[DailyRevenueRow]},
	"daily_bookings":     {"day, city", true, readRows[DailyBookingsRow]},
	"overdue_bookings":   {"city", false, readRows[OverdueRow]},
}

// CounterNames lists the counter views ReadCounter reads, sorted.
func CounterNames() []string {
	names := make([]string, 0, len(counterViews))
	for n := range counterViews {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ReadCounter reads the rows of the counter view name that match f.
func (s *Store) ReadCounter(ctx context.Context, name string, f CounterFilter) (Counter, error) {
	v, ok := counterViews[name]
	if !ok {
		return Counter{}, ErrUnknownCounter
	}
	if !f.Day.IsZero() && !v.daily {
		return Counter{}, ErrBadFilter
	}
	// name is one of the keys above, never user input past this point.
	sql := "SELECT * FROM tally." + name + " WHERE ($1 = '' OR city = $1)"
	args := []any{f.City}
	if v.daily {
		sql += " AND ($2::date IS NULL OR day = $2::date)"
		var day *string
		if !f.Day.IsZero() {
			d := f.Day.Format(time.DateOnly)
			day = &d
		}
		args = append(args, day)
	}
	sql += " ORDER BY " + v.order
	c := Counter{Name: name}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		c.Rows, c.UpdatedAt, err = v.read(ctx, tx, sql, args)
		return err
	})
	return c, err
}

// updated is implemented by rows that carry updated_at.
type updated interface{ updated() time.Time }

func (r ActiveCarsRow) updated() time.Time       { return r.UpdatedAt }
func (r BookingsByStatusRow) updated() time.Time { return r.UpdatedAt }
func (r DailyRevenueRow) updated() time.Time     { return r.UpdatedAt }
func (r DailyBookingsRow) updated() time.Time    { return r.UpdatedAt }

func readRows[T any](ctx context.Context, tx pgx.Tx, sql string, args []any) (any, time.Time, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, time.Time{}, wrap(err, "read counter")
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	if err != nil {
		return nil, time.Time{}, wrap(err, "read counter")
	}
	return out, LastUpdated(out), nil
}

// LastUpdated returns the newest updated_at of rows, zero when they carry
// none.
func LastUpdated[T any](rows []T) time.Time {
	var newest time.Time
	for _, r := range rows {
		if u, ok := any(r).(updated); ok && u.updated().After(newest) {
			newest = u.updated()
		}
	}
	return newest
}
