package ledger

// Benchmarks of search and export over a large log (issue #4): an indexed
// query against the same query answered by a scan of the log in the same
// run, and the disk each entry costs.
//
// The log is built once, in $AUDITLEDGER_BENCH_SEARCH_STORE or
// os.TempDir()/auditledger-bench-search-<N>, and reused by later runs;
// delete the directory to rebuild it. N is $AUDITLEDGER_BENCH_SEARCH_N
// (default 1,000,000; the figures are at 10,000,000). The build time
// is printed when it happens.

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// searchBenchEnd is the time of the last entry of the search benchmark's log;
// entries are spread evenly over the 90 days before it.
var searchBenchEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const searchBenchDays = 90

var searchBenchCategories = []struct {
	name    string
	weight  int
	actions []string
}{
	{"login", 45, []string{"login", "login:failed", "logout"}},
	{"user", 14, []string{"user:invite", "user:delete", "user:update"}},
	{"role", 8, []string{"role:assign", "role:revoke"}},
	{"device", 7, []string{"device:enroll", "device:wipe"}},
	{"api", 8, []string{"api_key:create", "api_key:revoke"}},
	{"security", 5, []string{"security:sso_disabled", "security:2fa_required_disabled", "security:policy_update"}},
	{"settings", 8, []string{"settings:update"}},
	{"team", 5, []string{"team:create", "team:member_add"}},
}

// searchBenchEvent is event i of n: weighted categories, 5,000 actors with
// a skewed spread, 100 rare actors with 5 entries each, 20,000 addresses,
// times in index order over 90 days; leaves of about 400 B.
func searchBenchEvent(r *rand.Rand, i, n int) Event {
	w := r.IntN(100)
	c := searchBenchCategories[0]
	for _, cc := range searchBenchCategories {
		if w < cc.weight {
			c = cc
			break
		}
		w -= cc.weight
	}
	actor := r.IntN(r.IntN(5000) + 1)
	ev := Event{
		Category: c.name,
		Action:   c.actions[r.IntN(len(c.actions))],
		Actor: &Actor{Type: "user", ID: "usr_" + strconv.Itoa(actor), Name: "User " + strconv.Itoa(actor),
			Email: "user" + strconv.Itoa(actor) + "@example.com"},
		Target:    &Target{Type: "user", ID: "usr_" + strconv.Itoa(r.IntN(5000))},
		IP:        fmt.Sprintf("10.%d.%d.%d", r.IntN(20), r.IntN(40), r.IntN(25)),
		UserAgent: benchUserAgent,
	}
	if rare := n / 500; rare > 0 && i%(n/rare) == 0 {
		ev.Actor = &Actor{Type: "user", ID: fmt.Sprintf("rare_%d", (i/(n/rare))%(rare/5+1))}
	}
	if ev.Action == "login:failed" {
		ev.Result = "failure"
	}
	if c.name == "role" {
		ev.Details = []byte(`{"role_from":"member","role_to":"admin"}`)
	}
	t := searchBenchEnd.Add(-time.Duration(float64(searchBenchDays*24*time.Hour) * float64(n-1-i) / float64(n)))
	ev.Time = &t
	return ev
}

// openSearchBench opens (building it if absent) the search benchmark's log.
func openSearchBench(b *testing.B) (*Ledger, int, string) {
	b.Helper()
	n := 1_000_000
	if s := os.Getenv("AUDITLEDGER_BENCH_SEARCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 10_000 {
			b.Fatalf("AUDITLEDGER_BENCH_SEARCH_N=%q: want a number ≥ 10000", s)
		}
		n = v
	}
	dir := os.Getenv("AUDITLEDGER_BENCH_SEARCH_STORE")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("auditledger-bench-search-%d", n))
	}
	ctx := context.Background()
	l, err := Open(ctx, Config{Dir: dir, Logger: benchLogger()})
	if err != nil {
		b.Fatal(err)
	}
	size, _ := l.Size(DefaultLogID)
	if int(size) < n {
		start := time.Now()
		r := rand.New(rand.NewPCG(7, uint64(n)))
		batch := make([]Event, 0, 1000)
		for i := int(size); i < n; i++ {
			batch = append(batch, searchBenchEvent(r, i, n))
			if len(batch) == cap(batch) || i == n-1 {
				if _, err := l.Append(ctx, DefaultLogID, batch, AppendOptions{}); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		appended := time.Since(start)
		lg, _ := l.handle(DefaultLogID)
		for lg.indexed.Load() < uint64(n) {
			time.Sleep(100 * time.Millisecond)
		}
		b.Logf("built %d entries in %s: appended in %s, indexed %s later", n, time.Since(start).Round(time.Second),
			appended.Round(time.Second), (time.Since(start) - appended).Round(time.Second))
	}
	lg, _ := l.handle(DefaultLogID)
	if lg.indexed.Load() < uint64(n) { // an index rebuilt after a format change
		start, from := time.Now(), lg.indexed.Load()
		for lg.indexed.Load() < uint64(n) {
			time.Sleep(100 * time.Millisecond)
		}
		took := time.Since(start)
		b.Logf("indexed entries %d to %d in %s (%.0f entries/s)", from, n, took.Round(time.Second), float64(uint64(n)-from)/took.Seconds())
	}
	return l, n, dir
}

// BenchmarkSearch times 100-row pages of queries (newest first), through the
// indexes (plan=index) and by scanning the log and matching every entry
// (plan=scan), and reports p50 and p99 over the iterations. Each iteration
// asks for another value: another week back, another rare actor.
func BenchmarkSearch(b *testing.B) {
	l, n, dir := openSearchBench(b)
	defer l.Close()
	ctx := context.Background()
	queries := []struct {
		name string
		q    func(i int) string
	}{
		{"category:role_since:7d", func(i int) string { return "category:role since:7d" }},
		{"actor:rare", func(i int) string { return fmt.Sprintf("actor:rare_%d", i%(n/2500)) }},
		{"actor:frequent", func(i int) string { return fmt.Sprintf("actor:usr_%d", i%5) }},
		{"result:failure_ip", func(i int) string { return fmt.Sprintf("result:failure ip:10.%d.%d.%d", i%20, i%40, i%25) }},
	}
	for _, qc := range queries {
		for _, plan := range []string{"index", "scan"} {
			b.Run(fmt.Sprintf("entries=%d/q=%s/plan=%s", n, qc.name, plan), func(b *testing.B) {
				var lat []time.Duration
				for i := 0; b.Loop(); i++ {
					q, err := ParseQuery(qc.q(i), searchBenchEnd)
					if err != nil {
						b.Fatal(err)
					}
					rows := 0
					fn := func(r *Record) (bool, error) { rows++; return rows < 100, nil }
					t0 := time.Now()
					if plan == "index" {
						_, err = l.Search(ctx, DefaultLogID, q, ScanOptions{Desc: true, From: ^uint64(0)}, fn)
					} else {
						_, err = l.Scan(ctx, DefaultLogID, ScanOptions{Desc: true, From: ^uint64(0)}, func(r *Record) (bool, error) {
							en, err := ParseEntry(r.Leaf)
							if err != nil || !q.Match(en) {
								return err == nil, err
							}
							return fn(r)
						})
					}
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
				}
				reportLatency(b, lat)
			})
		}
	}
	b.Run(fmt.Sprintf("entries=%d/disk", n), func(b *testing.B) {
		for b.Loop() {
		}
		reportDisk(b, l, dir, n)
	})
}

// reportLatency reports the median and 99th percentile in ms.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	ms := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6
	}
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// reportDisk reports the bytes on disk per entry (the main store and the
// index store) against the mean leaf size.
func reportDisk(b *testing.B, l *Ledger, dir string, n int) {
	var leafBytes, count int64
	_, err := l.Scan(context.Background(), DefaultLogID, ScanOptions{From: uint64(max(0, n-100_000))}, func(r *Record) (bool, error) {
		leafBytes += int64(len(r.Leaf))
		count++
		return true, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	size := func(sub string) int64 {
		var total int64
		filepath.WalkDir(filepath.Join(dir, sub), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if fi, err := d.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
		return total
	}
	all, index := size(""), size("index")
	leaf := float64(leafBytes) / float64(count)
	b.ReportMetric(leaf, "leaf-B")
	b.ReportMetric(float64(all)/float64(n), "disk-B/entry")
	b.ReportMetric(float64(index)/float64(n), "index-B/entry")
	b.ReportMetric(float64(all)/float64(n)/leaf, "disk/leaf")
}

// BenchmarkExport streams a query's matches as CSV to io.Discard, as the
// export route does (CSVWriter.WriteRecord), and reports rows/s.
func BenchmarkExport(b *testing.B) {
	l, n, _ := openSearchBench(b)
	defer l.Close()
	ctx := context.Background()
	for _, qs := range []string{"category:role", "since:7d"} {
		b.Run(fmt.Sprintf("entries=%d/q=%s/format=csv", n, qs), func(b *testing.B) {
			q, err := ParseQuery(qs, searchBenchEnd)
			if err != nil {
				b.Fatal(err)
			}
			rows := 0
			for b.Loop() {
				cw := NewCSVWriter(io.Discard, false)
				_, err := l.Search(ctx, DefaultLogID, q, ScanOptions{Transient: true}, func(r *Record) (bool, error) {
					ok, err := cw.WriteRecord(r)
					if !ok && err == nil {
						return false, fmt.Errorf("entry %d does not parse", r.Index)
					}
					rows++
					return true, err
				})
				if err == nil {
					err = cw.Flush()
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkIndexer times the indexer over a log whose indexes were reset
// (outside the timer): entries/s of leaf-hash and field indexing, read
// from the store, one posting block sealed and the rest of the log
// gathered into the open block.
func BenchmarkIndexer(b *testing.B) {
	ctx := context.Background()
	// Without the indexer goroutine: the benchmark is the only indexer.
	l, err := Open(ctx, Config{Dir: b.TempDir(), Logger: benchLogger(), noIndexer: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const n = 100_000
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < n; i += 1000 {
		evs := make([]Event, 1000)
		for j := range evs {
			evs[j] = searchBenchEvent(r, i+j, n)
		}
		if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	lg, _ := l.handle(DefaultLogID)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		if err := l.resetLogIndex(lg, "the benchmark indexes it again"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := l.indexLog(lg); err != nil {
			b.Fatal(err)
		}
	}
	if _, from, end, _ := lg.open.state(); from != postingBlock || end != n {
		b.Fatalf("indexed [0, %d) with [%d, %d) in memory; want the first block sealed and %d entries", end, from, end, n)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkIndexOf times the leaf hash → index lookup (proofs by hash) on
// the search benchmark's log: a random entry's leaf hash each iteration,
// p50 and p99. The lookup asks each posting block below the indexed mark
// (decision 0006).
func BenchmarkIndexOf(b *testing.B) {
	l, n, _ := openSearchBench(b)
	defer l.Close()
	r := rand.New(rand.NewPCG(3, 4))
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		idx := uint64(r.IntN(n))
		h, err := l.LeafHash(DefaultLogID, idx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		got, err := l.IndexOf(DefaultLogID, h)
		lat = append(lat, time.Since(start))
		if err != nil || got > idx {
			b.Fatalf("IndexOf(entry %d's hash) = %d, %v", idx, got, err)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
