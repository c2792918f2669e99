package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/oracle"
	"github.com/tallyhq/tally/store"
)

// ErrCountersDiffer is returned when a scenario's counters differ from
// their recomputation: tally bench then exits 1.
var ErrCountersDiffer = errors.New("counters differ from their recomputation")

// CheckError lists the differences a scenario's check found.
type CheckError struct {
	Scenario    string
	Differences []string
}

func (e *CheckError) Error() string {
	shown := e.Differences[:min(len(e.Differences), 20)]
	return fmt.Sprintf("%s: %v (%d differences):\n  %s", e.Scenario, ErrCountersDiffer, len(e.Differences),
		strings.Join(shown, "\n  "))
}

// Is lets errors.Is(err, ErrCountersDiffer) match.
func (e *CheckError) Is(target error) bool { return target == ErrCountersDiffer }

// checkCounters compares, in one snapshot, every contract view with its
// set-based recomputation from the ledger (store.RecomputeFromLedger), and
// when want is not nil the ledger with what was published: each valid
// event exactly once, by type. Together they show exactly-once end to end:
// nothing lost, nothing counted twice, every counter what the recorded
// events make.
func (b *Bench) checkCounters(ctx context.Context, scenario string, st *store.Store, want *expected) error {
	b.logf("%s: checking the counters against a recomputation from the ledger", scenario)
	lc, err := st.RecomputeFromLedger(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", scenario, err)
	}
	diffs := oracle.FromViews(lc.Views).Diff(oracle.FromViews(lc.Recomputed))
	if want != nil {
		diffs = append(diffs, ledgerDiff(lc.ByType, want)...)
	}
	if len(diffs) > 0 {
		return &CheckError{Scenario: scenario, Differences: diffs}
	}
	var total int64
	for _, n := range lc.ByType {
		total += n
	}
	b.report.check(scenario, fmt.Sprintf("counters = recomputation from %d ledger events", total))
	return nil
}

// ledgerDiff compares the ledger's events by type with what was published.
func ledgerDiff(byType map[string]int64, want *expected) []string {
	var out []string
	var known int64
	for _, t := range events.KnownTypes {
		known += byType[string(t)]
		if got := byType[string(t)]; got != want.byType[t] {
			out = append(out, fmt.Sprintf("ledger: %d %s events, %d distinct ones published", got, t, want.byType[t]))
		}
	}
	var all int64
	for _, n := range byType {
		all += n
	}
	if all-known != want.unknown {
		out = append(out, fmt.Sprintf("ledger: %d events of unknown types, %d published", all-known, want.unknown))
	}
	return out
}
