package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/testnats"
)

func TestDLQReplayCountsFixedEventsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFleet(t, testnats.MachineURL())
	msgs := troubled(t, 41)
	f.startWorker(nil)
	f.publish(msgs)
	f.waitIdle(2 * time.Minute)
	f.requireExact(msgs)

	var tooLarge int
	var seq int64
	require.NoError(t, f.store.Pool().QueryRow(ctx, `SELECT count(*), min(source_seq) FROM tally.dead_letters
		WHERE code = 'too_large'`).Scan(&tooLarge, &seq))
	require.Positive(t, tooLarge)
	code, out := f.runTally(nil, "dlq", "list", "--code", "too_large")
	require.Equal(t, 0, code, out)
	require.Len(t, linesWith(out, "too_large"), tooLarge, out)
	require.Contains(t, out, fmt.Sprintf("%d dead letters", tooLarge))
	code, out = f.runTally(nil, "dlq", "show", strconv.FormatInt(seq, 10))
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "code:      too_large")
	require.Contains(t, out, fmt.Sprintf("sequence %d", seq))

	// An operator fixes one body by hand, and raises the size limit.
	fixed, err := events.Draft{ID: "fixed-by-hand", Type: events.PaymentCaptured, OccurredAt: time.Date(2026, 3, 29, 9, 0, 0, 0, time.UTC),
		Data: events.PaymentCapture{PaymentID: "pay-fixed", BookingID: "bk-fixed", City: "paris", AmountMinor: 4321, Currency: "EUR"}}.Encode()
	require.NoError(t, err)
	tag, err := f.store.Pool().Exec(ctx, `UPDATE tally.dead_letters SET body = $1
		WHERE dl_id = (SELECT min(dl_id) FROM tally.dead_letters WHERE code IN ('invalid_json', 'invalid_data'))`, fixed)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	big := map[string]string{"TALLY_MAX_EVENT_BYTES": "1048576"}

	code, out = f.runTally(big, "dlq", "replay")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf("%d now valid", tooLarge+1))
	require.Contains(t, out, fmt.Sprintf("%d counted", tooLarge+1))
	once, _, _ := f.readViews()
	f.requireViews(f.ledger())

	code, out = f.runTally(big, "dlq", "replay")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, ": 0 now valid")
	code, out = f.runTally(big, "dlq", "replay", "--all")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf("0 counted, 0 of unknown types recorded, %d already recorded", tooLarge+1))
	twice, _, _ := f.readViews()
	require.Empty(t, twice.Diff(once), "replayed twice, counted once")
	var n int
	require.NoError(t, f.store.Pool().QueryRow(ctx, "SELECT count(*) FROM tally.events WHERE id = 'fixed-by-hand'").Scan(&n))
	require.Equal(t, 1, n)

	code, out = f.runTally(nil, "dlq", "purge", "--replayed")
	require.Equal(t, 2, code, "no terminal, no --yes: %s", out)
	require.Contains(t, out, "pass --yes")
	code, out = f.runTally(nil, "dlq", "purge", "--replayed", "--yes")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf("deleted %d dead letters", tooLarge+1))
	code, out = f.runTally(nil, "dlq", "list", "--replayed")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "no dead letters")
	f.requireViews(f.ledger())
}
