package events

import (
	"bytes"
	"encoding/json"
	"errors"
)

// member is one member of a JSON object: its name as written (quotes
// removed, escapes not yet decoded) and its value as raw JSON.
type member struct {
	name  []byte
	value []byte
}

// maxStackMembers is how many members the decoder reads without
// allocating; objects with more extra fields still decode.
const maxStackMembers = 16

// errNotObject is returned by members for anything but a JSON object.
var errNotObject = errors.New("not a JSON object")

// members lists the members of a JSON object, appending them to dst. raw
// should be valid JSON (Decode checks the whole message once with
// valid): walking it is then only a matter of finding where each
// member starts and ends, a fraction of the cost of decoding it into a
// map. On other input it returns errNotObject or some members, and never
// panics.
func members(raw []byte, dst []member) ([]member, error) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return dst, errNotObject
	}
	for i++; ; {
		i = skipSpace(raw, i)
		switch {
		case i < len(raw) && raw[i] == '}':
			return dst, nil
		case i >= len(raw) || raw[i] != '"':
			return dst, errNotObject
		}
		end := skipString(raw, i)
		if end > len(raw) {
			return dst, errNotObject
		}
		name := raw[i+1 : end-1]
		if i = skipSpace(raw, end); i >= len(raw) || raw[i] != ':' {
			return dst, errNotObject
		}
		i = skipSpace(raw, i+1)
		end = skipValue(raw, i)
		dst = append(dst, member{name: name, value: raw[i:end]})
		if i = skipSpace(raw, end); i < len(raw) && raw[i] == ',' {
			i++
		}
	}
}

// lookup returns the value of the member named exactly name, the last one
// when the name is repeated (as encoding/json does), or nil. A name written
// with escapes (such as "i\u0064") is decoded before it is compared.
func lookup(ms []member, name string) []byte {
	for i := len(ms) - 1; i >= 0; i-- {
		n := ms[i].name
		if string(n) == name || (bytes.IndexByte(n, '\\') >= 0 && unescapeName(n) == name) {
			return ms[i].value
		}
	}
	return nil
}

// unescapeName decodes a member name written with escapes.
func unescapeName(raw []byte) string {
	var s string
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	if json.Unmarshal(quoted, &s) != nil {
		return ""
	}
	return s
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at i,
// or len(b)+1 when it is not terminated.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b) + 1
}

// skipValue returns the index just past the value that starts at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return min(skipString(b, i), len(b))
	case '{', '[':
		return skipNested(b, i)
	}
	for i < len(b) && !isDelimiter(b[i]) {
		i++
	}
	return i
}

// skipNested returns the index just past the object or array at i.
func skipNested(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = min(skipString(b, i), len(b))
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return i
}

func isDelimiter(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}
