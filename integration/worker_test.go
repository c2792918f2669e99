package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/internal/fleetsim"
	"github.com/tallyhq/tally/internal/testdb"
)

// dstZones put the business day in Paris and New York in its own zone.
func dstZones(t testing.TB) aggregator.Zones {
	z, err := aggregator.ParseZones("Europe/Paris", "new_york=America/New_York")
	require.NoError(t, err)
	return z
}

// troubled is a few thousand events with every kind of trouble, over the
// last Sunday of March 2026 (Europe's DST change) and its local midnights.
func troubled(t testing.TB, seed int64) []fleetsim.Message {
	cfg := fleetsim.Troubled(seed)
	cfg.Start = time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	cfg.Days = 2
	cfg.Cities = []string{"paris", "new_york", "berlin"}
	cfg.CarsPerCity = 12
	sim, err := fleetsim.New(cfg)
	require.NoError(t, err)
	return sim.All()
}

func TestTroubledFleetCountsExactly(t *testing.T) {
	t.Parallel()
	for _, b := range brokers() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			z := dstZones(t)
			f := newFleet(t, b.url, testdb.Options{Zones: &z})
			msgs := troubled(t, 42)
			f.startWorker(map[string]string{"TALLY_TIMEZONE": "Europe/Paris", "TALLY_CITY_TIMEZONES": "new_york=America/New_York"})
			f.publish(msgs)
			f.waitIdle(2 * time.Minute)
			f.requireExact(msgs)
		})
	}
}
