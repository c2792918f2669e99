package fleetsim_test

import (
	"testing"

	"github.com/tallyhq/tally/internal/fleetsim"
)

// BenchmarkGenerate measures generating a week of 400 cars, about 50,000
// messages, without and with trouble.
func BenchmarkGenerate(b *testing.B) {
	for name, cfg := range map[string]fleetsim.Config{
		"clean":    fleetsim.DefaultConfig(1),
		"troubled": fleetsim.Troubled(1),
	} {
		b.Run(name, func(b *testing.B) {
			cfg.Days, cfg.CarsPerCity = 7, 100
			s := newSim(b, cfg)
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				for range s.Messages {
					n++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/msg")
			b.ReportMetric(float64(n)/float64(b.N), "msgs/op")
		})
	}
}
