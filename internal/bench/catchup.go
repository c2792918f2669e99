package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/store"
)

// catchUp is scenario 1: Events messages already in the stream, one worker
// drains them; CatchUpRuns times, each in a database and stream of its
// own, as drains on one machine differ from run to run. Then the
// one-transaction-per-event baseline consumes the last run's stream into
// a database of its own.
func (b *Bench) catchUp(ctx context.Context) error {
	o := b.Options
	sim, err := o.fleet(o.Events, 14)
	if err != nil {
		return err
	}
	var runs []catchUpRun
	var w *world
	for r := 1; r <= o.CatchUpRuns; r++ {
		name := CatchUp
		if r > 1 {
			name = fmt.Sprintf("%s%d", CatchUp, r)
		}
		if w, err = b.newWorld(ctx, name, true, 0); err != nil {
			return err
		}
		exp, err := w.publishAll(ctx, sim, o.Events)
		if err != nil {
			return err
		}
		checkpoints := b.settle(ctx, w)
		load := loadAverage()
		took, peak, cpu, err := b.drain(ctx, w)
		if err != nil {
			return err
		}
		run := catchUpRun{messages: exp.messages, took: took, peak: peak, cpu: cpu, load: load, checkpoints: checkpoints()}
		b.logf("%s: %d worker(s) drained %d messages in %s: %.0f/s (%s); CPU per message: %s", name, o.Workers, exp.messages,
			took.Round(time.Millisecond), run.rate(), run.checkpoints, cpu.perMessage(exp.messages))
		if err := b.checkCounters(ctx, name, w.store, exp); err != nil {
			return err
		}
		runs = append(runs, run)
	}
	med := b.report.catchUp(o.Workers, runs)
	return b.baseline(ctx, w, med)
}

// catchUpRun is one drain of the stream.
type catchUpRun struct {
	messages    int
	took        time.Duration
	peak        int64
	cpu         drainCPU
	load        float64
	checkpoints string
}

func (r catchUpRun) rate() float64 { return float64(r.messages) / r.took.Seconds() }

// drain starts the workers on the full stream and waits until they have
// committed every message. It returns the time from their start to the
// last commit, the highest peak RSS among them, and the CPU time the
// workers and this machine's servers spent meanwhile.
func (b *Bench) drain(ctx context.Context, w *world) (time.Duration, int64, drainCPU, error) {
	servers := measureServers()
	start := time.Now()
	procs := make([]*workerProc, b.Options.Workers)
	for i := range procs {
		p, err := b.startWorker(ctx, w)
		if err != nil {
			return 0, 0, drainCPU{}, err
		}
		procs[i] = p
	}
	end, err := w.waitDrained(ctx, procs[0])
	if err != nil {
		return 0, 0, drainCPU{}, fmt.Errorf("%s: %w", CatchUp, err)
	}
	var peak int64
	var workers time.Duration
	for _, p := range procs {
		hwm, _, err := p.memory()
		if err != nil {
			return 0, 0, drainCPU{}, err
		}
		peak = max(peak, hwm)
		cpu, err := pidCPU(p.cmd.Process.Pid)
		if err != nil {
			return 0, 0, drainCPU{}, fmt.Errorf("read the worker's CPU time: %w", err)
		}
		workers += cpu
	}
	cpu := servers(workers, end.Sub(start)) // before the workers' backends end
	for _, p := range procs {
		if err := p.terminate(); err != nil {
			return 0, 0, drainCPU{}, err
		}
	}
	return end.Sub(start), peak, cpu, nil
}

// baseline measures the consumer a team writes first, on the catch-up's
// stream, into a database of its own.
func (b *Bench) baseline(ctx context.Context, src *world, tallyRate float64) error {
	bw, err := b.newWorld(ctx, "baseline", false, 0)
	if err != nil {
		return err
	}
	n := b.Options.BaselineEvents
	if n == 0 || n > b.Options.Events {
		n = b.Options.Events
	}
	load := loadAverage()
	done, took, err := runBaseline(ctx, b.js, src, bw.store, n, b.Config.MaxEventBytes)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	rate := float64(done) / took.Seconds()
	b.logf("baseline: one transaction per event: %d messages in %s: %.0f/s", done, took.Round(time.Millisecond), rate)
	if err := b.checkCounters(ctx, "baseline", bw.store, nil); err != nil {
		return err
	}
	b.report.baseline(done, rate, tallyRate, load)
	return nil
}

// runBaseline is the obvious consumer: take the next message, decode it,
// apply it in a transaction of its own (tally's apply, with one event),
// acknowledge it, and again. It stops after n messages.
func runBaseline(ctx context.Context, js jetstream.JetStream, src *world, st *store.Store, n, maxBytes int) (int, time.Duration, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, src.stream, jetstream.ConsumerConfig{
		Durable: "tally_baseline", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		return 0, 0, err
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, 0, err
	}
	defer it.Stop()
	start := time.Now()
	for done := 0; done < n; done++ {
		if err := ctx.Err(); err != nil {
			return done, time.Since(start), context.Cause(ctx)
		}
		msg, err := it.Next()
		if err != nil {
			return done, time.Since(start), err
		}
		if err := applyOne(ctx, st, msg, src.stream, maxBytes); err != nil {
			return done, time.Since(start), err
		}
		if err := msg.Ack(); err != nil {
			return done, time.Since(start), err
		}
	}
	return n, time.Since(start), nil
}

// applyOne records one message: its event, or a dead letter.
func applyOne(ctx context.Context, st *store.Store, msg jetstream.Msg, stream string, maxBytes int) error {
	meta, err := msg.Metadata()
	if err != nil {
		return err
	}
	var batch store.Batch
	ev, err := events.Decode(msg.Data(), maxBytes)
	var ve *events.Error
	switch {
	case errors.As(err, &ve):
		batch.DeadLetters = []store.DeadLetter{{Stream: stream, Seq: meta.Sequence.Stream, Subject: msg.Subject(),
			Code: ve.Code, Detail: ve.Detail, Body: msg.Data()}}
	case err != nil:
		return err
	default:
		batch.Events = []store.Incoming{{Event: ev, StreamSeq: meta.Sequence.Stream}}
	}
	_, err = st.Apply(ctx, batch)
	return err
}
