package bench

import (
	"fmt"
	"slices"
	"time"
)

// Scenario names, as --scenarios takes them.
const (
	CatchUp   = "catchup"
	Freshness = "freshness"
	Reads     = "reads"
	Rebuild   = "rebuild"
	Soak      = "soak"
)

// AllScenarios lists every scenario in the order they run.
var AllScenarios = []string{CatchUp, Freshness, Reads, Rebuild, Soak}

// Options are the scenarios to run and their sizes.
type Options struct {
	Scenarios []string
	// Seed drives the simulated fleet.
	Seed int64
	// Cities is the number of cities of the fleet.
	Cities int

	// Events is the catch-up's number of messages (3% duplicates).
	Events int
	// BaselineEvents is how many of them the one-transaction-per-event
	// baseline consumes; 0 means all of them.
	BaselineEvents int
	// Workers is the number of worker processes that drain them.
	Workers int
	// CatchUpRuns is how many times the catch-up is measured, each on a
	// stream and database of its own; the report gives the median.
	CatchUpRuns int

	// Rates are the freshness scenario's publish rates, events/s, each
	// held for RateFor.
	Rates   []int
	RateFor time.Duration
	// PollInterval is how often the freshness probe looks for newly
	// committed events: the resolution of its latencies.
	PollInterval time.Duration

	// ReadEvents events over ReadDays are applied before the dashboard
	// reads and the rebuild.
	ReadEvents int
	ReadDays   int
	// ReadSamples reads of each view, RawSamples aggregates over the raw
	// tables and RefreshSamples refreshes of each materialized view.
	ReadSamples, RawSamples, RefreshSamples int

	// SoakFor at SoakRate events/s; the worker's memory after
	// SoakReference is the reference the end is compared with.
	SoakFor       time.Duration
	SoakRate      int
	SoakReference time.Duration
}

// DefaultOptions are the sizes: a full run takes about 45 minutes,
// 30 of them the soak.
func DefaultOptions() Options {
	return Options{
		Scenarios: AllScenarios, Seed: 1, Cities: 8,
		Events: 1_000_000, BaselineEvents: 50_000, Workers: 1, CatchUpRuns: 3,
		Rates: []int{5_000, 20_000}, RateFor: time.Minute, PollInterval: 5 * time.Millisecond,
		ReadEvents: 10_000_000, ReadDays: 60, ReadSamples: 1000, RawSamples: 10, RefreshSamples: 3,
		SoakFor: 30 * time.Minute, SoakRate: 5_000, SoakReference: 5 * time.Minute,
	}
}

// QuickOptions run every scenario small, in well under a minute: they
// show the benchmark works and its checks pass, not the machine's figures.
func QuickOptions() Options {
	o := DefaultOptions()
	o.Events, o.BaselineEvents, o.CatchUpRuns = 20_000, 1_000, 1
	o.Rates, o.RateFor = []int{500, 2_000}, 2*time.Second
	o.ReadEvents, o.ReadDays, o.ReadSamples, o.RawSamples, o.RefreshSamples = 50_000, 6, 50, 3, 1
	o.SoakFor, o.SoakRate, o.SoakReference = 4*time.Second, 1_000, 2*time.Second
	return o
}

// Validate names the first option out of range.
func (o Options) Validate() error {
	for _, s := range o.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return fmt.Errorf("unknown scenario %q: choose from %v", s, AllScenarios)
		}
	}
	switch {
	case o.Cities < 1 || o.Cities > len(cities):
		return fmt.Errorf("cities must be from 1 to %d", len(cities))
	case o.Events < 1 || o.ReadEvents < 1:
		return fmt.Errorf("event counts must be positive")
	case o.BaselineEvents < 0:
		return fmt.Errorf("baseline events must not be negative")
	case o.Workers < 1 || o.Workers > 16:
		return fmt.Errorf("workers must be from 1 to 16")
	case o.CatchUpRuns < 1 || o.CatchUpRuns > 9:
		return fmt.Errorf("catch-up runs must be from 1 to 9")
	case o.ReadDays < 1 || o.ReadDays > 3650:
		return fmt.Errorf("read days must be from 1 to 3650")
	case o.RateFor <= 0 || o.SoakFor <= 0 || o.SoakReference <= 0 || o.SoakReference >= o.SoakFor:
		return fmt.Errorf("durations must be positive, the soak reference shorter than the soak")
	case o.ReadSamples < 1 || o.RawSamples < 1 || o.RefreshSamples < 1:
		return fmt.Errorf("sample counts must be positive")
	case o.PollInterval < time.Millisecond:
		return fmt.Errorf("poll interval must be at least 1ms")
	}
	for _, r := range append(slices.Clone(o.Rates), o.SoakRate) {
		if r < 1 || r > 1_000_000 {
			return fmt.Errorf("rates must be from 1 to 1,000,000 events/s")
		}
	}
	return nil
}

func (o Options) runs(scenario string) bool { return slices.Contains(o.Scenarios, scenario) }
