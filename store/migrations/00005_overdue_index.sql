-- +goose Up
-- tally.overdue_bookings counts, by city, the confirmed bookings whose start
-- is past the grace. The partial index behind it now carries the city, so
-- that a vacuumed table answers from the index alone instead of visiting
-- each overdue booking's row (docs/performance.md). Every generation's
-- index is replaced; store/sql/generation.sql creates new ones this way.
-- +goose StatementBegin
DO $$
DECLARE
    s text;
BEGIN
    FOR s IN SELECT 'tally_g' || g.gen FROM tally.generations AS g
             WHERE to_regclass(format('%I.bookings', 'tally_g' || g.gen)) IS NOT NULL
    LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I.bookings_confirmed_start', s);
        EXECUTE format('CREATE INDEX bookings_confirmed_start ON %I.bookings (start_at) INCLUDE (city) WHERE status = %L',
                       s, 'confirmed');
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    s text;
BEGIN
    FOR s IN SELECT 'tally_g' || g.gen FROM tally.generations AS g
             WHERE to_regclass(format('%I.bookings', 'tally_g' || g.gen)) IS NOT NULL
    LOOP
        EXECUTE format('DROP INDEX IF EXISTS %I.bookings_confirmed_start', s);
        EXECUTE format('CREATE INDEX bookings_confirmed_start ON %I.bookings (start_at) WHERE status = %L', s, 'confirmed');
    END LOOP;
END
$$;
-- +goose StatementEnd
