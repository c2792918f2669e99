package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// MigrateDownTo rolls the schema at url back to version v, as a database
// last migrated by an older tally would be.
func MigrateDownTo(ctx context.Context, url string, v int64) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return err
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := newProvider(db, nil)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, v)
	return err
}
