package consumer

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/internal/telemetry"
)

// PendingRecorder stores the measured backlog; *store.Store is one.
type PendingRecorder interface {
	RecordPending(ctx context.Context, pending int64, observedAt time.Time) error
}

// Observer measures the consumer's backlog (not delivered plus awaiting
// ack) on an interval and records it in tally.freshness, so a frozen worker
// shows as an old observed_at.
type Observer struct {
	Consumer jetstream.Consumer
	Store    PendingRecorder
	Interval time.Duration
	Metrics  *telemetry.Metrics
	Log      *slog.Logger
	Now      func() time.Time
}

// Run observes until ctx is cancelled and returns nil then.
func (o *Observer) Run(ctx context.Context) error {
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	failing := false
	for {
		err := o.observe(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			o.Log.Warn("cannot measure pending messages", "err", err)
			failing = true
		case err == nil && failing:
			o.Log.Info("measuring pending messages again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (o *Observer) observe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.Interval)
	defer cancel()
	info, err := o.Consumer.Info(ctx)
	if err != nil {
		return err
	}
	pending := int64(info.NumPending) + int64(info.NumAckPending)
	o.Metrics.Pending.Set(float64(pending))
	return o.Store.RecordPending(ctx, pending, o.Now())
}
