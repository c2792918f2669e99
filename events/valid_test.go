package events

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// validSamples are JSON texts that reach every branch of valid, and a few
// that are not JSON; the tests below mutate them.
var validSamples = []string{
	`{"id":"ev-1","type":"car.status_changed","occurred_at":"2026-03-29T02:30:00Z","seq":3,"data":{"car_id":"c1","city":"Oslo","status":"active"}}`,
	` { "a" : [ 1 , -2.5e+10 , 0 , 0.0 , -0 , 1E5 , 2e-3 ] , "b" : { } , "c" : [ ] , "d" : true , "e" : false , "f" : null } `,
	`"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"`,
	`[[[[{"x":[{},[],"",0]}]]]]`,
	"\t\r\n[1]\n",
	`"caf` + "\xc3\xa9" + `"`,
	"\"\xff\xfe\"", // not UTF-8: json.Valid accepts it, and so must valid
	`123`, `-0.5`, `true`, `null`, `""`, `{}`, `[]`,
	`{"a":1,}`, `[1,]`, `01`, `1.`, `.5`, `1e`, `--1`, `+1`, `tru`, `nul`, `"\x"`, `"\u12G4"`,
	"\"\x01\"", `{"a" 1}`, `{1:2}`, `[1 2]`, `{"a":1}}`, `[`, `"`, ``, ` `, "\xef\xbb\xbf{}",
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, s := range validSamples {
		require.Equal(t, json.Valid([]byte(s)), valid([]byte(s)), "%q", s)
	}
	// Nesting: encoding/json allows 10,000 levels, not one more.
	for _, depth := range []int{maxNesting - 1, maxNesting, maxNesting + 1} {
		for _, pair := range []string{"[]", "{}"} {
			var s string
			if pair == "[]" {
				s = strings.Repeat("[", depth) + strings.Repeat("]", depth)
			} else {
				s = strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1)
			}
			require.Equal(t, json.Valid([]byte(s)), valid([]byte(s)), "%s nested %d deep", pair, depth)
			require.Equal(t, depth <= maxNesting, valid([]byte(s)), "%s nested %d deep", pair, depth)
		}
	}
}

// TestValidMatchesEncodingJSONOnMutations edits the samples at random with
// the bytes JSON's grammar turns on and requires the two validators to
// agree on every result: 200,000 texts, about half of them valid JSON.
func TestValidMatchesEncodingJSONOnMutations(t *testing.T) {
	const alphabet = "{}[]:,\"\\/ \t\n\r0123456789+-.eEtruefalsnbu\x00\x1f\x7f\xc3\xa9\xff"
	rng := rand.New(rand.NewPCG(1, 2))
	agreedValid := 0
	const n = 200_000
	for range n {
		b := []byte(validSamples[rng.IntN(len(validSamples))])
		for range 1 + rng.IntN(3) {
			c := alphabet[rng.IntN(len(alphabet))]
			switch at := rng.IntN(len(b) + 1); rng.IntN(3) {
			case 0:
				b = append(b[:at], append([]byte{c}, b[at:]...)...)
			case 1:
				if at < len(b) {
					b = append(b[:at], b[at+1:]...)
				}
			default:
				if at < len(b) {
					b[at] = c
				}
			}
		}
		want := json.Valid(b)
		if valid(b) != want {
			t.Fatalf("valid(%q) = %v, json.Valid says %v", b, !want, want)
		}
		if want {
			agreedValid++
		}
	}
	// Both kinds of answer were compared, many times each.
	require.Greater(t, agreedValid, n/20)
	require.Less(t, agreedValid, n-n/20)
}

func FuzzValid(f *testing.F) {
	for _, s := range validSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := valid(b), json.Valid(b); got != want {
			t.Fatalf("valid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}
