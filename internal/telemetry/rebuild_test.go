package telemetry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/telemetry"
)

func TestRebuildCollector(t *testing.T) {
	t.Parallel()
	sample := telemetry.RebuildSample{Gen: 3, Running: true, Done: 250, Total: 1000}
	found := true
	var failure error
	reg := prometheus.NewRegistry()
	reg.MustRegister(telemetry.NewRebuildCollector(func(context.Context) (telemetry.RebuildSample, bool, error) {
		return sample, found, failure
	}))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	require.Empty(t, problems)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP tally_rebuild_in_progress 1 while tally rebuild builds a new generation, 0 otherwise.
# TYPE tally_rebuild_in_progress gauge
tally_rebuild_in_progress 1
# HELP tally_rebuild_progress_ratio Share of the ledger events the latest rebuild has folded (1 once swapped in).
# TYPE tally_rebuild_progress_ratio gauge
tally_rebuild_progress_ratio{generation="3"} 0.25
`), "tally_rebuild_in_progress", "tally_rebuild_progress_ratio"))

	sample = telemetry.RebuildSample{Gen: 3, Swapped: true, Done: 1200, Total: 1200}
	require.Equal(t, 1.0, testutil.ToFloat64(onlyRatio(reg, t)))
	found = false
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Equal(t, 1, n, "before any rebuild: in_progress 0 only")
	failure = errors.New("database down")
	n, err = testutil.GatherAndCount(reg)
	require.NoError(t, err)
	require.Zero(t, n, "nothing when the database cannot say")
}

// onlyRatio returns the progress ratio gauge as a collector of its own.
func onlyRatio(reg *prometheus.Registry, t *testing.T) prometheus.Collector {
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "tally_rebuild_progress_ratio" {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ratio", Help: "copy"})
			g.Set(mf.GetMetric()[0].GetGauge().GetValue())
			return g
		}
	}
	require.FailNow(t, "no tally_rebuild_progress_ratio")
	return nil
}
