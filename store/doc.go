// Package store is tally's PostgreSQL side, through pgx: embedded
// migrations, the generations of counters and entity states behind the
// contract's views, the one-transaction-per-batch apply path, and reads.
// SQL lives here and nowhere else. Errors from pgx are translated at this
// boundary: IsTransient tells the worker which failures to retry.
package store
