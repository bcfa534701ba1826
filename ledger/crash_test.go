package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/proofs"
)

// crashSeed makes a failing crash run repeatable: the tests log the seed they
// used, and -crash.seed=N runs them with it again.
var crashSeed = flag.Uint64("crash.seed", 0, "seed for the crash tests (0: a new one)")

func crashRNG(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -crash.seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// crashConfig opens a ledger in /data on fs with small memtables, so that
// flushes and compactions run while the crash tests append. Links are
// refused (noLinkFS), so that Pebble copies the sstables it ingests.
func crashConfig(fs vfs.FS) Config {
	return Config{
		Dir:                "/data",
		FS:                 noLinkFS{fs},
		CheckpointInterval: 20 * time.Millisecond,
		Logger:             slog.New(slog.DiscardHandler),
		PebbleOptions: func(o *pebble.Options) {
			o.MemTableSize = 256 << 10
			o.L0CompactionThreshold = 2
			for i := range o.TargetFileSizes {
				o.TargetFileSizes[i] = 128 << 10
			}
		},
	}
}

// noLinkFS is fs without hard links. Pebble's crashable MemFS read-locks its
// clone lock twice in Link (once around the call, once around the final
// step of its walk); a CrashClone that asks for the lock between the two
// waits for the first, and the second waits behind it: the test hangs
// (seen in CI's race run, an ingest of a sealed posting block against
// TestCrashConcurrentAppends' crash). Without Link, vfs.LinkOrCopy copies
// the file and syncs the copy, which Pebble's ingest then makes durable the
// same way.
type noLinkFS struct{ vfs.FS }

func (noLinkFS) Link(oldname, newname string) error {
	return errors.New("noLinkFS: no hard links (MemFS.Link can deadlock with CrashClone)")
}

// crashEvent is event k of the n events of batch id: its target id names the
// batch, so that a reader of the store can tell which entries were appended
// together.
func crashEvent(batch uint64, k, n int) Event {
	return Event{
		Category: "user",
		Action:   "user:invite",
		Actor:    &Actor{Type: "user", ID: fmt.Sprintf("u%d", batch%13)},
		Target:   &Target{Type: "crash", ID: fmt.Sprintf("b%d/%d/%d", batch, k, n)},
		Details:  json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", int(batch%200)))),
	}
}

func parseCrashTarget(t *testing.T, leaf []byte) (batch uint64, k, n int) {
	t.Helper()
	var en struct {
		Target struct{ Type, ID string }
	}
	if err := json.Unmarshal(leaf, &en); err != nil {
		t.Fatalf("entry %s: %v", leaf, err)
	}
	if en.Target.Type != "crash" {
		t.Fatalf("entry %s was not written by the crash test", leaf)
	}
	if _, err := fmt.Sscanf(en.Target.ID, "b%d/%d/%d", &batch, &k, &n); err != nil {
		t.Fatalf("entry target %q: %v", en.Target.ID, err)
	}
	return batch, k, n
}

// crashAck is one acknowledged Append: what it returned.
type crashAck struct {
	log   string
	batch uint64
	res   []Appended
}

// crashWorld is a store being crashed again and again: the live ledger on its
// filesystem, and what was promised about it so far.
type crashWorld struct {
	fs   *vfs.MemFS
	l    *Ledger
	logs []string
	// acks are every Append acknowledged on this store and the stores it was
	// recovered from; each must stay present forever. Those from checked on
	// were acknowledged since the last check.
	acks    []crashAck
	checked int
	// cps are the checkpoints known to be stored, by log and size: each must
	// stay stored, with the same note, forever.
	cps map[string]map[uint64][]byte
}

func newCrashWorld(t *testing.T) *crashWorld {
	t.Helper()
	ctx := context.Background()
	w := &crashWorld{fs: vfs.NewCrashableMem(), cps: map[string]map[uint64][]byte{}}
	l, err := Open(ctx, crashConfig(w.fs))
	if err != nil {
		t.Fatal(err)
	}
	w.l = l
	w.logs = []string{DefaultLogID, "tenant-a", "tenant-b"}
	for _, id := range w.logs[1:] {
		if _, err := l.CreateLog(ctx, id, LogSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

var crashBatches atomic.Uint64 // batch ids, unique across the test binary

// crashOnce runs appenders on the live ledger, crashes the filesystem at a
// random moment while they run, and recovers from the crash: the recovered
// ledger becomes the live one.
func (w *crashWorld) crashOnce(t *testing.T, rng *rand.Rand, unsynced int) {
	t.Helper()
	ctx := context.Background()

	var (
		mu      sync.Mutex // guards acks and ackedN
		acks    []crashAck
		ackedN  int
		stop    atomic.Bool
		wg      sync.WaitGroup
		workers = 4 + rng.IntN(5)
	)
	for g := 0; g < workers; g++ {
		seed := rng.Uint64()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, seed))
			for !stop.Load() {
				id := w.logs[r.IntN(len(w.logs))]
				n := 1
				switch x := r.IntN(10); {
				case x >= 9:
					n = 50 + r.IntN(200)
				case x >= 5:
					n = 2 + r.IntN(40)
				}
				b := crashBatches.Add(1)
				evs := make([]Event, n)
				for k := range evs {
					evs[k] = crashEvent(b, k, n)
				}
				res, err := w.l.Append(ctx, id, evs, AppendOptions{})
				if err != nil {
					t.Errorf("append %d events to %s: %v", n, id, err)
					return
				}
				mu.Lock()
				acks = append(acks, crashAck{log: id, batch: b, res: res})
				ackedN += n
				mu.Unlock()
			}
		}()
	}

	// Crash at a random moment while appends are in flight: after a random
	// number of acknowledged entries, and a random bit more.
	target := rng.IntN(500)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := ackedN
		mu.Unlock()
		if n >= target || time.Now().After(deadline) || t.Failed() {
			break
		}
		time.Sleep(50 * time.Microsecond)
	}
	time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)

	// What was promised before the crash: every Append that returned before
	// this point, and every published checkpoint (published only after it
	// was stored with a sync). Both are read before CrashClone starts.
	mu.Lock()
	acked := slices.Clone(acks)
	mu.Unlock()
	published := map[string]*SignedCheckpoint{}
	for _, id := range w.logs {
		cp, err := w.l.Checkpoint(id)
		if err != nil {
			t.Fatal(err)
		}
		published[id] = cp
	}
	var crng *rand.Rand
	if unsynced > 0 {
		crng = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
	}
	clone := w.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: crng})

	stop.Store(true)
	wg.Wait()
	if err := w.l.Close(); err != nil {
		t.Fatalf("closing the ledger that crashed: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("crash after %d acknowledged appends (%d entries), %d more entries in flight or acknowledged after; unsynced %d%%",
		len(acked), countEntries(acked), ackedN-countEntries(acked), unsynced)
	start := time.Now()

	w.acks = append(w.acks, acked...)
	for id, cp := range published {
		w.rememberCheckpoint(id, cp.Size, cp.Note)
	}
	w.fs = clone
	l, err := Open(ctx, crashConfig(clone))
	if err != nil {
		t.Fatalf("open after the crash: %v", err)
	}
	w.l = l
	w.check(t)
	t.Logf("recovered and checked in %v", time.Since(start))
}

func countEntries(acks []crashAck) int {
	n := 0
	for _, a := range acks {
		n += len(a.res)
	}
	return n
}

func (w *crashWorld) rememberCheckpoint(id string, size uint64, note []byte) {
	if w.cps[id] == nil {
		w.cps[id] = map[uint64][]byte{}
	}
	w.cps[id][size] = note
}

// check holds the recovered ledger to what was promised before the crash,
// appends to every log, and checks the new checkpoints against the old ones.
func (w *crashWorld) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	l := w.l

	// Every acknowledged entry is there, at its index, with its leaf hash
	// and received_at: those of this round through Read, and every one ever
	// acknowledged in one scan of each log.
	entries := map[string][]Record{}
	for _, id := range w.logs {
		entries[id] = scanEntries(t, l, id)
	}
	for i, a := range w.acks {
		for k, r := range a.res {
			var rec *Record
			if i >= w.checked && k == 0 {
				got, err := l.Read(a.log, r.Index)
				if err != nil {
					t.Fatalf("acknowledged entry %s/%d (batch %d): %v", a.log, r.Index, a.batch, err)
				}
				rec = got
			} else if es := entries[a.log]; r.Index < uint64(len(es)) {
				rec = &es[r.Index]
			} else {
				t.Fatalf("acknowledged entry %s/%d (batch %d, %d/%d) is gone: the log has %d entries",
					a.log, r.Index, a.batch, k, len(a.res), len(es))
			}
			if rec.LeafHash != r.LeafHash || rec.ReceivedAtNanos != r.ReceivedAt.UnixNano() {
				t.Fatalf("acknowledged entry %s/%d changed: leaf hash %x, received_at %d; acknowledged %x, %d",
					a.log, r.Index, rec.LeafHash, rec.ReceivedAtNanos, r.LeafHash, r.ReceivedAt.UnixNano())
			}
		}
	}
	w.checked = len(w.acks)

	for _, id := range w.logs {
		// No batch is visible in part: the entries of each batch in the
		// store are all there, at contiguous indexes, in order.
		type seen struct {
			first uint64
			n, k  int // n: the batch size; k: how many seen so far
		}
		batches := map[uint64]*seen{}
		for i, rec := range entries[id] {
			b, k, n := parseCrashTarget(t, rec.Leaf)
			s := batches[b]
			if s == nil {
				s = &seen{first: uint64(i), n: n}
				batches[b] = s
			}
			if k != s.k || uint64(i) != s.first+uint64(k) || n != s.n {
				t.Fatalf("log %s entry %d is event %d/%d of batch %d, which started at %d with %d events seen",
					id, i, k, n, b, s.first, s.k)
			}
			s.k++
		}
		for b, s := range batches {
			if s.k != s.n {
				t.Fatalf("log %s holds %d of the %d events of batch %d, from index %d: a partial batch survived the crash",
					id, s.k, s.n, b, s.first)
			}
		}

		// The log verifies, and its proofs check out with x/mod/sumdb/tlog.
		stored := storedCheckpoints(t, l, id)
		checkProofs(t, l, id, entries[id], stored)

		// Every checkpoint promised before stays stored, unchanged.
		for size, want := range w.cps[id] {
			if got, ok := stored[size]; !ok {
				t.Fatalf("log %s: the checkpoint at size %d published before the crash is gone", id, size)
			} else if !bytes.Equal(got, want) {
				t.Fatalf("log %s: the checkpoint at size %d changed:\n%s\nwas\n%s", id, size, got, want)
			}
		}
		for size, n := range stored {
			w.rememberCheckpoint(id, size, n)
		}
	}

	// The indexes are exact after recovery: lookups by leaf hash and
	// searches, once the indexer has caught up (it gathers the open block
	// again, and a seal the crash cut short left postings above the mark
	// that open deleted) and before (they scan).
	for _, id := range w.logs {
		checkCrashIndex(t, l, id)
		waitIndexed(t, l, id)
		checkCrashIndex(t, l, id)
	}

	// Appending works after recovery, and the next checkpoint of each log
	// is consistent with every checkpoint it ever stored.
	for _, id := range w.logs {
		n := 1 + int(crashBatches.Load()%5)
		b := crashBatches.Add(1)
		evs := make([]Event, n)
		for k := range evs {
			evs[k] = crashEvent(b, k, n)
		}
		res, err := l.Append(ctx, id, evs, AppendOptions{})
		if err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
		w.acks = append(w.acks, crashAck{log: id, batch: b, res: res})
		size := res[n-1].Index + 1
		cp, err := l.WaitCheckpoint(ctx, id, size)
		if err != nil {
			t.Fatal(err)
		}
		info, err := l.Log(id)
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(info.VerifierKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(cp.Note, note.VerifierList(v)); err != nil {
			t.Fatalf("log %s: the new checkpoint doesn't verify with the log's key: %v", id, err)
		}
		for size, msg := range storedCheckpoints(t, l, id) {
			old, _, err := proofs.OpenCheckpoint(msg, v)
			if err != nil {
				t.Fatalf("log %s: stored checkpoint %d: %v", id, size, err)
			}
			if old.Size != size || old.Size > cp.Size {
				t.Fatalf("log %s: checkpoint stored at %d has size %d; the newest is %d", id, size, old.Size, cp.Size)
			}
			if old.Size == 0 {
				if old.Root != proofs.EmptyRoot || old.Chain != (proofs.Hash{}) {
					t.Fatalf("log %s: the empty checkpoint has root %x, chain %x", id, old.Root, old.Chain)
				}
				continue
			}
			p, err := l.ConsistencyProof(id, old.Size, cp.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := proofs.VerifyConsistency(old.Size, cp.Size, p, old.Root, cp.Root); err != nil {
				t.Fatalf("log %s: checkpoint %d is not consistent with the new checkpoint %d: %v", id, old.Size, cp.Size, err)
			}
			var rec *Record
			if old.Size <= uint64(len(entries[id])) {
				rec = &entries[id][old.Size-1]
			} else if rec, err = l.Read(id, old.Size-1); err != nil {
				t.Fatal(err)
			}
			if rec.ChainHash != old.Chain {
				t.Fatalf("log %s: checkpoint %d has chain %x, entry %d has %x", id, old.Size, old.Chain, old.Size-1, rec.ChainHash)
			}
		}
	}
}

// checkCrashIndex wants IndexOf to find every entry of log id, and
// searches over the crash events' actors and targets to give what
// matching every entry gives.
func checkCrashIndex(t *testing.T, l *Ledger, id string) {
	t.Helper()
	checkIndexOf(t, l, id)
	all := allEntriesOf(t, l, id)
	for _, qs := range []string{"actor:u3", "actor:u1*", "category:user", "target:b1*", "-actor:u5 action:user:invite"} {
		q, err := ParseQuery(qs, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var got []uint64
		stats, err := l.Search(context.Background(), id, q, ScanOptions{}, func(r *Record) (bool, error) {
			got = append(got, r.Index)
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := bruteSearch(all, q, ScanOptions{}); !slices.Equal(got, want) {
			t.Fatalf("log %s: %q (plan %s): got %d entries %v…, want %d %v…", id, qs, stats.Plan, len(got), head(got), len(want), head(want))
		}
	}
}

// checkProofs is checkLog for logs too long for it to check every pair of
// sizes: Verify finds nothing and agrees with the log's size and root, and
// inclusion proofs of a sample of entries and consistency proofs from every
// stored checkpoint check out with golang.org/x/mod/sumdb/tlog. entries are
// the log's stored entries, from scanEntries.
func checkProofs(t *testing.T, l *Ledger, id string, entries []Record, checkpoints map[uint64][]byte) {
	t.Helper()
	rep, err := l.Verify(context.Background(), id, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("log %s: verify: %+v", id, rep.Problems)
	}
	info, err := l.Log(id)
	if err != nil {
		t.Fatal(err)
	}
	n := info.Size
	if rep.Size != n || rep.Root != info.Root || rep.ChainHead != info.ChainHead {
		t.Fatalf("log %s: verify size/root %d/%x, log %d/%x", id, rep.Size, rep.Root, n, info.Root)
	}
	if n == 0 {
		return
	}
	if uint64(len(entries)) != n {
		t.Fatalf("log %s: %d entries stored, size %d", id, len(entries), n)
	}
	hashes := make([]tlog.Hash, 0, n)
	for _, r := range entries {
		hashes = append(hashes, tlog.Hash(r.LeafHash))
	}
	hr := memHashReader(hashes)
	th, err := tlog.TreeHash(int64(n), hr)
	if err != nil {
		t.Fatal(err)
	}
	if proofs.Hash(th) != info.Root {
		t.Fatalf("log %s: root %x, tlog.TreeHash %x", id, info.Root, th)
	}
	step := max(n/128, 1)
	for i := uint64(0); i < n; i += step {
		for _, j := range []uint64{i, n - 1 - i} {
			p, err := l.InclusionProof(id, j, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(toTlog(p), int64(n), th, int64(j), hashes[j]); err != nil {
				t.Fatalf("log %s: inclusion %d/%d: %v", id, j, n, err)
			}
		}
	}
	for m := range checkpoints {
		if m == 0 || m > n {
			continue
		}
		p, err := l.ConsistencyProof(id, m, n)
		if err != nil {
			t.Fatal(err)
		}
		thm, err := tlog.TreeHash(int64(m), hr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(toTlog(p), int64(n), th, int64(m), thm); err != nil {
			t.Fatalf("log %s: consistency %d→%d: %v", id, m, n, err)
		}
	}
}

func toTlog(p [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i, h := range p {
		out[i] = tlog.Hash(h)
	}
	return out
}

// scanEntries reads every stored entry of a log in one pass over its key
// range, as Read would return them, and checks that the indexes run from 0
// without a gap and each entry has its hash record and payload.
func scanEntries(t *testing.T, l *Ledger, id string) []Record {
	t.Helper()
	iter := entryIter(t, l, id)
	defer iter.Close()
	// Runs of hash records follow each other without a gap; each covers
	// the entries up to the one it is stored at, whose payloads come first.
	var out []Record
	var leaves [][]byte
	for iter.First(); iter.Valid(); iter.Next() {
		idx, kind, ok := parseEntryKey(iter.Key())
		if !ok {
			t.Fatalf("log %s: bad key %x", id, iter.Key())
		}
		switch kind {
		case kindHashes:
			v := iter.Value()
			n, err := hashRunLen(idx, v)
			if err != nil {
				t.Fatalf("log %s entry %d: %v", id, idx, err)
			}
			if idx+1-n != uint64(len(out)) {
				t.Fatalf("log %s: the run of entries %d–%d follows %d entries", id, idx+1-n, idx, len(out))
			}
			for k := uint64(0); k < n; k++ {
				rec, _ := parseHashRecord(v[k*hashRecordLen : (k+1)*hashRecordLen])
				out = append(out, Record{Index: uint64(len(out)), LeafHash: rec.leafHash, ChainHash: rec.chainHash, ReceivedAtNanos: rec.receivedAt})
			}
		case kindPayload:
			if idx != uint64(len(leaves)) {
				t.Fatalf("log %s: payload of entry %d follows %d payloads", id, idx, len(leaves))
			}
			leaves = append(leaves, slices.Clone(iter.Value()))
		}
	}
	if err := iter.Error(); err != nil {
		t.Fatal(err)
	}
	if len(leaves) != len(out) {
		t.Fatalf("log %s: %d payloads, %d hash records", id, len(leaves), len(out))
	}
	for i := range out {
		out[i].Leaf = leaves[i]
	}
	if size, err := l.Size(id); err != nil || size != uint64(len(out)) {
		t.Fatalf("log %s: size %d (%v), %d entries stored", id, size, err, len(out))
	}
	return out
}

// storedCheckpoints returns the checkpoint notes stored for a log, by size.
func storedCheckpoints(t *testing.T, l *Ledger, id string) map[uint64][]byte {
	t.Helper()
	lg, err := l.handle(id)
	if err != nil {
		t.Fatal(err)
	}
	iter, err := l.MetaDB().NewIter(&pebble.IterOptions{
		LowerBound: checkpointKey(lg.num, 0),
		UpperBound: append(logPrefix(lg.num), logSigned+1),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer iter.Close()
	out := map[uint64][]byte{}
	for iter.First(); iter.Valid(); iter.Next() {
		k := iter.Key()
		size := uint64(0)
		for _, c := range k[6:] {
			size = size<<8 | uint64(c)
		}
		out[size] = slices.Clone(iter.Value())
	}
	if err := iter.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCrashConcurrentAppends crashes the filesystem at random moments while
// many goroutines append single events and batches to three logs. After each
// crash: every acknowledged entry is there at its index with its leaf hash, no
// batch is there in part, the log verifies, lookups by hash and searches are
// exact, and after more appends the new checkpoint is consistent with every
// checkpoint stored before. The recovered store is crashed again in the
// next round; every few rounds start afresh.
func TestCrashConcurrentAppends(t *testing.T) {
	// Small posting blocks, so that seals fall at random crash points.
	defer func(b uint64) { postingBlock = b }(postingBlock)
	postingBlock = 256
	for _, tc := range []struct {
		name     string
		unsynced int // -1: a random percentage in each round
		rounds   int
	}{
		{"unsynced=random", -1, 20},
		{"unsynced=0", 0, 6},
		{"unsynced=100", 100, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := crashRNG(t)
			rounds := tc.rounds
			if testing.Short() {
				rounds /= 4
			}
			var w *crashWorld
			for round := 0; round < rounds; round++ {
				if round%4 == 0 {
					if w != nil {
						if err := w.l.Close(); err != nil {
							t.Fatal(err)
						}
					}
					w = newCrashWorld(t)
				}
				unsynced := tc.unsynced
				if unsynced < 0 {
					unsynced = []int{0, 1, 10, 50, 90, 99, 100}[rng.IntN(7)]
				}
				w.crashOnce(t, rng, unsynced)
			}
			if err := w.l.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCrashAfterCreateLog crashes right after CreateLog returns: the log, its
// key file and its empty checkpoint survive, on a fresh data directory and on
// one that already existed.
func TestCrashAfterCreateLog(t *testing.T) {
	for _, existing := range []bool{false, true} {
		for _, unsynced := range []int{0, 50, 100} {
			t.Run(fmt.Sprintf("existing=%v/unsynced=%d", existing, unsynced), func(t *testing.T) {
				rng := crashRNG(t)
				ctx := context.Background()
				fs := vfs.NewCrashableMem()
				if existing {
					// A data directory that an operator made and that is durable.
					if err := fs.MkdirAll("/data", 0o700); err != nil {
						t.Fatal(err)
					}
					syncTestDir(t, fs, "/")
				}
				l, err := Open(ctx, crashConfig(fs))
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				res, err := l.Append(ctx, DefaultLogID, []Event{crashEvent(0, 0, 1)}, AppendOptions{})
				if err != nil {
					t.Fatal(err)
				}
				info, err := l.CreateLog(ctx, "tenant-x", LogSettings{RetentionDays: 30})
				if err != nil {
					t.Fatal(err)
				}
				clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rng})

				l2, err := Open(ctx, crashConfig(clone))
				if err != nil {
					t.Fatalf("open after the crash: %v", err)
				}
				defer l2.Close()
				got, err := l2.Log("tenant-x")
				if err != nil {
					t.Fatalf("the log created before the crash: %v", err)
				}
				if got.VerifierKey != info.VerifierKey || got.Origin != info.Origin || got.Settings != info.Settings {
					t.Fatalf("log after the crash %+v, before %+v", got, info)
				}
				want, err := readFile(fs, "/data/keys/tenant-x.key")
				if err != nil {
					t.Fatal(err)
				}
				key, err := readFile(clone, "/data/keys/tenant-x.key")
				if err != nil || !bytes.Equal(key, want) {
					t.Fatalf("key file after the crash: %q, %v", key, err)
				}
				if _, err := l2.CheckpointAt("tenant-x", 0); err != nil {
					t.Fatalf("the empty checkpoint: %v", err)
				}
				rec, err := l2.Read(DefaultLogID, 0)
				if err != nil || rec.LeafHash != res[0].LeafHash {
					t.Fatalf("acknowledged entry of the default log: %v", err)
				}
				if _, err := l2.Append(ctx, "tenant-x", []Event{crashEvent(1, 0, 1)}, AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := l2.WaitCheckpoint(ctx, "tenant-x", 1); err != nil {
					t.Fatal(err)
				}
				checkLog(t, l2, "tenant-x")
				checkLog(t, l2, DefaultLogID)
			})
		}
	}
}

// TestCrashDuringCreateLog crashes at random moments while logs are being
// created and appended to: after recovery every log whose CreateLog returned
// is there, and a log is either there with its key or not there at all (a
// store never holds a log it cannot sign for).
func TestCrashDuringCreateLog(t *testing.T) {
	rng := crashRNG(t)
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	ctx := context.Background()
	for round := 0; round < rounds; round++ {
		fs := vfs.NewCrashableMem()
		l, err := Open(ctx, crashConfig(fs))
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu      sync.Mutex
			created []*LogInfo
			stop    atomic.Bool
			wg      sync.WaitGroup
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				info, err := l.CreateLog(ctx, fmt.Sprintf("log-%d", i), LogSettings{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				created = append(created, info)
				mu.Unlock()
			}
		}()
		go func() {
			defer wg.Done()
			for i := uint64(0); !stop.Load(); i++ {
				if _, err := l.Append(ctx, DefaultLogID, []Event{crashEvent(i, 0, 1)}, AppendOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		time.Sleep(time.Duration(rng.IntN(20000)) * time.Microsecond)
		mu.Lock()
		acked := slices.Clone(created)
		mu.Unlock()
		unsynced := []int{0, 50, 100}[rng.IntN(3)]
		clone := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: unsynced, RNG: rng})
		stop.Store(true)
		wg.Wait()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, err := Open(ctx, crashConfig(clone))
		if err != nil {
			t.Fatalf("round %d (%d logs created, unsynced %d%%): open after the crash: %v", round, len(acked), unsynced, err)
		}
		for _, info := range acked {
			got, err := l2.Log(info.ID)
			if err != nil {
				t.Fatalf("round %d: log %s created before the crash: %v", round, info.ID, err)
			}
			if got.VerifierKey != info.VerifierKey {
				t.Fatalf("round %d: log %s has key %s, had %s", round, info.ID, got.VerifierKey, info.VerifierKey)
			}
		}
		// The log whose CreateLog was in flight may be there or not, and may
		// have left a key file; creating it again works either way.
		if _, err := l2.CreateLog(ctx, fmt.Sprintf("log-%d", len(acked)), LogSettings{}); err != nil && !errors.Is(err, ErrExists) {
			t.Fatalf("round %d: creating the log that was in flight again: %v", round, err)
		}
		for _, info := range l2.Logs() {
			if _, err := l2.Append(ctx, info.ID, []Event{crashEvent(0, 0, 1)}, AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			checkProofs(t, l2, info.ID, scanEntries(t, l2, info.ID), nil)
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func syncTestDir(t *testing.T, fs vfs.FS, dir string) {
	t.Helper()
	d, err := fs.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}
