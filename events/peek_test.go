package events_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/events"
)

func TestPeekID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want string
	}{
		{carMsg().String(), "evt-1"},
		{`{"id":"evt-2","data":[]}`, "evt-2"},             // an invalid envelope still has its id
		{`{"id":"evt-3","ID":"other"}`, "evt-3"},          // names match exactly
		{`{"ID":"evt-4"}`, ""},                            // no "id" member
		{`{"id":"a\u0000b"}`, ""},                         // NUL: PostgreSQL text cannot hold it
		{"{\"id\":\"a\xffb\"}", ""},                       // nor bytes that are not UTF-8
		{`{"id":"` + strings.Repeat("x", 129) + `"}`, ""}, // too long to be an id
		{`{"id":"` + strings.Repeat("x", 128) + `"}`, strings.Repeat("x", 128)},
		{`{"id":7}`, ""},
		{`{"id":null}`, ""},
		{`{"id":"evt-5"`, ""}, // not JSON
		{`null`, ""},
		{`["evt-6"]`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, events.PeekID([]byte(tt.body)), tt.body)
	}
}
