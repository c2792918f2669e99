package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestArrayParametersRoundTrip sends the slices the store encodes itself
// (text[] and timestamptz[]) to PostgreSQL and reads them back.
func TestArrayParametersRoundTrip(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	at := time.Date(1999, 12, 31, 23, 59, 59, 999_999_000, berlin)
	later := time.Date(2026, 5, 1, 9, 0, 0, 1000, time.UTC)
	ids := []string{"car-1", "", "日本 🚗", `quote " and \ backslash`, "{,}"}

	var (
		gotIDs          []string
		gotTimes        []time.Time
		gotNullTimes    []*time.Time
		nulls, distinct int
		none            *[]string
	)
	err = b.store.Pool().QueryRow(ctx, `SELECT $1::text[], $2::timestamptz[], $3::timestamptz[],
			(SELECT count(*) FROM unnest($3::timestamptz[]) AS u(t) WHERE t IS NULL),
			(SELECT count(DISTINCT id) FROM unnest($1::text[]) AS u(id)), $4::text[]`,
		ids, []time.Time{at, later}, []*time.Time{nil, &later, nil}, []string(nil)).
		Scan(&gotIDs, &gotTimes, &gotNullTimes, &nulls, &distinct, &none)
	require.NoError(t, err)
	require.Equal(t, ids, gotIDs)
	require.Len(t, gotTimes, 2)
	require.True(t, gotTimes[0].Equal(at), "%v", gotTimes[0])
	require.True(t, gotTimes[1].Equal(later), "%v", gotTimes[1])
	require.Len(t, gotNullTimes, 3)
	require.Nil(t, gotNullTimes[0])
	require.True(t, gotNullTimes[1].Equal(later))
	require.Equal(t, 2, nulls)
	require.Equal(t, len(ids), distinct)
	require.Nil(t, none, "a nil slice is NULL")
}
