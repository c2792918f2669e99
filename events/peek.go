package events

import (
	"strings"
	"unicode/utf8"
)

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
	// Only an id tally could store: PostgreSQL text holds neither NUL nor
	// bytes that are not UTF-8 (a message that is not UTF-8 is dead-lettered
	// as invalid_json, and PeekID still reads its id).
	if err != nil || len(id) > MaxIDBytes || strings.IndexByte(id, 0) >= 0 || !utf8.ValidString(id) {
		return ""
	}
	return id
}
