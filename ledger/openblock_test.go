package ledger

import (
	"cmp"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestSearchWhileSealing runs searches and lookups by leaf hash while the
// log grows and the indexer gathers, seals and spills posting blocks under
// them: each answer must be exactly the brute-force answer at the size the
// search was bounded by. With -race it also checks the open block's
// locking.
func TestSearchWhileSealing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		budget uint64
	}{
		{"seal", 1 << 18},
		{"spill", 100}, // spilled at almost every indexer run, then sealed from the batches
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func(b uint64) { postingBlock = b }(postingBlock)
			postingBlock = 256
			testSearchWhileSealing(t, int(tc.budget))
		})
	}
}

func testSearchWhileSealing(t *testing.T, budget int) {
	ctx := context.Background()
	l, err := Open(ctx, Config{Dir: t.TempDir(), CheckpointInterval: 10 * time.Millisecond, IndexMemoryEntries: budget})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 5000
	r := rand.New(rand.NewPCG(7, 8))
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = searchEvent(r, i)
	}
	type asked struct {
		qs   string
		opts ScanOptions
		got  []uint64
		plan string
	}
	var (
		done    atomic.Bool
		mu      sync.Mutex
		answers []asked
		lookups atomic.Int64
		// searched counts the answers, for the appender to wait on.
		searched atomic.Int64
		wg       sync.WaitGroup
	)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 99))
			now := searchBase.Add(n * time.Minute)
			for !done.Load() {
				size, err := l.Size(DefaultLogID)
				if err != nil {
					t.Error(err)
					return
				}
				if size == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				// A lookup by leaf hash of an entry that may be in the open
				// block, sealed, or being sealed.
				i := uint64(r.Int64N(int64(size)))
				if r.IntN(2) == 0 {
					i = size - 1 - uint64(r.Int64N(int64(min(size, 300))))
				}
				rec, err := l.Read(DefaultLogID, i)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := l.IndexOf(DefaultLogID, rec.LeafHash); err != nil || got != i {
					t.Errorf("IndexOf(entry %d's hash) = %d, %v", i, got, err)
					return
				}
				lookups.Add(1)
				qs := searchQuery(r, n)
				q, err := ParseQuery(qs, now)
				if err != nil {
					t.Errorf("%s: %v", qs, err)
					return
				}
				opts := ScanOptions{Desc: r.IntN(2) == 0, From: ^uint64(0), Bound: size}
				if !opts.Desc {
					opts.From = 0
				}
				var got []uint64
				stats, err := l.Search(ctx, DefaultLogID, q, opts, func(rec *Record) (bool, error) {
					got = append(got, rec.Index)
					return true, nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				answers = append(answers, asked{qs, opts, got, stats.Plan})
				mu.Unlock()
				searched.Add(1)
			}
		}()
	}
	// waitSearched waits until the searchers have answered want searches.
	waitSearched := func(want int64) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); searched.Load() < want && !t.Failed(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				done.Store(true)
				wg.Wait()
				t.Fatalf("the searchers answered %d searches in a minute, want %d", searched.Load(), want)
			}
		}
	}
	// Append k waits until the searchers have answered k searches, so that
	// searches run at every stage of the growth, however the machine
	// schedules the goroutines. Left to themselves, fsync-bound appends
	// can outrun the CPU-bound searches (a loaded -race run answered 57
	// where 50 are wanted below).
	for i, appends := 0, int64(0); i < n; appends++ {
		waitSearched(appends)
		k := min(n-i, 1+r.IntN(120))
		if _, err := l.Append(ctx, DefaultLogID, evs[i:i+k], AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		i += k
		time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
	}
	waitIndexed(t, l, DefaultLogID)
	// A few searches of the settled index too: three more, each started
	// after it settled (up to three were under way).
	waitSearched(searched.Load() + 6)
	done.Store(true)
	wg.Wait()

	all := allEntries(t, l)
	indexed := 0
	now := searchBase.Add(n * time.Minute)
	for _, a := range answers {
		q, _ := ParseQuery(a.qs, now)
		if want := bruteSearch(all, q, a.opts); !slices.Equal(a.got, want) {
			t.Fatalf("query %q %+v (plan %s): got %d entries %v…, want %d %v…",
				a.qs, a.opts, a.plan, len(a.got), head(a.got), len(want), head(want))
		}
		if a.plan != "scan" {
			indexed++
		}
	}
	t.Logf("%d searches (%d used an index), %d lookups by hash", len(answers), indexed, lookups.Load())
	if len(answers) < 50 || indexed < len(answers)/4 {
		t.Fatalf("too few searches to mean anything: %d, %d of them indexed", len(answers), indexed)
	}
}

// postingsAbove returns how many posting offsets the index store holds for
// the log at or above index mark.
func postingsAbove(t *testing.T, db *pebble.DB, num uint32, mark uint64) int {
	t.Helper()
	lower := postingKey(nil, num, 0, 0, "", false)[:5]
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upperBound(lower)})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		blk := binary.BigEndian.Uint64(it.Key()[5:13])
		v := it.Value()
		for i := 0; i+1 < len(v); i += 2 {
			if blk*postingBlock+uint64(binary.BigEndian.Uint16(v[i:])) >= mark {
				n++
			}
		}
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSealCutShort crashes the filesystem at each step of a seal (the
// sstable written, ingested, its batch committed but not flushed) and
// recovers: postings a seal ingested above the surviving mark are deleted
// at open, the index the indexer then builds is byte for byte the one it
// builds from nothing, and searches and lookups are exact.
func TestSealCutShort(t *testing.T) {
	defer func(b uint64) { postingBlock = b }(postingBlock)
	postingBlock = 128
	for _, step := range []string{"written", "ingested", "committed"} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			fs := vfs.NewCrashableMem()
			var (
				clone *vfs.MemFS
				seals int
				l     *Ledger
			)
			sealHook = func(s string) {
				if s == "committed" {
					seals++
				}
				switch {
				case seals == 2 && s == "committed":
					// The first two blocks' marks made durable, so that the
					// crash falls on a store with a mark.
					if err := l.index.Flush(); err != nil {
						t.Error(err)
					}
				case seals == 2 && s == step, seals == 3 && s == "committed" && step == "committed":
					clone = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
				}
			}
			defer func() { sealHook = nil }()
			l, err := Open(ctx, crashConfig(fs))
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(3, 4))
			for i := 0; i < 700; i += 50 {
				evs := make([]Event, 50)
				for k := range evs {
					evs[k] = searchEvent(r, i+k)
				}
				if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				waitIndexed(t, l, DefaultLogID) // each seal in its own indexer run
			}
			lg0, err := l.handle(DefaultLogID)
			if err != nil {
				t.Fatal(err)
			}
			num := lg0.num
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			sealHook = nil
			if clone == nil {
				t.Fatalf("the third seal never reached step %q", step)
			}

			// What the crash left: with the ingest done, postings above
			// the mark (the mark's batch is lost with the memtable).
			cfg := crashConfig(clone)
			db, err := pebble.Open(filepath.Join(cfg.Dir, "index"), &pebble.Options{FS: clone, Merger: indexMerger, Logger: quietLogger{cfg.Logger}})
			if err != nil {
				t.Fatal(err)
			}
			mark := uint64(0)
			if v, closer, err := db.Get(indexMarkKey(num)); err == nil {
				mark, _, _, _ = decodeIndexMark(v)
				closer.Close()
			}
			above := postingsAbove(t, db, num, mark)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			t.Logf("after the crash: mark %d, %d postings above it", mark, above)
			if mark != 2*postingBlock {
				t.Fatalf("the crash left mark %d, want %d", mark, 2*postingBlock)
			}
			if step != "written" && above == 0 {
				t.Fatalf("the crash at %q left no postings above the mark: the test does not test the trim", step)
			}
			if _, err := clone.Stat(filepath.Join(cfg.Dir, "index", sealFile)); step == "written" && err != nil {
				// Its directory entry was not synced, so the crash may or
				// may not keep it: keep one, to see it removed.
				f, err := clone.Create(filepath.Join(cfg.Dir, "index", sealFile), vfs.WriteCategoryUnspecified)
				if err != nil {
					t.Fatal(err)
				}
				f.Write([]byte("half an sstable"))
				f.Close()
			}

			// First opened without the indexer, which would seal blocks
			// (writing the seal file, ingesting postings above the mark)
			// while the checks below run.
			quiet := cfg
			quiet.noIndexer = true
			l, err = Open(ctx, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := clone.Stat(filepath.Join(cfg.Dir, "index", sealFile)); err == nil {
				t.Fatal("the seal file is still there after open")
			}
			lg, err := l.handle(DefaultLogID)
			if err != nil {
				t.Fatal(err)
			}
			_, from, _, _ := lg.open.state()
			if from != mark {
				t.Fatalf("the open block starts at %d after open, want the mark %d", from, mark)
			}
			if n := postingsAbove(t, l.index, lg.num, from); n != 0 {
				t.Fatalf("%d postings above the mark %d after open", n, from)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}

			l, err = Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			lg, err = l.handle(DefaultLogID)
			if err != nil {
				t.Fatal(err)
			}
			waitIndexed(t, l, DefaultLogID)
			recovered := indexStoreContents(t, l)
			checkIndexOf(t, l, DefaultLogID)
			checkSearches(t, l, 700)

			wantRebuildEqual(t, l, lg, recovered)
		})
	}
}

// checkSearches runs random searches of the default log (of n
// searchEvents) and wants the brute-force answers.
func checkSearches(t *testing.T, l *Ledger, n int) {
	t.Helper()
	all := allEntries(t, l)
	r := rand.New(rand.NewPCG(5, 6))
	now := searchBase.Add(time.Duration(n) * time.Minute)
	for range 100 {
		qs := searchQuery(r, n)
		q, err := ParseQuery(qs, now)
		if err != nil {
			t.Fatalf("%s: %v", qs, err)
		}
		opts := ScanOptions{Desc: r.IntN(2) == 0, From: ^uint64(0)}
		if !opts.Desc {
			opts.From = 0
		}
		got, stats := search(t, l, q, opts)
		if want := bruteSearch(all, q, opts); !slices.Equal(got, want) {
			t.Fatalf("query %q %+v (plan %s): got %d entries %v…, want %d %v…", qs, opts, stats.Plan, len(got), head(got), len(want), head(want))
		}
	}
}

// TestOpenBlockAcrossRestart closes the ledger with a posting block half
// gathered: Close spills it with its mark, the next open starts from there,
// and when the block fills it is sealed from the spilled part and the rest.
// The index store then holds what a rebuild from nothing writes.
func TestOpenBlockAcrossRestart(t *testing.T) {
	defer func(b uint64) { postingBlock = b }(postingBlock)
	postingBlock = 128
	ctx := context.Background()
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(9, 10))
	appendN := func(l *Ledger, from, n int) {
		t.Helper()
		evs := make([]Event, n)
		for k := range evs {
			evs[k] = searchEvent(r, from+k)
		}
		if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l := openTest(t, dir)
	appendN(l, 0, 200)
	waitIndexed(t, l, DefaultLogID)
	size, err := l.Size(DefaultLogID) // read-only events are not stored
	if err != nil {
		t.Fatal(err)
	}
	if size <= postingBlock || size >= 2*postingBlock {
		t.Fatalf("size %d: not in block 1", size)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	lg, err := l.handle(DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	if _, from, _, _ := lg.open.state(); from != size || lg.indexed.Load() != size {
		t.Fatalf("after Close and open: the store's mark %d, indexed %d; want both %d", from, lg.indexed.Load(), size)
	}
	appendN(l, 200, 100)
	waitIndexed(t, l, DefaultLogID)
	if _, from, _, _ := lg.open.state(); from != 2*postingBlock {
		t.Fatalf("block 1 not sealed: the store's mark is %d", from)
	}
	checkIndexOf(t, l, DefaultLogID)
	checkSearches(t, l, 300)
	wantRebuildEqual(t, l, lg, indexStoreContents(t, l))
}

// wantRebuildEqual resets lg's indexes, lets the indexer build them again
// from the main store, and wants the index store to hold exactly before
// (indexStoreContents).
func wantRebuildEqual(t *testing.T, l *Ledger, lg *logHandle, before map[string]string) {
	t.Helper()
	if err := l.resetLogIndex(lg, "the test rebuilds it"); err != nil {
		t.Fatal(err)
	}
	select {
	case l.idxWake <- struct{}{}:
	default: // a wake is pending already
	}
	waitIndexed(t, l, lg.id)
	rebuilt := indexStoreContents(t, l)
	for k, v := range rebuilt {
		if w, ok := before[k]; !ok {
			t.Errorf("key %x: only in the rebuilt store", k)
		} else if w != v {
			t.Errorf("key %x: before %x, rebuilt %x", k, w, v)
		}
	}
	for k := range before {
		if _, ok := rebuilt[k]; !ok {
			t.Errorf("key %x: not in the rebuilt store", k)
		}
	}
}

// TestSortHashes wants sortHashes to give the order of a comparison sort by
// epoch, prefix and offset, with few and many buckets, across epochs, and
// with equal prefixes.
func TestSortHashes(t *testing.T) {
	defer func(b uint) { hashBucketBits = b }(hashBucketBits)
	r := rand.New(rand.NewPCG(11, 12))
	for _, bits := range []uint{1, 2, 12, 16} {
		hashBucketBits = bits
		for _, n := range []int{0, 1, 2, 100, 5000} {
			var hs []hashPosting
			for i := range n {
				idx := uint64(i) * 3
				p := r.Uint64()
				if r.IntN(5) == 0 && i > 0 {
					p = hs[r.IntN(i)].prefix // the same 8 bytes again
				}
				hs = append(hs, hashPosting{epoch: idx / 4096, off: uint32(idx % 4096), prefix: p})
			}
			want := slices.Clone(hs)
			slices.SortFunc(want, func(a, b hashPosting) int {
				if c := cmp.Compare(a.epoch, b.epoch); c != 0 {
					return c
				}
				if c := cmp.Compare(a.prefix, b.prefix); c != 0 {
					return c
				}
				return cmp.Compare(a.off, b.off)
			})
			if got := sortHashes(hs); !slices.Equal(got, want) {
				t.Fatalf("%d bits, %d records: sortHashes differs from a comparison sort", bits, n)
			}
		}
	}
}

// TestOpenBlocksWithinBudget appends to several logs with a small budget:
// after each indexer run the open blocks together hold at most the budget
// (the largest are spilled), and every log's lookups and searches stay
// exact.
func TestOpenBlocksWithinBudget(t *testing.T) {
	defer func(b uint64) { postingBlock = b }(postingBlock)
	postingBlock = 512
	const budget = 600
	ctx := context.Background()
	l, err := Open(ctx, Config{Dir: t.TempDir(), CheckpointInterval: 10 * time.Millisecond, IndexMemoryEntries: budget})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ids := []string{DefaultLogID, "a", "b", "c"}
	for _, id := range ids[1:] {
		if _, err := l.CreateLog(ctx, id, LogSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(13, 14))
	spilled := 0 // rounds after which a log's store mark was inside a block
	for round := range 12 {
		for k, id := range ids {
			evs := make([]Event, 40+k*30)
			for i := range evs {
				evs[i] = searchEvent(r, round*1000+i)
			}
			if _, err := l.Append(ctx, id, evs, AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var total uint64
		for _, id := range ids {
			waitIndexed(t, l, id)
		}
		// The indexer spills after the run that gathered; wait for it.
		deadline := time.Now().Add(5 * time.Second)
		for {
			total = 0
			for _, id := range ids {
				lg, _ := l.handle(id)
				_, from, end, _ := lg.open.state()
				total += end - from
			}
			if total <= budget || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if total > budget {
			t.Fatalf("round %d: the open blocks hold %d entries, over the budget of %d", round, total, budget)
		}
		for _, id := range ids {
			lg, _ := l.handle(id)
			if _, from, _, _ := lg.open.state(); from%postingBlock != 0 {
				spilled++
				break
			}
		}
	}
	if spilled < 6 {
		t.Fatalf("only %d of 12 rounds spilled: the test does not test spilling", spilled)
	}
	for _, id := range ids {
		checkCrashIndex(t, l, id)
	}
	checkSearches(t, l, 12000)
}
