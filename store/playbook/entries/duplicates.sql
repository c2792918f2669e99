-- name: duplicates
-- description: Duplicate events received in a bracket, by hour received (UTC)
-- description: and type: plain copies, and conflicting ones (same id, other
-- description: content; see the conflicts entry).
-- param: since time default=24h Start of the bracket (the hour it falls in counts).
-- param: until time default=now End of the bracket (excluded).
SELECT hour, type, duplicates, conflicts
FROM tally.duplicates
WHERE hour >= date_trunc('hour', :since, 'UTC') AND hour < :until
ORDER BY hour, type;
