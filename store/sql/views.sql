-- The contract's views over the current generation. Replacing them all in
-- one transaction is how a rebuilt generation is swapped in.
CREATE OR REPLACE VIEW tally.active_cars AS
    SELECT city, cars, updated_at FROM {{schema}}.active_cars;

CREATE OR REPLACE VIEW tally.bookings_by_status AS
    SELECT city, status, bookings, updated_at FROM {{schema}}.bookings_by_status;

CREATE OR REPLACE VIEW tally.daily_revenue AS
    SELECT day, city, currency, gross_minor, refunded_minor,
           gross_minor - refunded_minor AS net_minor, payments, refunds, updated_at
    FROM {{schema}}.daily_revenue;

CREATE OR REPLACE VIEW tally.daily_bookings AS
    SELECT day, city, confirmed, started, ended, cancelled, updated_at
    FROM {{schema}}.daily_bookings;

CREATE OR REPLACE VIEW tally.overdue_bookings AS
    SELECT city, count(*)::bigint AS bookings, min(start_at) AS oldest_start_at
    FROM {{schema}}.bookings
    WHERE status = 'confirmed'
      AND start_at < now() - (SELECT value::interval FROM tally.settings WHERE name = 'overdue_grace')
    GROUP BY city;
