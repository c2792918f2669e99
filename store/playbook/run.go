package playbook

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Defaults of a run.
const (
	DefaultTimeout = 30 * time.Second
	DefaultMaxRows = 10_000
)

// Sentinel errors of a run, for errors.Is.
var (
	// ErrTimeout: the statement ran into the statement timeout.
	ErrTimeout = errors.New("statement timeout")
	// ErrWrite: the entry tried to write; runs are read-only.
	ErrWrite = errors.New("the playbook is read-only")
)

// Options limit a run.
type Options struct {
	Timeout time.Duration // statement timeout; default DefaultTimeout
	MaxRows int           // rows returned at most; default DefaultMaxRows
}

// Column is a column of a result.
type Column struct {
	Name string
	OID  uint32
}

// Result is what a run returned.
type Result struct {
	Columns []Column
	Rows    [][]any
	// Truncated: the statement had more rows than MaxRows; the rest were
	// not read.
	Truncated bool
	MaxRows   int
	Elapsed   time.Duration
}

// Run runs q on the database at url: on its own connection, in a
// read-only transaction, with a statement timeout, reading at most MaxRows
// rows. The arguments are bound, never interpolated.
func Run(ctx context.Context, url string, q Query, o Options) (Result, error) {
	o = o.withDefaults()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return Result{}, fmt.Errorf("parse database url: %w", err)
	}
	cfg.RuntimeParams["application_name"] = "tally-playbook"
	// The server stops the statement; this context is only a backstop for a
	// server that does not answer.
	ctx, cancel := context.WithTimeout(ctx, o.Timeout+10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("connect to the playbook database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var res Result
	start := time.Now()
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)",
			strconv.FormatInt(o.Timeout.Milliseconds(), 10)); err != nil {
			return fmt.Errorf("set the statement timeout: %w", err)
		}
		res, err = query(ctx, cancel, tx, q, o.MaxRows)
		return err
	})
	res.Elapsed, res.MaxRows = time.Since(start), o.MaxRows
	if err != nil && !res.Truncated {
		return res, describe(err, q, o)
	}
	return res, nil
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	return o
}

// query reads up to maxRows rows. When there are more, it cancels the
// statement rather than let the server send rows nobody reads; the
// connection goes with it.
func query(ctx context.Context, cancel context.CancelFunc, tx pgx.Tx, q Query, maxRows int) (Result, error) {
	rows, err := tx.Query(ctx, q.SQL, q.Args...)
	if err != nil {
		return Result{}, err
	}
	defer rows.Close()
	var res Result
	for _, f := range rows.FieldDescriptions() {
		res.Columns = append(res.Columns, Column{Name: f.Name, OID: f.DataTypeOID})
	}
	for rows.Next() {
		if len(res.Rows) == maxRows {
			res.Truncated = true
			cancel()
			return res, errTruncated
		}
		vals, err := rows.Values()
		if err != nil {
			return res, err
		}
		res.Rows = append(res.Rows, vals)
	}
	return res, rows.Err()
}

// errTruncated rolls back a run stopped at the row cap.
var errTruncated = errors.New("row cap reached")

// runError is a failure with a message of its own that errors.Is matches
// with its sentinel.
type runError struct {
	msg  string
	kind error
}

func (e *runError) Error() string { return e.msg }
func (e *runError) Unwrap() error { return e.kind }

// describe turns a failure into a message support can act on.
func describe(err error, q Query, o Options) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "57014":
		return &runError{fmt.Sprintf("%s stopped after %s: the statement timeout; narrow the bracket or raise --timeout",
			q.Entry.Name, o.Timeout), ErrTimeout}
	case errors.As(err, &pgErr) && pgErr.Code == "25006":
		return &runError{fmt.Sprintf("%s tried to write: the playbook is read-only (%s)", q.Entry.Name, pgErr.Message), ErrWrite}
	case errors.Is(err, context.DeadlineExceeded):
		return &runError{fmt.Sprintf("%s stopped after %s: the database did not answer in time", q.Entry.Name, o.Timeout), ErrTimeout}
	case errors.As(err, &pgErr):
		return fmt.Errorf("%s failed: %s (SQLSTATE %s)", q.Entry.Name, pgErr.Message, pgErr.Code)
	}
	return fmt.Errorf("%s failed: %w", q.Entry.Name, err)
}
