package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is tally's database. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	log   *slog.Logger
	zones zoneCache
	// lastLedgerRace is when, in Unix nanoseconds, an apply last lost a race
	// for an event; for a while after it applies insert rather than copy
	// (see Apply).
	lastLedgerRace atomic.Int64
	// testHookBeforeWrite, set by tests only, runs when an apply
	// transaction has read its entities and is about to write.
	testHookBeforeWrite func(applyMode)
}

// ErrNotMigrated is returned when the database has no tally schema or an
// older one than this binary needs.
var ErrNotMigrated = errors.New("the database is not migrated: run tally migrate")

// Open connects to the database at url. It fails when the database cannot
// be reached; it does not check the schema (see CheckSchema).
func Open(ctx context.Context, url string, log *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", redact(err))
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "tally"
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerArrayEncoders(c.TypeMap()) // see arrays.go
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", redact(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s: %w", Describe(url), redact(err))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, log: log}, nil
}

// Pool returns the connection pool, for callers that run their own reads.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes every connection.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }
