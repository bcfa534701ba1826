package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/auditledger/auditledger/proofs"
)

// The leaf hash → index lookup is derived data: everything in it follows
// from the hash records. It lives in its own Pebble store, Dir/index, written
// without a WAL by the indexer goroutine after the entries are committed, and
// not in the commit: its keys are random, and in the main store they made
// Pebble rewrite the entries over and over (docs/performance.md).
//
//	X <log#:4> <epoch:8> <bucket:2>   the entries of the hash epoch whose leaf hash falls in the bucket
//	                                   (its first 12 bits): per entry the hash's first 8 bytes and the
//	                                   entry's offset in the epoch (uint32), 12 bytes
//	M <log#:4>                        indexed up to this size (uint64), and the chain hash there
//
// The lookup is grouped by hash epoch (hashEpoch = 2^20 consecutive
// indexes) first: within the current epoch the keys are random, but Pebble
// only ever rewrites that epoch's keys, never the older ones. Within an
// epoch, entries are grouped in 4,096 buckets (index format 6), so that an
// indexer batch writes fewer keys into the index store's memtable than one
// per entry (~2,200 instead of 3,600 for the indexer's paced batch at
// 180,000 appends/s; the ingest's CPU fell ~8%, docs/performance.md). A
// bucket's records are merge operands (indexMerger), a sorted run per
// indexer batch, ~3 KiB per full epoch; their order depends on how the
// batches fell (sorting them in the merger was measured to cost more than
// the buckets saved). Since decision 0010 a bucket gets one run per sealed
// (or spilled) posting block, not per paced batch (openblock.go). A lookup
// reads its bucket in each epoch in turn (a Get: 10 at 10 M entries) and
// the open block's records, and checks each candidate whose 8 bytes match
// against its hash record, lowest index first.
//
// A mark and the keys below it are written in one batch, so a crash (which
// may lose the unflushed memtable, marks included) leaves the store
// consistent, only behind; the postings a seal ingests ahead of its batch
// are deleted at open (trimPostings). At open the indexer starts again from
// each log's mark. Lookups read the index store below the mark, the open
// block above it, and scan the hash records of the tail the indexer has not
// reached.
const (
	indexHashes = 'X'
	indexMark   = 'M'
	// indexBatch is how many unindexed entries make the indexer run at
	// once rather than wait for indexEvery.
	indexBatch = 16384
	// indexEvery is the least time between two indexer runs while fewer
	// than indexBatch entries wait.
	indexEvery = 20 * time.Millisecond
)

func indexMarkKey(num uint32) []byte {
	k := []byte{indexMark, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(k[1:], num)
	return k
}

// hashBucketBits is how many leading bits of a leaf hash pick its bucket
// (at most 16); a variable only so that tests can fill buckets with few
// entries (set before Open, never while a ledger is open).
var hashBucketBits uint = 12

// hashRecordSize is the size of one entry's record in a bucket: the hash's
// first hashIndexLen bytes and the entry's uint32 offset in its epoch.
const hashRecordSize = hashIndexLen + 4

// hashBucket returns the bucket of a leaf hash whose first 8 bytes, read
// big-endian, are prefix.
func hashBucket(prefix uint64) uint16 { return uint16(prefix >> (64 - hashBucketBits)) }

// indexHashKey appends the lookup key of bucket b in hash epoch ep.
func indexHashKey(dst []byte, num uint32, ep uint64, b uint16) []byte {
	dst = append(dst, indexHashes, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], num)
	dst = binary.BigEndian.AppendUint64(dst, ep)
	return binary.BigEndian.AppendUint16(dst, b)
}

// openIndex opens (or creates) the index store.
func (l *Ledger) openIndex() error {
	dir := filepath.Join(l.cfg.Dir, "index")
	opts := &pebble.Options{FS: l.cfg.FS, DisableWAL: true, Logger: quietLogger{l.cfg.Logger}, MemTableSize: 16 << 20,
		Merger: indexMerger, Cache: l.cache}
	// Bloom filters let a search skip the posting blocks where a value is
	// absent without reading them.
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	opts.EnsureDefaults()
	if err := removeSealFile(l.cfg.FS, dir); err != nil {
		return fmt.Errorf("couldn't remove a seal's leftover file: %w", err)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil && strings.Contains(err.Error(), "merger name") {
		// Written with another merge operator (an older format): it is
		// derived data, so start it again.
		l.cfg.Logger.Info("rebuilding the index store (older format)", "dir", dir)
		if err := l.cfg.FS.RemoveAll(dir); err != nil {
			return fmt.Errorf("couldn't remove the old index store: %w", err)
		}
		db, err = pebble.Open(dir, opts)
	}
	if err != nil {
		return fmt.Errorf("couldn't open the index store: %w", err)
	}
	if _, err := checkIndexFormat(db); err != nil {
		db.Close()
		return fmt.Errorf("couldn't check the index store: %w", err)
	}
	l.index = db
	// Sealed posting blocks are written as for the bottom level, where
	// Pebble places them unless a file there spans their key range
	// (openblock.go).
	l.sealOpts = opts.MakeWriterOptions(len(opts.Levels)-1, db.TableFormat())
	return nil
}

// loadIndexMark sets a log's indexed mark from the index store.
func (l *Ledger) loadIndexMark(lg *logHandle) error {
	if l.index == nil {
		return nil
	}
	v, closer, err := l.index.Get(indexMarkKey(lg.num))
	if errors.Is(err, pebble.ErrNotFound) {
		return l.setIndexMark(lg, 0)
	}
	if err != nil {
		return fmt.Errorf("couldn't read the index mark of log %q: %w", lg.id, err)
	}
	mark, chain, bound, ok := decodeIndexMark(v)
	closer.Close()
	if !ok {
		return l.resetLogIndex(lg, "its mark does not parse")
	}
	size := uint64(0)
	if st := lg.state.Load(); st != nil {
		size = st.size
	}
	if mark > size {
		// The index has seen entries the store does not hold: the store
		// was rolled back or replaced, and these postings may name other
		// entries than the ones that will take their indexes.
		return l.resetLogIndex(lg, fmt.Sprintf("it covers %d entries, the log holds %d", mark, size))
	}
	if bound && mark > 0 {
		rec, err := l.hashRecord(lg, mark-1)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		if err != nil || rec.chainHash != chain {
			return l.resetLogIndex(lg, fmt.Sprintf("the chain hash at %d differs from the log's", mark-1))
		}
	}
	return l.setIndexMark(lg, mark)
}

// setIndexMark starts lg's indexes at the index store's mark: an empty open
// block there, and no postings above it.
func (l *Ledger) setIndexMark(lg *logHandle, mark uint64) error {
	if err := l.trimPostings(lg, mark); err != nil {
		return fmt.Errorf("couldn't trim the postings of log %q: %w", lg.id, err)
	}
	lg.open.from, lg.open.end, lg.open.w = mark, mark, nil
	lg.indexed.Store(mark)
	return nil
}

// encodeIndexMark is a log's mark value: the size indexed, and the chain
// hash of the last entry it covers, which binds the index to the log it
// was built from (a mark of an empty log has no hash).
func encodeIndexMark(size uint64, chain proofs.Hash, bound bool) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(chain)), size)
	if bound {
		v = append(v, chain[:]...)
	}
	return v
}

// decodeIndexMark reads a mark value; bound is false for a mark written
// without a chain hash (by an older version, or for an empty log).
func decodeIndexMark(v []byte) (size uint64, chain proofs.Hash, bound, ok bool) {
	switch len(v) {
	case 8:
		return binary.BigEndian.Uint64(v), chain, false, true
	case 8 + len(chain):
		copy(chain[:], v[8:])
		return binary.BigEndian.Uint64(v), chain, true, true
	}
	return 0, chain, false, false
}

// resetLogIndex deletes everything the index store holds for one log, so
// that the indexer builds it again from index 0. Searches are exact
// meanwhile: they scan what is not indexed.
func (l *Ledger) resetLogIndex(lg *logHandle, why string) error {
	l.cfg.Logger.Warn("rebuilding the log's indexes", "log", lg.id, "why", why)
	b := l.index.NewBatch()
	defer b.Close()
	for _, kind := range []byte{indexHashes, indexMark, indexPostings, indexCounts, indexZones} {
		prefix := []byte{kind, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(prefix[1:], lg.num)
		if err := b.DeleteRange(prefix, upperBound(prefix), nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("couldn't reset the indexes of log %q: %w", lg.id, err)
	}
	// Flushed (the store has no WAL): a later mark must never survive a
	// crash without this deletion before it.
	if err := l.index.Flush(); err != nil {
		return fmt.Errorf("couldn't reset the indexes of log %q: %w", lg.id, err)
	}
	lg.open.mu.Lock()
	lg.open.from, lg.open.end, lg.open.w = 0, 0, nil
	lg.indexed.Store(0)
	lg.open.mu.Unlock()
	lg.fresh.clear()
	return nil
}

// indexer is the goroutine that keeps the index store up with the committed
// entries. It is woken by the committer (sequencer.go) after each commit. It
// also prunes expired idempotency records, at start and every pruneEvery.
func (l *Ledger) indexer() {
	defer close(l.idxDone)
	l.indexAll() // whatever a crash or a format change left behind
	l.pruneIdempotency()
	prune := time.NewTicker(pruneEvery)
	defer prune.Stop()
	var last time.Time
	for {
		select {
		case <-l.idxWake:
		case <-prune.C:
			l.pruneIdempotency()
			continue
		case <-l.idxStop:
			l.indexAll()
			l.flushAllOpen()
			return
		}
		// Pace small batches: under a stream of small commits, indexing
		// each one would add a merge operand per value and commit, and
		// take the sequencer's CPU. Searches scan what is not indexed yet.
		if wait := indexEvery - time.Since(last); wait > 0 && l.indexPending() < indexBatch {
			select {
			case <-time.After(wait):
			case <-l.idxStop:
				l.indexAll()
				l.flushAllOpen()
				return
			}
		}
		last = time.Now()
		l.indexAll()
	}
}

// indexPending returns how many committed entries of all logs are not
// indexed yet.
func (l *Ledger) indexPending() uint64 {
	var n uint64
	for _, lg := range l.handles() {
		if st := lg.state.Load(); st != nil {
			n += st.size - min(st.size, lg.indexed.Load())
		}
	}
	return n
}

// indexAll indexes every log up to its committed size, and spills open
// blocks over the budget.
func (l *Ledger) indexAll() {
	for _, lg := range l.handles() {
		if err := l.indexLog(lg); err != nil {
			l.cfg.Logger.Warn("indexing failed; searches and lookups by leaf hash scan instead", "log", lg.id, "err", err)
		}
	}
	l.spillOverBudget()
}

// indexLog gathers lg's committed entries into its open block, a chunk at a
// time, and seals each posting block that fills (openblock.go).
func (l *Ledger) indexLog(lg *logHandle) error {
	st := lg.state.Load()
	if st == nil {
		return nil
	}
	for {
		_, _, end, full := lg.open.state()
		if full {
			if err := l.flushOpen(lg); err != nil {
				return err
			}
		}
		if end >= st.size {
			return nil
		}
		if err := l.gather(lg, end, min(st.size, end+indexChunk, blockEnd(end))); err != nil {
			return err
		}
	}
}

// hashCandidates returns, in ascending order, the indexes below mark whose
// leaf hash starts with the 8 bytes of prefix, from the index store and the
// open block, read under the open block's lock so that a seal moving
// entries from one to the other hides none.
func (l *Ledger) hashCandidates(lg *logHandle, prefix, mark uint64) ([]uint64, error) {
	ob := &lg.open
	ob.mu.RLock()
	defer ob.mu.RUnlock()
	var (
		key   []byte
		cands []uint64
	)
	for ep := uint64(0); ep*hashEpoch < min(mark, ob.from); ep++ {
		key = indexHashKey(key[:0], lg.num, ep, hashBucket(prefix))
		v, closer, err := l.index.Get(key)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("couldn't read the leaf hash index: %w", err)
		}
		for i := 0; i+hashRecordSize <= len(v); i += hashRecordSize {
			if binary.BigEndian.Uint64(v[i:]) != prefix {
				continue
			}
			if idx := ep*hashEpoch + uint64(binary.BigEndian.Uint32(v[i+hashIndexLen:])); idx < mark {
				cands = append(cands, idx) // at or above mark: the tail is scanned
			}
		}
		closer.Close()
	}
	cands = ob.hashCandidates(cands, prefix, mark)
	// A bucket holds a sorted run per seal or spill: the lowest matching
	// index comes first only once sorted.
	slices.Sort(cands)
	return cands, nil
}

// scanEntryRecords calls fn with the hash record and the payload (nil when
// there is none) of each index in [from, to) of the main store, in order.
// The payload is only valid during the call. An index without a hash record
// (a damaged store) is skipped.
func (l *Ledger) scanEntryRecords(lg *logHandle, from, to uint64, fn func(uint64, hashRecord, []byte) error) error {
	iter, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: entryKey(nil, lg.num, from, 0),
		UpperBound: entryKey(nil, lg.num, to, 0),
	})
	if err != nil {
		return err
	}
	defer iter.Close()
	hc := newHashCursor(l.db, lg.num)
	defer hc.close()
	var buf []byte
	ok := iter.First()
	for idx := from; idx < to; idx++ {
		var leaf []byte
		for ; ok; ok = iter.Next() {
			k, kind, good := parseEntryKey(iter.Key())
			if !good || k < idx {
				continue
			}
			if k > idx {
				break
			}
			switch kind {
			case kindHashes:
				hc.offer(k, iter.Value())
			case kindPayload:
				buf = append(buf[:0], iter.Value()...) // Next may reuse Value's memory
				leaf = buf
			}
		}
		rec, err := l.findHashRecord(hc, lg, idx)
		if errors.Is(err, ErrNotFound) {
			continue // a damaged store; verify reports it
		}
		if err != nil {
			return err
		}
		if err := fn(idx, rec, leaf); err != nil {
			return err
		}
	}
	return iter.Error()
}

// scanHashRecords calls fn with the hash record of each index in [from, to)
// of the main store, in order, until fn returns false.
func (l *Ledger) scanHashRecords(lg *logHandle, from, to uint64, fn func(uint64, hashRecord) bool) error {
	hc := newHashCursor(l.db, lg.num)
	defer hc.close()
	for idx := from; idx < to; idx++ {
		rec, err := l.findHashRecord(hc, lg, idx)
		if errors.Is(err, ErrNotFound) {
			continue // a damaged store; verify reports it
		}
		if err != nil {
			return err
		}
		if !fn(idx, rec) {
			break
		}
	}
	return nil
}

// IndexOf returns the lowest committed index whose leaf hash is h, or
// ErrNotFound. Below the log's indexed mark it reads the index store and
// the open block (hashCandidates); above it, it scans the hash records of
// the few entries the indexer has not reached yet.
func (l *Ledger) IndexOf(logID string, h proofs.Hash) (uint64, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return 0, err
	}
	defer release()
	mark := min(lg.indexed.Load(), st.size)
	if l.index == nil {
		mark = 0
	}
	prefix := binary.BigEndian.Uint64(h[:hashIndexLen])
	cands, err := l.hashCandidates(lg, prefix, mark)
	if err != nil {
		return 0, err
	}
	for _, idx := range cands {
		// The index is a hint: only the hash record decides.
		if rec, err := l.hashRecord(lg, idx); err == nil && rec.leafHash == h {
			return idx, nil
		}
	}
	found, at := false, uint64(0)
	err = l.scanHashRecords(lg, mark, st.size, func(idx uint64, rec hashRecord) bool {
		if rec.leafHash == h {
			found, at = true, idx
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("leaf hash %s in log %q: %w", proofs.EncodeHash(h), logID, ErrNotFound)
	}
	return at, nil
}
