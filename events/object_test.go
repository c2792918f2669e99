package events

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzMembers checks the member walk against encoding/json: for every
// valid JSON object, each name reads the value a map decoding gives it
// (the last one when repeated), and no input makes it panic.
func FuzzMembers(f *testing.F) {
	f.Add([]byte(`{"id":"a","id":"b","type":"x","data":{"a":[1,{"b":"}"}]}}`))
	f.Add([]byte(`{"i\u0064":"a", "ID" : "b" ,"s":"\"}\\"}`))
	f.Add([]byte(` { } `))
	f.Add([]byte(`{"a`))
	f.Add([]byte(`[{"a":1}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var buf [maxStackMembers]member
		ms, err := members(raw, buf[:0])
		if !json.Valid(raw) || !utf8.Valid(raw) {
			return // only must not panic
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(raw, &m) != nil || m == nil {
			if err == nil {
				t.Fatalf("members accepted a non-object: %q", raw)
			}
			return
		}
		if err != nil {
			t.Fatalf("members rejected an object: %q: %v", raw, err)
		}
		for name, want := range m {
			if got := lookup(ms, name); !bytes.Equal(got, want) {
				t.Fatalf("%q: member %q is %q, encoding/json says %q", raw, name, got, want)
			}
		}
	})
}
