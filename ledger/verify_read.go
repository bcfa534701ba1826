package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/proofs"
)

// The reader and hasher stages of Verify. The E range of a log is cut into
// segments of verifySegment entries at the keys "L n E <i>" (every record of
// entry i sorts at or after that key and before the next entry's), and the
// readers take the segments in turn: reader w reads segments w, w+R, w+2R, …
// with its own iterator on Verify's snapshot. A reader groups the records of
// each entry, finds its hash record in its run (with a hashCursor of its own,
// and adds the entries that have a record but no key), notes the chain hash of
// the entry before it in the segment, copies the payload and tiles into its
// batch, and hands the batch to the hashers (work) and to Verify (its own
// channel, out). Any hasher hashes the payloads and chain links and checks
// received_at, then closes the batch's done. Verify takes the segments in
// order, reader by reader, and waits for each batch's done, so it sees the
// records in key order, exactly as one scan of the whole range would give
// them: the hand-off is ordered and its memory is bounded by the channels'
// capacity.
const (
	// verifySegment is the entries in one segment.
	verifySegment = 4096
	// verifyBatch is how many records a reader hands over at once.
	verifyBatch = 256
	// verifyMaxReaders bounds the readers and the hashers: past a few,
	// Verify's own goroutine (chain and tree, ~0.3 µs per entry) is the
	// limit, and each reader can be two segments ahead: up to 2·16+5 batches
	// of 256 records (70 kB) and their payloads (~115 kB), ~7 MB.
	verifyMaxReaders = 8
)

// verifyRecord is one entry's records as the reader stage of Verify found
// them, with its payload already hashed.
type verifyRecord struct {
	entry    bool // an entry; false for a record of notes only
	idx      uint64
	hasH     bool
	rec      hashRecord
	hErr     error
	hasP     bool
	payload  [2]int32    // the payload's [start, end) in the batch's arena, with a byte before it for the prefix
	leafHash proofs.Hash // of the payload, when hasP (set by the hasher)
	raOK     bool        // the payload holds rec's received_at (set by the hasher)
	// When hasLink, link is ChainHash(linkFrom, rec.leafHash), linkFrom being
	// the chain hash of the entry before it in the segment. Verify uses it
	// when its own previous chain hash is linkFrom, and hashes itself if not.
	hasLink  bool
	linkFrom proofs.Hash
	link     proofs.Hash // set by the hasher
	tiles    []verifyTile
	notes    []Problem // keys the reader could not place; Index is a lower bound
}

type verifyTile struct {
	level  uint64
	hashes [2]int32 // [start, end) in the batch's arena
}

// verifyBatchOf is what a reader hands over: records in key order.
type verifyBatchOf struct {
	recs  []verifyRecord
	arena []byte        // holds the recs' payloads and tiles
	end   bool          // the last batch of its segment
	done  chan struct{} // closed when a hasher has hashed the batch
}

// hash computes, for each record of the batch, its leaf hash, its chain link
// and whether its payload holds its received_at. ra is the hasher's own.
func (b *verifyBatchOf) hash(ra *receivedAtCache) {
	for i := range b.recs {
		r := &b.recs[i]
		if !r.entry {
			continue
		}
		if r.hasP {
			p := b.arena[r.payload[0]-1 : r.payload[1]] // one byte of room for the prefix
			r.leafHash = proofs.LeafHashPrefixed(p)
			r.raOK = r.hasH && r.hErr == nil && containsReceivedAt(p, ra.of(r.rec.receivedAt))
		}
		if r.hasLink {
			r.link = proofs.ChainHash(r.linkFrom, r.rec.leafHash)
		}
	}
	close(b.done)
}

// verifyReader is one reader of the stage; its fields are its own.
type verifyReader struct {
	out      chan *verifyBatchOf // to Verify; closed when the reader stops
	work     chan *verifyBatchOf // to the hashers, each batch before it goes out
	free     chan *verifyBatchOf // batches Verify hands back for reuse
	batchLen int
	n        int         // records read, for the ctx checks
	hc       *hashCursor // finds each entry's hash record in its run
}

// run reads segments first, first+step, … of bounds (segment s is the keys
// in [bounds[s], bounds[s+1])) until they are done, stop closes or ctx is
// done. It closes r.out when it returns.
func (r *verifyReader) run(ctx context.Context, snap *pebble.Snapshot, num uint32, bounds [][]byte, segment uint64, first, step int, stop <-chan struct{}) error {
	defer close(r.out)
	iter, err := snap.NewIter(&pebble.IterOptions{})
	if err != nil {
		return fmt.Errorf("couldn't open an iterator: %w", err)
	}
	defer iter.Close()
	r.hc = newHashCursor(snap, num)
	defer r.hc.close()
	for s := first; s+1 < len(bounds); s += step {
		if err := ctx.Err(); err != nil {
			return err
		}
		iter.SetBounds(bounds[s], bounds[s+1])
		lo, hi := uint64(s)*segment, uint64(s+1)*segment
		if s+2 == len(bounds) {
			hi = math.MaxUint64 // the last segment: up to the last key
		}
		ok, err := r.segment(ctx, iter, lo, hi, stop)
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

// newBatch returns an empty batch, reused when Verify handed one back.
func (r *verifyReader) newBatch() *verifyBatchOf {
	select {
	case b := <-r.free:
		b.recs, b.arena, b.end, b.done = b.recs[:0], b.arena[:0], false, make(chan struct{})
		return b
	default:
		return &verifyBatchOf{recs: make([]verifyRecord, 0, r.batchLen), done: make(chan struct{})}
	}
}

// segment reads one segment, the entries [lo, hi): it groups each index's
// records, hashes the payloads and checks their received_at and chain links,
// and sends the records in batches, the last one marked. An index without a
// key of its own whose record is in a run (its payload deleted) is an entry
// too. It returns false if stop closed.
func (r *verifyReader) segment(ctx context.Context, iter *pebble.Iterator, lo, hi uint64, stop <-chan struct{}) (bool, error) {
	var (
		batch   = r.newBatch()
		cur     *verifyRecord
		prev    proofs.Hash // chain hash of the last entry with a hash record
		hasPrev bool
		next    = lo // the lowest index not met yet
	)
	send := func() bool {
		r.work <- batch // never blocks: work holds every batch that can be out
		select {
		case r.out <- batch:
			batch = r.newBatch()
			return true
		case <-stop:
			return false
		}
	}
	finish := func() {
		if cur == nil || !cur.entry {
			return
		}
		rec, err := r.hc.find(cur.idx)
		switch {
		case err == nil:
			cur.hasH, cur.rec = true, rec
		case errors.Is(err, errNoHashRecord):
		default:
			cur.hasH, cur.hErr = true, err
		}
		if cur.hasH && cur.hErr == nil {
			if hasPrev {
				cur.hasLink, cur.linkFrom = true, prev
			}
			prev, hasPrev = cur.rec.chainHash, true
		}
	}
	// add starts the record of the next key, of entry idx when entry.
	add := func(entry bool, idx uint64) (bool, error) {
		finish()
		if len(batch.recs) == r.batchLen {
			if !send() {
				return false, nil
			}
		}
		if r.n++; r.n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		batch.recs = append(batch.recs, verifyRecord{})
		cur = &batch.recs[len(batch.recs)-1]
		if entry {
			cur.entry, cur.idx = true, idx
			next = max(next, idx+1)
		}
		return true, nil
	}
	// fill adds the entries in [next, to) that have no key but a record in
	// a run. Runs do not cross tiles, so past an index no run holds, the
	// next candidate is the start of the next run in its tile, or the next
	// tile.
	fill := func(to uint64) (bool, error) {
		for g := next; g < to; {
			_, err := r.hc.find(g)
			if errors.Is(err, errNoHashRecord) {
				if r.hc.n > 0 && r.hc.last > g && r.hc.last>>proofs.TileHeight == g>>proofs.TileHeight {
					g = max(g+1, r.hc.last+1-r.hc.n)
				} else {
					g = (g | (proofs.TileWidth - 1)) + 1
				}
				continue
			}
			if ok, err := add(true, g); !ok {
				return false, err
			}
			g++
		}
		return true, nil
	}
	for iter.First(); iter.Valid(); iter.Next() {
		k := iter.Key()
		idx, kind, ok := parseEntryKey(k)
		if !ok || cur == nil || !cur.entry || idx != cur.idx {
			if ok && idx > next {
				if ok, err := fill(idx); !ok {
					return false, err
				}
			}
			if ok, err := add(ok, idx); !ok {
				return false, err
			}
		}
		if !ok {
			cur.notes = append(cur.notes, Problem{Problem: fmt.Sprintf("unknown key %x", k)})
			continue
		}
		switch kind {
		case kindHashes:
			r.hc.offer(idx, iter.Value()) // finish reads it, and malformed ones

		case kindPayload:
			// A payload met twice (it cannot be: keys are unique) keeps the last.
			batch.arena = append(append(batch.arena, 0), iter.Value()...)
			cur.payload = [2]int32{int32(len(batch.arena) - len(iter.Value())), int32(len(batch.arena))}
			cur.hasP = true
		case kindTile:
			if len(k) != 16 {
				cur.notes = append(cur.notes, Problem{Index: idx, Problem: fmt.Sprintf("malformed tile key %x", k)})
				continue
			}
			v := iter.Value()
			batch.arena = append(batch.arena, v...)
			cur.tiles = append(cur.tiles, verifyTile{uint64(k[15]), [2]int32{int32(len(batch.arena) - len(v)), int32(len(batch.arena))}})
		default:
			cur.notes = append(cur.notes, Problem{Index: idx, Problem: fmt.Sprintf("unknown record kind %q", kind)})
		}
	}
	if err := iter.Error(); err != nil {
		return false, err
	}
	if hi != math.MaxUint64 && next < hi {
		if ok, err := fill(hi); !ok {
			return false, err
		}
	}
	finish()
	batch.end = true
	return send(), nil
}

// containsReceivedAt reports whether payload holds field, the received_at
// member as receivedAtField writes it. It is bytes.Contains, but it looks for
// the '_' of "received_at" (rare in a leaf) rather than the field's first
// byte, '"' (in every member).
func containsReceivedAt(payload, field []byte) bool {
	const anchor = len(`"received`) // the offset of '_' in field
	for off := 0; ; {
		i := bytes.IndexByte(payload[off:], '_')
		if i < 0 {
			return false
		}
		p := off + i - anchor
		if p >= 0 && p+len(field) <= len(payload) && bytes.Equal(payload[p:p+len(field)], field) {
			return true
		}
		off += i + 1
	}
}

// receivedAtCache keeps the last received_at member formatted.
type receivedAtCache struct {
	nanos int64
	field []byte
}

func (c *receivedAtCache) of(nanos int64) []byte {
	if c.field == nil || c.nanos != nanos {
		c.nanos, c.field = nanos, receivedAtField(nanos)
	}
	return c.field
}

// receivedAtField is the received_at member as the leaf writes it.
func receivedAtField(nanos int64) []byte {
	b := append(make([]byte, 0, 48), `"received_at":"`...)
	b = time.Unix(0, nanos).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
