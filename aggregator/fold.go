package aggregator

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/tallyhq/tally/events"
)

// ErrOverflow is returned when a counter would leave the int64 range.
var ErrOverflow = errors.New("counter overflows int64")

// Prior holds the current states of the entities a batch touches. A missing
// entry is an entity tally has not seen.
type Prior struct {
	Cars     map[string]CarState
	Bookings map[string]BookingState
}

// Result is what folding a batch yields: the entity states that changed
// and the counter deltas, coalesced and sorted.
type Result struct {
	Cars     []CarState     // changed cars, sorted by ID
	Bookings []BookingState // changed bookings, sorted by ID
	Deltas   Deltas

	Applied int // events of known types folded
	Ignored int // events of unknown types
	// LastEventAt is the newest occurred_at among the applied events
	// (known types; unknown ones are recorded, not applied).
	LastEventAt time.Time
}

// Fold applies new events (each id once; duplicates already removed) to the
// prior states of the entities they touch, in any order, and returns the
// changed states and the counter deltas. Order does not matter: an entity's
// state is that of its greatest-key event, and daily counters are sums.
// It does no I/O.
func Fold(prior Prior, evs []events.Event, zones Zones) (Result, error) {
	f := newFolder(zones)
	var res Result
	for i := range evs {
		e := &evs[i]
		if !e.Known() {
			res.Ignored++
			continue
		}
		res.Applied++
		if e.OccurredAt.After(res.LastEventAt) {
			res.LastEventAt = e.OccurredAt
		}
		if err := f.event(prior, e); err != nil {
			return Result{}, fmt.Errorf("fold event %q: %w", e.ID, err)
		}
	}
	res.Cars, res.Bookings = f.changedStates(prior)
	for _, c := range res.Cars {
		f.carMoved(prior.Cars[c.ID], c)
	}
	for _, b := range res.Bookings {
		f.bookingMoved(prior.Bookings[b.ID], b)
	}
	if f.err != nil {
		return Result{}, f.err
	}
	res.Deltas = f.deltas()
	return res, nil
}

type dayCity struct {
	Day  time.Time
	City string
}

type revenueKey struct {
	dayCity
	Currency string
}

type statusKey struct{ City, Status string }

// folder accumulates one batch.
type folder struct {
	zones    Zones
	cars     map[string]CarState
	bookings map[string]BookingState

	active   map[string]int64
	byStatus map[statusKey]int64
	revenue  map[revenueKey]*DailyRevenue
	daily    map[dayCity]*DailyBookings
	starts   map[dayCity]int64
	err      error
}

func newFolder(z Zones) *folder {
	return &folder{
		zones:    z,
		cars:     map[string]CarState{},
		bookings: map[string]BookingState{},
		active:   map[string]int64{},
		byStatus: map[statusKey]int64{},
		revenue:  map[revenueKey]*DailyRevenue{},
		daily:    map[dayCity]*DailyBookings{},
		starts:   map[dayCity]int64{},
	}
}

func (f *folder) event(prior Prior, e *events.Event) error {
	dc := dayCity{Day: f.zones.Day(e.City, e.OccurredAt), City: e.City}
	switch e.Type {
	case events.CarStatusChanged:
		s, ok := f.cars[e.CarID]
		if !ok {
			s = prior.Cars[e.CarID]
			s.ID = e.CarID
		}
		f.cars[e.CarID] = applyCar(s, e)
	case events.BookingConfirmed, events.BookingStarted, events.BookingEnded, events.BookingCancelled:
		s, ok := f.bookings[e.BookingID]
		if !ok {
			s = prior.Bookings[e.BookingID]
			s.ID = e.BookingID
		}
		f.bookings[e.BookingID] = applyBooking(s, e)
		return f.dailyBooking(dc, e.Type)
	case events.PaymentCaptured:
		r := f.revenueRow(revenueKey{dc, e.Currency})
		return addMoney(&r.GrossMinor, &r.Payments, e.AmountMinor)
	case events.PaymentRefunded:
		r := f.revenueRow(revenueKey{dc, e.Currency})
		return addMoney(&r.RefundedMinor, &r.Refunds, e.AmountMinor)
	}
	return nil
}

func (f *folder) revenueRow(k revenueKey) *DailyRevenue {
	r, ok := f.revenue[k]
	if !ok {
		r = &DailyRevenue{Day: k.Day, City: k.City, Currency: k.Currency}
		f.revenue[k] = r
	}
	return r
}

func (f *folder) dailyBooking(k dayCity, t events.Type) error {
	r, ok := f.daily[k]
	if !ok {
		r = &DailyBookings{Day: k.Day, City: k.City}
		f.daily[k] = r
	}
	switch t {
	case events.BookingConfirmed:
		return addTo(&r.Confirmed, 1)
	case events.BookingStarted:
		return addTo(&r.Started, 1)
	case events.BookingEnded:
		return addTo(&r.Ended, 1)
	default:
		return addTo(&r.Cancelled, 1)
	}
}

// changedStates returns the states that differ from the prior ones, sorted
// by id so that writers touch rows in one global order.
func (f *folder) changedStates(prior Prior) ([]CarState, []BookingState) {
	var cars []CarState
	for _, id := range slices.Sorted(maps.Keys(f.cars)) {
		if s := f.cars[id]; s != prior.Cars[id] {
			cars = append(cars, s)
		}
	}
	var bookings []BookingState
	for _, id := range slices.Sorted(maps.Keys(f.bookings)) {
		if s := f.bookings[id]; s != prior.Bookings[id] {
			bookings = append(bookings, s)
		}
	}
	return cars, bookings
}

func (f *folder) carMoved(old, cur CarState) {
	if old.Active() {
		f.add(old.City, -1)
	}
	if cur.Active() {
		f.add(cur.City, 1)
	}
}

func (f *folder) bookingMoved(old, cur BookingState) {
	if old.Status != "" {
		f.addStatus(statusKey{old.City, old.Status}, -1)
	}
	if cur.Status != "" {
		f.addStatus(statusKey{cur.City, cur.Status}, 1)
	}
	if old.Pending() {
		f.addStart(dayCity{StartDay(old.StartAt), old.City}, -1)
	}
	if cur.Pending() {
		f.addStart(dayCity{StartDay(cur.StartAt), cur.City}, 1)
	}
}

func (f *folder) addStart(k dayCity, d int64) {
	v := f.starts[k]
	f.check(addTo(&v, d))
	f.starts[k] = v
}

func (f *folder) add(k string, d int64) {
	v := f.active[k]
	f.check(addTo(&v, d))
	f.active[k] = v
}

func (f *folder) addStatus(k statusKey, d int64) {
	v := f.byStatus[k]
	f.check(addTo(&v, d))
	f.byStatus[k] = v
}

func (f *folder) check(err error) {
	if err != nil && f.err == nil {
		f.err = err
	}
}

// addTo adds d to *p, failing instead of wrapping around.
func addTo(p *int64, d int64) error {
	s := *p + d
	if (d > 0 && s < *p) || (d < 0 && s > *p) {
		return ErrOverflow
	}
	*p = s
	return nil
}

// addMoney adds one amount and one event to a revenue row's pair of columns.
func addMoney(amount *int64, count *int64, d int64) error {
	if err := addTo(amount, d); err != nil {
		return err
	}
	return addTo(count, 1)
}

func (f *folder) deltas() Deltas {
	var d Deltas
	for _, city := range slices.Sorted(maps.Keys(f.active)) {
		if n := f.active[city]; n != 0 {
			d.ActiveCars = append(d.ActiveCars, ActiveCars{City: city, Cars: n})
		}
	}
	for k, n := range f.byStatus {
		if n != 0 {
			d.BookingsByStatus = append(d.BookingsByStatus, BookingsByStatus{City: k.City, Status: k.Status, Bookings: n})
		}
	}
	slices.SortFunc(d.BookingsByStatus, func(a, b BookingsByStatus) int {
		return cmp.Or(cmp.Compare(a.City, b.City), cmp.Compare(a.Status, b.Status))
	})
	for _, r := range f.revenue {
		d.DailyRevenue = append(d.DailyRevenue, *r)
	}
	slices.SortFunc(d.DailyRevenue, compareRevenue)
	for _, r := range f.daily {
		d.DailyBookings = append(d.DailyBookings, *r)
	}
	slices.SortFunc(d.DailyBookings, compareDaily)
	for k, n := range f.starts {
		if n != 0 {
			d.ConfirmedStarts = append(d.ConfirmedStarts, ConfirmedStarts{Day: k.Day, City: k.City, Bookings: n})
		}
	}
	slices.SortFunc(d.ConfirmedStarts, func(a, b ConfirmedStarts) int {
		return cmp.Or(a.Day.Compare(b.Day), cmp.Compare(a.City, b.City))
	})
	return d
}
