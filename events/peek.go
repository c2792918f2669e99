package events

import "strings"

// PeekID returns the envelope's id when the message is a JSON object with a
// string id, or "". Dead letters carry it so people can find the event.
// Like Decode, it reads the member named exactly "id", never "ID".
func PeekID(body []byte) string {
	if !valid(body) {
		return ""
	}
	var buf [maxStackMembers]member
	env, err := members(body, buf[:0])
	if err != nil {
		return ""
	}
	id, err := jsonString(lookup(env, "id"))
	// Only an id tally could store: PostgreSQL text cannot hold NUL.
	if err != nil || len(id) > MaxIDBytes || strings.IndexByte(id, 0) >= 0 {
		return ""
	}
	return id
}
