package store

import (
	"fmt"
	"sync"
)

// genQueries are the apply statements of one generation. Table names carry
// the generation's schema (tally_gN, from an integer): values are always
// bound parameters.
type genQueries struct {
	ensureCars, lockCars, readCars, insertCars, writeCars, writeReadCars                         string
	ensureBookings, lockBookings, readBookings, insertBookings, writeBookings, writeReadBookings string
	activeCars, bookingsByStatus                                                                 string
	dailyRevenue, dailyBookings, confirmedStarts                                                 string
}

var queryCache sync.Map // int -> *genQueries

func queriesFor(gen int) *genQueries {
	if q, ok := queryCache.Load(gen); ok {
		return q.(*genQueries)
	}
	q := buildQueries(Schema(gen))
	queryCache.Store(gen, q)
	return q
}

func buildQueries(s string) *genQueries {
	q := &genQueries{
		ensureCars: fmt.Sprintf(`INSERT INTO %s.cars (car_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, s),
		insertCars: fmt.Sprintf(`INSERT INTO %s.cars (car_id, city, status, key_seq, key_at, key_id, updated_at)
			SELECT u.car_id, u.city, u.status, u.key_seq, u.key_at, u.key_id, clock_timestamp()
			FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::timestamptz[], $6::text[])
				AS u(car_id, city, status, key_seq, key_at, key_id)
			ON CONFLICT (car_id) DO NOTHING`, s),
		ensureBookings: fmt.Sprintf(`INSERT INTO %s.bookings (booking_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, s),
		insertBookings: fmt.Sprintf(`INSERT INTO %s.bookings (booking_id, car_id, city, status, key_seq, key_at, key_id,
				start_at, start_seq, start_key_at, start_key_id, updated_at)
			SELECT u.booking_id, u.car_id, u.city, u.status, u.key_seq, u.key_at, u.key_id,
				u.start_at, u.start_seq, u.start_key_at, NULLIF(u.start_key_id, ''), clock_timestamp()
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::timestamptz[], $7::text[],
					$8::timestamptz[], $9::int8[], $10::timestamptz[], $11::text[])
				AS u(booking_id, car_id, city, status, key_seq, key_at, key_id, start_at, start_seq, start_key_at, start_key_id)
			ON CONFLICT (booking_id) DO NOTHING`, s),
		activeCars: fmt.Sprintf(`INSERT INTO %s.active_cars AS t (city, cars, updated_at)
			SELECT u.city, u.d, clock_timestamp() FROM unnest($1::text[], $2::int8[]) AS u(city, d)
			ON CONFLICT (city) DO UPDATE SET cars = t.cars + excluded.cars, updated_at = excluded.updated_at`, s),
		bookingsByStatus: fmt.Sprintf(`INSERT INTO %s.bookings_by_status AS t (city, status, bookings, updated_at)
			SELECT u.city, u.status, u.d, clock_timestamp() FROM unnest($1::text[], $2::text[], $3::int8[]) AS u(city, status, d)
			ON CONFLICT (city, status) DO UPDATE SET bookings = t.bookings + excluded.bookings, updated_at = excluded.updated_at`, s),
		dailyRevenue: fmt.Sprintf(`INSERT INTO %s.daily_revenue AS t
				(day, city, currency, gross_minor, refunded_minor, payments, refunds, updated_at)
			SELECT u.day, u.city, u.currency, u.gross, u.refunded, u.payments, u.refunds, clock_timestamp()
			FROM unnest($1::date[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::int8[])
				AS u(day, city, currency, gross, refunded, payments, refunds)
			ON CONFLICT (day, city, currency) DO UPDATE SET
				gross_minor = t.gross_minor + excluded.gross_minor,
				refunded_minor = t.refunded_minor + excluded.refunded_minor,
				payments = t.payments + excluded.payments, refunds = t.refunds + excluded.refunds,
				updated_at = excluded.updated_at`, s),
		dailyBookings: fmt.Sprintf(`INSERT INTO %s.daily_bookings AS t
				(day, city, confirmed, started, ended, cancelled, updated_at)
			SELECT u.day, u.city, u.confirmed, u.started, u.ended, u.cancelled, clock_timestamp()
			FROM unnest($1::date[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])
				AS u(day, city, confirmed, started, ended, cancelled)
			ON CONFLICT (day, city) DO UPDATE SET
				confirmed = t.confirmed + excluded.confirmed, started = t.started + excluded.started,
				ended = t.ended + excluded.ended, cancelled = t.cancelled + excluded.cancelled,
				updated_at = excluded.updated_at`, s),
		confirmedStarts: fmt.Sprintf(`INSERT INTO %s.confirmed_starts AS t (day, city, bookings)
			SELECT u.day, u.city, u.d FROM unnest($1::timestamptz[], $2::text[], $3::int8[]) AS u(day, city, d)
			ON CONFLICT (day, city) DO UPDATE SET bookings = t.bookings + excluded.bookings`, s),
	}
	q.readCars = fmt.Sprintf(`SELECT car_id, COALESCE(city, ''), COALESCE(status, ''), key_seq, key_at, COALESCE(key_id, ''), xmin
			FROM %s.cars WHERE car_id = ANY($1)`, s)
	q.lockCars = q.readCars + " ORDER BY car_id FOR UPDATE"
	q.readBookings = fmt.Sprintf(`SELECT booking_id, COALESCE(car_id, ''), COALESCE(city, ''), COALESCE(status, ''),
				key_seq, key_at, COALESCE(key_id, ''), start_at, start_seq, start_key_at, COALESCE(start_key_id, ''), xmin
			FROM %s.bookings WHERE booking_id = ANY($1)`, s)
	q.lockBookings = q.readBookings + " ORDER BY booking_id FOR UPDATE"
	carsUpdate := func(check bool) string {
		array, column, cond := versionCheck(7, "c", check)
		return fmt.Sprintf(`UPDATE %s.cars AS c SET city = u.city, status = u.status, key_seq = u.key_seq,
			key_at = u.key_at, key_id = u.key_id, updated_at = clock_timestamp()
			FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::timestamptz[], $6::text[]%s)
				AS u(car_id, city, status, key_seq, key_at, key_id%s)
			WHERE c.car_id = u.car_id%s`, s, array, column, cond)
	}
	q.writeCars, q.writeReadCars = carsUpdate(false), carsUpdate(true)
	bookingsUpdate := func(check bool) string {
		array, column, cond := versionCheck(12, "b", check)
		return fmt.Sprintf(`UPDATE %s.bookings AS b SET car_id = u.car_id, city = u.city, status = u.status,
				key_seq = u.key_seq, key_at = u.key_at, key_id = u.key_id, start_at = u.start_at,
				start_seq = u.start_seq, start_key_at = u.start_key_at, start_key_id = NULLIF(u.start_key_id, ''),
				updated_at = clock_timestamp()
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::timestamptz[], $7::text[],
					$8::timestamptz[], $9::int8[], $10::timestamptz[], $11::text[]%s)
				AS u(booking_id, car_id, city, status, key_seq, key_at, key_id, start_at, start_seq, start_key_at, start_key_id%s)
			WHERE b.booking_id = u.booking_id%s`, s, array, column, cond)
	}
	q.writeBookings, q.writeReadBookings = bookingsUpdate(false), bookingsUpdate(true)
	return q
}

// versionCheck returns the parts an entity update gains when it updates a
// row only if its version is still the one read (parameter n, the xmins):
// the array, its column, and the condition on alias's row.
func versionCheck(n int, alias string, check bool) (string, string, string) {
	if !check {
		return "", "", ""
	}
	return fmt.Sprintf(", $%d::xid[]", n), ", read_xmin", fmt.Sprintf(" AND %s.xmin = u.read_xmin", alias)
}
