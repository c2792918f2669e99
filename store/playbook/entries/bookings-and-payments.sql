-- name: bookings-and-payments
-- description: Booking and payment events of one car or one city in a time
-- description: bracket (by occurred_at), in order. A refund is matched to its
-- description: payment when that was captured at most 7 days before the bracket.
-- param: since time default=24h Start of the bracket.
-- param: until time default=now End of the bracket (excluded).
-- param: car text default= Only this car (empty: any car).
-- param: city text default= Only this city (empty: any city).
WITH bracket AS (
    SELECT e.id, e.type, e.occurred_at, e.city, convert_from(e.body, 'UTF8')::json -> 'data' AS data
    FROM tally.events AS e
    WHERE e.occurred_at >= :since AND e.occurred_at < :until
      AND e.type IN ('booking.confirmed', 'booking.started', 'booking.ended', 'booking.cancelled',
                     'payment.captured', 'payment.refunded')
      AND (:city = '' OR e.city = :city)
),
captured AS (
    SELECT e.data ->> 'payment_id' AS payment_id, e.data ->> 'booking_id' AS booking_id
    FROM (SELECT convert_from(p.body, 'UTF8')::json -> 'data' AS data
          FROM tally.events AS p
          WHERE p.type = 'payment.captured'
            AND p.occurred_at >= :since - interval '7 days' AND p.occurred_at < :until) AS e
),
resolved AS (
    SELECT b.*, COALESCE(b.data ->> 'booking_id', c.booking_id) AS booking_id
    FROM bracket AS b
    LEFT JOIN LATERAL (SELECT c.booking_id FROM captured AS c
                       WHERE b.type = 'payment.refunded' AND c.payment_id = b.data ->> 'payment_id'
                       LIMIT 1) AS c ON true
),
with_car AS (
    SELECT r.*, COALESCE(r.data ->> 'car_id', k.car_id) AS car_id
    FROM resolved AS r
    LEFT JOIN LATERAL (SELECT convert_from(e.body, 'UTF8')::json -> 'data' ->> 'car_id' AS car_id
                       FROM tally.events AS e
                       WHERE r.data ->> 'car_id' IS NULL AND e.entity = r.booking_id COLLATE "C"
                       LIMIT 1) AS k ON true
)
SELECT occurred_at, type, city, car_id, booking_id, data ->> 'payment_id' AS payment_id,
       (data ->> 'amount_minor')::bigint AS amount_minor, data ->> 'currency' AS currency,
       (data ->> 'start_at')::timestamptz AS start_at, (data ->> 'end_at')::timestamptz AS end_at,
       id AS event_id
FROM with_car
WHERE :car = '' OR car_id = :car
ORDER BY occurred_at, event_id;
