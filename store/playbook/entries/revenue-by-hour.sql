-- name: revenue-by-hour
-- description: Payments and refunds of one local day by hour, per city and
-- description: currency, from the ledger: the hours behind tally.daily_revenue.
-- param: day date default=today The local day.
-- param: city text default= Only this city (empty: every city).
-- param: zone text default= The day's time zone (empty: each city's zone, as tally counts it).
WITH g AS (
    SELECT timezone, city_timezones FROM tally.generations WHERE state = 'current'
),
city_zones AS (
    SELECT split_part(item, '=', 1) AS city, split_part(item, '=', 2) AS zone
    FROM g, unnest(string_to_array(NULLIF(g.city_timezones, ''), ',')) AS item
),
payments AS (
    SELECT e.type, e.city, e.occurred_at, convert_from(e.body, 'UTF8')::json -> 'data' AS data,
           COALESCE(NULLIF(:zone, ''), (SELECT z.zone FROM city_zones AS z WHERE z.city = e.city),
                    (SELECT g.timezone FROM g)) AS zone
    FROM tally.events AS e
    -- A wide bracket the ledger's BRIN index serves; the local day is
    -- picked out below.
    WHERE e.occurred_at >= (:day - 2)::timestamptz AND e.occurred_at < (:day + 3)::timestamptz
      AND e.type IN ('payment.captured', 'payment.refunded')
      AND (:city = '' OR e.city = :city)
),
hours AS (
    SELECT date_trunc('hour', p.occurred_at, p.zone) AS hour, p.zone, p.city, p.data ->> 'currency' AS currency,
           p.type = 'payment.captured' AS captured, (p.data ->> 'amount_minor')::bigint AS amount
    FROM payments AS p
    WHERE (p.occurred_at AT TIME ZONE p.zone)::date = :day
)
SELECT hour, to_char(hour AT TIME ZONE zone, 'HH24:MI') AS local_hour, zone, city, currency,
       count(*) FILTER (WHERE captured) AS payments,
       COALESCE(sum(amount) FILTER (WHERE captured), 0)::bigint AS gross_minor,
       count(*) FILTER (WHERE NOT captured) AS refunds,
       COALESCE(sum(amount) FILTER (WHERE NOT captured), 0)::bigint AS refunded_minor,
       (COALESCE(sum(amount) FILTER (WHERE captured), 0) - COALESCE(sum(amount) FILTER (WHERE NOT captured), 0))::bigint AS net_minor
FROM hours
GROUP BY hour, zone, city, currency
ORDER BY hour, city, currency;
