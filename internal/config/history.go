package config

import (
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// validateHistory checks the snapshot and playbook settings.
func (c *Config) validateHistory() error {
	switch {
	case c.SnapshotInterval != 0 && (c.SnapshotInterval < time.Minute || c.SnapshotInterval > 24*time.Hour):
		return bad("TALLY_SNAPSHOT_INTERVAL", "must be from 1m to 24h, or 0 for no scheduled snapshots")
	case c.SnapshotRetention != 0 && c.SnapshotRetention < time.Hour:
		return bad("TALLY_SNAPSHOT_RETENTION", "must be at least 1h (400 days is 9600h), or 0 to keep every snapshot")
	case c.PlaybookTimeout < 100*time.Millisecond || c.PlaybookTimeout > 24*time.Hour:
		return bad("TALLY_PLAYBOOK_TIMEOUT", "must be from 100ms to 24h")
	case c.PlaybookMaxRows < 1 || c.PlaybookMaxRows > 1_000_000:
		return bad("TALLY_PLAYBOOK_MAX_ROWS", "must be from 1 to 1000000")
	}
	if c.PlaybookDatabaseURL != "" {
		if _, err := pgconn.ParseConfig(c.PlaybookDatabaseURL); err != nil {
			return bad("TALLY_PLAYBOOK_DATABASE_URL", "not a valid PostgreSQL URL")
		}
	}
	return nil
}

// PlaybookURL is the database the playbook reads: TALLY_PLAYBOOK_DATABASE_URL
// (a read replica, say), else tally's own.
func (c *Config) PlaybookURL() string {
	if c.PlaybookDatabaseURL != "" {
		return c.PlaybookDatabaseURL
	}
	return c.DatabaseURL
}
