-- +goose Up
-- The parts of tally that outlive a rebuild: settings, the generations of
-- counters, the event ledger, dead letters, duplicates and freshness. The
-- counters and entity states of a generation live in their own schema
-- (tally_gN, see store/sql/generation.sql); the views in schema tally read
-- the current one.

CREATE TABLE tally.settings (
    name       text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tally.generations (
    gen            integer PRIMARY KEY,
    state          text NOT NULL CHECK (state IN ('building', 'current', 'retired')),
    timezone       text NOT NULL,
    city_timezones text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    swapped_at     timestamptz
);
CREATE UNIQUE INDEX generations_one_current ON tally.generations ((true)) WHERE state = 'current';

-- The ledger: every valid event once, by id, whatever its type. pos is the
-- order of recording; a rebuild catches up by it.
CREATE TABLE tally.events (
    pos         bigint GENERATED ALWAYS AS IDENTITY,
    id          text COLLATE "C" PRIMARY KEY,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    seq         bigint,
    entity      text COLLATE "C",
    city        text,
    stream_seq  bigint,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    body        bytea NOT NULL
);
CREATE UNIQUE INDEX events_pos ON tally.events (pos);
CREATE INDEX events_occurred_at ON tally.events USING brin (occurred_at);
CREATE INDEX events_entity ON tally.events (entity, occurred_at) WHERE entity IS NOT NULL;

CREATE TABLE tally.dead_letters (
    dl_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_stream text NOT NULL,
    source_seq    bigint NOT NULL,
    subject       text NOT NULL,
    code          text NOT NULL,
    detail        text NOT NULL,
    event_id      text,
    body          bytea NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    replayed_at   timestamptz,
    UNIQUE (source_stream, source_seq)
);
CREATE INDEX dead_letters_received_at ON tally.dead_letters (received_at);

-- Conflicting duplicates: the same id with other content. The copy in the
-- ledger counts; each other copy is kept here once.
CREATE TABLE tally.conflicts (
    id          text COLLATE "C" NOT NULL,
    body_md5    text NOT NULL,
    body        bytea NOT NULL,
    stream_seq  bigint,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, body_md5)
);

-- Duplicates absorbed, per hour received and type.
CREATE TABLE tally.duplicates (
    hour       timestamptz NOT NULL,
    type       text NOT NULL,
    duplicates bigint NOT NULL DEFAULT 0,
    conflicts  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, type)
);

CREATE TABLE tally.freshness_state (
    one           boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_event_at timestamptz,
    applied_at    timestamptz,
    pending       bigint,
    observed_at   timestamptz
);
INSERT INTO tally.freshness_state DEFAULT VALUES;

CREATE VIEW tally.freshness AS
    SELECT last_event_at, applied_at, pending, observed_at FROM tally.freshness_state;

-- +goose Down
DROP VIEW tally.freshness;
DROP TABLE tally.freshness_state, tally.duplicates, tally.conflicts,
    tally.dead_letters, tally.events, tally.generations, tally.settings;
