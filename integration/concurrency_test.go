package integration

import (
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/testnats"
)

// TestApplyConcurrencyCountsExactly runs two workers that each apply four
// batches at once (TALLY_APPLY_CONCURRENCY=4), with small batches so that
// their transactions overlap and wait for each other on shared rows, on
// the troubled fleet: nothing is lost or counted twice, and no
// transaction deadlocks.
func TestApplyConcurrencyCountsExactly(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := load(t, 13, 3)
	extra := map[string]string{"TALLY_APPLY_CONCURRENCY": "4", "TALLY_BATCH_SIZE": "50"}
	f.startWorker(extra)
	f.startWorker(extra)
	f.publish(msgs)
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)
}
