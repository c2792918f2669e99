package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/testnats"
)

func TestVerifyReportsACorruptedCounterAndExitsOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFleet(t, testnats.MachineURL())
	msgs := troubled(t, 31)
	half := len(msgs) / 2
	f.startWorker(nil)
	f.publish(msgs[:half])
	f.waitIdle(2 * time.Minute)

	// Verify reads one snapshot: exact while the workers keep committing.
	published := f.publishPaced(msgs[half:], 20, 20*time.Millisecond)
	code, out := f.runTally(nil, "verify")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "no differences")
	<-published
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)

	var day time.Time
	var city, currency string
	require.NoError(t, f.store.Pool().QueryRow(ctx, `UPDATE tally_g1.daily_revenue SET gross_minor = gross_minor + 100
		WHERE (day, city, currency) = (SELECT day, city, currency FROM tally_g1.daily_revenue ORDER BY day DESC, city, currency LIMIT 1)
		RETURNING day, city, currency`).Scan(&day, &city, &currency))
	code, out = f.runTally(nil, "verify")
	require.Equal(t, 1, code, out)
	key := "day=" + day.Format(time.DateOnly) + " city=" + city + " currency=" + currency
	lines := linesWith(out, "daily_revenue")
	require.Len(t, lines, 1, out)
	require.Equal(t, []string{"daily_revenue", "day=" + day.Format(time.DateOnly), "city=" + city, "currency=" + currency,
		"gross_minor"}, strings.Fields(lines[0])[:5], key)
	require.Contains(t, out, "1 difference\n")

	code, out = f.runTally(nil, "verify", "--since", day.AddDate(0, 0, 1).Format(time.DateOnly))
	require.Equal(t, 0, code, "the corrupted day is before --since: %s", out)
	code, out = f.runTally(nil, "verify", "--since", "yesterday")
	require.Equal(t, 2, code, out)

	var runs, withDiffs int
	require.NoError(t, f.store.Pool().QueryRow(ctx,
		"SELECT count(*), count(*) FILTER (WHERE differences > 0) FROM tally.verify_runs").Scan(&runs, &withDiffs))
	require.Equal(t, 3, runs)
	require.Equal(t, 1, withDiffs)
}

// linesWith returns the lines of out that contain s.
func linesWith(out, s string) []string {
	var lines []string
	for l := range strings.Lines(out) {
		if strings.Contains(l, s) {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}
