package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/cockroachdb/pebble/v2"
)

// The field indexes that let a search skip the entries that cannot match
// (issue #4). Like the leaf-hash lookup they are derived data, kept in the
// index store (hashindex.go) by the indexer goroutine, in the same batches
// and under the same per-log mark (decision 0005):
//
//	F <log#:4> <field:1> <value> 00 01 <index:8>   a posting (empty value)
//	C <log#:4> <field:1> <value> 00 01             how many postings the value has (uint64)
//	Z <log#:4> <block:8>                           min and max query time of the block's entries (int64 ns, 2×8)
//	V                                              the index store's format version (uint32)
//
// <value> is the value of Entry.IndexValues, cut to maxIndexValue bytes,
// with each 00 byte written 00 FF so that the 00 01 terminator sorts before
// any longer value: a value's postings are one key range, ascending by
// index, and the values that start with a prefix are one range too. A
// block is zoneBlock consecutive indexes; its zone record bounds the time
// (Entry.Time, or received_at) of its entries that have a payload.
//
// Postings are a superset: a cut value and an actor's id, name and email
// share one field, and result:success (most entries) is not indexed at
// all. Search reads every candidate's entry and applies Query.Match, and
// scans the tail above the mark directly, so an answer never depends on
// how far the indexer has got.
const (
	indexPostings = 'F'
	indexCounts   = 'C'
	indexZones    = 'Z'
	indexVersionK = 'V'

	// indexFormat is the index store's layout version; a store of another
	// version is emptied at open and rebuilt by the indexer.
	indexFormat = 2
	// maxIndexValue is the longest value written to an index key.
	maxIndexValue = 128
	// zoneBlock is how many indexes one zone record covers.
	zoneBlock = 1024
)

// indexFields maps the fields of Entry.IndexValues to their key byte.
var indexFields = map[string]byte{
	"category": 'c', "action": 'a', "actor": 'u', "target": 't', "ip": 'i', "result": 'r', "read_only": 'o',
}

// appendIndexValue appends v, cut and escaped; term adds the terminator.
func appendIndexValue(dst []byte, v string, term bool) []byte {
	if len(v) > maxIndexValue {
		v = v[:maxIndexValue]
	}
	for i := 0; i < len(v); i++ {
		dst = append(dst, v[i])
		if v[i] == 0 {
			dst = append(dst, 0xff)
		}
	}
	if term {
		dst = append(dst, 0, 1)
	}
	return dst
}

// fieldKey appends kind, the log number, the field byte and the value.
func fieldKey(dst []byte, kind byte, num uint32, field byte, value string, term bool) []byte {
	dst = append(dst, kind, 0, 0, 0, 0, field)
	binary.BigEndian.PutUint32(dst[len(dst)-5:], num)
	return appendIndexValue(dst, value, term)
}

func zoneKey(num uint32, block uint64) []byte {
	k := []byte{indexZones, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(k[1:], num)
	binary.BigEndian.PutUint64(k[5:], block)
	return k
}

// zone is the time range of one block's entries.
type zone struct{ min, max int64 }

func (z zone) encode() []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(z.min))
	return binary.BigEndian.AppendUint64(v, uint64(z.max))
}

func decodeZone(v []byte) (zone, bool) {
	if len(v) != 16 {
		return zone{}, false
	}
	return zone{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))}, true
}

// upperBound returns the smallest key greater than every key that starts
// with prefix, or nil when there is none.
func upperBound(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// checkIndexFormat empties an index store written in another format (or
// before the format was recorded), so that the indexer rebuilds it.
func checkIndexFormat(db *pebble.DB) (rebuilt bool, err error) {
	v, closer, err := db.Get([]byte{indexVersionK})
	if err == nil {
		ok := len(v) == 4 && binary.BigEndian.Uint32(v) == indexFormat
		closer.Close()
		if ok {
			return false, nil
		}
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return false, err
	}
	b := db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange([]byte{0}, []byte{0xff}, nil); err != nil {
		return false, err
	}
	if err := b.Set([]byte{indexVersionK}, binary.BigEndian.AppendUint32(nil, indexFormat), nil); err != nil {
		return false, err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return false, err
	}
	// Flushed (the store has no WAL): marks written after this must never
	// survive without it.
	return true, db.Flush()
}

// indexWriter adds one range of a log's entries to an index batch.
type indexWriter struct {
	l      *Ledger
	lg     *logHandle
	b      *pebble.Batch
	key    []byte
	counts map[string]uint64
	zones  map[uint64]zone
}

func (l *Ledger) newIndexWriter(lg *logHandle, b *pebble.Batch) *indexWriter {
	return &indexWriter{l: l, lg: lg, b: b, counts: map[string]uint64{}, zones: map[uint64]zone{}}
}

// add indexes entry idx: its leaf hash always, its fields when it has a
// payload this ledger can read (a damaged one is left to verify).
func (w *indexWriter) add(idx uint64, rec hashRecord, leaf []byte) error {
	w.key = indexHashKey(w.key[:0], w.lg.num, rec.leafHash, idx)
	if err := w.b.Set(w.key, nil, nil); err != nil {
		return err
	}
	if leaf == nil {
		return nil
	}
	en, err := ParseStoredEntry(leaf)
	if err != nil {
		return nil
	}
	for _, iv := range en.IndexValues() {
		f, ok := indexFields[iv.Field]
		if !ok || iv.Field == "result" && iv.Value == "success" {
			continue
		}
		w.key = fieldKey(w.key[:0], indexPostings, w.lg.num, f, iv.Value, true)
		w.counts[string(w.key)]++
		w.key = binary.BigEndian.AppendUint64(w.key, idx)
		if err := w.b.Set(w.key, nil, nil); err != nil {
			return err
		}
	}
	t := entryQueryTime(en).UnixNano()
	blk := idx / zoneBlock
	z, ok := w.zones[blk]
	if !ok {
		z = zone{math.MaxInt64, math.MinInt64}
	}
	w.zones[blk] = zone{min(z.min, t), max(z.max, t)}
	return nil
}

// finish adds the counts and zones gathered by add to the batch: counts as
// merge operands that countMerger adds up (no read), zones merged with the
// stored one (a read per block; the indexer is the store's only writer).
func (w *indexWriter) finish() error {
	for k, n := range w.counts {
		key := []byte(k)
		key[0] = indexCounts
		if err := w.b.Merge(key, binary.BigEndian.AppendUint64(nil, n), nil); err != nil {
			return err
		}
	}
	for blk, z := range w.zones {
		key := zoneKey(w.lg.num, blk)
		v, closer, err := w.l.index.Get(key)
		switch {
		case err == nil:
			if old, ok := decodeZone(v); ok {
				z = zone{min(z.min, old.min), max(z.max, old.max)}
			}
			closer.Close()
		case !errors.Is(err, pebble.ErrNotFound):
			return err
		}
		if err := w.b.Set(key, z.encode(), nil); err != nil {
			return err
		}
	}
	return nil
}

// indexUint64 reads a uint64 value of the index store; absent is 0.
func (l *Ledger) indexUint64(key []byte) (uint64, error) {
	v, closer, err := l.index.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("couldn't read the index store: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v), nil
}

// IndexedSize returns the size up to which the index store covers the log:
// leaf-hash lookups and searches read the indexes below it and scan above.
func (l *Ledger) IndexedSize(logID string) (uint64, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return 0, err
	}
	defer release()
	return min(lg.indexed.Load(), st.size), nil
}

// countMerger is the index store's merge operator: it adds up the uint64
// operands of a count key (C). Only count keys are merged. A value of
// another length counts 0 rather than fail a compaction.
var countMerger = &pebble.Merger{
	Name: "auditledger.count.v1",
	Merge: func(key, value []byte) (pebble.ValueMerger, error) {
		m := &countMerge{}
		return m, m.MergeNewer(value)
	},
}

type countMerge struct{ n uint64 }

func (m *countMerge) MergeNewer(v []byte) error {
	if len(v) == 8 {
		m.n += binary.BigEndian.Uint64(v)
	}
	return nil
}

func (m *countMerge) MergeOlder(v []byte) error { return m.MergeNewer(v) }

func (m *countMerge) Finish(bool) ([]byte, io.Closer, error) {
	return binary.BigEndian.AppendUint64(nil, m.n), nil, nil
}
