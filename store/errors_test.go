package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
)

func TestFailuresAreSortedByWhoseFaultTheyAre(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("apply: %w", &pgconn.PgError{Code: code}) }
	cases := []struct {
		err             error
		transient, data bool
	}{
		{pg("08006"), true, false},  // connection failure
		{pg("57P01"), true, false},  // terminated by administrator
		{pg("40P01"), true, false},  // deadlock
		{pg("25P03"), true, false},  // idle in transaction too long: the worker stalled mid-batch
		{pg("22003"), false, true},  // numeric value out of range
		{pg("23505"), false, true},  // unique violation
		{pg("P0001"), false, true},  // raised by a trigger
		{pg("54000"), false, true},  // index row too large (a huge city name)
		{pg("42501"), false, false}, // insufficient privilege: the system's fault
		{pg("42P01"), false, false}, // undefined table
		{fmt.Errorf("fold: %w", aggregator.ErrOverflow), false, true},
		{errors.New("unable to encode value"), false, true},
	}
	for _, c := range cases {
		require.Equal(t, c.transient, IsTransient(c.err), "transient %v", c.err)
		require.Equal(t, c.data, IsDataError(c.err), "data %v", c.err)
	}
}
