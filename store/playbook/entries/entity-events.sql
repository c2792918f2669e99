-- name: entity-events
-- description: The latest events of one car or booking, in the entity's own
-- description: order (seq, then occurred_at, then id): the first row decides
-- description: its state.
-- param: id text The car or booking id.
-- param: limit count default=50 How many events.
SELECT e.type, e.seq, e.occurred_at, e.city, e.id AS event_id, e.recorded_at, e.stream_seq,
       convert_from(e.body, 'UTF8')::json -> 'data' AS data
FROM tally.events AS e
WHERE e.entity = :id
ORDER BY COALESCE(e.seq, 0) DESC, e.occurred_at DESC, e.id DESC
LIMIT :limit;
