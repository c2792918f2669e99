-- name: dead-letters-by-code
-- description: Dead letters received in a bracket, counted by error code,
-- description: with the latest detail of each.
-- param: since time default=24h Start of the bracket (received_at).
-- param: until time default=now End of the bracket (excluded).
SELECT code, count(*) AS dead_letters, min(received_at) AS first_received_at,
       max(received_at) AS last_received_at, count(replayed_at) AS replayed,
       (array_agg(detail ORDER BY received_at DESC, dl_id DESC))[1] AS latest_detail
FROM tally.dead_letters
WHERE received_at >= :since AND received_at < :until
GROUP BY code
ORDER BY dead_letters DESC, code;
