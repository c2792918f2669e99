package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DropDatabase drops the database named in url, closing its sessions
// first; a missing database is not an error. The benchmark removes its
// own databases with it. It connects to the server's postgres database
// with the same credentials.
func DropDatabase(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database url: %w", redact(err))
	}
	name := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to the postgres database to drop %q: %w", name, redact(err))
	}
	defer admin.Close(context.WithoutCancel(ctx))
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return wrap(err, "drop database %q", name)
}

// ServerInfo describes the PostgreSQL server for a benchmark report.
type ServerInfo struct {
	Version           string
	SynchronousCommit string
	SharedBuffers     string
	Autovacuum        string
	MaxWALSize        string
}

// Server reads the server's version and the settings that bound the
// benchmark's figures.
func (s *Store) Server(ctx context.Context) (ServerInfo, error) {
	var i ServerInfo
	err := s.pool.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('synchronous_commit'),
		current_setting('shared_buffers'), current_setting('autovacuum'), current_setting('max_wal_size')`).
		Scan(&i.Version, &i.SynchronousCommit, &i.SharedBuffers, &i.Autovacuum, &i.MaxWALSize)
	return i, wrap(err, "read server settings")
}

// Checkpoint asks the server for a checkpoint and waits for it: a
// benchmark starts its measurement with no checkpoint due. It needs a
// superuser or the pg_checkpoint role.
func (s *Store) Checkpoint(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "CHECKPOINT")
	return wrap(err, "checkpoint")
}

// Checkpoints returns how many checkpoints the server has started since
// its statistics were reset: during a measurement, each one makes the
// database write whole pages to the WAL again for a while.
func (s *Store) Checkpoints(ctx context.Context) (int64, error) {
	var version int
	if err := s.pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return 0, wrap(err, "read the server version")
	}
	q := "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
	if version >= 170000 {
		q = "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
	}
	var n int64
	err := s.pool.QueryRow(ctx, q).Scan(&n)
	return n, wrap(err, "count checkpoints")
}

// MaxPosition returns the position of the newest event the caller's
// snapshot sees in the ledger: with one worker, every event up to it is
// committed, so polling it tells when an event became visible.
func MaxPosition(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var pos int64
	err := conn.QueryRow(ctx, "SELECT COALESCE(max(pos), 0) FROM tally.events").Scan(&pos)
	return pos, wrap(err, "read the newest position")
}

// Positions returns the ledger position of the events recorded from the
// given stream sequences, keyed by stream sequence.
func (s *Store) Positions(ctx context.Context) (map[uint64]int64, error) {
	rows, err := s.pool.Query(ctx, "SELECT stream_seq, pos FROM tally.events WHERE stream_seq IS NOT NULL")
	if err != nil {
		return nil, fmt.Errorf("read positions: %w", err)
	}
	out := map[uint64]int64{}
	var seq, pos int64
	_, err = pgx.ForEachRow(rows, []any{&seq, &pos}, func() error { out[uint64(seq)] = pos; return nil })
	return out, wrap(err, "read positions")
}
