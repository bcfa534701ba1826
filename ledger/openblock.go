package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The open block (decision 0010). The indexer gathers each log's newest
// entries in memory, in an indexWriter, until their posting block is full,
// and only then writes the block's indexes to the index store, once:
//
//   - its posting keys (P) into one sstable, which is ingested. A closed
//     block's posting keys are a key range no later write touches, so Pebble
//     places the file low in the tree, never inserts its keys into a
//     memtable and never compacts them again;
//   - its counts (C), leaf-hash buckets (X) and zones (Z) into one batch,
//     with the log's mark (M), one key per distinct value or bucket per
//     block instead of one per paced indexer batch.
//
// Sealing cut what indexing costs an append to about a third (2.9–4.5 µs
// of CPU per entry before, 0.9–1.3 after; docs/performance.md, "Session 6").
//
// The entries in memory count as indexed (lg.indexed): searches and
// lookups by hash read the open block under its lock, together with the
// index store, so that a seal, which moves a block from one to the other
// under the lock, never hides an entry from them.
//
// Crashes. The index store has no WAL, and a seal ingests its sstable (which
// is durable at once) before it commits its batch (which is not, until the
// memtable is flushed). A crash in between leaves posting keys above the
// log's mark; at open, trimPostings deletes every posting above the mark, so
// that a block is always indexed from nothing again, and the counts, written
// only with the mark, are never added twice. The open block itself is lost
// with the process and gathered again from the main store (≤ 65,535 entries
// per log; searches scan them meanwhile, as they scan any unindexed tail).
//
// Memory. An open block holds ~150 bytes per entry (the benchmark's events,
// whose targets are all distinct): ~10 MB for a full one. When the open
// blocks of all logs hold more than Config.IndexMemoryEntries, the indexer
// spills the largest ones: their indexes are written as the paced batches
// of index format 6 wrote them, merge operands in a batch with the mark, and
// that block is sealed the same way when it fills. Close spills every open
// block, so that a restart has nothing to gather.

// indexChunk is how many entries the indexer adds to an open block under
// one hold of its lock (~2 ms): readers wait at most that long.
const indexChunk = 1024

// openBlock is the part of a log's indexes that the indexer holds in
// memory: the entries [from, end), all in posting block from/postingBlock.
// The index store holds the log's indexes below from (its mark).
type openBlock struct {
	// mu guards the fields below and what w holds. Only the indexer
	// writes them (and resetLogIndex, at open or in tests).
	mu   sync.RWMutex
	from uint64
	end  uint64
	w    *indexWriter // nil when from == end
	// values is how many values the last writer flushed held: the next
	// one's size hint.
	values int
}

// blockEnd returns the index at which the posting block of idx ends.
func blockEnd(idx uint64) uint64 { return (idx/postingBlock + 1) * postingBlock }

// full reports whether the open block reaches the end of its posting
// block, so that it is sealed next. mu must be held.
func (ob *openBlock) full() bool { return ob.w != nil && ob.end == blockEnd(ob.from) }

// state returns the open block's writer and range, and whether it is full.
func (ob *openBlock) state() (w *indexWriter, from, end uint64, full bool) {
	ob.mu.RLock()
	defer ob.mu.RUnlock()
	return ob.w, ob.from, ob.end, ob.full()
}

// memBlock returns the posting block whose entries the open block holds;
// ok is false when it holds none. mu must be held.
func (ob *openBlock) memBlock() (blk uint64, ok bool) {
	if ob.w == nil {
		return 0, false
	}
	return ob.from / postingBlock, true
}

// count returns how many postings the open block holds of the value whose
// field byte and encoded, terminated value are key. mu must be held.
func (ob *openBlock) count(key []byte) uint64 {
	if ob.w == nil {
		return 0
	}
	if vp := ob.w.values[string(key)]; vp != nil {
		return vp.n
	}
	return 0
}

// prefixCount returns how many postings the open block holds of the values
// of field fb that start with the encoded prefix pfx, and how many values
// those are. mu must be held.
func (ob *openBlock) prefixCount(fb byte, pfx []byte) (n uint64, values int) {
	if ob.w == nil {
		return 0, 0
	}
	for k, vp := range ob.w.values {
		if len(k) > len(pfx) && k[0] == fb && k[1:1+len(pfx)] == string(pfx) {
			n += vp.n
			values++
		}
	}
	return n, values
}

// appendPostings appends to dst the open block's offsets of the exact
// values (encoded, terminated) and of the values that start with one of
// prefixes, all of field fb; it returns how many lists it appended. mu
// must be held.
func (ob *openBlock) appendPostings(dst []uint16, fb byte, exact, prefixes [][]byte) ([]uint16, int) {
	if ob.w == nil {
		return dst, 0
	}
	parts := 0
	blk := ob.from / postingBlock
	add := func(vp *valuePostings) {
		for _, bp := range vp.lists {
			if bp.blk != blk {
				continue
			}
			for i := 0; i+1 < len(bp.offs); i += 2 {
				dst = append(dst, binary.BigEndian.Uint16(bp.offs[i:]))
			}
			parts++
		}
	}
	key := []byte{fb}
	for _, enc := range exact {
		key = append(key[:1], enc...)
		if vp := ob.w.values[string(key)]; vp != nil {
			add(vp)
		}
	}
	if len(prefixes) > 0 {
		for k, vp := range ob.w.values {
			if k[0] != fb {
				continue
			}
			for _, pfx := range prefixes {
				if len(k) > len(pfx) && k[1:1+len(pfx)] == string(pfx) {
					add(vp)
					break
				}
			}
		}
	}
	return dst, parts
}

// hashCandidates appends to dst the indexes below mark of the open block's
// entries whose leaf hash starts with the 8 bytes of prefix. mu must be
// held.
func (ob *openBlock) hashCandidates(dst []uint64, prefix, mark uint64) []uint64 {
	if ob.w == nil {
		return dst
	}
	for _, h := range ob.w.hashes {
		if h.prefix == prefix {
			if idx := h.epoch*hashEpoch + uint64(h.off); idx < mark {
				dst = append(dst, idx)
			}
		}
	}
	return dst
}

// gather adds the committed entries [from, to) of lg, all in one posting
// block and from = the open block's end, to its open block.
func (l *Ledger) gather(lg *logHandle, from, to uint64) error {
	ob := &lg.open
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if ob.w == nil {
		ob.w = l.newIndexWriter(lg, ob.values)
	}
	w := ob.w
	var err error
	if parts, ok := lg.fresh.take(from, to); ok {
		idx := from
	add:
		for _, part := range parts {
			for i := range part {
				e := &part[i]
				if err = w.add(idx, e.rec, e.leaf, e.fields()); err != nil {
					break add
				}
				idx++
			}
		}
	} else {
		last := uint64(0)
		err = l.scanEntryRecords(lg, from, to, func(idx uint64, rec hashRecord, leaf []byte) error {
			last = idx
			return w.add(idx, rec, leaf, nil)
		})
		if last != to-1 {
			// The last entry has no hash record (a damaged store): the
			// mark cannot be bound to its chain hash.
			w.bound = false
		}
	}
	if err != nil {
		// Part of the range may be in w: start the block again, from the
		// store, at the next run.
		ob.w, ob.end = nil, ob.from
		lg.indexed.Store(ob.from)
		return err
	}
	ob.end = to
	lg.indexed.Store(to)
	return nil
}

// flushOpen writes lg's open block to the index store and empties it: a
// whole posting block sealed (its postings ingested as an sstable, the rest
// in a batch with the mark), or anything else (a block that is only part in
// memory, or not full) spilled as merge operands in one batch with the
// mark.
func (l *Ledger) flushOpen(lg *logHandle) error {
	ob := &lg.open
	w, from, end, _ := ob.state()
	if w == nil {
		return nil
	}
	b := l.index.NewBatch()
	defer b.Close()
	whole := from%postingBlock == 0 && end == from+postingBlock
	if whole {
		// Ingested first: a crash before the batch is flushed leaves
		// postings above the mark, which trimPostings deletes at open.
		if err := l.sealPostings(w, b); err != nil {
			return fmt.Errorf("couldn't seal posting block %d of log %q: %w", from/postingBlock, lg.id, err)
		}
	} else if err := w.finish(b, nil); err != nil {
		return err
	}
	// The mark goes in the same batch as the counts and buckets it covers.
	if err := b.Set(indexMarkKey(lg.num), encodeIndexMark(end, w.last, w.bound), nil); err != nil {
		return err
	}
	// Committed under the lock, and the block emptied with it: a reader
	// sees these entries either in memory or in the store, never in
	// neither.
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	ob.w, ob.from, ob.values = nil, end, len(w.values)
	if sealHook != nil && whole {
		sealHook("committed")
	}
	return nil
}

// sealPostings writes w's postings, a whole posting block, into an sstable
// and ingests it, and the rest of w into b.
func (l *Ledger) sealPostings(w *indexWriter, b *pebble.Batch) error {
	path := filepath.Join(l.cfg.Dir, "index", sealFile)
	f, err := l.cfg.FS.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	sw := sstable.NewWriter(objstorageprovider.NewFileWritable(f), l.sealOpts)
	if err := w.finish(b, sw); err != nil {
		sw.Close()
		l.cfg.FS.Remove(path)
		return err
	}
	// Close syncs the file, as Ingest requires.
	if err := sw.Close(); err != nil {
		l.cfg.FS.Remove(path)
		return err
	}
	if sealHook != nil {
		sealHook("written")
	}
	// Ingest moves the file into the store (and removes it on success).
	if err := l.index.Ingest(context.Background(), []string{path}); err != nil {
		l.cfg.FS.Remove(path)
		return err
	}
	if sealHook != nil {
		sealHook("ingested")
	}
	return nil
}

// sealHook, when set (by tests, before Open), is called at each step of a
// seal: "written" (the sstable), "ingested", "committed" (the batch).
var sealHook func(step string)

// sealFile is the name, in the index store's directory, of the sstable a
// seal writes before ingesting it; Pebble ignores it, and openIndex removes
// one a crash left behind.
const sealFile = "seal.sst.tmp"

// spillOverBudget spills the largest open blocks while all of them hold
// more than Config.IndexMemoryEntries.
func (l *Ledger) spillOverBudget() {
	for {
		var (
			total uint64
			big   *logHandle
		)
		var most uint64
		for _, lg := range l.handles() {
			_, from, end, _ := lg.open.state()
			total += end - from
			if end-from > most {
				big, most = lg, end-from
			}
		}
		if total <= uint64(l.cfg.IndexMemoryEntries) || big == nil {
			return
		}
		if err := l.flushOpen(big); err != nil {
			l.cfg.Logger.Warn("spilling an open index block failed", "log", big.id, "err", err)
			return
		}
	}
}

// flushAllOpen writes every log's open block to the index store (at Close).
func (l *Ledger) flushAllOpen() {
	for _, lg := range l.handles() {
		if err := l.flushOpen(lg); err != nil {
			l.cfg.Logger.Warn("writing an open index block failed; it is gathered again at the next open", "log", lg.id, "err", err)
		}
	}
}

// trimPostings deletes the posting keys of lg at or above mark: those a
// seal ingested before a crash lost its mark. The block holding the mark
// keeps its offsets below it (written by spills, with their marks).
func (l *Ledger) trimPostings(lg *logHandle, mark uint64) error {
	blk, off := mark/postingBlock, uint16(mark%postingBlock)
	all := postingKey(nil, lg.num, 0, 0, "", false)[:5]
	it, err := l.index.NewIter(&pebble.IterOptions{
		LowerBound: postingKey(nil, lg.num, blk, 0, "", false)[:13],
		UpperBound: upperBound(all),
	})
	if err != nil {
		return err
	}
	b := l.index.NewBatch()
	defer b.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < 13 {
			continue
		}
		var kept []byte
		if binary.BigEndian.Uint64(k[5:13]) == blk {
			v := it.Value()
			for i := 0; i+1 < len(v); i += 2 {
				if binary.BigEndian.Uint16(v[i:]) < off {
					kept = append(kept, v[i:i+2]...)
				}
			}
			if len(kept) == len(v)-len(v)%2 {
				continue
			}
		}
		n++
		if len(kept) == 0 {
			err = b.Delete(k, nil)
		} else {
			err = b.Set(k, kept, nil)
		}
		if err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	l.cfg.Logger.Info("deleting postings above the index mark (a seal cut short)", "log", lg.id, "keys", n)
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	// Flushed (the store has no WAL) before anything is sealed again.
	return l.index.Flush()
}

// removeSealFile removes an sstable a seal left behind, if any.
func removeSealFile(fs vfs.FS, dir string) error {
	path := filepath.Join(dir, sealFile)
	if _, err := fs.Stat(path); err != nil {
		return nil // none (or unreadable: the next seal's Create says so)
	}
	return fs.Remove(path)
}
