-- One generation of entity states and counters. {{schema}} is replaced by
-- the generation's schema name (tally_gN), never by user input.
CREATE SCHEMA {{schema}};

CREATE TABLE {{schema}}.cars (
    car_id     text COLLATE "C" PRIMARY KEY,
    city       text,
    status     text,
    key_seq    bigint NOT NULL DEFAULT 0,
    key_at     timestamptz,
    key_id     text COLLATE "C",
    updated_at timestamptz
) WITH (fillfactor = 80);

CREATE TABLE {{schema}}.bookings (
    booking_id   text COLLATE "C" PRIMARY KEY,
    car_id       text,
    city         text,
    status       text,
    key_seq      bigint NOT NULL DEFAULT 0,
    key_at       timestamptz,
    key_id       text COLLATE "C",
    start_at     timestamptz,
    start_seq    bigint NOT NULL DEFAULT 0,
    start_key_at timestamptz,
    start_key_id text COLLATE "C",
    updated_at   timestamptz
) WITH (fillfactor = 80);
-- Overdue bookings: few rows in a healthy fleet, so the view stays cheap;
-- with the city in the index, a vacuumed table answers from the index alone.
CREATE INDEX bookings_confirmed_start ON {{schema}}.bookings (start_at) INCLUDE (city) WHERE status = 'confirmed';

CREATE TABLE {{schema}}.active_cars (
    city       text PRIMARY KEY,
    cars       bigint NOT NULL,
    updated_at timestamptz NOT NULL
) WITH (fillfactor = 50);

CREATE TABLE {{schema}}.bookings_by_status (
    city       text NOT NULL,
    status     text NOT NULL,
    bookings   bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (city, status)
) WITH (fillfactor = 50);

CREATE TABLE {{schema}}.daily_revenue (
    day            date NOT NULL,
    city           text NOT NULL,
    currency       text NOT NULL,
    gross_minor    bigint NOT NULL,
    refunded_minor bigint NOT NULL,
    payments       bigint NOT NULL,
    refunds        bigint NOT NULL,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (day, city, currency)
) WITH (fillfactor = 70);

CREATE TABLE {{schema}}.daily_bookings (
    day        date NOT NULL,
    city       text NOT NULL,
    confirmed  bigint NOT NULL,
    started    bigint NOT NULL,
    ended      bigint NOT NULL,
    cancelled  bigint NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (day, city)
) WITH (fillfactor = 70);

-- Bookings still confirmed, by the UTC day of their start (as its midnight)
-- and city: tally.overdue_bookings sums the days before today's instead of
-- counting a row per overdue booking. A row that falls to zero stays (the
-- apply role does not delete) and is skipped through the partial index.
CREATE TABLE {{schema}}.confirmed_starts (
    day      timestamptz NOT NULL,
    city     text NOT NULL,
    bookings bigint NOT NULL,
    PRIMARY KEY (day, city)
) WITH (fillfactor = 70);
CREATE INDEX confirmed_starts_open ON {{schema}}.confirmed_starts (day) INCLUDE (city, bookings) WHERE bookings <> 0;
