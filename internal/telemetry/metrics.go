// Package telemetry holds tally's Prometheus metrics (namespace tally_, an
// injected registry, bounded labels) and its structured logger.
package telemetry

import (
	"time"

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

	// OverdueGrace is the stored overdue grace: alerts on overdue
	// bookings compare the event-time lag with it.
	OverdueGrace prometheus.Gauge
	// verifyDifferences and verifyLastRun export the latest tally verify;
	// vectors without labels, so that they are absent until one ran.
	verifyDifferences *prometheus.GaugeVec
	verifyLastRun     *prometheus.GaugeVec

	// Now is the clock of the age gauges; nil means time.Now.
	Now     func() time.Time
	fresh   freshness
	overdue *overdueCollector
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
			Help: "Batch apply attempts that failed and were retried, by kind: transient, data, system, entity_race (another worker created one of the batch's new cars or bookings first), change_race (another worker changed one of the batch's cars or bookings after the batch read it) or ledger_race (another worker recorded one of the batch's events first).",
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
	m.registerOps(reg)
	for _, o := range []string{OutcomeApplied, OutcomeDuplicate, OutcomeConflict, OutcomeIgnored, OutcomeDeadLettered} {
		m.Events.WithLabelValues(o)
	}
	for _, c := range events.Codes {
		m.DeadLetters.WithLabelValues(string(c))
	}
	return m
}

// registerOps registers the gauges of the database-wide state (sampled
// from the database by the worker) and of the build.
func (m *Metrics) registerOps(reg prometheus.Registerer) {
	m.fresh.started = time.Now().UnixNano()
	m.overdue = newOverdueCollector()
	m.OverdueGrace = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "tally", Name: "overdue_grace_seconds",
		Help: "The overdue grace stored in the database (TALLY_OVERDUE_GRACE).",
	})
	m.verifyDifferences = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tally", Name: "verify_differences",
		Help: "Differences the latest tally verify found between the live counters and a recomputation.",
	}, nil)
	m.verifyLastRun = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "tally", Name: "verify_last_run_timestamp_seconds",
		Help: "Unix time the latest tally verify finished; absent until one ran.",
	}, nil)
	reg.MustRegister(m.overdue, m.OverdueGrace, m.verifyDifferences, m.verifyLastRun,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tally", Name: "last_commit_age_seconds",
			Help: "Seconds since the last batch any worker committed (since this worker started, when none was seen).",
		}, m.commitAge),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tally", Name: "event_lag_seconds",
			Help: "Event-time lag: now minus the newest occurred_at applied by any worker (0 before the first).",
		}, m.eventLag),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "tally", Name: "build_info",
			Help:        "Always 1; the version label says which tally runs.",
			ConstLabels: prometheus.Labels{"version": Version()},
		}, func() float64 { return 1 }),
	)
}

// ObserveVerify exports the latest verify run; the gauges stay absent
// until one ran, so that an alert on drift does not fire on nothing.
func (m *Metrics) ObserveVerify(finishedAt time.Time, differences int64) {
	m.verifyDifferences.WithLabelValues().Set(float64(differences))
	m.verifyLastRun.WithLabelValues().Set(float64(finishedAt.UnixNano()) / 1e9)
}
