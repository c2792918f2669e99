package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// WorkerInfo identifies a running worker in tally.workers.
type WorkerInfo struct {
	ID        string    `db:"id" json:"id"`
	Hostname  string    `db:"hostname" json:"hostname"`
	PID       int       `db:"pid" json:"pid"`
	Version   string    `db:"version" json:"version"`
	StartedAt time.Time `db:"started_at" json:"started_at"`
}

// WorkerRow is a row of tally.workers: a worker and when it was last seen.
type WorkerRow struct {
	WorkerInfo
	LastSeenAt time.Time `db:"last_seen_at" json:"last_seen_at"`
}

// workerRetention is how long a worker that stopped stays listed.
const workerRetention = 7 * 24 * time.Hour

// Heartbeat records that worker w is alive at now, and forgets workers not
// seen for a week so the list stays short.
func (s *Store) Heartbeat(ctx context.Context, w WorkerInfo, now time.Time) error {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tally.workers (id, hostname, pid, version, started_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at`,
		w.ID, w.Hostname, w.PID, w.Version, w.StartedAt, now)
	b.Queue(`DELETE FROM tally.workers WHERE last_seen_at < $1`, now.Add(-workerRetention))
	return wrap(s.pool.SendBatch(ctx, b).Close(), "record heartbeat")
}

// DeadLetterCount is the dead letters of one code.
type DeadLetterCount struct {
	Code string `db:"code" json:"code"`
	// Total counts every dead letter recorded; Outstanding those not
	// replayed yet.
	Total       int64     `db:"total" json:"total"`
	Outstanding int64     `db:"outstanding" json:"outstanding"`
	LastAt      time.Time `db:"last_at" json:"last_at"`
}

// Status is what the status page shows, read in one snapshot.
type Status struct {
	Views
	DeadLetters []DeadLetterCount `json:"dead_letters"`
	Conflicts   int64             `json:"conflicting_duplicates"`
	Workers     []WorkerRow       `json:"workers"`
	// DBNow is the database's clock when read: the reference for
	// overdue bookings and the workers' last_seen_at.
	DBNow time.Time `json:"db_now"`
}

// ReadStatus reads the views, dead letters by code, conflicts and the
// workers seen in one read-only, repeatable-read transaction.
func (s *Store) ReadStatus(ctx context.Context) (Status, error) {
	var st Status
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			if err := readViews(ctx, tx, &st.Views); err != nil {
				return err
			}
			return readStatusExtras(ctx, tx, &st)
		})
	return st, err
}

func readStatusExtras(ctx context.Context, tx pgx.Tx, st *Status) error {
	var err error
	st.DeadLetters, err = collect[DeadLetterCount](ctx, tx, `SELECT code, count(*) AS total,
		count(*) FILTER (WHERE replayed_at IS NULL) AS outstanding, max(received_at) AS last_at
		FROM tally.dead_letters GROUP BY code ORDER BY code`)
	if err != nil {
		return err
	}
	if st.Workers, err = collect[WorkerRow](ctx, tx, `SELECT id, hostname, pid, version, started_at, last_seen_at
		FROM tally.workers ORDER BY last_seen_at DESC, id LIMIT 50`); err != nil {
		return err
	}
	err = tx.QueryRow(ctx, "SELECT (SELECT count(*) FROM tally.conflicts), now()").Scan(&st.Conflicts, &st.DBNow)
	return wrap(err, "read conflicts")
}

// OpsSample is what the worker exports as gauges beside its own counters:
// the database-wide state that no single worker sees by itself.
type OpsSample struct {
	Freshness    Freshness
	Overdue      []OverdueRow
	OverdueGrace time.Duration
	// LastVerify is the latest tally verify run, nil when none ran.
	LastVerify *VerifyRun
}

// ReadOpsSample reads freshness, overdue bookings, the overdue grace and
// the latest verify run in one read-only transaction.
func (s *Store) ReadOpsSample(ctx context.Context) (OpsSample, error) {
	var o OpsSample
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		f, err := collect[Freshness](ctx, tx, "SELECT last_event_at, applied_at, pending, observed_at FROM tally.freshness")
		if err != nil || len(f) == 0 {
			return wrap(err, "read freshness")
		}
		o.Freshness = f[0]
		if o.Overdue, err = collect[OverdueRow](ctx, tx, "SELECT * FROM tally.overdue_bookings ORDER BY bookings DESC, city"); err != nil {
			return err
		}
		var micros int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE((SELECT (extract(epoch FROM value::interval) * 1e6)::bigint
			FROM tally.settings WHERE name = 'overdue_grace'), 0)`).Scan(&micros); err != nil {
			return fmt.Errorf("read overdue grace: %w", err)
		}
		o.OverdueGrace = time.Duration(micros) * time.Microsecond
		runs, err := collect[VerifyRun](ctx, tx, `SELECT started_at, finished_at, since, differences
			FROM tally.verify_runs ORDER BY finished_at DESC LIMIT 1`)
		if len(runs) > 0 {
			o.LastVerify = &runs[0]
		}
		return err
	})
	return o, err
}

// VerifyRun is the result of one tally verify, kept in tally.verify_runs
// so that the workers export it and a drift alert can fire.
type VerifyRun struct {
	StartedAt   time.Time  `db:"started_at" json:"started_at"`
	FinishedAt  time.Time  `db:"finished_at" json:"finished_at"`
	Since       *time.Time `db:"since" json:"since,omitempty"` // nil for a full verify
	Differences int64      `db:"differences" json:"differences"`
}

// RecordVerifyRun stores the result of a verify run. tally verify calls it
// when it has compared everything; runs older than a year are forgotten.
func (s *Store) RecordVerifyRun(ctx context.Context, r VerifyRun) error {
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO tally.verify_runs (started_at, finished_at, since, differences) VALUES ($1, $2, $3, $4)`,
		r.StartedAt, r.FinishedAt, r.Since, r.Differences)
	b.Queue(`DELETE FROM tally.verify_runs WHERE finished_at < $1`, r.FinishedAt.AddDate(-1, 0, 0))
	return wrap(s.pool.SendBatch(ctx, b).Close(), "record verify run")
}
