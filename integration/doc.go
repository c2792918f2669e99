// Package integration holds tally's end-to-end tests: the real worker (in
// process through internal/app, or the built binary) against real
// PostgreSQL and NATS JetStream. Every test gets its own database and its
// own streams, so the suite runs in parallel on one server of each; every
// scenario ends by comparing the views with an independent recomputation.
package integration
