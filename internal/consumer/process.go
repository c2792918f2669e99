package consumer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/failpoint"
	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
)

// item is one fetched message: a valid event or a dead letter.
type item struct {
	msg    jetstream.Msg
	seq    uint64
	ev     *events.Event
	dl     *store.DeadLetter
	failed bool // its dead letter could not be recorded or published
}

// process applies and acknowledges one decoded batch, which its caller
// keeps in progress meanwhile. ctx is cancelled only when the worker must
// stop without finishing.
func (w *Worker) process(ctx context.Context, items []*item) {
	err := w.applyIsolating(ctx, items)
	if err != nil {
		// Stopping: leave the batch to another worker, at once.
		for _, it := range items {
			_ = it.msg.Nak()
		}
		w.log.Warn("batch not committed before shutdown; returned for redelivery", "batch_size", len(items), "err", err)
		return
	}
	w.publishDeadLetters(ctx, items)
	for _, it := range items {
		if it.failed {
			_ = it.msg.NakWithDelay(time.Second)
			continue
		}
		if err := it.msg.Ack(); err != nil {
			w.log.Warn("ack failed; the message will be redelivered and absorbed as a duplicate", "stream_seq", it.seq, "err", err)
		}
	}
}

func (w *Worker) decode(msgs []jetstream.Msg) []*item {
	// Three allocations per batch rather than two per message.
	items, all, evs := make([]*item, len(msgs)), make([]item, len(msgs)), make([]events.Event, len(msgs))
	for i, m := range msgs {
		it := &all[i]
		it.msg = m
		if meta, err := m.Metadata(); err == nil {
			it.seq = meta.Sequence.Stream
			if meta.NumDelivered > 1 {
				w.metrics.Redeliveries.Inc()
			}
		}
		var err error
		if evs[i], err = events.Decode(m.Data(), w.cfg.MaxEventBytes); err != nil {
			it.dl = w.deadLetter(it, events.CodeOf(err), err)
		} else {
			it.ev = &evs[i]
		}
		items[i] = it
	}
	return items
}

func (w *Worker) deadLetter(it *item, code events.Code, err error) *store.DeadLetter {
	detail := err.Error()
	var ve *events.Error
	if errors.As(err, &ve) {
		detail = ve.Detail
	}
	if code == "" {
		code = events.CodeApplyFailed
	}
	dl := &store.DeadLetter{Stream: w.cfg.Stream, Seq: it.seq, Subject: it.msg.Subject(), Code: code,
		Detail: detail, Body: it.msg.Data()}
	if code != events.CodeTooLarge {
		dl.EventID = events.PeekID(it.msg.Data())
	}
	w.log.Warn("dead-lettering a message", "stream_seq", it.seq, "code", code, "detail", detail, "event_id", dl.EventID)
	return dl
}

// keepAlive tells JetStream the batch is in progress, every third of the
// ack wait until stopped, so that the ack wait does not hand it to another
// worker while this one still has it (waiting, retrying an apply).
func (w *Worker) keepAlive(items []*item) func() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(w.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for _, it := range items {
					_ = it.msg.InProgress()
				}
			}
		}
	}()
	return cancel
}

// applyIsolating applies the items in one transaction. When a batch keeps
// failing for reasons of its data, it is split in halves until the event
// at fault is alone; that event is dead-lettered as apply_failed and the
// rest goes on. It returns an error only when ctx is cancelled.
func (w *Worker) applyIsolating(ctx context.Context, items []*item) error {
	err := w.applyRetrying(ctx, items)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if len(items) > 1 {
		mid := len(items) / 2
		if err := w.applyIsolating(ctx, items[:mid]); err != nil {
			return err
		}
		return w.applyIsolating(ctx, items[mid:])
	}
	it := items[0]
	if it.ev != nil {
		w.log.Error("event keeps failing to apply; dead-lettering it", "event_id", it.ev.ID, "stream_seq", it.seq, "err", err)
		it.dl, it.ev = w.deadLetter(it, events.CodeApplyFailed, err), nil
		return w.applyIsolating(ctx, items)
	}
	w.log.Error("cannot record a dead letter in the database; it is still copied to the dead-letter stream",
		"stream_seq", it.seq, "code", it.dl.Code, "err", err)
	return nil
}

// applyRetrying applies one batch, retrying transient and system failures
// until ctx is cancelled and data failures up to ApplyAttempts times.
func (w *Worker) applyRetrying(ctx context.Context, items []*item) error {
	batch := toBatch(items)
	for attempt := 1; ; attempt++ {
		w.alive()
		actx, cancel := context.WithTimeout(ctx, w.cfg.ApplyTimeout)
		start := time.Now()
		out, err := w.store.Apply(actx, batch)
		cancel()
		w.alive()
		if err == nil {
			failpoint.Inject(failpoint.AfterCommit) // tests crash here: the ledger absorbs the redelivery
			w.observe(out, len(items), time.Since(start))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		kind := failureKind(err)
		if kind == "data" && attempt >= w.cfg.ApplyAttempts {
			return err
		}
		w.metrics.ApplyRetries.WithLabelValues(kind).Inc()
		level := slog.LevelWarn
		if kind == "system" {
			// Not the data's fault and not passing: someone must fix it.
			level = slog.LevelError
		}
		w.log.Log(ctx, level, "apply failed, retrying", "attempt", attempt, "kind", kind, "batch_size", len(items), "err", err)
		sleep(ctx, backoff(attempt))
	}
}

// failureKind sorts an apply failure: "transient" (connection, timeout,
// deadlock) and "system" (privileges, a missing table) are retried until
// they pass; "data" may be an event's fault and leads to isolation.
func failureKind(err error) string {
	switch {
	case store.IsTransient(err):
		return "transient"
	case store.IsDataError(err):
		return "data"
	}
	return "system"
}

func toBatch(items []*item) store.Batch {
	b := store.Batch{Events: make([]store.Incoming, 0, len(items))}
	for _, it := range items {
		switch {
		case it.ev != nil:
			b.Events = append(b.Events, store.Incoming{Event: *it.ev, StreamSeq: it.seq})
		case it.dl != nil:
			b.DeadLetters = append(b.DeadLetters, *it.dl)
		}
	}
	return b
}

func (w *Worker) observe(out store.Outcome, n int, took time.Duration) {
	m := w.metrics
	m.BatchSize.Observe(float64(n))
	m.ApplyDuration.Observe(took.Seconds())
	m.Events.WithLabelValues(telemetry.OutcomeApplied).Add(float64(out.Applied))
	m.Events.WithLabelValues(telemetry.OutcomeIgnored).Add(float64(out.Ignored))
	m.Events.WithLabelValues(telemetry.OutcomeDuplicate).Add(float64(out.Duplicates))
	m.Events.WithLabelValues(telemetry.OutcomeConflict).Add(float64(out.Conflicts))
	for code, k := range out.DeadLetteredByCode {
		m.Events.WithLabelValues(telemetry.OutcomeDeadLettered).Add(float64(k))
		m.DeadLetters.WithLabelValues(string(code)).Add(float64(k))
	}
	// Not failures: workers sharing a stream met the same new entity, or
	// recorded the same event (published twice) at the same moment.
	if out.EntityRaces > 0 {
		m.ApplyRetries.WithLabelValues("entity_race").Add(float64(out.EntityRaces))
	}
	if out.ChangeRaces > 0 {
		m.ApplyRetries.WithLabelValues("change_race").Add(float64(out.ChangeRaces))
	}
	if out.LedgerRaces > 0 {
		m.ApplyRetries.WithLabelValues("ledger_race").Add(float64(out.LedgerRaces))
	}
	m.Committed(time.Now(), out.LastEventAt)
	for _, id := range out.ConflictIDs {
		w.log.Warn("conflicting duplicate: same id, other content; the copy recorded first counts", "event_id", id)
	}
	st := out.Steps
	w.log.Debug("batch applied", "batch_size", n, "applied", out.Applied, "duplicates", out.Duplicates,
		"generation", out.Gen, "took", took, "start_ms", ms(st.Start), "read_ms", ms(st.Read),
		"record_ms", ms(st.Record), "check_ms", ms(st.Check), "write_ms", ms(st.Write), "commit_ms", ms(st.Commit))
}

// ms is d in milliseconds, to the microsecond: a number that a script can
// add up.
func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
