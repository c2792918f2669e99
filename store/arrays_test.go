package store

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
)

// TestArrayEncodersWritePgxBytes compares fastArrayCodec with pgx's own
// encoding of the same values, byte for byte.
func TestArrayEncodersWritePgxBytes(t *testing.T) {
	fast, plain := pgtype.NewMap(), pgtype.NewMap()
	registerArrayEncoders(fast)

	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("aZ09 ,{}\"\\'é日本🚗\t\n")
	str := func() string {
		var b strings.Builder
		for range rng.IntN(40) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	tm := func() time.Time {
		// From 1900 to 2100, with nanoseconds, in UTC or another zone.
		t := time.Unix(rng.Int64N(200*365*86400)-2208988800, rng.Int64N(1e9))
		if rng.IntN(2) == 0 {
			t = t.In(berlin)
		}
		return t
	}
	randomStrings := make([]string, 3000)
	for i := range randomStrings {
		randomStrings[i] = str()
	}
	randomTimes, randomNullTimes := make([]time.Time, 3000), make([]*time.Time, 3000)
	for i := range randomTimes {
		randomTimes[i] = tm()
		if rng.IntN(3) > 0 {
			randomNullTimes[i] = &randomTimes[i]
		}
	}
	someTime := time.Date(2026, 5, 1, 9, 0, 0, 123456789, time.UTC)

	cases := []struct {
		name  string
		oid   uint32
		value any
		plan  pgtype.EncodePlan
	}{
		{"nil strings", pgtype.TextArrayOID, []string(nil), textArrayPlan},
		{"no strings", pgtype.TextArrayOID, []string{}, textArrayPlan},
		{"empty string", pgtype.TextArrayOID, []string{""}, textArrayPlan},
		{"long string", pgtype.TextArrayOID, []string{strings.Repeat("x", 70000), "y"}, textArrayPlan},
		{"random strings", pgtype.TextArrayOID, randomStrings, textArrayPlan},
		{"nil times", pgtype.TimestamptzArrayOID, []time.Time(nil), timeArrayPlan},
		{"no times", pgtype.TimestamptzArrayOID, []time.Time{}, timeArrayPlan},
		{"zero time", pgtype.TimestamptzArrayOID, []time.Time{{}}, timeArrayPlan},
		{"random times", pgtype.TimestamptzArrayOID, randomTimes, timeArrayPlan},
		{"nil time pointers", pgtype.TimestamptzArrayOID, []*time.Time(nil), nullTimeArrayPlan},
		{"only nulls", pgtype.TimestamptzArrayOID, []*time.Time{nil, nil}, nullTimeArrayPlan},
		{"no nulls", pgtype.TimestamptzArrayOID, []*time.Time{&someTime}, nullTimeArrayPlan},
		{"random time pointers", pgtype.TimestamptzArrayOID, randomNullTimes, nullTimeArrayPlan},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.IsType(t, c.plan, fast.PlanEncode(c.oid, pgtype.BinaryFormatCode, c.value), "the fast plan must be the one used")
			want, err := plain.Encode(c.oid, pgtype.BinaryFormatCode, c.value, nil)
			require.NoError(t, err)
			got, err := fast.Encode(c.oid, pgtype.BinaryFormatCode, c.value, nil)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}

	// Other values, and the text format, are pgx's own.
	for _, v := range []any{[]int64{1}, []*string{nil}, pgtype.FlatArray[string]{"a"}} {
		_, isFast := fast.PlanEncode(pgtype.TextArrayOID, pgtype.BinaryFormatCode, v).(arrayPlan[string])
		require.False(t, isFast, "%T", v)
	}
	text, err := fast.Encode(pgtype.TextArrayOID, pgtype.TextFormatCode, []string{"a b", ""}, nil)
	require.NoError(t, err)
	require.Equal(t, `{"a b",""}`, string(text))
}
