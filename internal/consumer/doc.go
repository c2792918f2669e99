// Package consumer is tally's JetStream loop: it ensures the stream, the
// dead-letter stream and the shared durable pull consumer exist, fetches
// batches bounded by size and time, decodes them, applies each batch in
// one database transaction (retrying with backoff while the database is
// down, isolating an event that keeps failing), copies dead letters to the
// dead-letter stream, and acknowledges only after the commit. It also
// reads the stream's history for tally rebuild --from-stream (history.go).
package consumer
