package store

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
)

const insertConflictsSQL = `INSERT INTO tally.conflicts (id, body_md5, body, stream_seq)
SELECT u.id, u.md5, u.body, u.stream_seq FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int8[]) AS u(id, md5, body, stream_seq)
ON CONFLICT (id, body_md5) DO NOTHING`

const countDuplicatesSQL = `INSERT INTO tally.duplicates AS t (hour, type, duplicates, conflicts)
SELECT date_trunc('hour', now(), 'UTC'), u.type, u.d, u.c FROM unnest($1::text[], $2::int8[], $3::int8[]) AS u(type, d, c)
ON CONFLICT (hour, type) DO UPDATE SET duplicates = t.duplicates + excluded.duplicates, conflicts = t.conflicts + excluded.conflicts`

// updateFreshnessSQL moves last_event_at forward, never past the commit:
// an event stamped in the future counts as of now.
const updateFreshnessSQL = `UPDATE tally.freshness_state SET applied_at = clock_timestamp(),
    last_event_at = CASE WHEN $1::timestamptz IS NULL THEN last_event_at
                         ELSE GREATEST(last_event_at, LEAST($1::timestamptz, clock_timestamp())) END`

// write sends every remaining change of the batch in one round trip, in
// the global order: entity states, conflicts, counters, duplicates,
// freshness.
func (a *applier) write(ctx context.Context, res aggregator.Result, conflicts []conflict, out *Outcome) error {
	b := &pgx.Batch{}
	a.queueEntities(b, res.Cars, res.Bookings)
	queueConflicts(b, conflicts)
	a.queueDeltas(b, res.Deltas)
	queueDuplicates(b, out, conflicts)
	var last *time.Time
	if res.Applied > 0 {
		last = &res.LastEventAt
	}
	b.Queue(updateFreshnessSQL, last)
	if err := a.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write states and counters: %w", err)
	}
	return nil
}

func queueConflicts(b *pgx.Batch, cs []conflict) {
	if len(cs) == 0 {
		return
	}
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(x, y conflict) int { return cmp.Or(cmp.Compare(x.id, y.id), cmp.Compare(x.md5, y.md5)) })
	n := len(cs)
	ids, sums, bodies, seqs := make([]string, n), make([]string, n), make([][]byte, n), make([]int64, n)
	for i, c := range cs {
		ids[i], sums[i], bodies[i], seqs[i] = c.id, c.md5, c.body, int64(c.streamSeq)
	}
	b.Queue(insertConflictsSQL, ids, sums, bodies, seqs)
}

// queueDuplicates counts plain duplicates and conflicts per type, in type
// order.
func queueDuplicates(b *pgx.Batch, out *Outcome, cs []conflict) {
	if out.Duplicates+out.Conflicts == 0 {
		return
	}
	conflictsByType := map[events.Type]int{}
	for _, c := range cs {
		conflictsByType[c.typ]++
	}
	types := map[events.Type]struct{}{}
	for t := range out.DuplicatesByType {
		types[t] = struct{}{}
	}
	for t := range conflictsByType {
		types[t] = struct{}{}
	}
	var names []string
	var dups, confs []int64
	for _, t := range slices.Sorted(maps.Keys(types)) {
		names = append(names, string(t))
		dups = append(dups, int64(out.DuplicatesByType[t]))
		confs = append(confs, int64(conflictsByType[t]))
	}
	b.Queue(countDuplicatesSQL, names, dups, confs)
}

func (a *applier) queueDeltas(b *pgx.Batch, d aggregator.Deltas) {
	if n := len(d.ActiveCars); n > 0 {
		cities, ds := make([]string, n), make([]int64, n)
		for i, r := range d.ActiveCars {
			cities[i], ds[i] = r.City, r.Cars
		}
		b.Queue(a.q.activeCars, cities, ds)
	}
	if n := len(d.BookingsByStatus); n > 0 {
		cities, statuses, ds := make([]string, n), make([]string, n), make([]int64, n)
		for i, r := range d.BookingsByStatus {
			cities[i], statuses[i], ds[i] = r.City, r.Status, r.Bookings
		}
		b.Queue(a.q.bookingsByStatus, cities, statuses, ds)
	}
	a.queueDaily(b, d)
}

func (a *applier) queueDaily(b *pgx.Batch, d aggregator.Deltas) {
	if n := len(d.DailyRevenue); n > 0 {
		days, cities, curs := make([]time.Time, n), make([]string, n), make([]string, n)
		gross, refunded, pays, refunds := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i, r := range d.DailyRevenue {
			days[i], cities[i], curs[i] = r.Day, r.City, r.Currency
			gross[i], refunded[i], pays[i], refunds[i] = r.GrossMinor, r.RefundedMinor, r.Payments, r.Refunds
		}
		b.Queue(a.q.dailyRevenue, days, cities, curs, gross, refunded, pays, refunds)
	}
	if n := len(d.DailyBookings); n > 0 {
		days, cities := make([]time.Time, n), make([]string, n)
		conf, started, ended, cancelled := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		for i, r := range d.DailyBookings {
			days[i], cities[i] = r.Day, r.City
			conf[i], started[i], ended[i], cancelled[i] = r.Confirmed, r.Started, r.Ended, r.Cancelled
		}
		b.Queue(a.q.dailyBookings, days, cities, conf, started, ended, cancelled)
	}
	if n := len(d.ConfirmedStarts); n > 0 {
		days, cities, ds := make([]time.Time, n), make([]string, n), make([]int64, n)
		for i, r := range d.ConfirmedStarts {
			days[i], cities[i], ds[i] = r.Day, r.City, r.Bookings
		}
		b.Queue(a.q.confirmedStarts, days, cities, ds)
	}
}
