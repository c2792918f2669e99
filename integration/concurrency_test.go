package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/testnats"
)

// TestApplyConcurrencyCountsExactly runs two workers that each apply four
// batches at once (TALLY_APPLY_CONCURRENCY=4), with small batches so that
// their transactions overlap and wait for each other on shared rows, on
// the troubled fleet: nothing is lost or counted twice, and no
// transaction deadlocks. Their batches meet new cars and bookings at the
// same time, so some lose the race to create one and are applied again.
func TestApplyConcurrencyCountsExactly(t *testing.T) {
	t.Parallel()
	f := newFleet(t, testnats.MachineURL())
	msgs := load(t, 13, 3)
	extra := map[string]string{"TALLY_APPLY_CONCURRENCY": "4", "TALLY_BATCH_SIZE": "50"}
	workers := []*worker{f.startWorker(extra), f.startWorker(extra)}
	f.publish(msgs)
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)
	// Batches that met a new entity, an entity or an event another
	// transaction created, changed or recorded first were applied again (store.Apply); how often
	// depends on timing, so it is reported, not required: store's
	// TestApplyLosingARaceFor... tests force both races.
	entityRaces, changeRaces, ledgerRaces, failed := 0.0, 0.0, 0.0, 0.0
	for _, w := range workers {
		mfs := scrape(t, w.main.Addr())
		entityRaces += max(0, value(mfs, "tally_apply_retries_total", "kind", "entity_race"))
		changeRaces += max(0, value(mfs, "tally_apply_retries_total", "kind", "change_race"))
		ledgerRaces += max(0, value(mfs, "tally_apply_retries_total", "kind", "ledger_race"))
		failed += max(0, value(mfs, "tally_apply_retries_total", "kind", "transient"))
	}
	t.Logf("batches applied again after losing a race for a new entity: %.0f, for a changed entity: %.0f, for an event: %.0f",
		entityRaces, changeRaces, ledgerRaces)
	// A deadlock fails a batch as transient; nothing else fails here.
	require.Zero(t, failed, "no apply may have failed (deadlock_timeout is 1s: a deadlock stalls both workers)")
}
