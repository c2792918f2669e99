-- +goose Up
-- tally.overdue_bookings counted a row per overdue booking (about 2 ms for
-- 7,000 of them, docs/performance.md). Every generation now keeps
-- confirmed_starts, the bookings still confirmed by the UTC day of their
-- start and city, and the view sums it for the days before today's. The
-- rows are filled here from the bookings' states, with the generation lock
-- taken exclusive, so that no apply is half done meanwhile; applies from
-- here on keep it. A worker of an older version still running after this
-- migration would not: stop older workers (and finish or cancel a rebuild)
-- before upgrading, as `tally verify` would otherwise report the
-- difference (`tally rebuild` mends it). store/sql/generation.sql creates
-- new generations' tables this way.
-- +goose StatementBegin
DO $$
DECLARE
    s text;
BEGIN
    PERFORM pg_advisory_xact_lock(7241002); -- store.generationLockKey
    FOR s IN SELECT 'tally_g' || g.gen FROM tally.generations AS g
             WHERE to_regclass(format('%I.bookings', 'tally_g' || g.gen)) IS NOT NULL
    LOOP
        EXECUTE format('CREATE TABLE %I.confirmed_starts (
                day      timestamptz NOT NULL,
                city     text NOT NULL,
                bookings bigint NOT NULL,
                PRIMARY KEY (day, city)
            ) WITH (fillfactor = 70)', s);
        EXECUTE format('CREATE INDEX confirmed_starts_open ON %I.confirmed_starts (day) INCLUDE (city, bookings)
            WHERE bookings <> 0', s);
        EXECUTE format('INSERT INTO %I.confirmed_starts (day, city, bookings)
            SELECT date_trunc(%L, start_at AT TIME ZONE %L) AT TIME ZONE %L, COALESCE(city, %L), count(*)
            FROM %I.bookings WHERE status = %L AND start_at IS NOT NULL
            GROUP BY 1, 2', s, 'day', 'UTC', 'UTC', '', s, 'confirmed');
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- The view reads confirmed_starts: put back the version 5 view, which
-- counts the bookings, before dropping the tables.
-- +goose StatementBegin
DO $$
DECLARE
    s text;
    branches text[] := '{}';
BEGIN
    FOR s IN SELECT format('SELECT city, start_at FROM %I.bookings
        WHERE (SELECT g.gen FROM tally.generations AS g WHERE g.state = %L) = %s AND status = %L
          AND start_at < now() - (SELECT value::interval FROM tally.settings WHERE name = %L)',
            'tally_g' || g.gen, 'current', g.gen, 'confirmed', 'overdue_grace')
             FROM tally.generations AS g
             WHERE to_regclass(format('%I.bookings', 'tally_g' || g.gen)) IS NOT NULL
             ORDER BY g.gen
    LOOP
        branches := branches || s;
    END LOOP;
    EXECUTE 'CREATE OR REPLACE VIEW tally.overdue_bookings AS
        SELECT city, count(*)::bigint AS bookings, min(start_at) AS oldest_start_at
        FROM (' || array_to_string(branches, ' UNION ALL ') || ') AS b GROUP BY city';
    FOR s IN SELECT 'tally_g' || g.gen FROM tally.generations AS g
             WHERE to_regclass(format('%I.confirmed_starts', 'tally_g' || g.gen)) IS NOT NULL
    LOOP
        EXECUTE format('DROP TABLE %I.confirmed_starts', s);
    END LOOP;
END
$$;
-- +goose StatementEnd
