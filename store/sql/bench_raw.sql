-- The benchmark's raw tables, built from the ledger: what a product's own
-- database holds, with the indexes a team would give it, for comparing
-- tally's views with aggregating on every read. Schema bench_raw exists
-- only in the benchmark's own database.
CREATE SCHEMA bench_raw;
CREATE TABLE bench_raw.city_zones (city text PRIMARY KEY, zone text NOT NULL);

-- The ledger's events of known types with their data, decoded once.
CREATE UNLOGGED TABLE bench_raw.ev AS
SELECT e.id COLLATE "C" AS id, e.type, e.occurred_at, COALESCE(e.seq, 0) AS seq, j.d
FROM tally.events AS e
CROSS JOIN LATERAL (SELECT convert_from(e.body, 'UTF8')::jsonb -> 'data' AS d) AS j
WHERE e.type IN ('car.status_changed', 'booking.confirmed', 'booking.started', 'booking.ended',
                 'booking.cancelled', 'payment.captured', 'payment.refunded');

CREATE TABLE bench_raw.cars AS
SELECT DISTINCT ON (d ->> 'car_id') d ->> 'car_id' AS car_id, d ->> 'city' AS city, d ->> 'status' AS status
FROM bench_raw.ev WHERE type = 'car.status_changed'
ORDER BY d ->> 'car_id', seq DESC, occurred_at DESC, id DESC;
ALTER TABLE bench_raw.cars ADD PRIMARY KEY (car_id);
CREATE INDEX cars_status_city ON bench_raw.cars (status, city);

-- One row per booking in its latest state, with the time of each event of
-- its lifecycle.
CREATE TABLE bench_raw.bookings AS
SELECT l.booking_id, l.car_id, l.city, l.status, c.start_at, c.end_at,
       t.confirmed_at, t.started_at, t.ended_at, t.cancelled_at
FROM (SELECT DISTINCT ON (d ->> 'booking_id') d ->> 'booking_id' AS booking_id, d ->> 'car_id' AS car_id,
             d ->> 'city' AS city,
             CASE type WHEN 'booking.confirmed' THEN 'confirmed' WHEN 'booking.started' THEN 'ongoing'
                       WHEN 'booking.ended' THEN 'ended' ELSE 'cancelled' END AS status
      FROM bench_raw.ev WHERE type LIKE 'booking.%'
      ORDER BY d ->> 'booking_id', seq DESC, occurred_at DESC, id DESC) AS l
LEFT JOIN (SELECT DISTINCT ON (d ->> 'booking_id') d ->> 'booking_id' AS booking_id,
                  (d ->> 'start_at')::timestamptz AS start_at, (d ->> 'end_at')::timestamptz AS end_at
           FROM bench_raw.ev WHERE type = 'booking.confirmed'
           ORDER BY d ->> 'booking_id', seq DESC, occurred_at DESC, id DESC) AS c USING (booking_id)
LEFT JOIN (SELECT d ->> 'booking_id' AS booking_id,
                  max(occurred_at) FILTER (WHERE type = 'booking.confirmed') AS confirmed_at,
                  max(occurred_at) FILTER (WHERE type = 'booking.started') AS started_at,
                  max(occurred_at) FILTER (WHERE type = 'booking.ended') AS ended_at,
                  max(occurred_at) FILTER (WHERE type = 'booking.cancelled') AS cancelled_at
           FROM bench_raw.ev WHERE type LIKE 'booking.%' GROUP BY 1) AS t USING (booking_id);
ALTER TABLE bench_raw.bookings ADD PRIMARY KEY (booking_id);
CREATE INDEX bookings_city_status ON bench_raw.bookings (city, status);
CREATE INDEX bookings_confirmed_start ON bench_raw.bookings (start_at) WHERE status = 'confirmed';
CREATE INDEX bookings_confirmed_at ON bench_raw.bookings (confirmed_at);
CREATE INDEX bookings_car ON bench_raw.bookings (car_id);

-- One row per payment and per refund.
CREATE TABLE bench_raw.payments AS
SELECT id AS event_id, d ->> 'payment_id' AS payment_id, d ->> 'booking_id' AS booking_id, d ->> 'city' AS city,
       d ->> 'currency' AS currency, (d ->> 'amount_minor')::bigint AS amount_minor,
       CASE type WHEN 'payment.captured' THEN 'capture' ELSE 'refund' END AS kind, occurred_at
FROM bench_raw.ev WHERE type LIKE 'payment.%';
ALTER TABLE bench_raw.payments ADD PRIMARY KEY (event_id);
CREATE INDEX payments_occurred_at ON bench_raw.payments (occurred_at);
CREATE INDEX payments_city_occurred_at ON bench_raw.payments (city, occurred_at);
CREATE INDEX payments_booking ON bench_raw.payments (booking_id);

DROP TABLE bench_raw.ev;
