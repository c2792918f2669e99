-- +goose Up
-- Operability: the workers seen (the status page lists them, an operator
-- spots a frozen or missing one) and the results of tally verify (a drift
-- alert needs them where the worker can export them as metrics).

CREATE TABLE tally.workers (
    id           text PRIMARY KEY,
    hostname     text NOT NULL,
    pid          integer NOT NULL,
    version      text NOT NULL,
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);

CREATE TABLE tally.verify_runs (
    run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT now(),
    since       date,
    differences bigint NOT NULL CHECK (differences >= 0)
);
CREATE INDEX verify_runs_finished_at ON tally.verify_runs (finished_at);

-- +goose Down
DROP TABLE tally.verify_runs, tally.workers;
