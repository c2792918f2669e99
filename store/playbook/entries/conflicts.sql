-- name: conflicts
-- description: Conflicting duplicates received in a bracket: the copy that
-- description: counts (the first recorded) beside each other copy kept.
-- param: since time default=24h Start of the bracket (received_at).
-- param: until time default=now End of the bracket (excluded).
SELECT c.id AS event_id, e.type, c.received_at, e.recorded_at AS counted_recorded_at,
       e.occurred_at AS counted_occurred_at,
       (convert_from(c.body, 'UTF8')::json ->> 'occurred_at')::timestamptz AS other_occurred_at,
       convert_from(e.body, 'UTF8') AS counted_body, convert_from(c.body, 'UTF8') AS other_body
FROM tally.conflicts AS c
JOIN tally.events AS e ON e.id = c.id
WHERE c.received_at >= :since AND c.received_at < :until
ORDER BY c.received_at, c.id, c.body_md5;
