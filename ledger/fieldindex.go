package ledger

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/auditledger/auditledger/proofs"
)

// The field indexes that let a search skip the entries that cannot match
// (issue #4). Like the leaf-hash lookup they are derived data, kept in the
// index store (hashindex.go) by the indexer goroutine, under the same
// per-log mark (decision 0005), and for the newest posting block in memory
// (the open block, openblock.go; decision 0010):
//
//	P <log#:4> <block:8> <field:1> <value> 00 01   the block's postings of the value (uint16 offsets)
//	C <log#:4> <field:1> <value> 00 01             how many postings the value has (uint64), and in which posting blocks (a bitmap)
//	Z <log#:4> <zone:8>                            min and max query time of the zone's entries (int64 ns, 2×8)
//	V                                              the index store's format version (uint32)
//
// Postings are grouped by posting block (postingBlock consecutive indexes)
// first and by value second, so that the indexer writes at the end of the
// key space, as the log grows, and Pebble never rewrites older postings
// (decision 0006). A posting key's value is the offsets in the block
// (index − block × postingBlock) of the entries that have the value, as
// big-endian uint16s in ascending order: written once, as a value, when the
// block is sealed, or as merge operands that indexMerger appends when the
// open block is spilled (so nothing is read back). A search reads a value's
// postings one block at a time, in the blocks its count's bitmap names (a
// Get; the Bloom filters answer a miss of the actor's other spelling
// without a read), or, for a prefix, the
// range of the block's keys that start with it.
//
// <value> is the value of Entry.IndexValues, cut to maxIndexValue bytes,
// with each 00 byte written 00 FF so that the 00 01 terminator sorts before
// any longer value: the values that start with a prefix are one key range
// within a block, and within the counts. A zone is zoneBlock consecutive
// indexes; its record bounds the time (Entry.Time, or received_at) of its
// entries that have a payload.
//
// Postings are a superset: a cut value and an actor's id, name and email
// share one field, and result:success (most entries) is not indexed at
// all. Search applies Query.Match to every candidate except where the
// postings are exactly the term's matches (exactTerm), and scans the tail
// the indexer has not reached directly, so an answer never depends on how
// far the indexer has got.
const (
	indexPostings = 'P'
	indexCounts   = 'C'
	indexZones    = 'Z'
	indexVersionK = 'V'

	// indexFormat is the index store's layout version; a store of another
	// version is emptied at open and rebuilt by the indexer.
	indexFormat = 6
	// maxIndexValue is the longest value written to an index key.
	maxIndexValue = 128
	// zoneBlock is how many indexes one zone record covers.
	zoneBlock = 1024
)

// postingBlock is how many indexes one posting key covers: a uint16 offset
// addresses each of them. A variable only so that tests can cross many
// blocks with few entries (set before Open, never while a ledger is open).
var postingBlock uint64 = 1 << 16

// hashEpoch is how many indexes one leaf-hash key covers (offsets are
// uint32s); a variable for the same reason as postingBlock.
var hashEpoch uint64 = 1 << 20

// indexFields maps the fields of Entry.IndexValues to their key byte.
var indexFields = map[string]byte{
	"category": 'c', "action": 'a', "actor": 'u', "target": 't', "ip": 'i', "result": 'r', "read_only": 'o',
}

// appendIndexValue appends v, cut and escaped; term adds the terminator.
func appendIndexValue[T string | []byte](dst []byte, v T, term bool) []byte {
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

// postingKey appends the key of value's postings in block.
func postingKey(dst []byte, num uint32, block uint64, field byte, value string, term bool) []byte {
	dst = append(dst, indexPostings, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], num)
	dst = binary.BigEndian.AppendUint64(dst, block)
	dst = append(dst, field)
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

// indexWriter gathers the indexes of one range of a log's entries (the
// open block, openblock.go) and writes them to the index store.
type indexWriter struct {
	l       *Ledger
	lg      *logHandle
	key     []byte
	values  map[string]*valuePostings // field byte + encoded value → its postings
	hashes  []hashPosting             // in index order
	zones   map[uint64]zone
	scratch []byte
	// last is the chain hash of the last entry added; bound is false when
	// that entry's hash record was not read (a damaged store).
	last  proofs.Hash
	bound bool
	// The values of the entry added before, in the order add gave them,
	// and their postings: consecutive entries mostly share their category,
	// action, actor and address in the same places, and a compare costs
	// less than the map lookup it saves.
	prev []prevValue
	pos  int // the current entry's values so far
}

// prevValue is one value of the entry added before: its map key and
// postings.
type prevValue struct {
	key []byte
	vp  *valuePostings
}

// valuePostings are one value's postings in an indexer batch.
type valuePostings struct {
	n     uint64       // how many (the count's operand)
	lists []blockPosts // one per posting block, ascending
	// Room for the first block's list and its first four offsets, so that
	// a new value costs one allocation: most values of a high-cardinality
	// field (a target, an address) come once or a few times a block.
	first [1]blockPosts
	offs  [8]byte
}

// newValuePostings returns empty postings whose first block's list will
// use the room inside them.
func newValuePostings() *valuePostings {
	vp := &valuePostings{}
	vp.lists = vp.first[:0]
	return vp
}

type blockPosts struct {
	blk  uint64
	offs []byte // uint16s, ascending
}

// hashPosting is one entry of the leaf-hash lookup.
type hashPosting struct {
	epoch  uint64
	prefix uint64 // the hash's first hashIndexLen (8) bytes, big-endian
	off    uint32
}

// newIndexWriter returns a writer for lg whose map of values is sized for
// hint values (the number the log's last writer held, so that a log of
// many distinct targets or addresses does not grow its map, ~100,000 values
// a block, a doubling at a time).
func (l *Ledger) newIndexWriter(lg *logHandle, hint int) *indexWriter {
	values := make(map[string]*valuePostings, min(hint, maxValuesHint))
	return &indexWriter{l: l, lg: lg, values: values, zones: map[uint64]zone{}}
}

// maxValuesHint bounds newIndexWriter's hint.
const maxValuesHint = 1 << 18

// add indexes entry idx: its leaf hash always, its fields when it has a
// payload this ledger can read (a damaged one is left to verify). fields,
// when not nil, is what the appending caller computed of the entry
// (request.buildFields, appendIndexFields), and the leaf is not read; nil (an entry read from
// the store) has them read from the leaf, by leafIndexFields or, for a
// leaf it declines, ParseStoredEntry. Both give the same index. Entries
// must be added in ascending order.
func (w *indexWriter) add(idx uint64, rec hashRecord, leaf, fields []byte) error {
	hp := hashPosting{epoch: idx / hashEpoch, off: uint32(idx % hashEpoch)}
	hp.prefix = binary.BigEndian.Uint64(rec.leafHash[:hashIndexLen])
	blk, off := idx/postingBlock, uint16(idx%postingBlock)
	w.hashes = append(w.hashes, hp)
	w.last, w.bound = rec.chainHash, true
	if leaf == nil {
		return nil
	}
	w.pos = 0
	var (
		t  int64
		ok bool
	)
	if fields != nil {
		t, ok = eachIndexField(fields, func(f byte, v []byte) { w.addValue(f, v, blk, off) }), true
	} else {
		t, ok = leafIndexFields(leaf, &w.scratch, func(f byte, v []byte) { w.addValue(f, v, blk, off) })
	}
	if !ok {
		en, err := ParseStoredEntry(leaf)
		if err != nil {
			return nil
		}
		w.pos = 0 // leafIndexFields may have added some
		for _, iv := range en.IndexValues() {
			f, ok := indexFields[iv.Field]
			if !ok || iv.Field == "result" && iv.Value == "success" {
				continue
			}
			w.addValue(f, []byte(iv.Value), blk, off)
		}
		t = entryQueryTime(en).UnixNano()
	}
	zb := idx / zoneBlock
	z, ok := w.zones[zb]
	if !ok {
		z = zone{math.MaxInt64, math.MinInt64}
	}
	w.zones[zb] = zone{min(z.min, t), max(z.max, t)}
	return nil
}

// addValue adds the posting of value v of field f for the entry at offset
// off of posting block blk; a posting it has already is not added again.
func (w *indexWriter) addValue(f byte, v []byte, blk uint64, off uint16) {
	w.key = appendIndexValue(append(w.key[:0], f), v, true)
	var vp *valuePostings
	if w.pos < len(w.prev) && bytes.Equal(w.prev[w.pos].key, w.key) {
		vp = w.prev[w.pos].vp
	} else {
		if vp = w.values[string(w.key)]; vp == nil {
			vp = newValuePostings()
			w.values[string(w.key)] = vp
		}
		if w.pos == len(w.prev) {
			w.prev = append(w.prev, prevValue{})
		}
		w.prev[w.pos] = prevValue{append(w.prev[w.pos].key[:0], w.key...), vp}
	}
	w.pos++
	last := len(vp.lists) - 1
	if last < 0 || vp.lists[last].blk != blk {
		offs := vp.offs[:0:len(vp.offs)]
		if last >= 0 {
			offs = make([]byte, 0, 8)
		}
		vp.lists = append(vp.lists, blockPosts{blk: blk, offs: offs})
		last++
	}
	bp := &vp.lists[last]
	if n := len(bp.offs); n >= 2 && binary.BigEndian.Uint16(bp.offs[n-2:]) == off {
		return // a cut value, or one of an actor's fields, again
	}
	bp.offs = binary.BigEndian.AppendUint16(bp.offs, off)
	vp.n++
}

// finish adds the counts, postings and zones gathered by add to batch b:
// counts and postings as merge operands that indexMerger adds up or appends
// (no read), zones merged with the stored one (a read per zone; the indexer
// is the store's only writer). With sst not nil, the postings go there
// instead, as values (a whole posting block, sealed: openblock.go). finish
// changes nothing of w but its scratch key, so that readers may read w
// meanwhile.
func (w *indexWriter) finish(b *pebble.Batch, sst *sstable.Writer) error {
	// Each kind in key order: Pebble inserts a run of ascending keys into
	// its memtable far more cheaply than keys in random order.
	// The values with their postings, sorted once: looking each sorted
	// key up in the map again cost a sixth of finish with one new value
	// an entry.
	type value struct {
		key string
		vp  *valuePostings
	}
	values := make([]value, 0, len(w.values))
	for k, vp := range w.values {
		values = append(values, value{k, vp})
	}
	slices.SortFunc(values, func(a, b value) int { return strings.Compare(a.key, b.key) })
	type post struct {
		blk   uint64
		value string
		offs  []byte
	}
	var (
		posts = make([]post, 0, len(values)) // a value has a list or more
		v     []byte                         // Merge copies it
	)
	for _, kv := range values {
		k, vp := kv.key, kv.vp
		w.key = append(fieldKey(w.key[:0], indexCounts, w.lg.num, 0, "", false)[:5], k...)
		v = binary.BigEndian.AppendUint64(v[:0], vp.n)
		for _, bp := range vp.lists {
			v = setBlockBit(v, bp.blk)
		}
		if err := b.Merge(w.key, v, nil); err != nil {
			return err
		}
		for _, bp := range vp.lists {
			posts = append(posts, post{bp.blk, k, bp.offs})
		}
	}
	slices.SortFunc(posts, func(a, b post) int {
		if c := cmp.Compare(a.blk, b.blk); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	for _, p := range posts {
		w.key = append(postingKey(w.key[:0], w.lg.num, p.blk, 0, "", false)[:13], p.value...)
		var err error
		if sst != nil {
			err = sst.Set(w.key, p.offs)
		} else {
			err = b.Merge(w.key, p.offs, nil)
		}
		if err != nil {
			return err
		}
	}
	// By epoch and bucket, then by prefix and offset. A copy: readers scan
	// w.hashes meanwhile.
	hashes := sortHashes(w.hashes)
	var recs []byte
	for i, h := range hashes {
		recs = binary.BigEndian.AppendUint64(recs, h.prefix)
		recs = binary.BigEndian.AppendUint32(recs, h.off)
		if i+1 < len(hashes) && hashes[i+1].epoch == h.epoch && hashBucket(hashes[i+1].prefix) == hashBucket(h.prefix) {
			continue
		}
		w.key = indexHashKey(w.key[:0], w.lg.num, h.epoch, hashBucket(h.prefix))
		if err := b.Merge(w.key, recs, nil); err != nil {
			return err
		}
		recs = recs[:0]
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
		if err := b.Set(key, z.encode(), nil); err != nil {
			return err
		}
	}
	return nil
}

// sortHashes returns a copy of hs, which is in index order, sorted by
// epoch, prefix and offset (offsets are unique, so the order is total): a
// counting sort by bucket within each epoch, then each bucket, a few
// records, by insertion (with it, BenchmarkIndexWriter's finish-ns/entry
// fell ~9% against a comparison sort).
func sortHashes(hs []hashPosting) []hashPosting {
	out := make([]hashPosting, len(hs))
	next := make([]int, 1<<hashBucketBits)
	for lo := 0; lo < len(hs); {
		hi := lo
		for hi < len(hs) && hs[hi].epoch == hs[lo].epoch {
			hi++
		}
		// next[b]: where bucket b's next record goes, from lo.
		clear(next)
		for _, h := range hs[lo:hi] {
			next[hashBucket(h.prefix)]++
		}
		at := lo
		for b, n := range next {
			next[b] = at
			at += n
		}
		for _, h := range hs[lo:hi] {
			b := hashBucket(h.prefix)
			out[next[b]] = h
			next[b]++
		}
		// Each bucket, now in index order, by prefix; stable, so equal
		// prefixes keep their offsets ascending.
		begin := lo
		for _, end := range next {
			for i := begin + 1; i < end; i++ {
				for j := i; j > begin && out[j].prefix < out[j-1].prefix; j-- {
					out[j], out[j-1] = out[j-1], out[j]
				}
			}
			begin = max(begin, end)
		}
		lo = hi
	}
	return out
}

// A count value (C) is the number of postings of its value (uint64), then
// a bitmap of the posting blocks that hold any: bit b%8 of byte 8+b/8 for
// block b. A search asks only those blocks.

// setBlockBit sets block blk's bit in count value v (at least 8 bytes).
func setBlockBit(v []byte, blk uint64) []byte {
	i := 8 + int(blk/8)
	if len(v) <= i {
		v = append(v, make([]byte, i+1-len(v))...)
	}
	v[i] |= 1 << (blk % 8)
	return v
}

// setBitmapBit sets block blk's bit in a block bitmap (a count value's
// tail), growing it as needed.
func setBitmapBit(bm []byte, blk uint64) []byte {
	i := int(blk / 8)
	if len(bm) <= i {
		bm = append(bm, make([]byte, i+1-len(bm))...)
	}
	bm[i] |= 1 << (blk % 8)
	return bm
}

// decodeCount splits a count value; ok is false for a malformed one.
func decodeCount(v []byte) (n uint64, blocks []byte, ok bool) {
	if len(v) < 8 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(v), v[8:], true
}

// indexCount reads a count value of the index store: the postings and a
// copy of the block bitmap; absent is 0 and no blocks.
func (l *Ledger) indexCount(key []byte) (uint64, []byte, error) {
	v, closer, err := l.index.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("couldn't read the index store: %w", err)
	}
	defer closer.Close()
	n, blocks, _ := decodeCount(v)
	return n, slices.Clone(blocks), nil
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

// indexMerger is the index store's merge operator. It adds up the counts
// of a count key (C) and ORs their block bitmaps, and appends the operands
// of a posting key (P) or a leaf-hash bucket (X) oldest first: the indexer
// writes each block's offsets in ascending order, batch after batch, so
// postings stay sorted; a bucket's records are a run per indexer batch,
// each sorted by hash, and lookups read them all (IndexOf). A count operand
// shorter than 8 bytes counts 0 rather than fail a compaction.
var indexMerger = &pebble.Merger{
	Name: "auditledger.index.v2",
	Merge: func(key, value []byte) (pebble.ValueMerger, error) {
		if len(key) > 0 && (key[0] == indexPostings || key[0] == indexHashes) {
			return &appendMerge{buf: append([]byte(nil), value...)}, nil
		}
		m := &countMerge{}
		return m, m.MergeNewer(value)
	},
}

// countMerge adds up counts and ORs their block bitmaps.
type countMerge struct {
	n      uint64
	blocks []byte
}

func (m *countMerge) MergeNewer(v []byte) error {
	n, blocks, ok := decodeCount(v)
	if !ok {
		return nil
	}
	m.n += n
	if len(m.blocks) < len(blocks) {
		m.blocks = append(m.blocks, make([]byte, len(blocks)-len(m.blocks))...)
	}
	for i, b := range blocks {
		m.blocks[i] |= b
	}
	return nil
}

func (m *countMerge) MergeOlder(v []byte) error { return m.MergeNewer(v) }

func (m *countMerge) Finish(bool) ([]byte, io.Closer, error) {
	return append(binary.BigEndian.AppendUint64(nil, m.n), m.blocks...), nil, nil
}

// appendMerge concatenates operands, oldest first. Operands are copied
// (the caller keeps them) and joined once, in Finish: a key may gather
// thousands of small operands, one per indexer batch.
type appendMerge struct {
	buf   []byte   // the first operand and the newer ones, in order
	older [][]byte // operands older than buf, newest first
}

func (m *appendMerge) MergeNewer(v []byte) error {
	m.buf = append(m.buf, v...)
	return nil
}

func (m *appendMerge) MergeOlder(v []byte) error {
	m.older = append(m.older, slices.Clone(v))
	return nil
}

func (m *appendMerge) Finish(bool) ([]byte, io.Closer, error) {
	if len(m.older) == 0 {
		return m.buf, nil, nil
	}
	n := len(m.buf)
	for _, o := range m.older {
		n += len(o)
	}
	out := make([]byte, 0, n)
	for i := len(m.older) - 1; i >= 0; i-- {
		out = append(out, m.older[i]...)
	}
	return append(out, m.buf...), nil, nil
}
