package store

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

// Difference is one value of a counter (or of an entity's state) that is
// not what a recomputation from the ledger gives.
type Difference struct {
	// Counter is the view, such as daily_bookings, or cars or bookings for
	// an entity's state.
	Counter string `json:"counter"`
	// Key identifies the row, such as "day=2026-03-28 city=paris".
	Key string `json:"key"`
	// Field is the column that differs, such as confirmed.
	Field    string `json:"field"`
	Live     string `json:"live"`
	Expected string `json:"expected"`
}

func (d Difference) String() string {
	return fmt.Sprintf("%s %s %s: live %s, expected %s", d.Counter, d.Key, d.Field, d.Live, d.Expected)
}

func compareDifferences(a, b Difference) int {
	return cmp.Or(cmp.Compare(a.Counter, b.Counter), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Field, b.Field))
}

// fieldDiffer collects the differences of one row, field by field.
type fieldDiffer struct {
	counter, key string
	out          *[]Difference
}

func (f fieldDiffer) int(field string, live, want int64) {
	if live != want {
		f.str(field, strconv.FormatInt(live, 10), strconv.FormatInt(want, 10))
	}
}

func (f fieldDiffer) str(field, live, want string) {
	if live != want {
		*f.out = append(*f.out, Difference{Counter: f.counter, Key: f.key, Field: field, Live: live, Expected: want})
	}
}

// noSince compares the daily counters of every day.
var noSince time.Time

// diffCounters compares two sets of counters row by row, a missing row
// reading as zero. Daily rows before since (when not zero) are left out.
func diffCounters(live, want counterSet, since time.Time) []Difference {
	var out []Difference
	for _, city := range unionKeys(live.active, want.active) {
		fieldDiffer{"active_cars", "city=" + city, &out}.int("cars", live.active[city], want.active[city])
	}
	for _, k := range unionKeys(live.byStatus, want.byStatus) {
		fieldDiffer{"bookings_by_status", "city=" + k.city + " status=" + k.status, &out}.
			int("bookings", live.byStatus[k], want.byStatus[k])
	}
	first := dayKey(-1 << 62)
	if !since.IsZero() {
		first = dayOf(since)
	}
	for _, k := range unionKeys(live.revenue, want.revenue) {
		if k.day < first {
			continue
		}
		l, w := live.revenue[k], want.revenue[k]
		f := fieldDiffer{"daily_revenue", "day=" + k.day.String() + " city=" + k.city + " currency=" + k.currency, &out}
		f.int("gross_minor", l.gross, w.gross)
		f.int("refunded_minor", l.refunded, w.refunded)
		f.int("payments", l.payments, w.payments)
		f.int("refunds", l.refunds, w.refunds)
	}
	for _, k := range unionKeys(live.daily, want.daily) {
		if k.day < first {
			continue
		}
		l, w := live.daily[k], want.daily[k]
		f := fieldDiffer{"daily_bookings", "day=" + k.day.String() + " city=" + k.city, &out}
		f.int("confirmed", l.confirmed, w.confirmed)
		f.int("started", l.started, w.started)
		f.int("ended", l.ended, w.ended)
		f.int("cancelled", l.cancelled, w.cancelled)
	}
	// Not a contract view: the count behind overdue_bookings, by start day.
	for _, k := range unionKeys(live.starts, want.starts) {
		fieldDiffer{"confirmed_starts", "day=" + k.day.String() + " city=" + k.city, &out}.
			int("bookings", live.starts[k], want.starts[k])
	}
	slices.SortFunc(out, compareDifferences)
	return out
}

// diffOverdue compares tally.overdue_bookings row by row.
func diffOverdue(live, want map[string]overdueRow) []Difference {
	var out []Difference
	for _, city := range unionKeys(live, want) {
		l, w := live[city], want[city]
		f := fieldDiffer{"overdue_bookings", "city=" + city, &out}
		f.int("bookings", l.bookings, w.bookings)
		f.str("oldest_start_at", showTime(l.oldest), showTime(w.oldest))
	}
	return out
}

// unionKeys returns the keys of both maps, in no order: callers sort the
// differences they find.
func unionKeys[K comparable, V any](a, b map[K]V) []K {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	return keys
}

func showTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func showKey(k events.Key) string {
	if k.IsZero() {
		return "none"
	}
	return fmt.Sprintf("seq=%d at=%s id=%s", k.Seq, showTime(k.At), k.ID)
}

func showString(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// diffCar compares one car's state with its recomputation; the zero
// state is a car that does not exist.
func diffCar(id string, live, want aggregator.CarState, out *[]Difference) {
	f := fieldDiffer{"cars", "car_id=" + id, out}
	f.str("city", showString(live.City), showString(want.City))
	f.str("status", showString(live.Status), showString(want.Status))
	f.str("key", showKey(live.Key), showKey(want.Key))
}

// diffBooking compares one booking's state with its recomputation.
func diffBooking(id string, live, want aggregator.BookingState, out *[]Difference) {
	f := fieldDiffer{"bookings", "booking_id=" + id, out}
	f.str("car_id", showString(live.CarID), showString(want.CarID))
	f.str("city", showString(live.City), showString(want.City))
	f.str("status", showString(live.Status), showString(want.Status))
	f.str("key", showKey(live.Key), showKey(want.Key))
	f.str("start_at", showTime(live.StartAt), showTime(want.StartAt))
	f.str("start_key", showKey(live.StartKey), showKey(want.StartKey))
}
