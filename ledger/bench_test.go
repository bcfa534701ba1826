package ledger

// Benchmarks of the append path, proofs and verify, each against a baseline
// measured in the same run: raw Pebble with the ledger's options writing the
// same leaf bytes under index-major keys, and raw SHA-256 of those leaves.
// docs/performance.md holds the commands, the figures and the machine.
//
// Every append benchmark counts one op per event (entry), calls b.SetBytes
// with the mean leaf size, and reports entries/s and the process's CPU time
// per entry (cpu-µs/entry): the machine is shared and its disk's speed
// moves, so the rate of two runs minutes apart can differ by 1.5×, while
// the CPU an entry costs moves less (about ±15% between runs here).
//
// The proof and verify benchmarks share one log of 1,000,000 entries. It is
// built once per process (about 10 s) in $AUDITLEDGER_BENCH_STORE, or in
// os.TempDir()/auditledger-bench-1m when that is unset, and kept there so that
// the next `go test -bench` reuses it; delete the directory to rebuild it. Its
// `complete` file names the store format that wrote it (benchStoreStamp): a
// store an older build wrote is rebuilt, since the same records stored
// another way read at another speed (session 7 compared two builds on a store
// neither of them would have written).

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	dto "github.com/prometheus/client_model/go"
)

// benchUserAgent pads testEvent to a leaf of ~420 bytes, near the 400 B that
// MEASURED.md uses.
const benchUserAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"

// benchEvent is testEvent with a user agent: a ~420-byte leaf.
func benchEvent(i int) Event {
	e := testEvent(i)
	e.UserAgent = benchUserAgent
	return e
}

// benchEvents returns n distinct benchmark events.
func benchEvents(n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = benchEvent(i)
	}
	return evs
}

// benchLeaves returns the leaves Append would store for benchEvents(n), and
// their mean size.
func benchLeaves(tb testing.TB, n int) ([][]byte, int64) {
	tb.Helper()
	ra := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)
	leaves := make([][]byte, n)
	total := 0
	for i := range leaves {
		en := Entry{V: 1, Log: DefaultLogID, ReceivedAt: ra, Event: benchEvent(i)}
		leaf, err := en.Leaf()
		if err != nil {
			tb.Fatal(err)
		}
		leaves[i] = leaf
		total += len(leaf)
	}
	return leaves, int64(total / n)
}

// meanLeafBytes is the mean leaf size of benchEvents, for b.SetBytes.
func meanLeafBytes(tb testing.TB) int64 {
	_, n := benchLeaves(tb, 1024)
	return n
}

// reportRate reports entries/s over the timed part of the benchmark.
func reportRate(b *testing.B, entries int) {
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}

// processCPU returns the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per entry since start: on a
// shared machine whose disk speed moves, a steadier measure of the work an
// entry costs than the rate (background flushes and compactions included,
// those still running at the end not).
func reportCPU(b *testing.B, start time.Duration, entries int) {
	b.ReportMetric(float64(processCPU()-start)/float64(entries)/1e3, "cpu-µs/entry")
}

// reportCompaction reports the bytes Pebble's compactions wrote per entry
// since before (flushes are not counted: every byte is flushed once).
func reportCompaction(b *testing.B, db *pebble.DB, before *pebble.Metrics, entries int) {
	after := db.Metrics()
	t0, t1 := before.Total(), after.Total()
	b.ReportMetric(float64(t1.TableBytesCompacted-t0.TableBytesCompacted)/float64(entries), "compacted-B/entry")
}

// walSyncs returns how many WAL fsyncs db has done since it opened, and
// their total time, from Pebble's fsync latency histogram.
func walSyncs(db *pebble.DB) (n uint64, total time.Duration) {
	var m dto.Metric
	if h := db.Metrics().LogWriter.FsyncLatency; h != nil && h.Write(&m) == nil {
		return m.GetHistogram().GetSampleCount(), time.Duration(m.GetHistogram().GetSampleSum())
	}
	return 0, 0
}

// reportSyncs reports, since walSyncs returned n0, t0, the entries per WAL
// fsync of db, the mean fsync time, and the share of the benchmark's time
// the WAL spent in fsync (fsync-busy): how many entries one disk wait
// carried, how long it was, and how much of the time the disk was kept
// waiting on. The last two do not depend on how slow the disk happens to
// be, so they compare runs on a shared machine better than the rate does.
func reportSyncs(b *testing.B, db *pebble.DB, n0 uint64, t0 time.Duration, entries int) {
	n, t := walSyncs(db)
	if n > n0 {
		b.ReportMetric(float64(entries)/float64(n-n0), "entries/fsync")
		b.ReportMetric(float64(t-t0)/float64(n-n0)/1e3, "µs/fsync")
		if el := b.Elapsed(); el > 0 {
			b.ReportMetric(float64(t-t0)/float64(el), "fsync-busy")
		}
	}
}

// openBenchPebble opens a raw Pebble store with the options ledger.Open uses.
func openBenchPebble(b *testing.B, dir string) *pebble.DB {
	b.Helper()
	opts := &pebble.Options{Logger: quietLogger{benchLogger()}}
	TunePebble(opts)
	db, err := pebble.Open(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkRawPebble is the baseline for BenchmarkAppend: the same leaf bytes,
// one value per entry under the ledger's entry payload key (index-major, so
// every commit is one ascending run), in synced batches, or with one entry per
// synced commit from 64 goroutines (Pebble's own group commit).
//
// The schema= variants write what the ledger writes, with none of its other
// work, to split the cost of the key schema from the rest. Per entry, in the
// sequencer's order: the payload, and a hash run at every 256th entry and at
// the batch's last ("entries"; every 256th entry also a level-0 tile); and
// once a second a signed checkpoint (S,
// ~250 B, its own synced write, as the publisher does), in the same store
// ("entries+S", the layout before the meta store) or in a second Pebble
// store as the ledger now does ("ledger", meta.go).
func BenchmarkRawPebble(b *testing.B) {
	leaves, mean := benchLeaves(b, 8192)
	hashes := make([][32]byte, len(leaves))
	for i, leaf := range leaves {
		hashes[i] = sha256.Sum256(append([]byte{0}, leaf...))
	}
	tile := make([]byte, 256*32)
	note := make([]byte, 250)
	for _, c := range []struct {
		schema string
		batch  int
	}{
		{"", 100}, {"", 1024}, {"", 8192},
		{"entries", 1024}, {"entries+S", 1024}, {"ledger", 1024},
	} {
		name := fmt.Sprintf("batch=%d", c.batch)
		if c.schema != "" {
			name = fmt.Sprintf("schema=%s/batch=%d", c.schema, c.batch)
		}
		withS := c.schema == "entries+S" || c.schema == "ledger"
		b.Run(name, func(b *testing.B) {
			db := openBenchPebble(b, b.TempDir())
			sdb := db
			if c.schema == "ledger" {
				sdb = openBenchPebble(b, b.TempDir())
				defer sdb.Close()
			}
			before := db.Metrics()
			n0, t0 := walSyncs(db)
			b.SetBytes(mean)
			b.ResetTimer()
			cpu0 := processCPU()
			var key, val []byte
			lastS := time.Now()
			for i := 0; i < b.N; i += c.batch {
				bt := db.NewBatch()
				for j := i; j < i+c.batch && j < b.N; j++ {
					k := j % len(leaves)
					if c.schema == "" {
						key = entryKey(key[:0], 1, uint64(j), kindPayload)
						bt.Set(key, leaves[k], nil)
						continue
					}
					rec := hashRecord{leafHash: hashes[k], chainHash: hashes[(k+1)%len(leaves)], receivedAt: int64(j)}
					val = rec.appendTo(val)
					key = entryKey(key[:0], 1, uint64(j), kindPayload)
					bt.Set(key, leaves[k], nil)
					if j%256 == 255 || j == i+c.batch-1 || j == b.N-1 {
						key = entryKey(key[:0], 1, uint64(j), kindHashes)
						bt.Set(key, val, nil)
						val = val[:0]
					}
					if j%256 == 255 {
						bt.Set(tileKey(1, 0, uint64(j/256)), tile, nil)
					}
				}
				if err := bt.Commit(pebble.Sync); err != nil {
					b.Fatal(err)
				}
				bt.Close()
				if withS && time.Since(lastS) >= time.Second {
					lastS = time.Now()
					if err := sdb.Set(checkpointKey(1, uint64(min(i+c.batch, b.N))), note, pebble.Sync); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			reportCPU(b, cpu0, b.N)
			reportRate(b, b.N)
			reportCompaction(b, db, before, b.N)
			reportSyncs(b, db, n0, t0, b.N)
			if err := db.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
	b.Run("clients=64/batch=1", func(b *testing.B) {
		db := openBenchPebble(b, b.TempDir())
		n0, t0 := walSyncs(db)
		b.SetBytes(mean)
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		cpu0 := processCPU()
		for g := 0; g < 64; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				key := make([]byte, 0, 16)
				for {
					i := next.Add(1) - 1
					if i >= int64(b.N) {
						return
					}
					key = entryKey(key[:0], 1, uint64(i), kindPayload)
					if err := db.Set(key, leaves[i%int64(len(leaves))], pebble.Sync); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		reportCPU(b, cpu0, b.N)
		reportRate(b, b.N)
		reportSyncs(b, db, n0, t0, b.N)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkSHA256Leaf is the hashing floor: SHA-256 of each leaf with its
// RFC 6962 prefix byte, nothing else.
func BenchmarkSHA256Leaf(b *testing.B) {
	leaves, mean := benchLeaves(b, 8192)
	bufs := make([][]byte, len(leaves))
	for i, leaf := range leaves {
		bufs[i] = append([]byte{0}, leaf...)
	}
	b.SetBytes(mean)
	b.ResetTimer()
	var sink [32]byte
	for i := 0; i < b.N; i++ {
		h := sha256.Sum256(bufs[i%len(bufs)])
		sink[0] ^= h[0]
	}
	b.StopTimer()
	reportRate(b, b.N)
	_ = sink
}

// openBenchLedger opens a ledger with default settings in a fresh directory.
func openBenchLedger(b *testing.B) *Ledger {
	b.Helper()
	return openBenchLedgerWith(b, Config{})
}

// openBenchLedgerWith opens a ledger with cfg in a fresh directory.
func openBenchLedgerWith(b *testing.B, cfg Config) *Ledger {
	b.Helper()
	cfg.Dir, cfg.Logger = b.TempDir(), benchLogger()
	l, err := Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// variedCalls is how many distinct calls each client of
// BenchmarkAppend's events=varied takes turns over.
const variedCalls = 16

// BenchmarkAppend measures durable Append into a fresh store: clients
// goroutines each calling Append with batch events at a time, every call
// returning only after its entries are synced. The indexer=off variants run
// without the indexer goroutine (Config.noIndexer), as a baseline in the
// same process for what indexing costs the append path; a ledger is never
// run that way. The events=varied variant gives every event a target and
// an address of its own, the indexer's costliest case.
func BenchmarkAppend(b *testing.B) {
	mean := meanLeafBytes(b)
	for _, c := range []struct {
		clients, batch int
		noIndexer      bool
		varied         bool
	}{
		{1, 100, false, false}, {1, 1024, false, false}, {1, 8192, false, false}, {4, 1024, false, false}, {64, 1, false, false},
		{1, 1024, true, false}, {4, 1024, true, false}, {64, 1, true, false},
		{4, 1024, false, true},
	} {
		name := fmt.Sprintf("batch=%d", c.batch)
		if c.clients > 1 {
			name = fmt.Sprintf("clients=%d/batch=%d", c.clients, c.batch)
		}
		if c.noIndexer {
			name += "/indexer=off"
		}
		if c.varied {
			name += "/events=varied"
		}
		b.Run(name, func(b *testing.B) {
			l := openBenchLedgerWith(b, Config{noIndexer: c.noIndexer})
			before := l.DB().Metrics()
			beforeIdx := l.index.Metrics()
			n0, t0 := walSyncs(l.DB())
			b.SetBytes(mean)
			ctx := context.Background()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			cpu0 := processCPU()
			for g := 0; g < c.clients; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					// Each client's calls repeat its c.batch targets and one
					// address; varied, its calls take turns over a pool of
					// variedCalls calls whose events all have targets and
					// addresses of their own (65,536 of each over 4
					// clients), as many distinct values a posting block as
					// the index meets in a log of many users and devices.
					pool := 1
					if c.varied {
						pool = variedCalls
					}
					calls := make([][]Event, pool)
					for p := range calls {
						calls[p] = benchEvents(c.batch)
						for k := range calls[p] {
							ev := &calls[p][k]
							if !c.varied {
								ev.Target.ID = fmt.Sprintf("t%d.%d", g, k)
								continue
							}
							j := (g*pool+p)*c.batch + k
							ev.Target.ID = fmt.Sprintf("t%d", j)
							ev.IP = fmt.Sprintf("10.%d.%d.%d", j>>16&255, j>>8&255, j&255)
						}
					}
					for call := 0; ; call++ {
						start := next.Add(int64(c.batch)) - int64(c.batch)
						if start >= int64(b.N) {
							return
						}
						n := min(int64(c.batch), int64(b.N)-start)
						evs := calls[call%pool]
						if _, err := l.Append(ctx, DefaultLogID, evs[:n], AppendOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
				}(g)
			}
			wg.Wait()
			b.StopTimer()
			reportCPU(b, cpu0, b.N)
			reportRate(b, b.N)
			// Entries the indexer had not indexed yet when the timer stopped:
			// work left out of the figures, so a change that only makes the
			// indexer lag looks cheaper than it is.
			b.ReportMetric(float64(l.indexPending()), "unindexed")
			reportCompaction(b, l.DB(), before, b.N)
			reportSyncs(b, l.DB(), n0, t0, b.N)
			ti0, ti1 := beforeIdx.Total(), l.index.Metrics().Total()
			b.ReportMetric(float64(ti1.TableBytesCompacted-ti0.TableBytesCompacted)/float64(b.N), "index-compacted-B/entry")
			b.ReportMetric(float64(ti1.TableBytesFlushed-ti0.TableBytesFlushed)/float64(b.N), "index-flushed-B/entry")
			st := l.Stats()
			if n := st.Commits.Load(); n > 0 {
				b.ReportMetric(float64(st.Entries.Load())/float64(n), "entries/commit")
				b.ReportMetric(float64(st.CommitNanos.Load())/float64(n)/1e3, "µs/commit")
			}
			if size, _ := l.Size(DefaultLogID); size != uint64(b.N) {
				b.Errorf("log size %d after %d appends", size, b.N)
			}
			if err := l.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// benchStoreSize is the size of the log the proof and verify benchmarks use.
const benchStoreSize = 1_000_000

// benchStoreStamp is what the shared store's `complete` file holds: the main
// store format of the build that wrote it.
var benchStoreStamp = fmt.Sprintf("main store format %d\n", mainFormat)

var benchStore struct {
	once sync.Once
	l    *Ledger
	err  error
}

// millionLog returns the open ledger whose default log holds benchStoreSize
// entries, building it on first use (see the top of this file).
func millionLog(b *testing.B) *Ledger {
	b.Helper()
	benchStore.once.Do(func() {
		benchStore.l, benchStore.err = openMillionLog(b)
	})
	if benchStore.err != nil {
		b.Fatal(benchStore.err)
	}
	return benchStore.l
}

func openMillionLog(b *testing.B) (*Ledger, error) {
	dir := os.Getenv("AUDITLEDGER_BENCH_STORE")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "auditledger-bench-1m")
	}
	ctx := context.Background()
	cfg := Config{Dir: dir, Logger: benchLogger()}
	if stamp, err := os.ReadFile(filepath.Join(dir, "complete")); err == nil && string(stamp) == benchStoreStamp {
		l, err := Open(ctx, cfg)
		if err == nil {
			if size, _ := l.Size(DefaultLogID); size == benchStoreSize {
				b.Logf("reusing the %d-entry log in %s", benchStoreSize, dir)
				return l, nil
			}
			l.Close()
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	l, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	evs := benchEvents(8192)
	for done := 0; done < benchStoreSize; {
		n := min(len(evs), benchStoreSize-done)
		if _, err := l.Append(ctx, DefaultLogID, evs[:n], AppendOptions{}); err != nil {
			return nil, err
		}
		done += n
	}
	took := time.Since(start)
	report := fmt.Sprintf("built a %d-entry log in %s in %v (%.0f entries/s, one caller, batch 8192)\n",
		benchStoreSize, dir, took.Round(time.Millisecond), benchStoreSize/took.Seconds())
	report += fmt.Sprintf("# right after the last Append\n%s\n", l.DB().Metrics())
	// Let Pebble flush the memtable and finish its compactions, to see what
	// the whole million cost in rewriting.
	if err := l.DB().Flush(); err != nil {
		return nil, err
	}
	for i := 0; i < 600 && l.DB().Metrics().Compact.NumInProgress > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	m := l.DB().Metrics()
	total := m.Total()
	report += fmt.Sprintf("# after Flush and compactions (%v after the last Append)\n%s\n", time.Since(start)-took, m)
	report += fmt.Sprintf("write amplification (flushed+compacted)/WAL: %.2f; compacted %d MB, moved %d MB, flushed %d MB, WAL %d MB\n",
		total.WriteAmp(), total.TableBytesCompacted>>20, total.TableBytesMoved>>20,
		(total.TableBytesFlushed-total.TableBytesIn)>>20, m.WAL.BytesWritten>>20)
	b.Log("\n" + report)
	if err := os.WriteFile(filepath.Join(dir, "metrics.txt"), []byte(report), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(benchStoreStamp), 0o600); err != nil {
		return nil, err
	}
	return l, nil
}

// warmTiles loads every full tile of the log into the tile cache (by asking
// for one inclusion proof under each level-0 tile), as a long-running server
// has them; it returns the log's size.
func warmTiles(b *testing.B, l *Ledger) uint64 {
	b.Helper()
	size, err := l.Size(DefaultLogID)
	if err != nil {
		b.Fatal(err)
	}
	for i := uint64(0); i < size; i += 256 {
		if _, err := l.InclusionProof(DefaultLogID, i, size); err != nil {
			b.Fatal(err)
		}
	}
	return size
}

// BenchmarkInclusionProof measures InclusionProof for a random index at the
// latest size of a 1,000,000-entry log: warm (every tile in the tile cache,
// as in a server that has run a while: 3,921 tiles, 61 MB of the default
// 256 MB) and cold (a fresh, empty tile cache before each proof, so every
// full tile is read from Pebble and expanded; Pebble's block cache and the OS
// page cache stay warm).
func BenchmarkInclusionProof(b *testing.B) {
	l := millionLog(b)
	size := warmTiles(b, l)
	for _, cold := range []bool{false, true} {
		name := fmt.Sprintf("size=%d", size)
		if cold {
			name += "/cold"
		}
		b.Run(name, func(b *testing.B) {
			rnd := rand.New(rand.NewPCG(1, 2))
			saved := l.tiles
			defer func() { l.tiles = saved }()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if cold {
					// Safe only because nothing appends to this ledger
					// while the benchmark runs (the sequencer also uses
					// l.tiles). Creating the cache costs ~0.1 µs.
					l.tiles = newTileCache(l.cfg.TileCacheBytes)
				}
				if _, err := l.InclusionProof(DefaultLogID, rnd.Uint64N(size), size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConsistencyProof measures ConsistencyProof from a random size to
// the latest size of a 1,000,000-entry log, tile cache warm (see warmTiles).
func BenchmarkConsistencyProof(b *testing.B) {
	l := millionLog(b)
	size := warmTiles(b, l)
	b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
		rnd := rand.New(rand.NewPCG(3, 4))
		for i := 0; i < b.N; i++ {
			if _, err := l.ConsistencyProof(DefaultLogID, 1+rnd.Uint64N(size-1), size); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerify measures Verify of a whole 1,000,000-entry log: one op is
// one full replay; entries/s is the replay rate.
func BenchmarkVerify(b *testing.B) {
	l := millionLog(b)
	size, err := l.Size(DefaultLogID)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
		b.SetBytes(int64(size) * meanLeafBytes(b))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rep, err := l.Verify(context.Background(), DefaultLogID, VerifyOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if !rep.OK || rep.Size != size {
				b.Fatalf("verify: ok %v, size %d, problems %v", rep.OK, rep.Size, rep.Problems)
			}
		}
		b.StopTimer()
		reportRate(b, b.N*int(size))
	})
}

// benchLogger drops the ledger's and Pebble's logs.
func benchLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkRetain measures a retention pass that deletes the payloads of
// b.N entries (appended before the timer starts, two days before the
// clock the pass reads): an op is one payload deleted, its share of the
// hash-record scan and of the synced batches of retainChunk. raw-delete is
// the baseline in the same process: Pebble deleting the same keys in
// synced batches of the same size, with nothing read.
func BenchmarkRetain(b *testing.B) {
	for _, name := range []string{"ledger", "raw-delete"} {
		b.Run(name, func(b *testing.B) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var now atomic.Int64
			now.Store(start.UnixNano())
			l := openBenchLedgerWith(b, Config{Now: func() time.Time { return time.Unix(0, now.Load()) }})
			defer l.Close()
			ctx := context.Background()
			evs := benchEvents(8192)
			for done := 0; done < b.N; {
				n := min(len(evs), b.N-done)
				if _, err := l.Append(ctx, DefaultLogID, evs[:n], AppendOptions{}); err != nil {
					b.Fatal(err)
				}
				done += n
			}
			lg, err := l.handle(DefaultLogID)
			if err != nil {
				b.Fatal(err)
			}
			// Set directly: UpdateSettings would wake the retainer, which
			// would race this benchmark's own pass.
			lg.settings.Store(&LogSettings{RetentionDays: 1})
			now.Store(start.Add(48 * time.Hour).UnixNano())
			b.ResetTimer()
			if name == "ledger" {
				if n := l.retainAll(); n != b.N {
					b.Fatalf("the pass deleted %d payloads, want %d", n, b.N)
				}
			} else {
				var key []byte
				for i := 0; i < b.N; i += retainChunk {
					bt := l.DB().NewBatch()
					for j := i; j < min(i+retainChunk, b.N); j++ {
						key = entryKey(key[:0], lg.num, uint64(j), kindPayload)
						bt.Delete(key, nil)
					}
					if err := bt.Commit(pebble.Sync); err != nil {
						b.Fatal(err)
					}
					bt.Close()
				}
			}
			b.StopTimer()
			reportRate(b, b.N)
		})
	}
}
