{{/*
The contract's views, one named template each, over the generations whose
schema exists (each with .Gen and .Schema, tally_gN from an integer, never
user input). Each view reads every such generation, each branch filtered to
the one that tally.generations marks current, read in the query's own
snapshot. So a swap is one committed UPDATE of tally.generations, made in
the same transaction as the last events applied to the new generation:
every reader, whatever its isolation level or the order of its statements,
sees either the old generation whole or the new one whole, and the swap
takes no lock on the views. A view changes only when a generation is
created or dropped, and then its result does not: the branch added or
removed is one no snapshot sees as current.
*/}}
{{define "current"}}(SELECT g.gen FROM tally.generations AS g WHERE g.state = 'current') = {{.Gen}}{{end}}

{{define "tally.active_cars"}}
CREATE OR REPLACE VIEW tally.active_cars AS
{{range $i, $g := .}}{{if $i}}    UNION ALL
{{end}}    SELECT city, cars, updated_at FROM {{$g.Schema}}.active_cars WHERE {{template "current" $g}}
{{end}}{{end}}

{{define "tally.bookings_by_status"}}
CREATE OR REPLACE VIEW tally.bookings_by_status AS
{{range $i, $g := .}}{{if $i}}    UNION ALL
{{end}}    SELECT city, status, bookings, updated_at FROM {{$g.Schema}}.bookings_by_status WHERE {{template "current" $g}}
{{end}}{{end}}

{{define "tally.daily_revenue"}}
CREATE OR REPLACE VIEW tally.daily_revenue AS
{{range $i, $g := .}}{{if $i}}    UNION ALL
{{end}}    SELECT day, city, currency, gross_minor, refunded_minor,
           gross_minor - refunded_minor AS net_minor, payments, refunds, updated_at
    FROM {{$g.Schema}}.daily_revenue WHERE {{template "current" $g}}
{{end}}{{end}}

{{define "tally.daily_bookings"}}
CREATE OR REPLACE VIEW tally.daily_bookings AS
{{range $i, $g := .}}{{if $i}}    UNION ALL
{{end}}    SELECT day, city, confirmed, started, ended, cancelled, updated_at
    FROM {{$g.Schema}}.daily_bookings WHERE {{template "current" $g}}
{{end}}{{end}}

{{/* Overdue bookings: still confirmed, start before the cutoff (now minus
the grace). The days before the cutoff's UTC day are read from
confirmed_starts, a row per day and city, and the oldest start from the
bookings of the first such day; the cutoff's own day, a row per booking.
Each bookings read keeps the filter on status and start_at, so that it uses
its generation's partial index; the confirmed_starts read filters on
bookings <> 0 for the same reason. */}}
{{define "tally.overdue_bookings"}}
CREATE OR REPLACE VIEW tally.overdue_bookings AS
    WITH c AS (
        SELECT x.cutoff, date_trunc('day', x.cutoff AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS today
        FROM (SELECT now() - (SELECT value::interval FROM tally.settings WHERE name = 'overdue_grace') AS cutoff) AS x
    )
    SELECT city, sum(n)::bigint AS bookings, min(oldest) AS oldest_start_at
    FROM ({{range $i, $g := .}}{{if $i}}
        UNION ALL{{end}}
        SELECT d.city, d.n, (SELECT min(b.start_at) FROM {{$g.Schema}}.bookings AS b
                WHERE b.status = 'confirmed' AND b.start_at >= d.first AND b.start_at < d.first + interval '24 hours'
                  AND b.city = d.city) AS oldest
        FROM (SELECT s.city, sum(s.bookings) AS n, min(s.day) AS first
              FROM {{$g.Schema}}.confirmed_starts AS s, c
              WHERE {{template "current" $g}} AND s.bookings <> 0 AND s.day < c.today
              GROUP BY s.city) AS d
        UNION ALL
        SELECT b.city, 1, b.start_at FROM {{$g.Schema}}.bookings AS b, c
        WHERE {{template "current" $g}} AND b.status = 'confirmed' AND b.start_at >= c.today AND b.start_at < c.cutoff{{end}}
    ) AS o
    GROUP BY city
{{end}}
