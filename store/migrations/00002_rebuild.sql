-- +goose Up
-- Rebuilds: every run of tally rebuild with its progress, which
-- tally.freshness and the workers' metrics show; and when a retired
-- generation's schema was dropped (the views read those not dropped).

ALTER TABLE tally.generations ADD COLUMN dropped_at timestamptz;

CREATE TABLE tally.rebuilds (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gen         integer NOT NULL,
    source      text NOT NULL CHECK (source IN ('ledger', 'stream')),
    state       text NOT NULL CHECK (state IN ('running', 'swapped', 'failed', 'interrupted')),
    done        bigint NOT NULL DEFAULT 0,
    total       bigint NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    detail      text NOT NULL DEFAULT ''
);

-- The contract's columns first and unchanged; the latest rebuild after.
CREATE OR REPLACE VIEW tally.freshness AS
    SELECT f.last_event_at, f.applied_at, f.pending, f.observed_at,
           r.gen AS rebuild_generation, r.state AS rebuild_state,
           r.done AS rebuild_done, r.total AS rebuild_total, r.started_at AS rebuild_started_at
    FROM tally.freshness_state AS f
    LEFT JOIN LATERAL (SELECT gen, state, done, total, started_at FROM tally.rebuilds ORDER BY id DESC LIMIT 1) AS r ON true;

-- +goose Down
DROP VIEW tally.freshness;
CREATE VIEW tally.freshness AS
    SELECT last_event_at, applied_at, pending, observed_at FROM tally.freshness_state;
DROP TABLE tally.rebuilds;
ALTER TABLE tally.generations DROP COLUMN dropped_at;
