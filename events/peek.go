package events

import (
	"encoding/json"
	"strings"
)

// PeekID returns the envelope's id when the message is a JSON object with a
// string id, or "". Dead letters carry it so people can find the event.
func PeekID(body []byte) string {
	var env struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	id, err := jsonString(env.ID)
	// Only an id tally could store: PostgreSQL text cannot hold NUL.
	if err != nil || len(id) > MaxIDBytes || strings.IndexByte(id, 0) >= 0 {
		return ""
	}
	return id
}
