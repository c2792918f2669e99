-- +goose Up
-- History for analysts, and what the crisis playbook needs of a
-- generation (at the end). Snapshots of the contract's counter views and the
-- tally.X_at(t) functions that read them. Snapshots live in schema tally,
-- not in a generation, and are taken through the views, so history survives
-- a rebuild.
--
-- Storage: a snapshot stores only the rows that changed since the previous
-- one. Each row version holds the range of snapshot ids it is valid for,
-- [the snapshot that wrote it, the snapshot that changed or removed it): a
-- row that disappears (after a rebuild, an overdue city that recovers) has
-- its range closed, which is its tombstone. The counters as of snapshot s
-- are the versions whose range contains s: one GiST lookup, whatever the
-- number of snapshots. See docs/snapshots.md.

CREATE TABLE tally.snapshots (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The start of the snapshot's transaction: the counters are those of the
    -- events committed then (now() in tally.overdue_bookings is this too).
    taken_at      timestamptz NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('interval', 'midnight', 'manual')),
    -- The scheduled instant of an interval or midnight snapshot: one
    -- snapshot per slot, whichever worker takes it. NULL for manual ones.
    slot_at       timestamptz UNIQUE,
    -- What it covers: the generation the views read, the highest ledger
    -- position visible, freshness at that moment, and the database snapshot
    -- itself (pg_visible_in_snapshot tells whether an event is included).
    gen           integer NOT NULL,
    ledger_pos    bigint NOT NULL,
    last_event_at timestamptz,
    applied_at    timestamptz,
    covers        pg_snapshot NOT NULL,
    -- Row versions this snapshot wrote, and rows that disappeared with it.
    changed_rows  integer NOT NULL DEFAULT 0,
    removed_rows  integer NOT NULL DEFAULT 0
);
CREATE INDEX snapshots_taken_at ON tally.snapshots (taken_at, id);

CREATE TABLE tally.snapshot_active_cars (
    valid      int8range NOT NULL,
    city       text NOT NULL,
    cars       bigint,
    updated_at timestamptz
);

CREATE TABLE tally.snapshot_bookings_by_status (
    valid      int8range NOT NULL,
    city       text NOT NULL,
    status     text NOT NULL,
    bookings   bigint,
    updated_at timestamptz
);

-- net_minor is not stored: it is gross_minor - refunded_minor, as in the view.
CREATE TABLE tally.snapshot_daily_revenue (
    valid          int8range NOT NULL,
    day            date NOT NULL,
    city           text NOT NULL,
    currency       text NOT NULL,
    gross_minor    bigint,
    refunded_minor bigint,
    payments       bigint,
    refunds        bigint,
    updated_at     timestamptz
);

CREATE TABLE tally.snapshot_daily_bookings (
    valid      int8range NOT NULL,
    day        date NOT NULL,
    city       text NOT NULL,
    confirmed  bigint,
    started    bigint,
    ended      bigint,
    cancelled  bigint,
    updated_at timestamptz
);

CREATE TABLE tally.snapshot_overdue_bookings (
    valid           int8range NOT NULL,
    city            text NOT NULL,
    bookings        bigint,
    oldest_start_at timestamptz
);

-- The GiST index answers "which versions does snapshot s see"; the partial
-- unique index holds the open versions (one per row of the view), which the
-- next snapshot compares with the view.
CREATE INDEX snapshot_active_cars_valid ON tally.snapshot_active_cars USING gist (valid);
CREATE UNIQUE INDEX snapshot_active_cars_open ON tally.snapshot_active_cars (city) WHERE upper_inf(valid);
CREATE INDEX snapshot_bookings_by_status_valid ON tally.snapshot_bookings_by_status USING gist (valid);
CREATE UNIQUE INDEX snapshot_bookings_by_status_open ON tally.snapshot_bookings_by_status (city, status) WHERE upper_inf(valid);
CREATE INDEX snapshot_daily_revenue_valid ON tally.snapshot_daily_revenue USING gist (valid);
CREATE UNIQUE INDEX snapshot_daily_revenue_open ON tally.snapshot_daily_revenue (day, city, currency) WHERE upper_inf(valid);
CREATE INDEX snapshot_daily_bookings_valid ON tally.snapshot_daily_bookings USING gist (valid);
CREATE UNIQUE INDEX snapshot_daily_bookings_open ON tally.snapshot_daily_bookings (day, city) WHERE upper_inf(valid);
CREATE INDEX snapshot_overdue_bookings_valid ON tally.snapshot_overdue_bookings USING gist (valid);
CREATE UNIQUE INDEX snapshot_overdue_bookings_open ON tally.snapshot_overdue_bookings (city) WHERE upper_inf(valid);

-- Like the views, the X_at functions return rows in no particular order:
-- sorting a year of daily rows would cost more than finding them. They run
-- as their owner (SECURITY DEFINER, with a fixed search_path) so that a
-- reader needs EXECUTE on them and nothing on the history tables. EXECUTE
-- is revoked from PUBLIC below: grant it to the roles that may read
-- history.

-- +goose StatementBegin
CREATE FUNCTION tally.snapshot_at(t timestamptz)
RETURNS TABLE (id bigint, taken_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp ROWS 1
AS $$
    SELECT s.id, s.taken_at FROM tally.snapshots AS s
    WHERE s.taken_at <= t
    ORDER BY s.taken_at DESC, s.id DESC
    LIMIT 1
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tally.active_cars_at(t timestamptz)
RETURNS TABLE (taken_at timestamptz, city text, cars bigint, updated_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.taken_at, v.city, v.cars, v.updated_at
    FROM tally.snapshot_at(t) AS s
    JOIN tally.snapshot_active_cars AS v ON v.valid @> s.id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tally.bookings_by_status_at(t timestamptz)
RETURNS TABLE (taken_at timestamptz, city text, status text, bookings bigint, updated_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.taken_at, v.city, v.status, v.bookings, v.updated_at
    FROM tally.snapshot_at(t) AS s
    JOIN tally.snapshot_bookings_by_status AS v ON v.valid @> s.id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tally.daily_revenue_at(t timestamptz)
RETURNS TABLE (taken_at timestamptz, day date, city text, currency text, gross_minor bigint,
               refunded_minor bigint, net_minor bigint, payments bigint, refunds bigint, updated_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.taken_at, v.day, v.city, v.currency, v.gross_minor, v.refunded_minor,
           v.gross_minor - v.refunded_minor, v.payments, v.refunds, v.updated_at
    FROM tally.snapshot_at(t) AS s
    JOIN tally.snapshot_daily_revenue AS v ON v.valid @> s.id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tally.daily_bookings_at(t timestamptz)
RETURNS TABLE (taken_at timestamptz, day date, city text, confirmed bigint, started bigint,
               ended bigint, cancelled bigint, updated_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.taken_at, v.day, v.city, v.confirmed, v.started, v.ended, v.cancelled, v.updated_at
    FROM tally.snapshot_at(t) AS s
    JOIN tally.snapshot_daily_bookings AS v ON v.valid @> s.id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tally.overdue_bookings_at(t timestamptz)
RETURNS TABLE (taken_at timestamptz, city text, bookings bigint, oldest_start_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.taken_at, v.city, v.bookings, v.oldest_start_at
    FROM tally.snapshot_at(t) AS s
    JOIN tally.snapshot_overdue_bookings AS v ON v.valid @> s.id
$$;
-- +goose StatementEnd

-- The change of a counter between two times: the snapshots in force at t1
-- and at t2, row by row, a missing row reading as zero. from_taken_at is
-- NULL when no snapshot was taken at or before t1.

-- +goose StatementBegin
CREATE FUNCTION tally.active_cars_change(t1 timestamptz, t2 timestamptz)
RETURNS TABLE (city text, from_taken_at timestamptz, to_taken_at timestamptz,
               cars_from bigint, cars_to bigint, change bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(a.city, b.city),
           (SELECT s.taken_at FROM tally.snapshot_at(t1) AS s),
           (SELECT s.taken_at FROM tally.snapshot_at(t2) AS s),
           COALESCE(a.cars, 0), COALESCE(b.cars, 0), COALESCE(b.cars, 0) - COALESCE(a.cars, 0)
    FROM tally.active_cars_at(t1) AS a
    FULL JOIN tally.active_cars_at(t2) AS b ON a.city = b.city
    ORDER BY 1
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION tally.bookings_by_status_change(t1 timestamptz, t2 timestamptz)
RETURNS TABLE (city text, status text, from_taken_at timestamptz, to_taken_at timestamptz,
               bookings_from bigint, bookings_to bigint, change bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(a.city, b.city), COALESCE(a.status, b.status),
           (SELECT s.taken_at FROM tally.snapshot_at(t1) AS s),
           (SELECT s.taken_at FROM tally.snapshot_at(t2) AS s),
           COALESCE(a.bookings, 0), COALESCE(b.bookings, 0), COALESCE(b.bookings, 0) - COALESCE(a.bookings, 0)
    FROM tally.bookings_by_status_at(t1) AS a
    FULL JOIN tally.bookings_by_status_at(t2) AS b ON a.city = b.city AND a.status = b.status
    ORDER BY 1, 2
$$;
-- +goose StatementEnd

-- The playbook's view of entity states: the bookings of the current
-- generation in one status whose start is before a time, through the
-- generation's partial index for confirmed ones. Playbook entries are
-- static SQL and cannot name tally_gN; this follows rebuilds. Its values
-- are bound (USING), the schema name is built from an integer.

-- +goose StatementBegin
CREATE FUNCTION tally.bookings_in_status(in_status text, started_before timestamptz)
RETURNS TABLE (booking_id text, car_id text, city text, status text, start_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g integer;
BEGIN
    SELECT gs.gen INTO g FROM tally.generations AS gs WHERE gs.state = 'current';
    RETURN QUERY EXECUTE format(
        'SELECT b.booking_id::text, b.car_id, b.city, b.status, b.start_at, b.updated_at
         FROM %I.bookings AS b WHERE b.status = $1 AND b.start_at < $2', 'tally_g' || g)
        USING in_status, started_before;
END
$$;
-- +goose StatementEnd

REVOKE EXECUTE ON FUNCTION
    tally.snapshot_at(timestamptz),
    tally.active_cars_at(timestamptz), tally.bookings_by_status_at(timestamptz),
    tally.daily_revenue_at(timestamptz), tally.daily_bookings_at(timestamptz),
    tally.overdue_bookings_at(timestamptz),
    tally.active_cars_change(timestamptz, timestamptz),
    tally.bookings_by_status_change(timestamptz, timestamptz),
    tally.bookings_in_status(text, timestamptz)
FROM PUBLIC;

-- +goose Down
DROP FUNCTION tally.bookings_in_status(text, timestamptz);
DROP FUNCTION tally.bookings_by_status_change(timestamptz, timestamptz),
    tally.active_cars_change(timestamptz, timestamptz),
    tally.overdue_bookings_at(timestamptz), tally.daily_bookings_at(timestamptz),
    tally.daily_revenue_at(timestamptz), tally.bookings_by_status_at(timestamptz),
    tally.active_cars_at(timestamptz), tally.snapshot_at(timestamptz);
DROP TABLE tally.snapshot_overdue_bookings, tally.snapshot_daily_bookings,
    tally.snapshot_daily_revenue, tally.snapshot_bookings_by_status,
    tally.snapshot_active_cars, tally.snapshots;
