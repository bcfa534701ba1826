package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"

	"github.com/auditledger/auditledger/proofs"
)

// maxProblems bounds the problems one Verify reports; past it the report says
// how many more it found.
const maxProblems = 1000

// Problem is one finding of Verify.
type Problem struct {
	// Index is the entry the problem is at (for a checkpoint: the first entry
	// it covers that does not hold, or its size when entries are missing).
	Index uint64 `json:"index"`
	// Problem says what is wrong, in words.
	Problem string `json:"problem"`
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Log       string      `json:"log"`
	OK        bool        `json:"ok"`
	Size      uint64      `json:"size"`
	Root      proofs.Hash `json:"-"`
	ChainHead proofs.Hash `json:"-"`
	// Checkpoints is the number of stored checkpoints checked.
	Checkpoints int       `json:"checkpoints"`
	Problems    []Problem `json:"problems"`
	// MoreProblems counts problems found past maxProblems.
	MoreProblems int `json:"more_problems,omitempty"`
}

func (r *VerifyReport) add(index uint64, format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.MoreProblems++
		return
	}
	r.Problems = append(r.Problems, Problem{Index: index, Problem: fmt.Sprintf(format, args...)})
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Progress, when set, is called now and then with the entries checked and
	// the entries to check.
	Progress func(done, total uint64)
}

// Verify replays a log from its stored bytes: it recomputes every leaf hash
// from the stored payload, the hash chain and the Merkle tree, and compares
// them with the stored hash records, the stored tiles and every stored
// checkpoint (whose signatures it checks with the log's key). It reads one
// Pebble snapshot, so it may run beside appends. Problems are reported by
// index; the error is only for I/O failures.
func (l *Ledger) Verify(ctx context.Context, logID string, opts VerifyOptions) (*VerifyReport, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	lg, err := l.handle(logID)
	if err != nil {
		return nil, err
	}
	// The committed state is read before the snapshot is taken, so every
	// entry it counts is in the snapshot; appends may add more after it.
	committed := lg.state.Load()
	snap := l.db.NewSnapshot()
	defer snap.Close()
	rep := &VerifyReport{Log: logID}

	cps, err := l.verifyCheckpointNotes(snap, lg, rep)
	if err != nil {
		return nil, err
	}
	total := uint64(0)
	if committed != nil {
		total = committed.size
	}

	iter, err := snap.NewIter(&pebble.IterOptions{LowerBound: entriesStart(lg.num), UpperBound: entriesEnd(lg.num)})
	if err != nil {
		return nil, err
	}
	defer iter.Close()

	rng := rangeFactory.NewEmptyRange(0)
	var (
		expect    uint64      // the next index the replay expects
		chain     proofs.Hash // stored chain hash of the previous entry
		prevRA    int64
		rows      [][]byte // per tile level: replayed bottom row of the current tile
		storedTls = map[uint64][]byte{}
		cpi       int // next checkpoint (by size) to compare
	)
	checkCheckpoints := func(size uint64) {
		for cpi < len(cps) && cps[cpi].Size == size {
			c := cps[cpi]
			root := proofs.EmptyRoot
			at := size // the last entry it covers; 0 for the empty checkpoint
			if size > 0 {
				r, _ := rng.GetRootHash(nil)
				copy(root[:], r)
				at--
			}
			if root != c.Root {
				rep.add(at, "checkpoint at size %d: its root does not match the entries", size)
			} else if chain != c.Chain {
				rep.add(at, "checkpoint at size %d: its chain hash does not match the entries", size)
			}
			cpi++
		}
	}
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%proofs.TileHeight != 0 {
			return
		}
		level := id.Level / proofs.TileHeight
		for uint(len(rows)) <= level {
			rows = append(rows, nil)
		}
		rows[level] = append(rows[level], hash...)
		if len(rows[level]) == proofs.TileWidth*proofs.HashSize {
			n := id.Index / proofs.TileWidth
			stored, ok := storedTls[uint64(level)]
			first := n << ((level + 1) * proofs.TileHeight) // first leaf under the tile
			switch {
			case !ok:
				rep.add(first, "tile %d/%d is missing", level, n)
			case len(stored) != len(rows[level]):
				rep.add(first, "tile %d/%d has %d bytes, want %d", level, n, len(stored), len(rows[level]))
			case string(stored) != string(rows[level]):
				// Point at the first leaf under the first differing hash.
				for p := 0; p < proofs.TileWidth; p++ {
					a := stored[p*proofs.HashSize : (p+1)*proofs.HashSize]
					b := rows[level][p*proofs.HashSize : (p+1)*proofs.HashSize]
					if len(stored) != len(rows[level]) || string(a) != string(b) {
						rep.add(first+uint64(p)<<(level*proofs.TileHeight), "tile %d/%d does not match the entries", level, n)
						break
					}
				}
			}
			delete(storedTls, uint64(level))
			rows[level] = rows[level][:0]
		}
	}

	checkCheckpoints(0)
	// Two stages, so that two cores share the work: a reader goroutine
	// groups each entry's records and hashes its payload (readVerifyRecords);
	// this one follows the chain and the tree, in index order.
	stop := make(chan struct{})
	batches := make(chan []verifyRecord, 8)
	free := make(chan []verifyRecord, 10) // batches handed back for reuse
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- readVerifyRecords(ctx, iter, batches, free, stop)
	}()
	defer func() {
		close(stop)
		for range batches { // let the reader finish before iter closes
		}
	}()
	for batch := range batches {
		for i := range batch {
			r := &batch[i]
			for _, n := range r.notes {
				rep.add(max(expect, n.Index), "%s", n.Problem)
			}
			if r.key == nil { // notes only
				continue
			}
			for _, t := range r.tiles {
				storedTls[t.level] = t.hashes
			}
			idx := r.idx
			if idx < expect {
				rep.add(idx, "entry is out of order")
				continue
			}
			for ; expect < idx; expect++ {
				rep.add(expect, "entry is missing")
				// The tree cannot be replayed across a gap; keep checking the
				// chain links and leaf hashes that follow.
			}
			if !r.hasH {
				rep.add(idx, "hash record is missing")
				expect = idx + 1
				continue
			}
			if r.hErr != nil {
				rep.add(idx, "hash record is malformed: %v", r.hErr)
				expect = idx + 1
				continue
			}
			rec := r.rec
			leafHash := rec.leafHash
			switch {
			case !r.hasP:
				rep.add(idx, "payload is missing")
			case r.leafHash != rec.leafHash:
				rep.add(idx, "payload does not match its leaf hash")
				leafHash = r.leafHash
			case !r.raOK:
				// Readers serve received_at from the hash record: it must be
				// the one the leaf (which the hash covers) holds.
				rep.add(idx, "received_at in the hash record differs from the entry's")
			}
			if want := proofs.ChainHash(chain, rec.leafHash); want != rec.chainHash {
				rep.add(idx, "chain hash does not follow from the previous entry")
			}
			if rec.receivedAt < prevRA {
				rep.add(idx, "received_at goes backwards")
			}
			prevRA = rec.receivedAt
			chain = rec.chainHash
			if rng.End() == idx {
				rng.Append(leafHash[:], visit)
				checkCheckpoints(idx + 1)
			}
			expect = idx + 1
			if opts.Progress != nil && expect%65536 == 0 {
				opts.Progress(expect, total)
			}
		}
		select {
		case free <- batch[:0]:
		default:
		}
	}
	if err := <-readErr; err != nil {
		return nil, fmt.Errorf("couldn't read log %q: %w", logID, err)
	}
	rep.Size = expect
	rep.ChainHead = chain
	rep.Root = proofs.EmptyRoot
	if rng.End() > 0 {
		r, _ := rng.GetRootHash(nil)
		copy(rep.Root[:], r)
	}
	for ; cpi < len(cps); cpi++ {
		if cps[cpi].Size > rep.Size {
			rep.add(rep.Size, "checkpoint at size %d covers more entries than the log holds (%d): entries were rolled back", cps[cpi].Size, rep.Size)
		} else {
			rep.add(cps[cpi].Size-1, "checkpoint at size %d can't be checked: entries before it are missing", cps[cpi].Size)
		}
	}
	if committed != nil && rep.Size < committed.size && !l.cfg.ReadOnly {
		rep.add(rep.Size, "the store holds %d entries but the log's committed size is %d", rep.Size, committed.size)
	}
	if opts.Progress != nil {
		opts.Progress(rep.Size, rep.Size)
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// verifyCheckpointNotes opens every stored checkpoint of the log with its key
// and returns them sorted by size; bad ones are reported and left out.
func (l *Ledger) verifyCheckpointNotes(snap *pebble.Snapshot, lg *logHandle, rep *VerifyReport) ([]proofs.Checkpoint, error) {
	iter, err := snap.NewIter(&pebble.IterOptions{
		LowerBound: checkpointKey(lg.num, 0),
		UpperBound: append(logPrefix(lg.num), logSigned+1),
	})
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	var cps []proofs.Checkpoint
	for iter.First(); iter.Valid(); iter.Next() {
		k := iter.Key()
		if len(k) != 14 {
			rep.add(0, "malformed checkpoint key %x", k)
			continue
		}
		size := binary.BigEndian.Uint64(k[6:])
		c, _, err := proofs.OpenCheckpoint(append([]byte(nil), iter.Value()...), lg.verifier)
		at := size
		if at > 0 {
			at--
		}
		if err != nil {
			rep.add(at, "checkpoint at size %d: %v", size, err)
			continue
		}
		if c.Size != size {
			rep.add(at, "checkpoint stored at size %d says size %d", size, c.Size)
			continue
		}
		cps = append(cps, c)
		rep.Checkpoints++
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("couldn't read checkpoints: %w", err)
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Size < cps[j].Size })
	return cps, nil
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

// verifyRecord is one entry's records as the reader stage of Verify found
// them, with its payload already hashed.
type verifyRecord struct {
	key      []byte // non-nil for an entry; nil for a record of notes only
	idx      uint64
	hasH     bool
	rec      hashRecord
	hErr     error
	hasP     bool
	leafHash proofs.Hash // of the payload, when hasP
	raOK     bool        // the payload holds rec's received_at
	tiles    []verifyTile
	notes    []Problem // keys the reader could not place; Index is a lower bound
}

type verifyTile struct {
	level  uint64
	hashes []byte
}

// verifyBatch is how many entries the reader hands over at once.
const verifyBatch = 512

// readVerifyRecords reads the E range in key order, groups each index's
// records, hashes the payloads and checks their received_at, and sends the
// records in batches, until the range ends, stop closes or ctx is done.
func readVerifyRecords(ctx context.Context, iter *pebble.Iterator, out chan<- []verifyRecord, free <-chan []verifyRecord, stop <-chan struct{}) error {
	var (
		batch   = make([]verifyRecord, 0, verifyBatch)
		cur     *verifyRecord
		payload []byte // with one leading byte for the leaf hash prefix
		raField receivedAtCache
	)
	send := func() bool {
		if len(batch) == 0 {
			return true
		}
		select {
		case out <- batch:
			select {
			case batch = <-free:
			default:
				batch = make([]verifyRecord, 0, verifyBatch)
			}
			return true
		case <-stop:
			return false
		}
	}
	finish := func() {
		if cur == nil || cur.key == nil {
			return
		}
		if cur.hasP {
			// payload[0] is room for the RFC 6962 prefix byte.
			cur.leafHash = proofs.LeafHashPrefixed(payload)
			cur.raOK = cur.hasH && cur.hErr == nil && bytes.Contains(payload, raField.of(cur.rec.receivedAt))
		}
	}
	n := 0
	for iter.First(); iter.Valid(); iter.Next() {
		idx, kind, ok := parseEntryKey(iter.Key())
		if !ok || cur == nil || cur.key == nil || idx != cur.idx {
			finish()
			if len(batch) == cap(batch) {
				if !send() {
					return nil
				}
			}
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			batch = append(batch, verifyRecord{})
			cur = &batch[len(batch)-1]
			if ok {
				cur.key, cur.idx = []byte{}, idx
			}
		}
		if !ok {
			cur.notes = append(cur.notes, Problem{Problem: fmt.Sprintf("unknown key %x", iter.Key())})
			continue
		}
		switch kind {
		case kindHashes:
			cur.hasH = true
			cur.rec, cur.hErr = parseHashRecord(iter.Value())
		case kindPayload:
			payload = append(append(payload[:0], 0), iter.Value()...)
			cur.hasP = true
		case kindTile:
			k := iter.Key()
			if len(k) != 16 {
				cur.notes = append(cur.notes, Problem{Index: idx, Problem: fmt.Sprintf("malformed tile key %x", k)})
				continue
			}
			cur.tiles = append(cur.tiles, verifyTile{uint64(k[15]), append([]byte(nil), iter.Value()...)})
		default:
			cur.notes = append(cur.notes, Problem{Index: idx, Problem: fmt.Sprintf("unknown record kind %q", kind)})
		}
	}
	finish()
	if err := iter.Error(); err != nil {
		return err
	}
	send()
	return nil
}
