package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// CheckError is returned when a rebuilt generation does not match the
// recomputation made beside it: it is not swapped in, and it is kept for
// inspection until the next rebuild drops it.
type CheckError struct {
	Gen         int
	Differences []Difference
}

func (e *CheckError) Error() string {
	first := ""
	if len(e.Differences) > 0 {
		first = "; first: " + e.Differences[0].String()
	}
	return fmt.Sprintf("generation %d does not match its recomputation (%d differences%s); not swapped in, kept as schema %s",
		e.Gen, len(e.Differences), first, Schema(e.Gen))
}

// watermark returns the highest ledger position, read under the exclusive
// generation lock: no apply transaction is in flight then, so every event
// at or below it is committed and every later one gets a higher position.
func (s *Store) watermark(ctx context.Context) (int64, error) {
	var w int64
	err := withTx(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		w, err = lockedWatermark(ctx, tx)
		return err
	})
	return w, err
}

// lockedWatermark takes the exclusive generation lock in tx, then reads
// the highest position in a statement of its own (a statement's snapshot
// is taken when it starts, before any wait for the lock).
func lockedWatermark(ctx context.Context, tx pgx.Tx) (int64, error) {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", generationLockKey); err != nil {
		return 0, fmt.Errorf("take the generation lock: %w", err)
	}
	var w int64
	err := tx.QueryRow(ctx, "SELECT COALESCE(max(pos), 0) FROM tally.events").Scan(&w)
	return w, wrap(err, "read the ledger's last position")
}

// countEvents counts the ledger events with pos in (lo, hi].
func countEvents(ctx context.Context, q querier, lo, hi int64) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, "SELECT count(*) FROM tally.events WHERE pos > $1 AND pos <= $2", lo, hi).Scan(&n)
	return n, wrap(err, "count events")
}

// A change of the views or a drop waits at most viewsLockTimeout for a
// lock at a time (new readers queue behind a change that waits), then
// pauses and tries again, for up to viewsRetryFor.
const (
	viewsLockTimeout = "100ms"
	viewsRetryFor    = 30 * time.Second
)

// withLockTimeout runs fn in a transaction that gives up a lock it cannot
// get within viewsLockTimeout, and tries again.
func (s *Store) withLockTimeout(ctx context.Context, fn func(tx pgx.Tx) error) error {
	deadline := time.Now().Add(viewsRetryFor)
	pause := 10 * time.Millisecond
	for {
		err := withTx(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+viewsLockTimeout+"'"); err != nil {
				return fmt.Errorf("set lock timeout: %w", err)
			}
			return fn(tx)
		})
		if pgCode(err) != "55P03" { // lock_not_available
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("readers kept the views busy for %s: %w", viewsRetryFor, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

// redefineViews defines each view over the generations that exist, each
// in a transaction of its own: one that held a view while it waited for
// another could deadlock with a reader taking them in another order. The
// branch a view gains or loses is one that no snapshot sees as current,
// so views changing one at a time show nothing new.
func (s *Store) redefineViews(ctx context.Context) error {
	for _, name := range viewNames {
		if err := s.withLockTimeout(ctx, func(tx pgx.Tx) error { return defineView(ctx, tx, name) }); err != nil {
			return err
		}
	}
	return nil
}

// dropGeneration drops a generation that is not current: marked dropped,
// the views stop reading it; then its tables and schema go, without
// CASCADE, so that nothing else (a view still reading it) ever goes with
// them. A generation never swapped in is forgotten altogether.
func (s *Store) dropGeneration(ctx context.Context, gen int) error {
	if _, err := s.pool.Exec(ctx, `UPDATE tally.generations SET dropped_at = now()
		WHERE gen = $1 AND state <> 'current' AND dropped_at IS NULL`, gen); err != nil {
		return fmt.Errorf("mark generation %d dropped: %w", gen, err)
	}
	if err := s.redefineViews(ctx); err != nil {
		return err
	}
	return s.withLockTimeout(ctx, func(tx pgx.Tx) error {
		schema := Schema(gen)
		rows, err := tx.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class AS c
			JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, schema)
		if err != nil {
			return fmt.Errorf("list tables of generation %d: %w", gen, err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list tables of generation %d: %w", gen, err)
		}
		if len(tables) > 0 {
			if _, err := tx.Exec(ctx, "DROP TABLE "+strings.Join(tables, ", ")); err != nil {
				return fmt.Errorf("drop generation %d: %w", gen, err)
			}
		}
		if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("drop generation %d: %w", gen, err)
		}
		_, err = tx.Exec(ctx, "DELETE FROM tally.generations WHERE gen = $1 AND state = 'building'", gen)
		return wrap(err, "forget generation %d", gen)
	})
}

// dropRetired drops a retired generation once no reader can still see it
// as current: every transaction that began before the swap has ended. It
// waits up to wait for them; when one remains, it keeps the generation and
// says why (the next rebuild drops it).
func (s *Store) dropRetired(ctx context.Context, gen int, wait time.Duration) (string, error) {
	var since time.Time
	if err := s.pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&since); err != nil {
		return "", fmt.Errorf("read the clock: %w", err)
	}
	pid, err := s.waitOldReaders(ctx, since, wait)
	if err != nil || pid != 0 {
		return fmt.Sprintf("generation %d kept for now: session %d still reads from before the swap; the next tally rebuild drops it", gen, pid), err
	}
	return "", s.dropGeneration(ctx, gen)
}

// oldReaderSQL finds a client session of this database holding a snapshot
// of a transaction that began at or before $1.
const oldReaderSQL = `SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
  AND backend_xmin IS NOT NULL AND xact_start <= $1
LIMIT 1`

// seesAllSessionsSQL tells whether the user may see every session's
// transaction start and snapshot in pg_stat_activity.
const seesAllSessionsSQL = `SELECT rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')
FROM pg_roles WHERE rolname = current_user`

// waitOldReaders waits until oldReaderSQL finds nobody, up to wait, and
// returns the pid of a session still there then, or 0. A user who cannot
// see other users' sessions waits the whole of wait first, to give their
// reads the time to end.
func (s *Store) waitOldReaders(ctx context.Context, since time.Time, wait time.Duration) (int, error) {
	var all bool
	if err := s.pool.QueryRow(ctx, seesAllSessionsSQL).Scan(&all); err != nil {
		return 0, fmt.Errorf("look for old readers: %w", err)
	}
	if !all {
		s.log.Warn("cannot see other users' sessions (grant pg_read_all_stats): waiting for reads before the swap to end",
			"wait", wait)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(wait):
		}
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var pid int
		err := s.pool.QueryRow(ctx, oldReaderSQL, since).Scan(&pid)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("look for old readers: %w", err)
		}
		if time.Now().After(deadline) {
			return pid, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
}

// leftoversSQL finds the generations earlier rebuilds left: being built,
// retired and not dropped, or marked dropped with their schema still there.
const leftoversSQL = `SELECT gen, state, dropped_at IS NOT NULL FROM tally.generations
WHERE state <> 'current' AND (dropped_at IS NULL OR to_regnamespace('tally_g' || gen) IS NOT NULL)
ORDER BY gen`

// dropLeftovers cleans up after earlier rebuilds, under the rebuild lock:
// rows of those that stopped are marked interrupted, and the generations
// they left are dropped: those being built, and the retired ones not
// dropped after their swap (kept with --keep-old, or whose rebuild stopped
// first). It returns the generations dropped and notes on those it could
// not drop yet.
func (s *Store) dropLeftovers(ctx context.Context, wait time.Duration) ([]int, []string, error) {
	if _, err := s.pool.Exec(ctx, `UPDATE tally.rebuilds SET state = 'interrupted', finished_at = now(), updated_at = now(),
		detail = 'the rebuild stopped before it finished' WHERE state = 'running'`); err != nil {
		return nil, nil, fmt.Errorf("mark stopped rebuilds: %w", err)
	}
	rows, err := s.pool.Query(ctx, leftoversSQL)
	if err != nil {
		return nil, nil, fmt.Errorf("list leftover generations: %w", err)
	}
	type leftover struct {
		Gen    int
		State  string
		Marked bool
	}
	left, err := pgx.CollectRows(rows, pgx.RowToStructByPos[leftover])
	if err != nil {
		return nil, nil, fmt.Errorf("list leftover generations: %w", err)
	}
	var dropped []int
	var notes []string
	for _, l := range left {
		note := ""
		if l.State == "retired" && !l.Marked {
			note, err = s.dropRetired(ctx, l.Gen, wait)
		} else {
			err = s.dropGeneration(ctx, l.Gen)
		}
		switch {
		case err != nil:
			return dropped, notes, err
		case note != "":
			notes = append(notes, note)
		default:
			dropped = append(dropped, l.Gen)
		}
	}
	return dropped, notes, nil
}
