package consumer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/tallyhq/tally/internal/testnats"
)

// BenchmarkFetchWhileInfo drains 50,000 waiting messages 5,000 at a time,
// as a worker catching up does, while another connection asks for the
// consumer's info every 100 ms, as tally's pending gauge, nats consumer
// info or an exporter do; with and without a subject filter. On the
// machine's nats-server 2.9.10 the filtered consumer stalls (single
// fetches of seconds); docs/performance.md, fix 3:
//
//	go test -run '^$' -bench FetchWhileInfo -benchtime 4x ./internal/consumer
func BenchmarkFetchWhileInfo(b *testing.B) {
	for _, filtered := range []bool{false, true} {
		b.Run(fmt.Sprintf("filtered=%t", filtered), func(b *testing.B) {
			const messages, batch = 50_000, 5_000
			url := testnats.MachineURL()
			nc, js := testnats.Connect(b, url)
			defer nc.Close()
			infoNC, infoJS := testnats.Connect(b, url)
			defer infoNC.Close()
			ctx := context.Background()
			body := make([]byte, 250)
			var took, slowest time.Duration
			for range b.N {
				b.StopTimer()
				n := testnats.NewNames(b, url)
				_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: n.Stream, Subjects: []string{n.Subjects},
					Storage: jetstream.FileStorage})
				require.NoError(b, err)
				for i := range messages {
					_, err := js.PublishAsync(fmt.Sprintf("%s.car.%d", n.Prefix, i%7), body)
					require.NoError(b, err)
				}
				<-js.PublishAsyncComplete()
				cc := jetstream.ConsumerConfig{Durable: "c", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 10 * batch}
				if filtered {
					cc.FilterSubject = n.Subjects
				}
				cons, err := js.CreateOrUpdateConsumer(ctx, n.Stream, cc)
				require.NoError(b, err)
				infoCons, err := infoJS.Consumer(ctx, n.Stream, "c")
				require.NoError(b, err)
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Go(func() {
					t := time.NewTicker(100 * time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							_, _ = infoCons.Info(ctx)
						}
					}
				})
				b.StartTimer()
				start := time.Now()
				for got := 0; got < messages; {
					t0 := time.Now()
					msgs, err := collect(cons.FetchNoWait(batch))
					require.NoError(b, err)
					for _, m := range msgs {
						require.NoError(b, m.Ack())
					}
					got += len(msgs)
					slowest = max(slowest, time.Since(t0))
				}
				took += time.Since(start)
				b.StopTimer()
				close(stop)
				wg.Wait()
				require.NoError(b, js.DeleteStream(ctx, n.Stream))
			}
			b.ReportMetric(float64(messages*b.N)/took.Seconds(), "msgs/s")
			b.ReportMetric(float64(slowest.Milliseconds()), "slowest-fetch-ms")
		})
	}
}
