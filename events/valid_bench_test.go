package events

import (
	"encoding/json"
	"testing"
)

// BenchmarkValid compares valid with json.Valid on a message of the
// contract's size.
func BenchmarkValid(b *testing.B) {
	body := []byte(validSamples[0])
	for _, v := range []struct {
		name string
		f    func([]byte) bool
	}{{"valid", valid}, {"json.Valid", json.Valid}} {
		b.Run(v.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if !v.f(body) {
					b.Fatal("not valid")
				}
			}
		})
	}
}
