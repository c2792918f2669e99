package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rebuildLockKey is the session advisory lock a rebuild holds from start
// to end: one rebuild at a time per database. It dies with the process.
const rebuildLockKey = 7_241_003

// ErrRebuildRunning is returned when another rebuild holds the lock.
var ErrRebuildRunning = errors.New("another tally rebuild is running on this database")

// RebuildStatus is a row of tally.rebuilds: one run of tally rebuild.
type RebuildStatus struct {
	Gen       int       `json:"generation"`
	State     string    `json:"state"` // running, swapped, failed or interrupted
	Done      int64     `json:"done"`
	Total     int64     `json:"total"`
	StartedAt time.Time `json:"started_at"`
}

// RunningError is ErrRebuildRunning with what the running rebuild has
// recorded of itself.
type RunningError struct {
	Status *RebuildStatus // nil when it has recorded nothing yet
}

func (e *RunningError) Error() string {
	s := e.Status
	if s == nil || s.State != "running" {
		return ErrRebuildRunning.Error() + "; wait for it to finish"
	}
	return fmt.Sprintf("%s (building generation %d since %s, %d of %d events); wait for it to finish",
		ErrRebuildRunning, s.Gen, s.StartedAt.Local().Format(time.DateTime), s.Done, s.Total)
}

// Is lets errors.Is(err, ErrRebuildRunning) match.
func (e *RunningError) Is(target error) bool { return target == ErrRebuildRunning }

// RebuildLock is the right to rebuild, held by one process at a time.
type RebuildLock struct {
	conn *pgxpool.Conn
}

// LockRebuild takes the rebuild lock without waiting: it fails with a
// *RunningError when another rebuild holds it. Release it when done.
func (s *Store) LockRebuild(ctx context.Context) (*RebuildLock, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", rebuildLockKey).Scan(&ok); err != nil {
		conn.Release()
		return nil, fmt.Errorf("take the rebuild lock: %w", err)
	}
	if ok {
		return &RebuildLock{conn: conn}, nil
	}
	conn.Release()
	st, found, err := s.LatestRebuild(ctx)
	if err != nil || !found {
		return nil, &RunningError{}
	}
	return nil, &RunningError{Status: &st}
}

// Release gives the lock back. It is safe to call more than once.
func (l *RebuildLock) Release() {
	if l == nil || l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", rebuildLockKey); err != nil {
		// The lock lives as long as the session: do not pool this one.
		_ = l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
	l.conn = nil
}

// LatestRebuild reads the latest rebuild as tally.freshness shows it;
// found is false when none ever ran. It reads through the view, which the
// worker's database user may read.
func (s *Store) LatestRebuild(ctx context.Context) (RebuildStatus, bool, error) {
	var st RebuildStatus
	var gen *int
	var state *string
	var done, total *int64
	var started *time.Time
	err := s.pool.QueryRow(ctx, `SELECT rebuild_generation, rebuild_state, rebuild_done, rebuild_total,
		rebuild_started_at FROM tally.freshness`).Scan(&gen, &state, &done, &total, &started)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && gen == nil) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read the latest rebuild: %w", err)
	}
	st = RebuildStatus{Gen: *gen, State: *state, Done: *done, Total: *total, StartedAt: *started}
	return st, true, nil
}

// recordRebuild inserts the row of a new rebuild and returns its id.
func recordRebuild(ctx context.Context, tx pgx.Tx, gen int, source string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO tally.rebuilds (gen, source, state) VALUES ($1, $2, 'running') RETURNING id`,
		gen, source).Scan(&id)
	return id, wrap(err, "record the rebuild")
}

// recordProgress stores how far the rebuild got, for tally.freshness.
func (s *Store) recordProgress(ctx context.Context, id, done, total int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE tally.rebuilds SET done = $2, total = $3, updated_at = now()
		WHERE id = $1 AND state = 'running'`, id, done, total)
	return wrap(err, "record rebuild progress")
}

// finishRebuild records how a rebuild ended, when not swapped.
func (s *Store) finishRebuild(ctx context.Context, id int64, state, detail string) error {
	_, err := s.pool.Exec(ctx, `UPDATE tally.rebuilds SET state = $2, detail = $3, finished_at = now(), updated_at = now()
		WHERE id = $1 AND state = 'running'`, id, state, detail)
	return wrap(err, "record the end of the rebuild")
}
