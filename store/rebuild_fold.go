package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

// errCounterOverflow is returned when a recomputed counter leaves int64.
var errCounterOverflow = errors.New("counter overflows int64")

// dayKey is a local calendar date as days since 1970-01-01: a map key that
// does not depend on how a time.Time carries its location.
type dayKey int64

func dayOf(t time.Time) dayKey {
	y, m, d := t.Date()
	return dayKey(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Time returns the date as midnight UTC, the form PostgreSQL's date takes.
func (d dayKey) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func (d dayKey) String() string { return d.Time().Format(time.DateOnly) }

type cityStatus struct{ city, status string }

type dayCity struct {
	day  dayKey
	city string
}

type revenueKey struct {
	dayCity
	currency string
}

type revenueRow struct{ gross, refunded, payments, refunds int64 }

type dailyRow struct{ confirmed, started, ended, cancelled int64 }

// counterSet is the value of every counter row of a generation, keyed as
// in its tables. A missing row reads as zero.
type counterSet struct {
	active   map[string]int64
	byStatus map[cityStatus]int64
	revenue  map[revenueKey]revenueRow
	daily    map[dayCity]dailyRow
	starts   map[dayCity]int64 // confirmed_starts; its days are UTC
}

func newCounterSet() counterSet {
	return counterSet{
		active:   map[string]int64{},
		byStatus: map[cityStatus]int64{},
		revenue:  map[revenueKey]revenueRow{},
		daily:    map[dayCity]dailyRow{},
		starts:   map[dayCity]int64{},
	}
}

// addDeltas adds a fold's deltas, failing rather than wrapping around.
func (c counterSet) addDeltas(d aggregator.Deltas) error {
	var err error
	for _, r := range d.ActiveCars {
		v := c.active[r.City]
		err = errors.Join(err, addChecked(&v, r.Cars))
		c.active[r.City] = v
	}
	for _, r := range d.BookingsByStatus {
		k := cityStatus{r.City, r.Status}
		v := c.byStatus[k]
		err = errors.Join(err, addChecked(&v, r.Bookings))
		c.byStatus[k] = v
	}
	for _, r := range d.DailyRevenue {
		k := revenueKey{dayCity{dayOf(r.Day), r.City}, r.Currency}
		v := c.revenue[k]
		err = errors.Join(err, addChecked(&v.gross, r.GrossMinor), addChecked(&v.refunded, r.RefundedMinor),
			addChecked(&v.payments, r.Payments), addChecked(&v.refunds, r.Refunds))
		c.revenue[k] = v
	}
	for _, r := range d.DailyBookings {
		k := dayCity{dayOf(r.Day), r.City}
		v := c.daily[k]
		err = errors.Join(err, addChecked(&v.confirmed, r.Confirmed), addChecked(&v.started, r.Started),
			addChecked(&v.ended, r.Ended), addChecked(&v.cancelled, r.Cancelled))
		c.daily[k] = v
	}
	for _, r := range d.ConfirmedStarts {
		k := dayCity{dayOf(r.Day.UTC()), r.City}
		v := c.starts[k]
		err = errors.Join(err, addChecked(&v, r.Bookings))
		c.starts[k] = v
	}
	return err
}

func addChecked(p *int64, d int64) error {
	s := *p + d
	if (d > 0 && s < *p) || (d < 0 && s > *p) {
		return errCounterOverflow
	}
	*p = s
	return nil
}

// totals is a whole generation folded in memory: the state of every entity
// and every counter row. Chunks of events are folded with aggregator.Fold,
// the states so far being the prior, so it counts exactly as the apply
// path does, given each event id once. It does no I/O.
type totals struct {
	zones    aggregator.Zones
	cars     map[string]aggregator.CarState
	bookings map[string]aggregator.BookingState
	counters counterSet

	applied, ignored int64
	lastEventAt      time.Time
}

func newTotals(z aggregator.Zones) *totals {
	return &totals{
		zones:    z,
		cars:     map[string]aggregator.CarState{},
		bookings: map[string]aggregator.BookingState{},
		counters: newCounterSet(),
	}
}

// add folds events that were never folded into t before, in any order.
func (t *totals) add(evs []events.Event) error {
	if len(evs) == 0 {
		return nil
	}
	res, err := aggregator.Fold(aggregator.Prior{Cars: t.cars, Bookings: t.bookings}, evs, t.zones)
	if err != nil {
		return err
	}
	for _, c := range res.Cars {
		t.cars[c.ID] = c
	}
	for _, b := range res.Bookings {
		t.bookings[b.ID] = b
	}
	t.applied += int64(res.Applied)
	t.ignored += int64(res.Ignored)
	if res.LastEventAt.After(t.lastEventAt) {
		t.lastEventAt = res.LastEventAt
	}
	if err := t.counters.addDeltas(res.Deltas); err != nil {
		return fmt.Errorf("add counters: %w", err)
	}
	return nil
}

// overdueRow is a row of tally.overdue_bookings.
type overdueRow struct {
	bookings int64
	oldest   time.Time
}

// overdue returns tally.overdue_bookings as the view computes it: bookings
// still confirmed whose start is before now minus grace, by city.
func (t *totals) overdue(now time.Time, grace time.Duration) map[string]overdueRow {
	cutoff := now.Add(-grace)
	out := map[string]overdueRow{}
	for _, b := range t.bookings {
		if b.Status != events.StatusConfirmed || b.StartAt.IsZero() || !b.StartAt.Before(cutoff) {
			continue
		}
		r := out[b.City]
		if r.bookings == 0 || b.StartAt.Before(r.oldest) {
			r.oldest = b.StartAt
		}
		r.bookings++
		out[b.City] = r
	}
	return out
}
