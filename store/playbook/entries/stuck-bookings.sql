-- name: stuck-bookings
-- description: Bookings stuck in a status past their time: confirmed but never
-- description: started although their start is more than the grace ago (the
-- description: silent Confirmed->Ongoing failure), and ongoing past the end_at of
-- description: their confirmation. Oldest first.
-- param: grace duration default=15m How late a booking must be to count.
-- param: status status[] default=confirmed,ongoing The statuses to look at.
-- param: city text default= Only this city (empty: every city).
WITH stuck AS (
    SELECT b.status, b.city, b.booking_id, b.car_id, b.start_at, c.end_at, b.updated_at,
           CASE b.status WHEN 'confirmed' THEN b.start_at ELSE c.end_at END AS due_at
    FROM unnest(:status) AS s(status)
    CROSS JOIN LATERAL tally.bookings_in_status(s.status, now() - :grace) AS b
    -- end_at comes from the confirmation that decides the booking.
    LEFT JOIN LATERAL (
        SELECT (convert_from(e.body, 'UTF8')::json -> 'data' ->> 'end_at')::timestamptz AS end_at
        FROM tally.events AS e
        WHERE e.entity = b.booking_id COLLATE "C" AND e.type = 'booking.confirmed'
        ORDER BY COALESCE(e.seq, 0) DESC, e.occurred_at DESC, e.id DESC
        LIMIT 1
    ) AS c ON true
    WHERE (:city = '' OR b.city = :city)
)
SELECT status, city, booking_id, car_id, start_at, end_at, due_at,
       date_trunc('second', now() - due_at) AS late_by, updated_at AS last_change_at
FROM stuck
WHERE due_at < now() - :grace
ORDER BY due_at, booking_id;
