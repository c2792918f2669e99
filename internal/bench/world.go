package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/internal/consumer"
	"github.com/tallyhq/tally/store"
)

// world is one scenario's own database and, when it needs one, its own
// stream, dead-letter stream and consumer. Both are removed at the end of
// the run, even when it is interrupted.
type world struct {
	b     *Bench
	name  string
	dbURL string
	store *store.Store

	stream, subjects, prefix string
	dlqStream, dlqSubject    string
	consumer                 string
	// maxAge bounds the stream when the scenario publishes for long: the
	// worker consumes each message within seconds.
	maxAge time.Duration
}

// newWorld creates and migrates the scenario's database (with the
// configured zones and grace) and, when withStream, its stream.
func (b *Bench) newWorld(ctx context.Context, name string, withStream bool, maxAge time.Duration) (*world, error) {
	dbURL, err := withDatabase(b.Config.DatabaseURL, "tally_bench_"+b.id+"_"+name)
	if err != nil {
		return nil, err
	}
	w := &world{b: b, name: name, dbURL: dbURL, maxAge: maxAge}
	b.onCleanup("drop database of "+name, func(ctx context.Context) error { return store.DropDatabase(ctx, dbURL) })
	settings := store.Settings{Zones: b.Config.Zones(), OverdueGrace: b.Config.OverdueGrace}
	if _, err := store.Migrate(ctx, dbURL, settings, nil); err != nil {
		return nil, fmt.Errorf("%s: create the benchmark database: %w", name, err)
	}
	if w.store, err = store.Open(ctx, dbURL, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b.onCleanup("close database of "+name, func(context.Context) error { w.store.Close(); return nil })
	if !withStream {
		return w, nil
	}
	return w, w.createStream(ctx)
}

// withDatabase returns the PostgreSQL URL raw with another database name.
func withDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("TALLY_DATABASE_URL must be a postgres:// URL for tally bench")
	}
	u.Path = "/" + name
	return u.String(), nil
}

// createStream creates the scenario's stream as tally would (file
// storage, limits, 2-minute duplicate window) and the shared consumer
// before any worker starts, so that the benchmark can watch it at once.
func (w *world) createStream(ctx context.Context) error {
	id := strings.ToUpper(w.b.id + "_" + w.name)
	w.stream, w.dlqStream = "TALLY_BENCH_"+id, "TALLY_BENCH_"+id+"_DLQ"
	w.prefix = "tallybench_" + w.b.id + "_" + w.name
	w.subjects, w.dlqSubject, w.consumer = w.prefix+".>", "tallybench_dlq_"+w.b.id+"_"+w.name, "tally"
	js := w.b.js
	w.b.onCleanup("delete streams of "+w.name, func(ctx context.Context) error {
		err1 := js.DeleteStream(ctx, w.stream)
		err2 := js.DeleteStream(ctx, w.dlqStream)
		return errors.Join(ignoreNotFound(err1), ignoreNotFound(err2))
	})
	cfg := w.consumerConfig()
	if _, err := js.CreateStream(ctx, consumer.StreamConfig(cfg)); err != nil {
		return fmt.Errorf("%s: create stream %s: %w", w.name, w.stream, err)
	}
	cc := consumer.ForStream(consumer.ConsumerConfig(cfg), []string{w.subjects}) // as tally run makes it
	if _, err := js.CreateOrUpdateConsumer(ctx, w.stream, cc); err != nil {
		return fmt.Errorf("%s: create consumer: %w", w.name, err)
	}
	return nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return err
}

// consumerConfig is the worker's view of the stream, as tally run will
// read it from the settings workerEnv gives it.
func (w *world) consumerConfig() consumer.Config {
	c := w.b.Config
	return consumer.Config{
		Stream: w.stream, Subjects: w.subjects, Consumer: w.consumer,
		DLQStream: w.dlqStream, DLQSubject: w.dlqSubject, StreamMaxAge: w.maxAge,
		BatchSize: c.BatchSize, BatchWait: c.BatchWait, AckWait: c.AckWait, ApplyTimeout: c.ApplyTimeout,
		ShutdownTimeout: c.ShutdownTimeout, ApplyAttempts: c.ApplyAttempts, MaxEventBytes: c.MaxEventBytes,
	}
}

// workerEnv is the environment of this world's worker: the user's own
// (tuning, NATS credentials, zones) with the servers as configured and the
// database, streams and consumer replaced by the world's.
func (w *world) workerEnv() []string {
	vars := maps.Clone(w.b.Environ)
	set := map[string]string{
		"TALLY_DATABASE_URL": w.dbURL, "TALLY_NATS_URL": w.b.Config.NATSURL,
		"TALLY_STREAM": w.stream, "TALLY_SUBJECTS": w.subjects, "TALLY_CONSUMER": w.consumer,
		"TALLY_DLQ_STREAM": w.dlqStream, "TALLY_DLQ_SUBJECT": w.dlqSubject,
		"TALLY_STREAM_MAX_AGE": w.maxAge.String(),
		// A port of its own: a worker may already run on the default.
		"TALLY_HTTP_ADDR": "127.0.0.1:0",
	}
	if vars["TALLY_LOG_LEVEL"] == "" {
		set["TALLY_LOG_LEVEL"] = "warn"
	}
	maps.Copy(set, w.b.WorkerEnv)
	for k, v := range set {
		delete(vars, k+"_FILE")
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// waitDrained waits until the consumer has acknowledged every message up
// to the stream's last: every event is committed. It returns the commit
// time of the last batch (tally.freshness applied_at), which the worker
// acknowledges right after. It fails when the worker exits or makes no
// progress for a minute.
//
// It asks for the consumer's state only twice a second: on NATS 2.9 a
// consumer info request on a consumer with a subject filter holds up its
// deliveries, and polling it every 20ms cut a worker's throughput a
// hundredfold.
func (w *world) waitDrained(ctx context.Context, p *workerProc) (time.Time, error) {
	s, err := w.b.js.Stream(ctx, w.stream)
	if err != nil {
		return time.Time{}, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return time.Time{}, err
	}
	c, err := w.b.js.Consumer(ctx, w.stream, w.consumer)
	if err != nil {
		return time.Time{}, err
	}
	if err := waitAckFloor(ctx, c, info.State.LastSeq, p); err != nil {
		return time.Time{}, err
	}
	f, err := w.store.ReadFreshness(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if f.AppliedAt == nil {
		return time.Now(), nil
	}
	return *f.AppliedAt, nil
}

func waitAckFloor(ctx context.Context, c jetstream.Consumer, last uint64, p *workerProc) error {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	var floor uint64
	moved := time.Now()
	for {
		info, err := c.Info(ctx)
		if err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0 {
			return nil
		}
		if err == nil && info.AckFloor.Stream != floor {
			floor, moved = info.AckFloor.Stream, time.Now()
		}
		if err := p.exited(); err != nil {
			return err
		}
		if time.Since(moved) > time.Minute {
			return fmt.Errorf("the worker made no progress for a minute (acknowledged up to %d of %d)", floor, last)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// waitConsuming waits until a worker has a pull request waiting on the
// consumer: it is ready for the first message.
func (w *world) waitConsuming(ctx context.Context, p *workerProc) error {
	c, err := w.b.js.Consumer(ctx, w.stream, w.consumer)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if info, err := c.Info(ctx); err == nil && info.NumWaiting > 0 {
			return nil
		}
		if err := p.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("the worker did not start consuming within a minute")
}
