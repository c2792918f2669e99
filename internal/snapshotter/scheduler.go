package snapshotter

import (
	"context"
	"log/slog"
	"time"

	"github.com/tallyhq/tally/store"
)

// Store is what the scheduler needs of the database; *store.Store is one.
type Store interface {
	TakeSnapshot(ctx context.Context, req store.SnapshotRequest) (store.Snapshot, bool, error)
	PruneSnapshots(ctx context.Context, before time.Time) (int64, error)
	CurrentGeneration(ctx context.Context) (store.Generation, error)
}

// Defaults of a Scheduler.
const (
	// DefaultWake is how long the scheduler sleeps at most before it looks
	// at the clock again, so that a clock that jumps (or an injected one)
	// is followed.
	DefaultWake = time.Second
	// retryAfter spaces the attempts at a slot whose snapshot failed.
	retryAfter = 10 * time.Second
)

// Scheduler takes the worker's snapshots. Every worker runs one; the slot
// of each snapshot makes sure only one of them takes it.
type Scheduler struct {
	Store Store
	// Interval between snapshots; midnights of the business zone (the
	// current generation's default zone) are added to its boundaries.
	Interval time.Duration
	// Retention: after each snapshot it takes, the scheduler prunes those
	// taken longer ago than this. Zero keeps them all.
	Retention time.Duration
	Log       *slog.Logger
	// Now is the clock; Wake (default DefaultWake) bounds each sleep.
	Now  func() time.Time
	Wake time.Duration
}

// Run takes snapshots until ctx is cancelled and returns nil then. On
// start it takes the current period's slot when no worker has yet, so a
// fresh deployment has a snapshot at once. Failures are logged and
// retried; a slot missed entirely is skipped, never taken late once the
// next one is due.
func (s *Scheduler) Run(ctx context.Context) error {
	due := latestSlot(s.Now(), s.Interval, s.zone(ctx))
	for {
		next := s.next(ctx, due.at)
		wake := next.at
		if !s.take(ctx, due) {
			wake = s.Now().Add(retryAfter)
			if next.at.Before(wake) {
				wake = next.at
			}
		}
		if !s.sleepUntil(ctx, wake) {
			return nil
		}
		// Past the next slot: take the latest one due (when the clock
		// passed several at once, only that one is still worth taking).
		// Before it: the snapshot failed, retry the same slot.
		if !s.Now().Before(next.at) {
			due = latestSlot(s.Now(), s.Interval, s.zone(ctx))
		}
	}
}

func (s *Scheduler) next(ctx context.Context, after time.Time) slot {
	return nextSlot(after, s.Interval, s.zone(ctx))
}

// take takes the slot's snapshot unless another worker did, then prunes.
// It reports false when the snapshot failed and is worth retrying.
func (s *Scheduler) take(ctx context.Context, sl slot) bool {
	snap, taken, err := s.Store.TakeSnapshot(ctx, store.SnapshotRequest{Kind: sl.kind, SlotAt: sl.at})
	switch {
	case ctx.Err() != nil:
		return true
	case err != nil:
		s.Log.Warn("snapshot failed; retrying", "slot_at", sl.at, "err", err)
		return false
	case !taken:
		return true
	}
	s.Log.Info("snapshot taken", "snapshot_id", snap.ID, "kind", snap.Kind, "slot_at", sl.at,
		"changed_rows", snap.ChangedRows, "removed_rows", snap.RemovedRows)
	if s.Retention > 0 {
		n, err := s.Store.PruneSnapshots(ctx, s.Now().Add(-s.Retention))
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("pruning old snapshots failed", "err", err)
		} else if n > 0 {
			s.Log.Info("pruned old snapshots", "snapshots", n, "retention", s.Retention)
		}
	}
	return true
}

// zone is the business zone: the current generation's default zone, read
// each time because a rebuild may change it.
func (s *Scheduler) zone(ctx context.Context) *time.Location {
	g, err := s.Store.CurrentGeneration(ctx)
	if err != nil || g.Zones.Default == nil {
		if ctx.Err() == nil {
			s.Log.Warn("cannot read the business time zone; using UTC for midnights", "err", err)
		}
		return time.UTC
	}
	return g.Zones.Default
}

// sleepUntil waits until the clock reaches t, looking at it at least every
// Wake. It returns false when ctx is cancelled first.
func (s *Scheduler) sleepUntil(ctx context.Context, t time.Time) bool {
	wake := s.Wake
	if wake <= 0 {
		wake = DefaultWake
	}
	for {
		left := t.Sub(s.Now())
		if left <= 0 {
			return true
		}
		timer := time.NewTimer(min(left, wake))
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
		}
	}
}
