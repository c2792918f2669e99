package telemetry

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxOverdueCities bounds the city label of tally_overdue_bookings: the
// cities with the most overdue bookings keep their own series, the rest
// are summed under "other".
const MaxOverdueCities = 20

// OtherCity is the city label of the cities past MaxOverdueCities.
const OtherCity = "other"

// freshness holds the newest commit and event time seen, from this
// worker's own batches or from the database (other workers' batches), as
// unix nanoseconds. Ages are computed at scrape time, so they keep
// growing while nothing moves.
type freshness struct {
	started    int64
	lastCommit atomic.Int64
	lastEvent  atomic.Int64
}

func storeMax(a *atomic.Int64, t time.Time) {
	n := t.UnixNano()
	for {
		old := a.Load()
		if n <= old || a.CompareAndSwap(old, n) {
			return
		}
	}
}

// Committed records a batch this worker committed at commitAt whose
// newest event occurred at lastEventAt (zero when it had none).
func (m *Metrics) Committed(commitAt, lastEventAt time.Time) {
	m.LastCommit.Set(float64(commitAt.UnixNano()) / 1e9)
	storeMax(&m.fresh.lastCommit, commitAt)
	// As in tally.freshness: an event stamped in the future counts as of
	// its commit.
	if lastEventAt.After(commitAt) {
		lastEventAt = commitAt
	}
	if !lastEventAt.IsZero() {
		m.LastEventTime.Set(float64(lastEventAt.UnixNano()) / 1e9)
		storeMax(&m.fresh.lastEvent, lastEventAt)
	}
}

// ObserveFreshness records the database-wide freshness: the last commit
// and newest event of any worker. Nil times are unknown.
func (m *Metrics) ObserveFreshness(lastEventAt, appliedAt *time.Time) {
	if appliedAt != nil {
		storeMax(&m.fresh.lastCommit, *appliedAt)
	}
	if lastEventAt != nil {
		storeMax(&m.fresh.lastEvent, *lastEventAt)
	}
}

// commitAge is the time since the last commit anywhere, or since this
// process started when none was seen: a worker that never commits while
// events wait must look stuck.
func (m *Metrics) commitAge() float64 {
	last := m.fresh.lastCommit.Load()
	if last == 0 {
		last = m.fresh.started
	}
	return max(0, float64(m.now().UnixNano()-last)/1e9)
}

// eventLag is now minus the newest applied occurred_at, 0 before any.
func (m *Metrics) eventLag() float64 {
	last := m.fresh.lastEvent.Load()
	if last == 0 {
		return 0
	}
	return max(0, float64(m.now().UnixNano()-last)/1e9)
}

func (m *Metrics) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// CityCount is a number of overdue bookings in one city.
type CityCount struct {
	City          string
	Bookings      int64
	OldestStartAt time.Time
}

// overdueCollector exports the latest overdue sample as one consistent
// set of series: a city that is no longer overdue disappears at once.
type overdueCollector struct {
	bookings, oldest *prometheus.Desc
	mu               sync.Mutex
	byCity           []CityCount
}

func newOverdueCollector() *overdueCollector {
	return &overdueCollector{
		bookings: prometheus.NewDesc("tally_overdue_bookings",
			"Bookings still confirmed past their start plus the overdue grace, by city (the largest cities; the rest under city=\"other\").",
			[]string{"city"}, nil),
		oldest: prometheus.NewDesc("tally_overdue_oldest_start_timestamp_seconds",
			"Unix time of the start of the oldest overdue booking; absent when none is overdue.", nil, nil),
	}
}

// SetOverdue replaces the overdue sample.
func (m *Metrics) SetOverdue(rows []CityCount) {
	m.overdue.set(rows)
}

func (c *overdueCollector) set(rows []CityCount) {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b CityCount) int {
		return cmp.Or(cmp.Compare(b.Bookings, a.Bookings), cmp.Compare(a.City, b.City))
	})
	if len(rows) > MaxOverdueCities {
		other := CityCount{City: OtherCity}
		for _, r := range rows[MaxOverdueCities-1:] {
			other.Bookings += r.Bookings
			if other.OldestStartAt.IsZero() || r.OldestStartAt.Before(other.OldestStartAt) {
				other.OldestStartAt = r.OldestStartAt
			}
		}
		rows = append(rows[:MaxOverdueCities-1], other)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byCity = rows
}

func (c *overdueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bookings
	ch <- c.oldest
}

func (c *overdueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var oldest time.Time
	for _, r := range c.byCity {
		ch <- prometheus.MustNewConstMetric(c.bookings, prometheus.GaugeValue, float64(r.Bookings), r.City)
		if oldest.IsZero() || r.OldestStartAt.Before(oldest) {
			oldest = r.OldestStartAt
		}
	}
	if !oldest.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, float64(oldest.UnixNano())/1e9)
	}
}
