-- name: dead-letters
-- description: The latest dead letters received in a bracket, newest first,
-- description: with the start of each body.
-- param: since time default=24h Start of the bracket (received_at).
-- param: until time default=now End of the bracket (excluded).
-- param: code code[] default= Only these codes (empty: every code).
-- param: limit count default=100 How many dead letters.
SELECT dl_id, received_at, code, detail, event_id, source_stream, source_seq, subject,
       replayed_at, length(body) AS bytes, encode(substring(body FROM 1 FOR 120), 'escape') AS body_start
FROM tally.dead_letters
WHERE received_at >= :since AND received_at < :until
  AND (cardinality(:code) = 0 OR code = ANY(:code))
ORDER BY received_at DESC, dl_id DESC
LIMIT :limit;
