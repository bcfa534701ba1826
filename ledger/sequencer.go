package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/proofs"
)

// Appended is the answer for one appended event.
type Appended struct {
	// Index is the entry's index in its log.
	Index uint64
	// LeafHash is the RFC 6962 leaf hash of the entry.
	LeafHash proofs.Hash
	// ReceivedAt is the server time stamped into the entry.
	ReceivedAt time.Time
	// Skipped is true for a read-only event that was not stored because the
	// log is not verbose; the other fields are then zero.
	Skipped bool
}

// AppendOptions modify one Append call.
type AppendOptions struct {
	// Internal allows what only the server may write: category "audit" and ref.
	Internal bool
	// Idempotency, when set, makes the call idempotent (see Idempotency).
	Idempotency *Idempotency
	// Validated promises that every event passed Validate(Internal) — as
	// ParseEvents does — and was not changed since, so Append need not
	// validate (and canonicalise details) again.
	Validated bool
}

// request is one Append call on its way through the sequencer.
type request struct {
	lg         *logHandle
	events     []Event
	idem       *Idempotency
	receivedAt int64

	// Written by the caller before built is closed, read by the sequencer
	// after; leaves and hashes a chunk at a time (chunks).
	leaves   [][]byte // nil for a skipped read-only event
	fields   *builtFields
	hashes   []proofs.Hash
	buildErr error
	built    chan struct{}
	chunks   builtChunks

	// Written by the sequencer (prepare) and the committer (finish) before
	// done is closed, read by the caller after.
	result []Appended
	err    error
	done   chan struct{}

	// The committed entries for the indexer's hand-off, from index first:
	// written by the sequencer, handed off by the committer.
	fresh []freshEntry
	first uint64
}

// Append validates events, appends them to the log as contiguous entries in
// order, and returns once they are durably committed (fsync), with their
// indexes. It is safe for concurrent use; concurrent calls are committed
// together (group commit). All or nothing: when it returns an error nothing of
// the call was stored, unless the error is ctx's, in which case the entries may
// still be committed. It returns ErrPushback when too many events are waiting,
// a *ValidationError for a bad event, ErrNotFound for an unknown log.
func (l *Ledger) Append(ctx context.Context, logID string, events []Event, opts AppendOptions) ([]Appended, error) {
	if l.cfg.ReadOnly {
		return nil, ErrReadOnly
	}
	lg, err := l.handle(logID)
	if err != nil {
		return nil, err
	}
	if !opts.Validated {
		err := inChunks(len(events), func(lo, hi int) error {
			for i := lo; i < hi; i++ {
				if err := events[i].Validate(opts.Internal); err != nil {
					if ve, ok := err.(*ValidationError); ok && len(events) > 1 {
						ve.Position = i
					}
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(events) == 0 {
		return []Appended{}, nil
	}
	if idem := opts.Idempotency; idem != nil {
		unlock := l.idem.lock(logID + "\x00" + idem.Key)
		defer unlock()
		release, err := l.enter()
		if err != nil {
			return nil, err
		}
		rec, err := l.readIdem(lg, idem.Key)
		release()
		if err != nil {
			return nil, err
		}
		if rec != nil {
			if string(rec.BodyHash) != string(idem.BodyHash[:]) {
				return nil, ErrIdempotencyMismatch
			}
			idem.Replayed, idem.Response = true, rec.Response
			return rec.appended(), nil
		}
	}
	if p := l.failed.Load(); p != nil {
		return nil, fmt.Errorf("%w: %v", ErrFailed, *p)
	}
	n := int64(len(events))
	if l.pending.Add(n) > int64(l.cfg.MaxPending) && l.pending.Load() != n {
		l.pending.Add(-n)
		l.stats.Pushbacks.Add(1)
		return nil, ErrPushback
	}
	defer l.pending.Add(-n)
	r := &request{lg: lg, events: events, idem: opts.Idempotency, built: make(chan struct{}), done: make(chan struct{})}
	r.chunks.init(len(events))

	// Order: received_at is taken and the request queued under the log's
	// enqueueMu, so entries that get later indexes never get earlier times.
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return nil, ErrClosed
	}
	lg.enqueueMu.Lock()
	ra := l.cfg.Now().UnixNano()
	if ra < lg.lastRA {
		ra = lg.lastRA
	}
	r.receivedAt = ra
	select {
	case l.queue <- r:
		lg.lastRA = ra
	default:
		lg.enqueueMu.Unlock()
		l.closeMu.RUnlock()
		l.stats.Pushbacks.Add(1)
		return nil, ErrPushback
	}
	lg.enqueueMu.Unlock()
	l.closeMu.RUnlock()

	// Build the leaves here, in the caller's goroutine, so hashing runs in
	// parallel; the sequencer waits for built before it sequences r.
	func() {
		defer func() {
			if p := recover(); p != nil {
				// Never leave the sequencer waiting, and never let it store a
				// half-built request.
				r.buildErr = fmt.Errorf("couldn't build the entries: %v", p)
				r.chunks.fail()
				close(r.built)
				panic(p)
			}
		}()
		r.build(lg.settings.Load().Verbose)
		close(r.built)
	}()
	// While the entries are sequenced and committed (the fsync is most of
	// this call's wait), what the indexer will need of them.
	r.buildFields()

	select {
	case <-r.done:
		return r.result, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// build makes each event's leaf and leaf hash, a chunk of buildChunk events
// at a time, each chunk into one buffer, and signals each chunk as it is done
// (r.chunks), so that the sequencer sequences a large call while the rest of it
// is built. A call of several thousand events is built on all cores
// (inChunks). The caller closes built after it.
func (r *request) build(verbose bool) {
	ra := time.Unix(0, r.receivedAt).UTC()
	raText, ok := appendLeafTime(nil, ra)
	if !ok {
		raText = nil // appendLeafAt says what is wrong
	}
	r.leaves = make([][]byte, len(r.events))
	r.hashes = make([]proofs.Hash, len(r.events))
	r.fields = &builtFields{done: make(chan struct{})}
	r.buildErr = inChunks(len(r.events), func(lo, hi int) error {
		for c := lo; c < hi; {
			end := min(hi, (c/buildChunk+1)*buildChunk)
			if err := r.buildRange(c, end, verbose, ra, raText); err != nil {
				r.chunks.broken.Store(true) // before any chunk's signal
				return err
			}
			r.chunks.done(c / buildChunk)
			c = end
		}
		return nil
	})
	if r.buildErr != nil {
		r.chunks.fail()
	}
}

// buildRange builds the leaves and leaf hashes of events [lo, hi) in one buffer.
func (r *request) buildRange(lo, hi int, verbose bool, ra time.Time, raText []byte) error {
	offs := make([]int, hi-lo+1)
	buf := make([]byte, 0, 512*(hi-lo))
	for i := lo; i < hi; i++ {
		offs[i-lo] = len(buf)
		if r.events[i].ReadOnly && !verbose {
			continue
		}
		en := Entry{V: 1, Log: r.lg.id, ReceivedAt: ra, Event: r.events[i]}
		buf = append(buf, 0) // room for the RFC 6962 leaf prefix
		var err error
		if buf, err = en.appendLeafAt(buf, raText); err != nil {
			return withPosition(err, i, len(r.events))
		}
	}
	offs[hi-lo] = len(buf)
	for i := lo; i < hi; i++ {
		a, b := offs[i-lo], offs[i-lo+1]
		if a == b {
			continue
		}
		r.hashes[i] = proofs.LeafHashPrefixed(buf[a:b])
		r.leaves[i] = buf[a+1 : b]
	}
	return nil
}

// buildChunk is how many events build signals at a time.
const buildChunk = 128

// builtChunks tells the sequencer which of a request's chunks of buildChunk
// events are built. Every chunk but the last has a channel of its own; the
// last is signalled by the request's built, which the caller closes after
// build returns, so that a call of up to buildChunk events (every single event)
// needs no channel of its own.
type builtChunks struct {
	ch     []chan struct{}
	closed []atomic.Bool
	// broken is set before the signal of a chunk that failed to build, and
	// stays set: the sequencer then waits for built and reads buildErr.
	broken atomic.Bool
}

func (c *builtChunks) init(events int) {
	if n := (events + buildChunk - 1) / buildChunk; n > 1 {
		c.ch = make([]chan struct{}, n-1)
		c.closed = make([]atomic.Bool, n-1)
		for i := range c.ch {
			c.ch[i] = make(chan struct{})
		}
	}
}

// done signals chunk k, once: a no-op for the last chunk, and for a chunk
// that fail signalled already.
func (c *builtChunks) done(k int) {
	if k < len(c.ch) && c.closed[k].CompareAndSwap(false, true) {
		close(c.ch[k])
	}
}

// fail marks the request broken and signals every chunk not signalled yet.
func (c *builtChunks) fail() {
	c.broken.Store(true)
	for k := range c.ch {
		c.done(k)
	}
}

// wait returns once chunk k of r is built, or the build failed; it reports
// false when it failed, and then r.buildErr is set.
func (r *request) wait(k int) bool {
	if k < len(r.chunks.ch) {
		<-r.chunks.ch[k]
	} else {
		<-r.built
	}
	if r.chunks.broken.Load() {
		<-r.built
		return false
	}
	return true
}

// builtFields are what the indexer needs of a request's entries, computed
// from the events (appendIndexFields) rather than by the indexer from the
// leaves. The caller writes them after closing built, while its entries
// are committed, so that they add nothing to the call's wait; the committer
// hands the indexer a pointer to them with each entry (freshEntry), and
// the indexer reads them once done is closed.
type builtFields struct {
	done  chan struct{} // closed by the caller when lists is written
	lists [][]byte      // one per event: nil for an event with no leaf
}

// buildFields writes r.fields for every event that build gave a leaf, in
// one buffer, and closes r.fields.done, even if it panics (the indexer
// then reads the leaves). It must follow build.
func (r *request) buildFields() {
	f := r.fields
	defer close(f.done)
	if r.buildErr != nil || testNoFields {
		return // the sequencer stores none of r
	}
	lists := make([][]byte, len(r.events))
	buf := make([]byte, 0, 96*len(r.events))
	offs := make([]int, len(r.events)+1)
	for i := range r.events {
		offs[i] = len(buf)
		if r.leaves[i] != nil {
			buf = appendIndexFields(buf, &r.events[i], r.receivedAt)
		}
	}
	offs[len(r.events)] = len(buf)
	for i := range lists {
		if a, b := offs[i], offs[i+1]; a < b {
			lists[i] = buf[a:b:b]
		}
	}
	f.lists = lists
}

// testNoFields, when set by a test, has buildFields leave every request
// without fields, as a panic in it would: the indexer then parses the
// leaves the hand-off holds.
var testNoFields bool

// chunkMin is the fewest events worth a goroutine of their own.
const chunkMin = 1024

// inChunks calls fn on [0, n) split into up to GOMAXPROCS chunks of at
// least chunkMin, concurrently (the first in the calling goroutine), and
// returns the error of the lowest chunk that failed. The chunks start at
// multiples of buildChunk, so that each of build's chunks is built by one
// goroutine.
func inChunks(n int, fn func(lo, hi int) error) error {
	k := min(runtime.GOMAXPROCS(0), n/chunkMin)
	if k <= 1 {
		return fn(0, n)
	}
	bound := func(c int) int {
		if c == k {
			return n
		}
		return c * n / k / buildChunk * buildChunk
	}
	errs := make([]error, k)
	var wg sync.WaitGroup
	for c := 1; c < k; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[c] = fn(bound(c), bound(c+1))
		}()
	}
	errs[0] = fn(0, bound(1))
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func withPosition(err error, i, n int) error {
	if ve, ok := err.(*ValidationError); ok && n > 1 {
		ve.Position = i
	}
	if n > 1 {
		return fmt.Errorf("event %d: %w", i, err)
	}
	return err
}

// sequence is the sequencer goroutine: it owns every log's treeState. Each
// round takes the waiting requests, whole, while it holds fewer than
// MaxBatch entries (so one request may take it past MaxBatch), assigns indexes,
// extends each log's hash chain and tree, and puts everything into one
// Pebble batch (prepare); a second goroutine, the committer, commits that
// batch with Sync and only then publishes and answers (finish). The two
// overlap: the sequencer prepares round N+1 while round N's fsync runs, and
// hands it over once round N is answered, so at most one commit is in
// flight and rounds commit in order (decision 0012).
func (l *Ledger) sequence() {
	defer close(l.seqDone)
	// Unbuffered: a send returns only when the committer takes the round,
	// which is after it answered the round before. So a batch is never
	// reset while Pebble may still read it: the round that used the other
	// slot has been committed when the send returns.
	rounds := make(chan *round)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		for rd := range rounds {
			l.finish(rd)
		}
	}()
	var batches [2]*pebble.Batch
	for k := 0; ; k++ {
		first, ok := <-l.queue
		if !ok {
			close(rounds)
			<-committed
			for _, b := range batches {
				if b != nil {
					b.Close()
				}
			}
			return // closed and drained
		}
		reqs := append(make([]*request, 0, 16), first)
		n := len(first.events)
	gather:
		for n < l.cfg.MaxBatch {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break gather
				}
				reqs = append(reqs, r)
				n += len(r.events)
			default:
				break gather
			}
		}
		rd := l.prepare(reqs, &batches[k%2])
		if l.testHandOff != nil {
			l.testHandOff(rd)
		}
		rounds <- rd
	}
}

// A round is one group of requests between the sequencer, which prepares
// it, and the committer, which commits it and answers.
type round struct {
	start   time.Time
	reqs    []*request
	batch   *pebble.Batch // nil when the ledger had failed before it
	entries int
	logs    []roundLog
}

// roundLog is what a round changed in one log, for the committer to
// publish once the batch is durable.
type roundLog struct {
	lg        *logHandle
	completed []completedTile
	state     *logState
}

// roundBytesPerEvent is what a round's batch holds per event, about: an
// entry's keys, its leaf of a few hundred bytes, its hash record, and its
// share of the tiles.
const roundBytesPerEvent = 640

// roundBatchRetained bounds the buffer the sequencer's batch keeps between
// rounds.
const roundBatchRetained = 8 << 20

// roundBatch returns the batch for a round of about est bytes. The
// sequencer keeps two batches, used by turns, and resets one for each round,
// so that their buffers, grown to the size of the rounds (up to
// roundBatchRetained), are reused: Pebble's own pool drops buffers over 1 MiB,
// about a round of 1,600 events, and allocating and zeroing one for every
// round was a third of the bytes an append allocated with four callers of
// 1,024. Only the sequencer calls it, once the round that last used slot is
// answered.
func (l *Ledger) roundBatch(slot **pebble.Batch, est int) *pebble.Batch {
	if *slot == nil {
		*slot = l.db.NewBatchWithSize(min(est, roundBatchRetained), pebble.WithMaxRetainedSizeBytes(roundBatchRetained))
	} else {
		(*slot).Reset()
	}
	return *slot
}

// prepare sequences one group of requests into the batch in slot: indexes,
// chain, tree, and every record of the round. It changes the logs'
// treeStates, not their published state; finish publishes that.
func (l *Ledger) prepare(reqs []*request, slot **pebble.Batch) *round {
	rd := &round{start: time.Now(), reqs: reqs}
	// After a failed commit, nothing is prepared: the batch of the failed
	// round stays in its slot, never reset (Pebble does not reuse a batch
	// whose commit failed), and is only closed at shutdown. finish set
	// failed before the hand-off of the round after it returned, so the
	// next prepare to use that slot sees it.
	if l.failed.Load() != nil {
		return rd // finish fails it
	}
	events := 0
	for _, r := range reqs {
		events += len(r.events)
	}
	b := l.roundBatch(slot, events*roundBytesPerEvent)
	touched, entries, ok := l.sequenceRound(reqs, b)
	for !ok {
		// A request failed to build after part of it was sequenced, which
		// only a leaf over the size limit or a bug can do: the round is
		// undone, and sequenced again without it. Each pass skips the
		// requests that failed before it, so this ends.
		l.stats.Redone.Add(1)
		b.Reset()
		for _, lg := range touched {
			lg.seq.undo()
		}
		touched, entries, ok = l.sequenceRound(reqs, b)
	}
	rd.batch, rd.entries = b, entries
	rd.logs = make([]roundLog, len(touched))
	for i, lg := range touched {
		s := lg.seq
		// The state to publish after the commit, taken now: the next round
		// changes s while this one commits. The snapshot shares the edge
		// tiles' rows up to their current lengths, which only grow.
		rd.logs[i] = roundLog{lg: lg, completed: slices.Clone(s.completed), state: s.commitState()}
		s.batch, s.completed, s.saved = nil, s.completed[:0], treeSave{}
	}
	return rd
}

// sequenceRound sequences reqs into b, a chunk of a request at a time as its
// caller builds them. It reports false, and stops, when a request fails to
// build after part of it was sequenced; b and the touched logs' states are
// then to be undone. A request that failed before any of it was sequenced
// just gets its error.
func (l *Ledger) sequenceRound(reqs []*request, b *pebble.Batch) (touched []*logHandle, entries int, ok bool) {
	var key []byte
	for _, r := range reqs {
		r.result, r.fresh = nil, nil // from an undone pass
		if !r.wait(0) {
			r.err = r.buildErr
			continue
		}
		lg := r.lg
		s := lg.seq
		if s.batch == nil {
			s.batch, s.completed = b, s.completed[:0]
			s.save()
			touched = append(touched, lg)
		}
		ra := time.Unix(0, r.receivedAt).UTC()
		r.result = make([]Appended, len(r.events))
		r.fresh = make([]freshEntry, 0, len(r.leaves))
		r.first = s.size
		for i := range r.events {
			if i%buildChunk == 0 && i > 0 && !r.wait(i/buildChunk) {
				r.err, r.result, r.fresh = r.buildErr, nil, nil
				return touched, 0, false
			}
			leaf := r.leaves[i]
			if leaf == nil {
				r.result[i] = Appended{Skipped: true}
				continue
			}
			idx := s.size
			h := r.hashes[i]
			s.chain = proofs.ChainHash(s.chain, h)
			s.lastRA = r.receivedAt
			rec := hashRecord{leafHash: h, chainHash: s.chain, receivedAt: r.receivedAt}
			r.fresh = append(r.fresh, freshEntry{rec: rec, leaf: leaf, built: r.fields, at: i})
			key = entryKey(key[:0], lg.num, idx, kindPayload)
			b.Set(key, leaf, nil)
			if ref := r.events[i].Ref; ref != nil {
				key = refKey(key[:0], lg.num, *ref, idx)
				b.Set(key, nil, nil)
			}
			s.run = rec.appendTo(s.run)
			s.appendLeaf(h) // adds the full tiles it completes to b
			if s.size%proofs.TileWidth == 0 {
				key = s.endRun(key) // a run never crosses a tile's end
			}
			r.result[i] = Appended{Index: idx, LeafHash: h, ReceivedAt: ra}
			entries++
		}
		if r.idem != nil {
			// The idempotency record commits with the entries it describes.
			v, _ := json.Marshal(newIdemRecord(r.idem.BodyHash, ra, r.result))
			b.Set(idemKey(lg.num, r.idem.Key), v, nil)
		}
	}
	// Each log's last run in the round ends at its last entry.
	for _, lg := range touched {
		key = lg.seq.endRun(key)
	}
	return touched, entries, true
}

// finish commits a prepared round durably, then publishes it and answers its
// callers. The committer goroutine calls it for each round in turn.
func (l *Ledger) finish(rd *round) {
	reqs := rd.reqs
	// A round prepared after a failed commit (rd.batch is nil then), or
	// behind one, must not commit: it extends a tree state the store does
	// not have. A request whose build failed keeps its own error.
	if p := l.failed.Load(); p != nil {
		for _, r := range reqs {
			if r.err == nil {
				r.err = fmt.Errorf("%w: %v", ErrFailed, *p)
			}
			r.result = nil
			close(r.done)
		}
		return
	}

	// Durability: one batch holds every record of every entry in this round,
	// for every log, and the tiles they complete. Pebble applies a batch
	// atomically, and Sync returns only after the WAL holding it is fsynced;
	// the round before was answered, so committed, before this one was handed
	// over, and Pebble writes the WAL in commit order. No caller is answered
	// and no state is published before that; a crash before it leaves no trace
	// of the round, and recovery rebuilds the tree from what is stored.
	// Checkpoints are signed later, from published state only.
	b, entries := rd.batch, rd.entries
	var err error
	switch {
	case l.testCommit != nil:
		err = l.testCommit(b)
	case !b.Empty():
		err = b.Commit(pebble.Sync)
	}
	if err != nil {
		err = fmt.Errorf("couldn't commit %d entries: %w", entries, err)
		l.failed.CompareAndSwap(nil, &err)
		l.cfg.Logger.Error("commit failed; the ledger stops accepting appends", "err", err)
		for _, r := range reqs {
			if r.err == nil {
				r.err, r.result = fmt.Errorf("%w: %v", ErrFailed, err), nil
			}
			close(r.done)
		}
		return
	}
	// The indexer's hand-off, before the new sizes are published, so that
	// the indexer finds in memory whatever a published size covers.
	for _, r := range reqs {
		if r.err == nil {
			r.lg.fresh.push(r.first, r.fresh) // in queue order: indexes ascend
		}
		r.fresh = nil
	}
	for _, t := range rd.logs {
		for _, c := range t.completed {
			l.tiles.put(tileCacheKey{num: t.lg.num, level: uint8(c.level), index: c.tile.index}, &c.tile.nodes)
		}
		t.lg.state.Store(t.state)
	}
	l.stats.observeCommit(entries, time.Since(rd.start))
	for _, r := range reqs {
		close(r.done)
	}
	if len(rd.logs) > 0 {
		select {
		case l.grew <- struct{}{}:
		default:
		}
		select {
		case l.idxWake <- struct{}{}:
		default:
		}
	}
}
