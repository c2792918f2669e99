package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// snapshotLockKey serialises the writers of history: each snapshot stores
// its changes against the one before, so two must never interleave.
const snapshotLockKey = 7_241_040

// ErrNoSnapshot is returned when no snapshot was taken at or before the
// time asked for.
var ErrNoSnapshot = errors.New("no snapshot taken at or before that time")

// SnapshotKind says how a snapshot was taken.
type SnapshotKind string

// Snapshot kinds.
const (
	SnapshotInterval SnapshotKind = "interval" // on TALLY_SNAPSHOT_INTERVAL
	SnapshotMidnight SnapshotKind = "midnight" // at a local midnight of the business zone
	SnapshotManual   SnapshotKind = "manual"   // tally snapshot
)

// SnapshotRequest asks for a snapshot. A scheduled one names its slot: the
// instant it is due, which identifies it, so that of several workers only
// the first takes it.
type SnapshotRequest struct {
	Kind   SnapshotKind
	SlotAt time.Time // zero for a manual snapshot
}

// Snapshot is a row of tally.snapshots: when it was taken and what it covers.
type Snapshot struct {
	ID          int64      `db:"id" json:"id"`
	TakenAt     time.Time  `db:"taken_at" json:"taken_at"`
	Kind        string     `db:"kind" json:"kind"`
	SlotAt      *time.Time `db:"slot_at" json:"slot_at,omitempty"`
	Gen         int        `db:"gen" json:"gen"`
	LedgerPos   int64      `db:"ledger_pos" json:"ledger_pos"`
	LastEventAt *time.Time `db:"last_event_at" json:"last_event_at"`
	AppliedAt   *time.Time `db:"applied_at" json:"applied_at"`
	// Covers is the database snapshot (pg_snapshot, in its text form): an
	// event is covered when pg_visible_in_snapshot says its row is visible.
	Covers      string `db:"covers" json:"covers"`
	ChangedRows int    `db:"changed_rows" json:"changed_rows"`
	RemovedRows int    `db:"removed_rows" json:"removed_rows"`
}

const snapshotColumns = `id, taken_at, kind, slot_at, gen, ledger_pos, last_event_at, applied_at,
	covers::text AS covers, changed_rows, removed_rows`

// insertSnapshotSQL records the snapshot with what it covers. now() is the
// start of the transaction, whose database snapshot the whole
// transaction reads: taken_at and the overdue view's clock agree.
const insertSnapshotSQL = `INSERT INTO tally.snapshots
	(taken_at, kind, slot_at, gen, ledger_pos, last_event_at, applied_at, covers)
SELECT now(), $1, $2, (SELECT gen FROM tally.generations WHERE state = 'current'),
	COALESCE((SELECT max(pos) FROM tally.events), 0), f.last_event_at, f.applied_at, pg_current_snapshot()
FROM tally.freshness AS f
RETURNING ` + snapshotColumns

// TakeSnapshot stores the contract's counter views as they are now, in one
// repeatable-read transaction: exactly the events committed when it
// starts, even while workers apply batches. It returns false, and no
// snapshot, when req names a slot that is already taken.
func (s *Store) TakeSnapshot(ctx context.Context, req SnapshotRequest) (Snapshot, bool, error) {
	var snap Snapshot
	var taken bool
	err := s.withHistoryLock(ctx, func(conn *pgxpool.Conn) error {
		return pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
			var err error
			snap, taken, err = takeSnapshot(ctx, tx, req)
			return err
		})
	})
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("take snapshot: %w", err)
	}
	return snap, taken, nil
}

func takeSnapshot(ctx context.Context, tx pgx.Tx, req SnapshotRequest) (Snapshot, bool, error) {
	// The planner overestimates the history statements once the daily
	// views hold a year of rows, and JIT-compiling them costs far more
	// than running them.
	if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
		return Snapshot{}, false, fmt.Errorf("turn jit off: %w", err)
	}
	var slot *time.Time
	if !req.SlotAt.IsZero() {
		slot = &req.SlotAt
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM tally.snapshots WHERE slot_at = $1)", slot).
			Scan(&exists); err != nil || exists {
			return Snapshot{}, false, wrap(err, "check slot")
		}
	}
	rows, err := tx.Query(ctx, insertSnapshotSQL, string(req.Kind), slot)
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("record snapshot: %w", err)
	}
	snap, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Snapshot])
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("record snapshot: %w", err)
	}
	if err := writeHistory(ctx, tx, &snap); err != nil {
		return Snapshot{}, false, err
	}
	return snap, true, nil
}

// writeHistory closes the versions of rows that changed or disappeared and
// opens versions for new and changed rows, view by view, in one round trip.
func writeHistory(ctx context.Context, tx pgx.Tx, snap *Snapshot) error {
	b := &pgx.Batch{}
	for _, q := range historySQL {
		b.Queue(q.close, snap.ID)
		b.Queue(q.open, snap.ID)
	}
	br := tx.SendBatch(ctx, b)
	for i := range historySQL {
		var closed, removed int
		if err := br.QueryRow().Scan(&closed, &removed); err != nil {
			_ = br.Close()
			return fmt.Errorf("close rows of %s: %w", historyViews[i].name, err)
		}
		tag, err := br.Exec()
		if err != nil {
			_ = br.Close()
			return fmt.Errorf("open rows of %s: %w", historyViews[i].name, err)
		}
		snap.ChangedRows += int(tag.RowsAffected())
		snap.RemovedRows += removed
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("write history: %w", err)
	}
	_, err := tx.Exec(ctx, "UPDATE tally.snapshots SET changed_rows = $2, removed_rows = $3 WHERE id = $1",
		snap.ID, snap.ChangedRows, snap.RemovedRows)
	return wrap(err, "count snapshot rows")
}

// withHistoryLock runs fn on a connection that holds the history lock,
// taken before fn's transaction begins. It is a session lock for that
// reason: a repeatable-read transaction's database snapshot dates from its
// first statement, so a lock waited for inside it would leave the
// transaction reading the state from before the wait.
func (s *Store) withHistoryLock(ctx context.Context, fn func(conn *pgxpool.Conn) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", snapshotLockKey); err != nil {
		return fmt.Errorf("take the history lock: %w", err)
	}
	defer unlockSession(ctx, conn, "SELECT pg_advisory_unlock($1)", snapshotLockKey)
	return fn(conn)
}

// unlockSession releases a session lock. A connection that cannot release
// it is closed, so that the pool never hands out a connection still
// holding a lock.
func unlockSession(ctx context.Context, conn *pgxpool.Conn, sql string, key int64) {
	ctx = context.WithoutCancel(ctx)
	if _, err := conn.Exec(ctx, sql, key); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}
