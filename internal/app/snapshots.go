package app

import "github.com/tallyhq/tally/internal/snapshotter"

// snapshotScheduler returns the worker's snapshot scheduler, or nil when
// TALLY_SNAPSHOT_INTERVAL is 0. It follows Main.Now.
func (m *Main) snapshotScheduler() *snapshotter.Scheduler {
	if m.Config.SnapshotInterval <= 0 {
		return nil
	}
	return &snapshotter.Scheduler{
		Store:     m.Store,
		Interval:  m.Config.SnapshotInterval,
		Retention: m.Config.SnapshotRetention,
		Log:       m.Log.With("service", "snapshots"),
		Now:       m.Now,
	}
}
