package ledger

import (
	"sync"
)

// The committer hands each commit's entries to the indexer in memory, so
// that the indexer need not read back from Pebble what was just written
// (that read, out of the memtable or the block cache, was ~4 % of the
// ingest's CPU in the profile of Append/batch=1024, and more once the
// entries have left the memtable). Each entry also carries what the
// indexer needs of it, its query time and indexed values, which the
// appending caller computes from the event while the entry is
// committed (request.buildFields, appendIndexFields), so that the indexer
// need not parse the leaf again either: that parse (leafIndexFields) was
// ~0.9 µs an entry, ~7 % of the same profile's CPU; the caller now spends
// ~0.1–0.2 µs an entry, during the commit's fsync, and the indexer reading
// them next to nothing. The hand-off is only a shortcut: it holds at most
// freshMax entries per log, and whatever it does not hold (dropped when
// full, or from before a restart) the indexer reads from the store,
// leaves and all, as before.

// freshMax bounds the entries (with their leaves and fields) a log's
// hand-off holds.
const freshMax = 4 * indexBatch

// freshEntry is one committed entry, as the indexer needs it.
type freshEntry struct {
	rec  hashRecord
	leaf []byte // the stored leaf; shared with the request, never changed
	// built holds the entry's query time and indexed values, as
	// appendIndexFields wrote them (request.buildFields), at index at;
	// the indexer reads them with fields.
	built *builtFields
	at    int
}

// fields returns the entry's query time and indexed values as
// appendIndexFields wrote them, waiting until the caller that built the
// entry has written them (it does so while the entry is committed, so
// by the time the entry is in the hand-off this rarely waits), or nil
// when there are none: the indexer then reads the leaf.
func (e *freshEntry) fields() []byte {
	if e.built == nil {
		return nil
	}
	<-e.built.done
	if e.built.lists == nil {
		return nil
	}
	return e.built.lists[e.at]
}

// freshQueue is one log's hand-off: runs of consecutive entries, oldest
// first, each as its commit pushed it (never copied into another).
type freshQueue struct {
	mu    sync.Mutex
	segs  []freshSeg
	n     int    // entries in segs
	taken uint64 // entries handed to the indexer so far (tests read it)
}

type freshSeg struct {
	first   uint64 // the index of entries[0]
	entries []freshEntry
}

// push adds the committed entries first, first+1, …; called by the
// committer (sequencer.go) after the commit that made them durable. When the queue is
// full they are dropped, and the indexer reads them from the store.
func (q *freshQueue) push(first uint64, entries []freshEntry) {
	if len(entries) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n+len(entries) > freshMax {
		return
	}
	q.segs = append(q.segs, freshSeg{first: first, entries: entries})
	q.n += len(entries)
}

// take returns the entries [from, to), in the runs that hold them, when the
// queue holds all of them, and drops everything below to (or below from,
// when it does not).
func (q *freshQueue) take(from, to uint64) ([][]freshEntry, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropBelow(from)
	// Do the runs hold [from, to) without a gap?
	next := from
	for k := 0; k < len(q.segs) && next < to; k++ {
		s := &q.segs[k]
		if s.first > next {
			return nil, false // a gap: read [from, to) from the store
		}
		next = max(next, s.first+uint64(len(s.entries)))
	}
	if next < to {
		return nil, false
	}
	var parts [][]freshEntry
	for next = from; next < to; {
		s := &q.segs[0]
		lo, hi := next-s.first, min(to-s.first, uint64(len(s.entries)))
		parts = append(parts, s.entries[lo:hi:hi])
		next = s.first + hi
		// Keep the rest of the run for the next take.
		q.n -= int(hi)
		if hi == uint64(len(s.entries)) {
			q.segs[0] = freshSeg{}
			q.segs = q.segs[1:]
		} else {
			s.entries, s.first = s.entries[hi:], next
		}
	}
	q.taken += to - from
	return parts, true
}

// dropBelow drops the runs that lie wholly below from.
func (q *freshQueue) dropBelow(from uint64) {
	for len(q.segs) > 0 && q.segs[0].first+uint64(len(q.segs[0].entries)) <= from {
		q.n -= len(q.segs[0].entries)
		q.segs[0] = freshSeg{}
		q.segs = q.segs[1:]
	}
}

// clear drops everything (the log's indexes are being rebuilt).
func (q *freshQueue) clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.segs, q.n = nil, 0
}
