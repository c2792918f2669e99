package telemetry

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector exports pgxpool's statistics at scrape time.
type poolCollector struct {
	stat                                   func() *pgxpool.Stat
	conns, maxConns                        *prometheus.Desc
	acquires, acquireWait, empty, canceled *prometheus.Desc
}

// NewPoolCollector returns a collector of the pool statistics stat returns;
// stat may return nil (no pool yet), and then nothing is exported.
func NewPoolCollector(stat func() *pgxpool.Stat) prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("tally_db_pool_"+name, help, labels, nil)
	}
	return &poolCollector{
		stat:        stat,
		conns:       d("connections", "PostgreSQL connections in the pool, by state (acquired, idle, constructing).", "state"),
		maxConns:    d("max_connections", "Largest size of the PostgreSQL pool."),
		acquires:    d("acquires_total", "Connections acquired from the pool."),
		acquireWait: d("acquire_wait_seconds_total", "Time spent acquiring connections from the pool."),
		empty:       d("empty_acquires_total", "Acquires that had to wait because no connection was idle."),
		canceled:    d("canceled_acquires_total", "Acquires cancelled before a connection was free."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.maxConns, c.acquires, c.acquireWait, c.empty, c.canceled} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stat()
	if s == nil {
		return
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(c.conns, gauge, float64(s.AcquiredConns()), "acquired")
	ch <- prometheus.MustNewConstMetric(c.conns, gauge, float64(s.IdleConns()), "idle")
	ch <- prometheus.MustNewConstMetric(c.conns, gauge, float64(s.ConstructingConns()), "constructing")
	ch <- prometheus.MustNewConstMetric(c.maxConns, gauge, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(c.acquires, counter, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.acquireWait, counter, s.AcquireDuration().Seconds())
	ch <- prometheus.MustNewConstMetric(c.empty, counter, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(c.canceled, counter, float64(s.CanceledAcquireCount()))
}
