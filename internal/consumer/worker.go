package consumer

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/internal/telemetry"
	"github.com/tallyhq/tally/store"
)

// Config is what the loop needs of tally's settings.
type Config struct {
	Stream, Subjects, Consumer   string
	DLQStream, DLQSubject        string
	StreamMaxAge                 time.Duration
	BatchSize                    int
	ApplyConcurrency             int // batches applied at once; 0 means 1
	BatchWait, AckWait           time.Duration
	ApplyTimeout                 time.Duration
	ShutdownTimeout              time.Duration
	ApplyAttempts, MaxEventBytes int
}

// Applier records batches; *store.Store is one.
type Applier interface {
	Apply(ctx context.Context, b store.Batch) (store.Outcome, error)
}

// Worker consumes the stream and applies batches. Several workers share
// one durable consumer; JetStream spreads the messages between them.
type Worker struct {
	cfg     Config
	nc      *nats.Conn
	js      jetstream.JetStream
	cons    jetstream.Consumer
	store   Applier
	log     *slog.Logger
	metrics *telemetry.Metrics
	beat    atomic.Int64 // unix nanoseconds of the loop's last sign of life
	// applying counts the batches being applied: the fetches ahead of
	// them are then no sign of life, or a stuck apply would look alive.
	applying atomic.Int32
}

// NewWorker returns a worker for a consumer made by Setup.
func NewWorker(cfg Config, nc *nats.Conn, js jetstream.JetStream, cons jetstream.Consumer, st Applier,
	log *slog.Logger, m *telemetry.Metrics) *Worker {
	w := &Worker{cfg: cfg, nc: nc, js: js, cons: cons, store: st, log: log, metrics: m}
	w.alive()
	return w
}

// LastBeat returns when the loop last showed it is moving: a fetch
// returned while no batch was being applied, or an apply attempt started
// or ended.
func (w *Worker) LastBeat() time.Time { return time.Unix(0, w.beat.Load()) }

func (w *Worker) alive() { w.beat.Store(time.Now().UnixNano()) }

// Run fetches and applies batches until ctx is cancelled. The next batch
// is fetched and decoded while the current one is applied, so that the
// broker, the worker and the database work at once rather than in turn.
// When ctx is cancelled, no fetch starts; the batch in flight and the one
// fetched ahead (delivered to this worker, so better applied than left to
// wait for redelivery) finish, with ShutdownTimeout to commit them; what
// is not committed by then is handed back for redelivery. Run returns nil
// when stopped.
func (w *Worker) Run(ctx context.Context) error {
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(w.cfg.ShutdownTimeout, cancelHard) })
	defer stop()
	batches := make(chan fetched) // unbuffered: one batch fetched ahead at most
	go w.fetchAhead(ctx, batches)
	var wg sync.WaitGroup
	for range max(1, w.cfg.ApplyConcurrency) {
		wg.Go(func() { w.applyAll(hard, batches) })
	}
	wg.Wait()
	return nil
}

// applyAll applies batches one after the other until they run out. With
// ApplyConcurrency above 1, several run at once, as several workers
// would: their transactions touch rows in one global order, so they wait
// for each other on a shared row (a counter) rather than deadlock.
func (w *Worker) applyAll(ctx context.Context, batches <-chan fetched) {
	for b := range batches {
		w.applying.Add(1)
		w.process(ctx, b.items)
		b.stopKeepAlive()
		w.applying.Add(-1)
		w.alive()
	}
}

// fetched is a decoded batch, kept in progress at JetStream from its fetch
// until it is acknowledged: one keep-alive for its whole life, so that no
// stretch of it (waiting to be applied, applied, its dead letters copied)
// goes silent for longer than the ack wait allows.
type fetched struct {
	items         []*item
	stopKeepAlive func()
}

// fetchAhead fetches and decodes batches and hands them to Run one at a
// time until ctx is cancelled, then closes out.
func (w *Worker) fetchAhead(ctx context.Context, out chan<- fetched) {
	defer close(out)
	for attempt := 0; ctx.Err() == nil; {
		if w.applying.Load() == 0 {
			w.alive()
		}
		msgs, err := w.fetch()
		if err != nil {
			attempt++
			w.log.Warn("fetch failed, retrying", "err", err, "attempt", attempt)
			sleep(ctx, backoff(attempt))
			continue
		}
		attempt = 0
		if len(msgs) == 0 {
			continue
		}
		items := w.decode(msgs)
		out <- fetched{items: items, stopKeepAlive: w.keepAlive(items)}
	}
}

// fetch returns up to BatchSize messages. It takes what is waiting at
// once, which under load is a whole batch; when nothing is, it waits at
// most BatchWait for the next message and takes it with what arrived
// behind it. So a batch is never held back to fill up: a lone event is
// applied as soon as it comes.
//
// It never leaves a request for many messages waiting on the server:
// NATS 2.9 stops serving such a request once it is partly served if a
// consumer info request (the observer's, every TALLY_PENDING_INTERVAL)
// reaches a consumer with a subject filter meanwhile, and does not end
// it either, so each fetch waited for the client's timeout (BatchWait
// plus one second) and a worker drained about 1,000 events/s.
func (w *Worker) fetch() ([]jetstream.Msg, error) {
	msgs, err := collect(w.cons.FetchNoWait(w.cfg.BatchSize))
	if err != nil || len(msgs) > 0 {
		return msgs, err
	}
	first, err := collect(w.cons.Fetch(1, jetstream.FetchMaxWait(w.cfg.BatchWait)))
	if err != nil || len(first) == 0 || w.cfg.BatchSize == 1 {
		return first, err
	}
	rest, err := collect(w.cons.FetchNoWait(w.cfg.BatchSize - 1))
	if err != nil {
		return first, nil // the rest comes with the next fetch
	}
	return append(first, rest...), nil
}

// collect reads a fetched batch to its end. A batch that ends on a timeout
// or with no messages is not an error.
func collect(batch jetstream.MessageBatch, err error) ([]jetstream.Msg, error) {
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && len(msgs) == 0 && !errors.Is(err, nats.ErrTimeout) &&
		!errors.Is(err, jetstream.ErrNoMessages) {
		return nil, err
	}
	return msgs, nil
}

// backoff returns the wait before retry attempt n (1-based): 100ms
// doubling to 10s, with jitter so workers do not retry in step.
func backoff(n int) time.Duration {
	d := 100 * time.Millisecond << min(n-1, 7)
	d = min(d, 10*time.Second)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
