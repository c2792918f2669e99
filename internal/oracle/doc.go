// Package oracle recomputes tally's counters from a list of events the
// plainest way there is, for tests to hold the real thing against: group
// every entity's events, sort them, take the last. It shares no code with
// aggregator's fold or entity states (only events' types and aggregator's
// Zones, for the zone of a city), so a bug there does not hide here.
//
// It is slow on purpose and not part of the worker.
package oracle
