package aggregator_test

import (
	"testing"
	"time"
	_ "time/tzdata" // the same zone rules on every machine that runs the tests

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
)

func TestParseZones(t *testing.T) {
	t.Parallel()
	z, err := aggregator.ParseZones("", "")
	require.NoError(t, err)
	require.Equal(t, "UTC", z.DefaultName())
	require.Empty(t, z.Cities)
	require.True(t, z.Equal(aggregator.UTC))
	require.Equal(t, "UTC", z.String())

	z, err = aggregator.ParseZones("Europe/Paris", " jakarta = Asia/Jakarta ,, new york=America/New_York,")
	require.NoError(t, err)
	require.Equal(t, "Europe/Paris", z.DefaultName())
	require.Equal(t, "jakarta=Asia/Jakarta,new york=America/New_York", z.CitiesString())
	require.Equal(t, "Europe/Paris (jakarta=Asia/Jakarta,new york=America/New_York)", z.String())
	require.Equal(t, "Asia/Jakarta", z.Location("jakarta").String())
	require.Equal(t, "Europe/Paris", z.Location("Jakarta").String(), "city names match exactly")
	require.Equal(t, "Europe/Paris", z.Location("lyon").String())
}

func TestParseZonesRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, def, cities, msg string
	}{
		{"unknown default", "Mars/Olympus", "", `"Mars/Olympus"`},
		{"Local default", "Local", "", `"Local"`},
		{"lower-case default", "europe/paris", "", `"europe/paris"`},
		{"padded default", " UTC", "", `" UTC"`},
		{"path default", "../etc/passwd", "", `"../etc/passwd"`},
		{"unknown city zone", "UTC", "paris=Europe/Pariss", `"Europe/Pariss"`},
		{"Local city zone", "UTC", "paris=Local", `"Local"`},
		{"no equals", "UTC", "paris", `"paris"`},
		{"no city", "UTC", "=Europe/Paris", `"=Europe/Paris"`},
		{"no zone", "UTC", "paris=", `"paris="`},
		{"blank zone", "UTC", "paris= ", `"paris="`},
		{"two equals", "UTC", "paris=Europe/Paris=x", `"Europe/Paris=x"`},
		{"semicolon list", "UTC", "paris=Europe/Paris;jakarta=Asia/Jakarta", `"Europe/Paris;jakarta=Asia/Jakarta"`},
		{"duplicate city", "UTC", "paris=Europe/Paris,jakarta=Asia/Jakarta,paris=Europe/Paris", `"paris" has two zones`},
		{"duplicate city after trim", "UTC", "paris=Europe/Paris, paris =Europe/Berlin", `"paris" has two zones`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			z, err := aggregator.ParseZones(tt.def, tt.cities)
			require.ErrorContains(t, err, tt.msg)
			require.Zero(t, z)
		})
	}
}

func TestZonesEqual(t *testing.T) {
	t.Parallel()
	a, err := aggregator.ParseZones("UTC", "paris=Europe/Paris,jakarta=Asia/Jakarta")
	require.NoError(t, err)
	b, err := aggregator.ParseZones("", "jakarta=Asia/Jakarta, paris=Europe/Paris")
	require.NoError(t, err)
	require.True(t, a.Equal(b))
	c, err := aggregator.ParseZones("UTC", "paris=Europe/Berlin,jakarta=Asia/Jakarta")
	require.NoError(t, err)
	require.False(t, a.Equal(c))
	d, err := aggregator.ParseZones("Europe/Paris", "paris=Europe/Paris,jakarta=Asia/Jakarta")
	require.NoError(t, err)
	require.False(t, a.Equal(d))
	require.True(t, aggregator.Zones{}.Equal(aggregator.UTC))
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestZonesDay(t *testing.T) {
	t.Parallel()
	z, err := aggregator.ParseZones("Europe/Paris", "nyc=America/New_York,jakarta=Asia/Jakarta,london=UTC")
	require.NoError(t, err)
	tests := []struct {
		name string
		city string
		at   string
		want time.Time
	}{
		{"just before local midnight", "paris", "2026-05-01T21:59:59.999999Z", date(2026, 5, 1)},
		{"local midnight", "paris", "2026-05-01T22:00:00Z", date(2026, 5, 2)},
		{"winter offset", "paris", "2026-01-15T22:59:59Z", date(2026, 1, 15)},
		{"winter midnight", "paris", "2026-01-15T23:00:00Z", date(2026, 1, 16)},
		// 2026-03-29 in Paris: 02:00 CET becomes 03:00 CEST, a 23-hour day.
		{"spring day starts", "paris", "2026-03-28T23:00:00Z", date(2026, 3, 29)},
		{"spring before the jump", "paris", "2026-03-29T00:59:59Z", date(2026, 3, 29)},
		{"spring after the jump", "paris", "2026-03-29T01:00:00Z", date(2026, 3, 29)},
		{"spring day ends", "paris", "2026-03-29T21:59:59.999999Z", date(2026, 3, 29)},
		{"spring next day", "paris", "2026-03-29T22:00:00Z", date(2026, 3, 30)},
		// 2026-10-25 in Paris: 03:00 CEST becomes 02:00 CET, a 25-hour day.
		{"autumn day starts", "paris", "2026-10-24T22:00:00Z", date(2026, 10, 25)},
		{"autumn first 02:30", "paris", "2026-10-25T00:30:00Z", date(2026, 10, 25)},
		{"autumn second 02:30", "paris", "2026-10-25T01:30:00Z", date(2026, 10, 25)},
		{"autumn day ends", "paris", "2026-10-25T22:59:59.999999Z", date(2026, 10, 25)},
		{"autumn next day", "paris", "2026-10-25T23:00:00Z", date(2026, 10, 26)},
		// New York: 2026-03-08 and 2026-11-01.
		{"nyc spring day starts", "nyc", "2026-03-08T05:00:00Z", date(2026, 3, 8)},
		{"nyc spring day ends", "nyc", "2026-03-09T03:59:59Z", date(2026, 3, 8)},
		{"nyc spring next day", "nyc", "2026-03-09T04:00:00Z", date(2026, 3, 9)},
		{"nyc before midnight", "nyc", "2026-11-01T03:59:59Z", date(2026, 10, 31)},
		{"nyc autumn day starts", "nyc", "2026-11-01T04:00:00Z", date(2026, 11, 1)},
		{"nyc autumn day ends", "nyc", "2026-11-02T04:59:59Z", date(2026, 11, 1)},
		{"nyc autumn next day", "nyc", "2026-11-02T05:00:00Z", date(2026, 11, 2)},
		{"jakarta", "jakarta", "2026-05-01T16:59:59Z", date(2026, 5, 1)},
		{"jakarta midnight", "jakarta", "2026-05-01T17:00:00Z", date(2026, 5, 2)},
		{"city in UTC overrides the default", "london", "2026-05-01T23:30:00Z", date(2026, 5, 1)},
		{"year end", "nyc", "2027-01-01T04:59:59Z", date(2026, 12, 31)},
		{"leap day", "paris", "2028-02-28T23:00:00Z", date(2028, 2, 29)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := z.Day(tt.city, utc(tt.at))
			require.Equal(t, tt.want, got)
			require.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestZonesDayIgnoresTheInputZone(t *testing.T) {
	t.Parallel()
	z, err := aggregator.ParseZones("Asia/Jakarta", "")
	require.NoError(t, err)
	at := utc("2026-05-01T17:30:00Z")
	require.Equal(t, date(2026, 5, 2), z.Day("x", at))
	require.Equal(t, date(2026, 5, 2), z.Day("x", at.In(time.FixedZone("", -10*3600))))
	require.Equal(t, date(2026, 5, 1), aggregator.Zones{}.Day("x", at), "the zero Zones is UTC")
	require.Equal(t, date(2026, 5, 1), aggregator.UTC.Day("x", at.In(z.Default)))
}
