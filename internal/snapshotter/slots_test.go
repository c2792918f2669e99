package snapshotter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/store"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestSlots(t *testing.T) {
	t.Parallel()
	kolkata, paris := mustZone(t, "Asia/Kolkata"), mustZone(t, "Europe/Paris")
	tests := []struct {
		name         string
		at           string
		interval     time.Duration
		loc          *time.Location
		latest, next slot
	}{
		{"hourly in UTC: midnight wins over the boundary", "2026-05-01T00:20:00Z", time.Hour, time.UTC,
			slot{utc("2026-05-01T00:00:00Z"), store.SnapshotMidnight}, slot{utc("2026-05-01T01:00:00Z"), store.SnapshotInterval}},
		{"a half-hour zone has its own midnight", "2026-05-01T18:10:00Z", time.Hour, kolkata,
			slot{utc("2026-05-01T18:00:00Z"), store.SnapshotInterval}, slot{utc("2026-05-01T18:30:00Z"), store.SnapshotMidnight}},
		{"after that midnight", "2026-05-01T18:45:00Z", time.Hour, kolkata,
			slot{utc("2026-05-01T18:30:00Z"), store.SnapshotMidnight}, slot{utc("2026-05-01T19:00:00Z"), store.SnapshotInterval}},
		{"exactly on a slot", "2026-05-01T07:00:00Z", time.Hour, paris,
			slot{utc("2026-05-01T07:00:00Z"), store.SnapshotInterval}, slot{utc("2026-05-01T08:00:00Z"), store.SnapshotInterval}},
		{"the night Paris moves to summer time", "2026-03-28T23:30:00Z", 6 * time.Hour, paris,
			slot{utc("2026-03-28T23:00:00Z"), store.SnapshotMidnight}, slot{utc("2026-03-29T00:00:00Z"), store.SnapshotInterval}},
		{"a summer midnight in Paris", "2026-03-29T21:00:00Z", 6 * time.Hour, paris,
			slot{utc("2026-03-29T18:00:00Z"), store.SnapshotInterval}, slot{utc("2026-03-29T22:00:00Z"), store.SnapshotMidnight}},
		{"a daily interval", "2026-05-01T12:00:00Z", 24 * time.Hour, kolkata,
			slot{utc("2026-05-01T00:00:00Z"), store.SnapshotInterval}, slot{utc("2026-05-01T18:30:00Z"), store.SnapshotMidnight}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			at := utc(tt.at)
			require.Equal(t, tt.latest, latestSlot(at, tt.interval, tt.loc))
			require.Equal(t, tt.next, nextSlot(at, tt.interval, tt.loc))
		})
	}
}

// Santiago skipped midnight on 2022-09-11: clocks went from 00:00 to 01:00.
func TestStartOfDayWhenMidnightIsSkipped(t *testing.T) {
	t.Parallel()
	santiago := mustZone(t, "America/Santiago")
	at := time.Date(2022, 9, 11, 12, 0, 0, 0, santiago)
	start := startOfDay(at, santiago)
	require.False(t, start.After(at))
	y, m, d := start.In(santiago).Date()
	require.Equal(t, []int{2022, 9, 11}, []int{y, int(m), d})
	require.True(t, nextMidnight(start.Add(-time.Second), santiago).Equal(start))
}
