package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tallyhq/tally/aggregator"
	"github.com/tallyhq/tally/events"
	"github.com/tallyhq/tally/internal/failpoint"
)

// generationLockKey is the advisory lock that apply transactions hold
// shared and a generation swap takes exclusive.
const generationLockKey = 7_241_002

// Incoming is a valid event with where it came from.
type Incoming struct {
	Event     events.Event
	StreamSeq uint64
}

// DeadLetter is a message tally could not use.
type DeadLetter struct {
	Stream  string
	Seq     uint64
	Subject string
	Code    events.Code
	Detail  string
	EventID string // when the envelope got that far
	Body    []byte
}

// Batch is what one apply transaction records: valid events in delivery
// order (the same id may appear more than once) and dead letters.
type Batch struct {
	Events      []Incoming
	DeadLetters []DeadLetter
}

// Outcome says what a committed batch did.
type Outcome struct {
	Gen        int
	Applied    int // new events of known types
	Ignored    int // new events of unknown types
	Duplicates int // ids already recorded, same content
	Conflicts  int // ids already recorded, other content
	// DeadLetteredByCode counts the dead letters recorded now (a
	// redelivered bad message was recorded before and is not counted).
	DeadLetteredByCode map[events.Code]int
	ConflictIDs        []string
	LastEventAt        time.Time
	// DuplicatesByType counts plain duplicates per type (for metrics).
	DuplicatesByType map[events.Type]int
	// EntityRaces is 1 when the batch was applied a second time because
	// another transaction created one of its new entities first.
	EntityRaces int
	// LedgerRaces is 1 when the batch was applied a second time because
	// another transaction recorded one of its events first.
	LedgerRaces int
	// ChangeRaces is 1 when the batch was applied a second time because
	// another transaction changed one of its cars or bookings after the
	// batch read it.
	ChangeRaces int
	// Steps is where the committed attempt's time went.
	Steps Steps
}

// Steps says how long each step of an apply transaction took, from the
// worker's side (PostgreSQL's work and the waits for it included). The
// worker logs them with each batch at debug level, so that anyone can see
// where a batch's time goes (docs/performance.md).
type Steps struct {
	// Start is BEGIN, the generation lock and the ledger lookup.
	Start time.Duration
	// Read is reading the entities of the new events (and, on a cautious
	// attempt, folding them).
	Read time.Duration
	// Record is recording the events in the ledger (and, on an optimistic
	// attempt, waiting for the fold beside it).
	Record time.Duration
	// Check is recording dead letters and comparing duplicates.
	Check time.Duration
	// Write is writing the states, counters and freshness.
	Write time.Duration
	// Commit is COMMIT.
	Commit time.Duration
}

// lap adds the time since the last lap to *d.
func (a *applier) lap(d *time.Duration) {
	now := time.Now()
	*d += now.Sub(a.last)
	a.last = now
}

// Apply records a batch in one transaction: the events in the ledger (an
// id already there changes nothing), the prior states of the entities the
// new events touch (read, and locked when written), their new states, the
// coalesced counter deltas, duplicates, conflicts, dead letters and
// freshness. Rows are locked in one global order so concurrent workers
// never deadlock. On error nothing is recorded; the same batch may be
// applied again.
//
// The first attempt is optimistic about what other transactions do at the
// same moment: it copies the events it did not find in the ledger (see
// recordEvents), reads the entities without locking them, updates each
// only if it is still as read, and creates the rows of the entities it has
// not seen with their new state (see readCars). When another transaction
// records one of those events, changes one of those entities or creates
// one first (workers sharing a stream), it rolls back and applies the
// batch again, doing that step the cautious way, which cannot lose that
// race. Outcome.LedgerRaces, Outcome.ChangeRaces and Outcome.EntityRaces
// count that. The retries happen in new transactions, never after a
// savepoint: a ledger row's xmin must be its transaction's own id, which
// snapshots' covers rely on (docs/snapshots.md).
//
// Workers that meet each other's events keep meeting them (the copies of
// events published twice arrive close together): with two workers on one
// stream, half the batches of a catch-up lost that race, and redoing them
// cost more than the copy saved. So for insertAfterRace after a lost race
// for an event, the store's applies insert rather than copy.
func (s *Store) Apply(ctx context.Context, b Batch) (Outcome, error) {
	mode := s.eventsMode()
	var races Outcome
	for {
		out, err := s.apply(ctx, b, mode)
		switch {
		case errors.Is(err, errLedgerRace) && !mode.insertEvents:
			s.lostLedgerRace("apply", err)
			mode.insertEvents, races.LedgerRaces = true, 1
			continue
		case errors.Is(err, errEntityChanged) && !mode.lockEntities:
			s.log.Debug("apply lost a race for an entity, applying again with locks", "err", err)
			mode.lockEntities, races.ChangeRaces = true, 1
			continue
		case errors.Is(err, errEntityRace) && !mode.placeholders:
			s.log.Debug("apply lost a race for a new entity, applying again with placeholder rows", "err", err)
			mode.placeholders, races.EntityRaces = true, 1
			continue
		case err != nil:
			return Outcome{}, err
		}
		out.LedgerRaces, out.EntityRaces, out.ChangeRaces = races.LedgerRaces, races.EntityRaces, races.ChangeRaces
		return out, nil
	}
}

// insertAfterRace is how long a store's applies insert their events rather
// than copy them after one lost a race for an event (see Apply).
const insertAfterRace = time.Minute

// eventsMode is how a new transaction records its events: by copy, unless
// one of s lost a race for an event less than insertAfterRace ago.
func (s *Store) eventsMode() applyMode {
	return applyMode{insertEvents: time.Now().UnixNano()-s.lastLedgerRace.Load() < int64(insertAfterRace)}
}

// lostLedgerRace notes that a transaction of s (what says which) lost a race
// for an event, so that the next ones insert for a while.
func (s *Store) lostLedgerRace(what string, err error) {
	s.log.Debug(what+" lost a race for an event, recording the events again with ON CONFLICT", "err", err)
	s.lastLedgerRace.Store(time.Now().UnixNano())
}

// applyMode says which of an apply's steps are done the cautious way, after
// a lost race.
type applyMode struct {
	// insertEvents makes recordEvents insert with ON CONFLICT DO NOTHING
	// rather than copy.
	insertEvents bool
	// placeholders makes readCars and readBookings create a row for every
	// new entity before locking.
	placeholders bool
	// lockEntities makes readCars and readBookings lock the rows they read
	// (placeholders does too).
	lockEntities bool
}

func (s *Store) apply(ctx context.Context, b Batch, mode applyMode) (Outcome, error) {
	var out Outcome
	a := applier{zones: &s.zones, mode: mode, hookBeforeWrite: s.testHookBeforeWrite, last: time.Now()}
	err := withTx(ctx, s.pool, func(tx pgx.Tx) error {
		a.tx = tx
		var err error
		out, err = a.run(ctx, b)
		if err == nil {
			failpoint.Inject(failpoint.BeforeCommit) // tests crash here: nothing may count
		}
		a.last = time.Now()
		return err
	})
	a.lap(&a.steps.Commit)
	out.Steps = a.steps
	return out, err
}

type applier struct {
	tx    pgx.Tx
	zones *zoneCache
	gen   Generation
	q     *genQueries
	mode  applyMode
	// knownCars and knownBookings are the entities whose rows exist, with
	// the version read (xmin); the write creates the others.
	knownCars, knownBookings map[string]uint32
	// hookBeforeWrite is Store.testHookBeforeWrite.
	hookBeforeWrite func(applyMode)
	// steps and last time the steps (see lap).
	steps Steps
	last  time.Time
}

func (a *applier) run(ctx context.Context, b Batch) (Outcome, error) {
	first, later := splitByID(b.Events)
	// Unless it inserts them, the apply looks its events up in the ledger
	// in the round trip that takes the generation lock.
	var rec recordedCopies
	if !a.mode.insertEvents {
		rec = recordedCopies{}
	}
	if err := a.lockGeneration(ctx, first, rec); err != nil {
		return Outcome{}, err
	}
	a.lap(&a.steps.Start)
	out := Outcome{Gen: a.gen.Gen}
	// Every transaction takes its locks in one order: events, dead
	// letters, then cars, bookings and counters (see readCars).
	var (
		fresh, dups []Incoming
		res         aggregator.Result
		err         error
	)
	optimistic := !a.mode.insertEvents && !a.locked()
	if optimistic {
		fresh, dups, res, err = a.recordAndFold(ctx, first, later, rec)
	} else {
		fresh, dups, err = a.recordEvents(ctx, first, later, rec)
	}
	if err != nil {
		return out, err
	}
	a.lap(&a.steps.Record)
	if out.DeadLetteredByCode, err = a.recordDeadLetters(ctx, b.DeadLetters); err != nil {
		return out, err
	}
	conflicts, err := a.classifyDuplicates(ctx, dups, fresh, rec, &out)
	if err != nil {
		return out, err
	}
	a.lap(&a.steps.Check)
	if !optimistic {
		if res, err = a.fold(ctx, eventsOf(fresh)); err != nil {
			return out, err
		}
		a.lap(&a.steps.Read)
	}
	out.Applied, out.Ignored, out.LastEventAt = res.Applied, res.Ignored, res.LastEventAt
	if a.hookBeforeWrite != nil {
		a.hookBeforeWrite(a.mode)
	}
	err = a.write(ctx, res, conflicts, &out)
	a.lap(&a.steps.Write)
	return out, err
}

// recordAndFold is recordEvents and fold, for an optimistic attempt: with
// the events the ledger holds (rec, looked up by lockGeneration), it reads
// the entities of the new ones, then copies them into the ledger while the
// batch is folded beside it. The fold is a fifth of the worker's part of
// an apply, and the copy the largest part of PostgreSQL's; done one after
// the other, each would wait for the other. Only an optimistic attempt can
// read its entities before it records its events, because it does not
// lock them.
func (a *applier) recordAndFold(ctx context.Context, first, later []Incoming, rec recordedCopies) ([]Incoming, []Incoming, aggregator.Result, error) {
	fresh, dups := rec.partition(first, later)
	evs := eventsOf(fresh)
	prior, err := a.readPrior(ctx, evs)
	if err != nil {
		return nil, nil, aggregator.Result{}, err
	}
	a.lap(&a.steps.Read)
	type folded struct {
		res aggregator.Result
		err error
	}
	done := make(chan folded, 1)
	go func() {
		res, err := aggregator.Fold(prior, evs, a.gen.Zones)
		done <- folded{res, err}
	}()
	err = a.copyEvents(ctx, fresh)
	f := <-done
	if err != nil {
		return nil, nil, aggregator.Result{}, err
	}
	if f.err != nil {
		return nil, nil, aggregator.Result{}, fmt.Errorf("fold: %w", f.err)
	}
	return fresh, dups, f.res, nil
}

// applySettingsSQL sets the planner for the apply transaction, whose
// every statement looks up a batch's keys (at most a few thousand) in
// tables that grow to millions of rows: index lookups in a nested loop are
// always the right plan. Left to itself the planner read whole tables:
//   - the generic plan a prepared statement settles on after five runs is
//     kept until the next ANALYZE, so one made while the tables were small
//     (a new database, autovacuum off or not yet run) looked up entities
//     with sequential scans for good: tally bench's freshness at 5,000
//     events/s read 38 million booking rows in 20 s, p99 8.3 s. Custom
//     plans cost well under a millisecond per batch;
//   - even custom plans chose a sequential scan and hash join for 700
//     bookings out of 60,000 (random_page_cost 4 prices 700 index probes
//     above reading the table): 20 ms per statement and growing with the
//     table, which held catch-up near 19,000 events/s.
//
// A statement with no index to use (the one-row freshness table) still
// scans, at the cost the disabled plan carries, far above jit_above_cost:
// JIT is off so that it does not spend 40 ms compiling a one-row update.
// The settings are local to the transaction.
const applySettingsSQL = `SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
    set_config('enable_seqscan', 'off', true),
    set_config('enable_hashjoin', 'off', true),
    set_config('enable_mergejoin', 'off', true),
    set_config('jit', 'off', true)`

// lockGeneration takes the generation lock shared (a swap waits for this
// transaction) and then reads the current generation. The read must be a
// statement of its own, after the lock: a statement's snapshot is taken
// when it starts, so one that waited for a swap would still see the old
// generation as current and write to it. With rec, it also looks first's
// ids up in the ledger, which is the same in every generation, and fills
// rec. All go in one round trip: under load each round trip costs the
// apply about a millisecond of waiting for a core.
func (a *applier) lockGeneration(ctx context.Context, first []Incoming, rec recordedCopies) error {
	var tz, cities string
	b := &pgx.Batch{}
	if limit, ok := idleLimit(ctx); ok {
		b.Queue("SELECT set_config('idle_in_transaction_session_timeout', $1, true)", limit)
	}
	b.Queue(applySettingsSQL)
	b.Queue("SELECT pg_advisory_xact_lock_shared($1)", generationLockKey)
	b.Queue("SELECT gen, timezone, city_timezones FROM tally.generations WHERE state = 'current'").
		QueryRow(func(row pgx.Row) error { return row.Scan(&a.gen.Gen, &tz, &cities) })
	if rec != nil {
		rec.queueLookUp(b, first)
	}
	err := a.tx.SendBatch(ctx, b).Close()
	if err != nil {
		return fmt.Errorf("read current generation: %w", err)
	}
	if a.gen.Zones, err = a.zones.get(tz, cities); err != nil {
		return fmt.Errorf("zones of generation %d: %w", a.gen.Gen, err)
	}
	a.q = queriesFor(a.gen.Gen)
	return nil
}

// idleLimit is how long, in milliseconds, the apply transaction may wait
// for its worker between statements before PostgreSQL ends it: until the
// apply's deadline, past which a live worker gives up on it anyway. A
// worker frozen or gone mid-transaction (a paused VM, a host lost) would
// otherwise keep the rows of its batch locked until PostgreSQL noticed the
// dead connection, hours later with TCP defaults, and every worker given
// the batch again would wait on them.
func idleLimit(ctx context.Context) (string, bool) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return "", false
	}
	return strconv.FormatInt(max(time.Until(deadline).Milliseconds(), 1000), 10), true
}

// splitByID keeps the first occurrence of each id, sorted by id (the
// ledger's lock order), and returns the later occurrences in order.
func splitByID(in []Incoming) (first, later []Incoming) {
	seen := make(map[string]struct{}, len(in))
	order := make([]int, 0, len(in))
	for i := range in {
		if _, ok := seen[in[i].Event.ID]; ok {
			later = append(later, in[i])
			continue
		}
		seen[in[i].Event.ID] = struct{}{}
		order = append(order, i)
	}
	// Sort positions, not events: an Incoming is a few hundred bytes, and
	// moving them made this a fifth of the apply's own CPU.
	slices.SortFunc(order, func(x, y int) int { return cmp.Compare(in[x].Event.ID, in[y].Event.ID) })
	first = make([]Incoming, len(order))
	for k, i := range order {
		first[k] = in[i]
	}
	return first, later
}

const insertEventsSQL = `INSERT INTO tally.events (id, type, occurred_at, seq, entity, city, stream_seq, body)
SELECT u.id, u.type, u.occurred_at, NULLIF(u.seq, 0), NULLIF(u.entity, ''), NULLIF(u.city, ''), u.stream_seq, u.body
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::text[], $6::text[], $7::int8[], $8::bytea[])
    AS u(id, type, occurred_at, seq, entity, city, stream_seq, body)
ON CONFLICT (id) DO NOTHING
RETURNING id`

// eventColumns are the ledger columns an apply writes, in the order of
// insertEventsSQL's arrays and of copyEvents' rows.
var eventColumns = []string{"id", "type", "occurred_at", "seq", "entity", "city", "stream_seq", "body"}

// recordEvents records the events (first: distinct ids, sorted) in the
// ledger and returns the new ones, and, with the later copies of ids in the
// batch (later), the copies of ids recorded before.
//
// A first attempt looks the ids up and copies the others in with COPY,
// which costs PostgreSQL about a quarter less per event than INSERT ... ON
// CONFLICT: rows go to the table a page at a time, and no insertion is
// speculative. But COPY cannot skip an id: when another transaction
// records one of the ids after the lookup (workers sharing a stream, an
// event published twice), the copy waits for that transaction and then
// fails with errLedgerRace. Store.Apply then applies the batch again with
// mode.insertEvents: an INSERT ... ON CONFLICT DO NOTHING, which skips the
// id. Neither way closes a cycle of waits: every transaction records its
// events in id order, before it locks anything else.
//
// rec is what the ledger holds of first when it has been looked up
// already (see lockGeneration), or nil.
func (a *applier) recordEvents(ctx context.Context, first, later []Incoming, rec recordedCopies) ([]Incoming, []Incoming, error) {
	if len(first) == 0 {
		return nil, later, nil
	}
	if !a.mode.insertEvents {
		if rec == nil {
			var err error
			if rec, err = a.lookUpEvents(ctx, eventIDs(first)); err != nil {
				return nil, nil, err
			}
		}
		fresh, dups := rec.partition(first, later)
		return fresh, dups, a.copyEvents(ctx, fresh)
	}
	isNew, err := a.insertEvents(ctx, first)
	if err != nil {
		return nil, nil, err
	}
	fresh, dups := partition(first, later, func(id string) bool { return isNew[id] })
	return fresh, dups, nil
}

// partition splits first into the events isNew says are new and, after
// later, the others.
func partition(first, later []Incoming, isNew func(id string) bool) (fresh, dups []Incoming) {
	fresh, dups = make([]Incoming, 0, len(first)), later
	for i := range first {
		if isNew(first[i].Event.ID) {
			fresh = append(fresh, first[i])
		} else {
			dups = append(dups, first[i])
		}
	}
	return fresh, dups
}

// errLedgerRace is copyEvents meeting an event another transaction
// recorded after the lookup.
var errLedgerRace = errors.New("another transaction recorded an event of this batch first")

// recordedCopies holds, for the ids of a batch that the ledger holds,
// the body recorded.
type recordedCopies map[string][]byte

const lookUpEventsSQL = "SELECT id, body FROM tally.events WHERE id = ANY($1::text[])"

// queueLookUp adds to b the lookup of the ids of in, whose result fills
// rec. Only the ids already recorded come back, with their bodies: a few
// in a batch, and classifyDuplicates compares them with their copies.
func (rec recordedCopies) queueLookUp(b *pgx.Batch, in []Incoming) {
	if len(in) == 0 {
		return
	}
	b.Queue(lookUpEventsSQL, eventIDs(in)).Query(rec.fill)
}

func (rec recordedCopies) fill(rows pgx.Rows) error {
	var id string
	var body []byte
	_, err := pgx.ForEachRow(rows, []any{&id, &body}, func() error {
		rec[id] = slices.Clone(body)
		return nil
	})
	return wrap(err, "look up events")
}

// lookUpEvents looks ids up in the ledger, in a round trip of its own.
func (a *applier) lookUpEvents(ctx context.Context, ids []string) (recordedCopies, error) {
	rows, err := a.tx.Query(ctx, lookUpEventsSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("look up events: %w", err)
	}
	rec := recordedCopies{}
	return rec, rec.fill(rows)
}

// partition splits first (distinct ids, sorted) into the events the ledger
// does not hold and, after later, those it does.
func (rec recordedCopies) partition(first, later []Incoming) (fresh, dups []Incoming) {
	return partition(first, later, func(id string) bool {
		_, ok := rec[id]
		return !ok
	})
}

// eventIDs returns the event ids of in.
func eventIDs(in []Incoming) []string {
	out := make([]string, len(in))
	for i := range in {
		out[i] = in[i].Event.ID
	}
	return out
}

// copyEvents copies the events the ledger does not hold into it.
// It writes COPY's binary format itself (ledgerCopyData): pgx's CopyFrom
// would first ask the server for the columns' types, a round trip more,
// and then encode each value through an interface.
func (a *applier) copyEvents(ctx context.Context, fresh []Incoming) error {
	if len(fresh) == 0 {
		return nil
	}
	tag, err := a.tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(ledgerCopyData(fresh)), copyEventsSQL)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_pkey" { // unique_violation
		return fmt.Errorf("%w: %s", errLedgerRace, pgErr.Detail)
	}
	if err != nil {
		return fmt.Errorf("record events: %w", err)
	}
	if n := tag.RowsAffected(); n != int64(len(fresh)) {
		return fmt.Errorf("record events: copied %d of %d", n, len(fresh))
	}
	return nil
}

var copyEventsSQL = "COPY tally.events (" + strings.Join(eventColumns, ", ") + ") FROM STDIN (FORMAT binary)"

// ledgerCopyData is the ledger rows of in, in eventColumns' order, in
// COPY's binary format: a signature, flags and extension length, then per
// row its field count and each field's length (-1 for NULL) and bytes, in
// the types' binary forms (text and bytea as they are, int8 big-endian,
// timestamptz as microseconds since 2000), and -1 at the end. Zero seqs and
// empty entities and cities are NULL, as in insertEventsSQL.
func ledgerCopyData(in []Incoming) []byte {
	const fields = 8
	size := len(copySignature) + 8 + 2
	for i := range in {
		ev := &in[i].Event
		size += 2 + fields*4 + 3*8 + len(ev.ID) + len(ev.Type) + len(ev.City) + len(ev.CarID) + len(ev.BookingID) + len(ev.Body)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, copySignature...)
	buf = binary.BigEndian.AppendUint64(buf, 0) // flags, header extension length
	for i := range in {
		ev := &in[i].Event
		buf = binary.BigEndian.AppendUint16(buf, fields)
		buf = appendCopyText(buf, ev.ID)
		buf = appendCopyText(buf, string(ev.Type))
		buf = appendTimestamptz(buf, ev.OccurredAt)
		buf = appendCopyInt8(buf, ev.Seq, ev.Seq == 0)
		buf = appendCopyText(buf, ev.EntityID())
		buf = appendCopyText(buf, ev.City)
		buf = appendCopyInt8(buf, int64(in[i].StreamSeq), false)
		buf = appendValue(buf, ev.Body)
	}
	return binary.BigEndian.AppendUint16(buf, 0xFFFF)
}

const copySignature = "PGCOPY\n\xff\r\n\x00"

// appendCopyText appends a text field, NULL when s is empty.
func appendCopyText(buf []byte, s string) []byte {
	if s == "" {
		return appendNull(buf)
	}
	return appendValue(buf, s)
}

// appendCopyInt8 appends an int8 field, or NULL.
func appendCopyInt8(buf []byte, v int64, null bool) []byte {
	if null {
		return appendNull(buf)
	}
	buf = binary.BigEndian.AppendUint32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(v))
}

// insertEvents is recordEvents with mode.insertEvents.
func (a *applier) insertEvents(ctx context.Context, in []Incoming) (map[string]bool, error) {
	n := len(in)
	ids, types, entities, cities := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats, seqs, streamSeqs, bodies := make([]time.Time, n), make([]int64, n), make([]int64, n), make([][]byte, n)
	for i, e := range in {
		ev := &e.Event
		ids[i], types[i], ats[i], seqs[i] = ev.ID, string(ev.Type), ev.OccurredAt, ev.Seq
		entities[i], cities[i], streamSeqs[i], bodies[i] = ev.EntityID(), ev.City, int64(e.StreamSeq), ev.Body
	}
	rows, err := a.tx.Query(ctx, insertEventsSQL, ids, types, ats, seqs, entities, cities, streamSeqs, bodies)
	if err != nil {
		return nil, fmt.Errorf("record events: %w", err)
	}
	fresh, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("record events: %w", err)
	}
	isNew := make(map[string]bool, len(fresh))
	for _, id := range fresh {
		isNew[id] = true
	}
	return isNew, nil
}

const insertDeadLettersSQL = `INSERT INTO tally.dead_letters (source_stream, source_seq, subject, code, detail, event_id, body)
SELECT u.stream, u.seq, u.subject, u.code, u.detail, NULLIF(u.event_id, ''), u.body
FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[])
    AS u(stream, seq, subject, code, detail, event_id, body)
ON CONFLICT (source_stream, source_seq) DO NOTHING
RETURNING code`

// recordDeadLetters stores dead letters once each, sorted by source, and
// counts the new ones by code.
func (a *applier) recordDeadLetters(ctx context.Context, dls []DeadLetter) (map[events.Code]int, error) {
	if len(dls) == 0 {
		return nil, nil
	}
	dls = slices.Clone(dls)
	slices.SortFunc(dls, func(x, y DeadLetter) int { return cmp.Or(cmp.Compare(x.Stream, y.Stream), cmp.Compare(x.Seq, y.Seq)) })
	n := len(dls)
	streams, subjects, codes, details, ids := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	seqs, bodies := make([]int64, n), make([][]byte, n)
	for i, d := range dls {
		streams[i], seqs[i], subjects[i], codes[i] = d.Stream, int64(d.Seq), storableText(d.Subject), string(d.Code)
		details[i], ids[i], bodies[i] = storableText(d.Detail), d.EventID, d.Body
		if storableText(d.EventID) != d.EventID {
			ids[i] = "" // a mangled id would name another event
		}
	}
	rows, err := a.tx.Query(ctx, insertDeadLettersSQL, streams, seqs, subjects, codes, details, ids, bodies)
	if err != nil {
		return nil, fmt.Errorf("record dead letters: %w", err)
	}
	recorded, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("record dead letters: %w", err)
	}
	byCode := map[events.Code]int{}
	for _, c := range recorded {
		byCode[events.Code(c)]++
	}
	return byCode, nil
}

// storableText is s as PostgreSQL text can hold it: without NUL, and with
// bytes that are not UTF-8 replaced. A dead letter's text comes from the
// message that could not be used, and its record must not fail on it: the
// batch it came with would fail too.
func storableText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// conflict is a copy of a recorded event with other content.
type conflict struct {
	id, md5   string
	typ       events.Type
	body      []byte
	streamSeq uint64
}

// classifyDuplicates compares each copy of an already recorded id with the
// recorded copy: the same content is a plain duplicate, other content a
// conflict to keep. rec holds the recorded copies of the ids the ledger
// held before this batch (see lockGeneration); a later copy of an id this
// batch recorded (fresh) is compared with that first copy. Without rec
// (the events were inserted), the copies are read back from the ledger.
func (a *applier) classifyDuplicates(ctx context.Context, dups, fresh []Incoming, rec recordedCopies, out *Outcome) ([]conflict, error) {
	if len(dups) == 0 {
		return nil, nil
	}
	if rec == nil {
		var err error
		if rec, err = a.lookUpEvents(ctx, eventIDs(dups)); err != nil {
			return nil, fmt.Errorf("read recorded copies: %w", err)
		}
	} else {
		rec.addFirstCopies(dups, fresh)
	}
	out.DuplicatesByType = map[events.Type]int{}
	var conflicts []conflict
	for _, d := range dups {
		if sameAsRecorded(&d.Event, rec[d.Event.ID]) {
			out.Duplicates++
			out.DuplicatesByType[d.Event.Type]++
			continue
		}
		sum := md5.Sum(d.Event.Body)
		conflicts = append(conflicts, conflict{id: d.Event.ID, typ: d.Event.Type, md5: hex.EncodeToString(sum[:]), body: d.Event.Body, streamSeq: d.StreamSeq})
		out.Conflicts++
		out.ConflictIDs = append(out.ConflictIDs, d.Event.ID)
	}
	return conflicts, nil
}

// addFirstCopies adds to rec the bodies this batch recorded (fresh) for
// the ids of dups it does not hold: what the ledger now holds for them.
func (rec recordedCopies) addFirstCopies(dups, fresh []Incoming) {
	var missing map[string]struct{}
	for i := range dups {
		if _, ok := rec[dups[i].Event.ID]; !ok {
			if missing == nil {
				missing = map[string]struct{}{}
			}
			missing[dups[i].Event.ID] = struct{}{}
		}
	}
	for i := range fresh {
		if _, ok := missing[fresh[i].Event.ID]; ok {
			rec[fresh[i].Event.ID] = fresh[i].Event.Body
		}
	}
}

// sameAsRecorded decodes the recorded body without a size limit (it was
// accepted under the limit in force then) and compares content.
func sameAsRecorded(e *events.Event, recordedBody []byte) bool {
	if recordedBody == nil {
		return false
	}
	rec, err := events.Decode(recordedBody, len(recordedBody))
	if err != nil {
		return false
	}
	return events.SameContent(e, &rec)
}

// fold reads the prior states of the entities the new events touch, then
// folds the events into new states and deltas.
func (a *applier) fold(ctx context.Context, fresh []events.Event) (aggregator.Result, error) {
	prior, err := a.readPrior(ctx, fresh)
	if err != nil {
		return aggregator.Result{}, err
	}
	res, err := aggregator.Fold(prior, fresh, a.gen.Zones)
	if err != nil {
		return res, fmt.Errorf("fold: %w", err)
	}
	return res, nil
}

// readPrior reads (and, after a lost race, locks) the states of the cars
// and bookings of evs, in one round trip.
func (a *applier) readPrior(ctx context.Context, evs []events.Event) (aggregator.Prior, error) {
	carIDs, bookingIDs := entityIDs(evs)
	var prior aggregator.Prior
	b := &pgx.Batch{}
	a.readCars(b, carIDs, &prior.Cars)
	a.readBookings(b, bookingIDs, &prior.Bookings)
	if b.Len() == 0 {
		return prior, nil
	}
	return prior, a.tx.SendBatch(ctx, b).Close()
}

// eventsOf returns the events of in.
func eventsOf(in []Incoming) []events.Event {
	evs := make([]events.Event, len(in))
	for i := range in {
		evs[i] = in[i].Event
	}
	return evs
}

// entityIDs returns the sorted, distinct car and booking ids of the events.
func entityIDs(evs []events.Event) (cars, bookings []string) {
	cs, bs := map[string]struct{}{}, map[string]struct{}{}
	for i := range evs {
		switch evs[i].Type.Entity() {
		case events.Car:
			cs[evs[i].CarID] = struct{}{}
		case events.Booking:
			bs[evs[i].BookingID] = struct{}{}
		}
	}
	return slices.Sorted(maps.Keys(cs)), slices.Sorted(maps.Keys(bs))
}
