package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/cockroachdb/pebble/v2"

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
	Checkpoints int `json:"checkpoints"`
	// Redacted is the number of entries whose payload retention deleted
	// (below the log's retention mark): their stored leaf hashes stand in
	// for the payloads in the chain and the tree.
	Redacted uint64    `json:"redacted,omitempty"`
	Problems []Problem `json:"problems"`
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

	// segment, batch and readers, when set, replace verifySegment,
	// verifyBatch and GOMAXPROCS (for tests).
	segment uint64
	batch   int
	readers int
	hashers int
}

// Verify replays a log from its stored bytes: it recomputes every leaf hash
// from the stored payload, the hash chain and the Merkle tree, and compares
// them with the stored hash records, the stored tiles and every stored
// checkpoint (whose signatures it checks with the log's key). It reads one
// Pebble snapshot of each store, so it may run beside appends. Problems are reported by
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
	// The checkpoints' snapshot is taken before the entries' one: a
	// checkpoint is stored only after the entries it covers are committed,
	// so every checkpoint read has its entries in snap.
	cpSnap := l.meta.NewSnapshot()
	defer cpSnap.Close()
	snap := l.db.NewSnapshot()
	defer snap.Close()
	rep := &VerifyReport{Log: logID}

	cps, err := l.verifyCheckpointNotes(cpSnap, lg, rep)
	if err != nil {
		return nil, err
	}
	// Payloads below the retention mark were deleted by retention; read
	// from the same snapshot as the entries, so that a pass running beside
	// this one is either all in it or not at all.
	ret, err := readRetention(snap, lg.num)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the retention mark of log %q: %w", logID, err)
	}
	total := uint64(0)
	if committed != nil {
		total = committed.size
	}

	tree := newVerifyTree(rep)
	var (
		expect uint64      // the next index the replay expects
		chain  proofs.Hash // stored chain hash of the previous entry
		prevRA int64
		cpi    int // next checkpoint (by size) to compare
	)
	checkCheckpoints := func(size uint64) {
		for cpi < len(cps) && cps[cpi].Size == size {
			c := cps[cpi]
			root := tree.root()
			at := size // the last entry it covers; 0 for the empty checkpoint
			if size > 0 {
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

	checkCheckpoints(0)
	// Three stages, so that all cores share the work (verify_read.go):
	// readers read segments of the log side by side and group each entry's
	// records; hashers hash the payloads and chain links and check
	// received_at; this goroutine takes the batches in key order and follows
	// the chain and the tree, in index order.
	segment := uint64(verifySegment)
	if opts.segment > 0 {
		segment = opts.segment
	}
	batchLen := verifyBatch
	if opts.batch > 0 {
		batchLen = opts.batch
	}
	bounds := [][]byte{entriesStart(lg.num)}
	for i := segment; i <= total; i += segment {
		bounds = append(bounds, entryKey(nil, lg.num, i, 0)[:14])
	}
	bounds = append(bounds, entriesEnd(lg.num))
	nseg := len(bounds) - 1
	nreaders := min(runtime.GOMAXPROCS(0), verifyMaxReaders)
	if opts.readers > 0 {
		nreaders = opts.readers
	}
	readers := make([]*verifyReader, min(nreaders, nseg))
	readErrs := make([]error, len(readers))
	perSegment := int((segment + uint64(batchLen) - 1) / uint64(batchLen))
	stop := make(chan struct{})
	// A batch is in work from before it is sent on out until a hasher takes
	// it, so work holds all that can be out (and the one being sent).
	work := make(chan *verifyBatchOf, len(readers)*(2*perSegment+3))
	nhashers := min(runtime.GOMAXPROCS(0), verifyMaxReaders)
	if opts.hashers > 0 {
		nhashers = opts.hashers
	}
	var hwg sync.WaitGroup
	for range nhashers {
		hwg.Add(1)
		go func() {
			defer hwg.Done()
			var ra receivedAtCache
			for b := range work {
				b.hash(&ra)
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range readers {
		r := &verifyReader{
			out:      make(chan *verifyBatchOf, 2*perSegment+2),
			work:     work,
			free:     make(chan *verifyBatchOf, 2*perSegment+4),
			batchLen: batchLen,
		}
		readers[w] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			readErrs[w] = r.run(ctx, snap, lg.num, bounds, segment, w, len(readers), stop)
		}()
	}
	// The readers must stop before the snapshot closes.
	shutdown := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
		close(work)
		hwg.Wait()
	})
	defer shutdown()
	for s := 0; s < nseg; s++ {
		rd := readers[s%len(readers)]
		for end := false; !end; {
			batch, ok := <-rd.out
			if !ok { // the reader failed
				shutdown()
				err := errors.Join(readErrs...)
				if err == nil {
					err = errors.New("a reader stopped early")
				}
				return nil, fmt.Errorf("couldn't read log %q: %w", logID, err)
			}
			end = batch.end
			<-batch.done
			for i := range batch.recs {
				r := &batch.recs[i]
				for _, n := range r.notes {
					rep.add(max(expect, n.Index), "%s", n.Problem)
				}
				if !r.entry { // notes only
					continue
				}
				for _, t := range r.tiles {
					tree.storedTile(t.level, batch.arena[t.hashes[0]:t.hashes[1]])
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
				rec := &r.rec
				leafHash := &rec.leafHash
				switch {
				case !r.hasP && idx < ret.mark:
					rep.Redacted++
					if rec.receivedAt >= ret.cutoff {
						rep.add(idx, "payload deleted, but the entry was received after the retention cutoff")
					}
				case !r.hasP:
					rep.add(idx, "payload is missing")
				case r.leafHash != rec.leafHash:
					rep.add(idx, "payload does not match its leaf hash")
					leafHash = &r.leafHash
				case !r.raOK:
					// Readers serve received_at from the hash record: it must be
					// the one the leaf (which the hash covers) holds.
					rep.add(idx, "received_at in the hash record differs from the entry's")
				}
				// The reader hashed the link from the entry before in its
				// segment; that is the one to check when it is ours.
				want := &r.link
				if !r.hasLink || r.linkFrom != chain {
					l := proofs.ChainHash(chain, rec.leafHash)
					want = &l
				}
				if *want != rec.chainHash {
					rep.add(idx, "chain hash does not follow from the previous entry")
				}
				if rec.receivedAt < prevRA {
					rep.add(idx, "received_at goes backwards")
				}
				prevRA = rec.receivedAt
				chain = rec.chainHash
				if tree.end == idx {
					tree.append(leafHash)
					checkCheckpoints(idx + 1)
				}
				expect = idx + 1
				if opts.Progress != nil && expect%65536 == 0 {
					opts.Progress(expect, total)
				}
			}
			select {
			case rd.free <- batch:
			default:
			}
		}
	}
	shutdown()
	if err := errors.Join(readErrs...); err != nil {
		return nil, fmt.Errorf("couldn't read log %q: %w", logID, err)
	}
	rep.Size = expect
	rep.ChainHead = chain
	rep.Root = tree.root()
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
