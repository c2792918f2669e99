// Package store is tally's PostgreSQL side, through pgx: embedded
// migrations, the generations of counters and entity states behind the
// contract's views, the one-transaction-per-batch apply path, and reads;
// the ops tools: rebuilding a generation from the ledger and swapping it
// in (rebuild*.go), verifying the counters against the ledger (verify*.go)
// and dead letters (dlq.go). SQL lives here and nowhere else. Errors from pgx are translated at this
// boundary: IsTransient tells the worker which failures to retry.
package store
