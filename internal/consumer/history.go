package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

// History is what the stream still holds of its past, and how far the
// workers have recorded it.
type History struct {
	Stream            string
	FirstSeq, LastSeq uint64
	// Deleted counts messages removed from inside the stream.
	Deleted uint64
	// AckFloor is the durable consumer's: every message up to it has been
	// recorded (or dead-lettered) by a worker; those after it are still
	// the workers' to record. 0 when the consumer does not exist.
	AckFloor uint64
}

// Partial reports whether the stream lost some of its history: its oldest
// messages (limits, max age) or some in between.
func (h History) Partial() bool {
	return (h.FirstSeq > 1 && h.LastSeq > 0) || h.Deleted > 0
}

// Describe says in one line what is missing from a partial stream.
func (h History) Describe() string {
	switch {
	case h.FirstSeq > 1:
		return fmt.Sprintf("stream %s no longer holds its oldest events: it starts at sequence %d, so the %d before were removed (its limits or max age)",
			h.Stream, h.FirstSeq, h.FirstSeq-1)
	case h.Deleted > 0:
		return fmt.Sprintf("stream %s no longer holds %d of its events (deleted)", h.Stream, h.Deleted)
	}
	return fmt.Sprintf("stream %s holds its whole history (sequences %d to %d)", h.Stream, h.FirstSeq, h.LastSeq)
}

// InspectHistory reads the stream's state and the durable consumer's ack
// floor.
func InspectHistory(ctx context.Context, js jetstream.JetStream, cfg Config) (History, error) {
	h := History{Stream: cfg.Stream}
	s, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		return h, fmt.Errorf("look up stream %q: %w", cfg.Stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return h, fmt.Errorf("read stream %q: %w", cfg.Stream, err)
	}
	h.FirstSeq, h.LastSeq, h.Deleted = info.State.FirstSeq, info.State.LastSeq, uint64(info.State.NumDeleted)
	c, err := s.Consumer(ctx, cfg.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("look up consumer %q: %w", cfg.Consumer, err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		return h, fmt.Errorf("read consumer %q: %w", cfg.Consumer, err)
	}
	h.AckFloor = ci.AckFloor.Stream
	return h, nil
}

// RestoreStats counts what a restore read.
type RestoreStats struct {
	Read     int // messages read from the stream
	Invalid  int // messages that fail validation (dead letters)
	Restored int // valid events that were missing from the ledger
}

// EventRestorer records missing events in the ledger; *store.Store is one.
type EventRestorer interface {
	RestoreEvents(ctx context.Context, in []store.Incoming) (int, error)
}

// restoreBatch is how many stream messages one ledger insert carries.
const restoreBatch = 1000

// restoreIdle is how long the restore waits for a next message before it
// concludes the stream has no more (the last one carries NumPending 0, so
// this is a safety net for messages deleted under it).
const restoreIdle = 5 * time.Second

// RestoreLedger reads the stream from its first message to upTo (the ack
// floor: later messages are the live workers' to record) with an ordered
// consumer of its own, validates each message as a worker would with
// maxBytes, and records in the ledger the valid events missing from it.
// progress, when set, is called after each batch recorded.
func RestoreLedger(ctx context.Context, js jetstream.JetStream, cfg Config, upTo uint64, maxBytes int,
	st EventRestorer, progress func(RestoreStats),
) (RestoreStats, error) {
	r := &restorer{st: st, maxBytes: maxBytes, progress: progress}
	if upTo == 0 {
		return r.stats, nil
	}
	cons, err := js.OrderedConsumer(ctx, cfg.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{cfg.Subjects}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return r.stats, fmt.Errorf("read stream %q: %w", cfg.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(restoreBatch))
	if err != nil {
		return r.stats, fmt.Errorf("read stream %q: %w", cfg.Stream, err)
	}
	defer it.Stop()
	for {
		m, err := next(ctx, it)
		if err != nil && ctx.Err() == nil && (errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)) {
			break
		}
		if err != nil {
			return r.stats, fmt.Errorf("read stream %q: %w", cfg.Stream, err)
		}
		more, err := r.take(ctx, m, upTo)
		if err != nil || !more {
			return r.stats, err
		}
	}
	return r.stats, r.flush(ctx)
}

// next waits up to restoreIdle for the next message, or for ctx.
func next(ctx context.Context, it jetstream.MessagesContext) (jetstream.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, restoreIdle)
	defer cancel()
	return it.Next(jetstream.NextContext(ctx))
}

// restorer batches the valid events of the messages read.
type restorer struct {
	st       EventRestorer
	maxBytes int
	progress func(RestoreStats)
	batch    []store.Incoming
	stats    RestoreStats
}

// take adds one message; more is false after the last one to read.
func (r *restorer) take(ctx context.Context, m jetstream.Msg, upTo uint64) (bool, error) {
	meta, err := m.Metadata()
	if err != nil {
		return false, fmt.Errorf("read the stream: %w", err)
	}
	seq := meta.Sequence.Stream
	if seq > upTo {
		return false, r.flush(ctx)
	}
	r.stats.Read++
	if ev, err := events.Decode(m.Data(), r.maxBytes); err != nil {
		r.stats.Invalid++
	} else {
		r.batch = append(r.batch, store.Incoming{Event: ev, StreamSeq: seq})
	}
	if len(r.batch) >= restoreBatch {
		if err := r.flush(ctx); err != nil {
			return false, err
		}
	}
	if seq == upTo || meta.NumPending == 0 {
		return false, r.flush(ctx)
	}
	return true, nil
}

func (r *restorer) flush(ctx context.Context) error {
	if len(r.batch) == 0 {
		return nil
	}
	n, err := r.st.RestoreEvents(ctx, r.batch)
	if err != nil {
		return fmt.Errorf("restore events: %w", err)
	}
	r.stats.Restored += n
	r.batch = r.batch[:0]
	if r.progress != nil {
		r.progress(r.stats)
	}
	return nil
}
