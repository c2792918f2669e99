// Package bench is tally bench: the benchmark users size a deployment
// with. Against the configured PostgreSQL and NATS it creates its own
// databases and streams (and removes them, even when interrupted), runs
// the real worker as a child process (tally run) so that its memory can be
// read from /proc, and measures the scenarios of docs/performance.md:
// catch-up against a one-transaction-per-event baseline, freshness under
// steady load, dashboard reads against aggregating raw tables, rebuild,
// and memory over a soak. Every scenario ends by checking the counters
// against a set-based recomputation from the ledger and the simulator's
// own totals, and fails loudly when they differ.
package bench
