// Package aggregator is tally's pure core: the counters, the total order of
// an entity's events, daily buckets in the business (or a city's) time zone,
// and Fold, which turns the prior states of the entities a batch touches and
// the batch's new events into new states and sorted, coalesced counter
// deltas. It does no I/O and imports only events.
package aggregator
