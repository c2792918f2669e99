package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// MigrateDownTo rolls the schema at url back to version v, as a database
// last migrated by an older tally would be.
func MigrateDownTo(ctx context.Context, url string, v int64) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	db := stdlib.OpenDB(*conn.Config())
	defer db.Close()
	p, err := newProvider(db, nil)
	if err != nil {
		return err
	}
	_, err = p.DownTo(ctx, v)
	return err
}
