package telemetry

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RebuildSample is the latest run of tally rebuild, as tally.rebuilds
// records it.
type RebuildSample struct {
	Gen         int
	Running     bool
	Done, Total int64
	Swapped     bool
}

// rebuildReadTimeout bounds the query a scrape makes.
const rebuildReadTimeout = time.Second

// rebuildCollector exports the latest rebuild's progress, read at scrape
// time: the rebuild runs in another process, and this way every worker
// shows it as it moves.
type rebuildCollector struct {
	read                   func(ctx context.Context) (RebuildSample, bool, error)
	running, ratio, events *prometheus.Desc
}

// NewRebuildCollector returns a collector of the latest rebuild that read
// returns (found false when none ever ran). Nothing is exported when read
// fails, or before any rebuild.
func NewRebuildCollector(read func(ctx context.Context) (RebuildSample, bool, error)) prometheus.Collector {
	return &rebuildCollector{
		read: read,
		running: prometheus.NewDesc("tally_rebuild_in_progress",
			"1 while tally rebuild builds a new generation, 0 otherwise.", nil, nil),
		ratio: prometheus.NewDesc("tally_rebuild_progress_ratio",
			"Share of the ledger events the latest rebuild has folded (1 once swapped in).", []string{"generation"}, nil),
		events: prometheus.NewDesc("tally_rebuild_events",
			"Ledger events of the latest rebuild: done, and total known so far.", []string{"generation", "kind"}, nil),
	}
}

func (c *rebuildCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.running
	ch <- c.ratio
	ch <- c.events
}

func (c *rebuildCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), rebuildReadTimeout)
	defer cancel()
	s, found, err := c.read(ctx)
	if err != nil {
		return
	}
	running := 0.0
	if found && s.Running {
		running = 1
	}
	ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, running)
	if !found {
		return
	}
	gen := strconv.Itoa(s.Gen)
	ratio := 0.0
	switch {
	case s.Swapped:
		ratio = 1
	case s.Total > 0:
		ratio = min(1, float64(s.Done)/float64(s.Total))
	}
	ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, ratio, gen)
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(s.Done), gen, "done")
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.GaugeValue, float64(s.Total), gen, "total")
}
