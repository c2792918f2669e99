// Package telemetry holds tally's Prometheus metrics (namespace tally_, an
// injected registry, bounded labels) and its structured logger.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tallyhq/tally/events"
)

// Event outcomes, the values of the outcome label.
const (
	OutcomeApplied      = "applied"
	OutcomeDuplicate    = "duplicate"
	OutcomeConflict     = "conflicting_duplicate"
	OutcomeIgnored      = "ignored_unknown_type"
	OutcomeDeadLettered = "dead_lettered"
)

// Metrics are the worker's metrics.
type Metrics struct {
	Events        *prometheus.CounterVec
	DeadLetters   *prometheus.CounterVec
	BatchSize     prometheus.Histogram
	ApplyDuration prometheus.Histogram
	ApplyRetries  *prometheus.CounterVec
	Redeliveries  prometheus.Counter
	Pending       prometheus.Gauge
	LastCommit    prometheus.Gauge
	LastEventTime prometheus.Gauge
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tally", Name: "events_total",
			Help: "Messages consumed, by outcome.",
		}, []string{"outcome"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tally", Name: "dead_letters_total",
			Help: "Messages dead-lettered, by error code.",
		}, []string{"code"}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "tally", Name: "batch_size",
			Help:    "Messages per applied batch.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000},
		}),
		ApplyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "tally", Name: "apply_duration_seconds",
			Help:    "Time to apply and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		ApplyRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tally", Name: "apply_retries_total",
			Help: "Batch apply attempts that failed and were retried, by kind of failure.",
		}, []string{"kind"}),
		Redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tally", Name: "redeliveries_total",
			Help: "Messages delivered more than once by JetStream.",
		}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tally", Name: "consumer_pending_messages",
			Help: "Messages in the stream not yet acknowledged by tally (not delivered plus awaiting ack).",
		}),
		LastCommit: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tally", Name: "last_commit_timestamp_seconds",
			Help: "Unix time of this worker's last committed batch.",
		}),
		LastEventTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "tally", Name: "last_event_timestamp_seconds",
			Help: "Unix time of the newest occurred_at this worker applied.",
		}),
	}
	reg.MustRegister(m.Events, m.DeadLetters, m.BatchSize, m.ApplyDuration, m.ApplyRetries,
		m.Redeliveries, m.Pending, m.LastCommit, m.LastEventTime)
	for _, o := range []string{OutcomeApplied, OutcomeDuplicate, OutcomeConflict, OutcomeIgnored, OutcomeDeadLettered} {
		m.Events.WithLabelValues(o)
	}
	for _, c := range events.Codes {
		m.DeadLetters.WithLabelValues(string(c))
	}
	return m
}
