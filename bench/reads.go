package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// DefaultReadSize is the log size the query, export and verify workloads
// read.
const DefaultReadSize = 1_000_000

// DefaultQueries are the searches the query workload runs: common and rare
// matches on the fields the indexes will cover.
var DefaultQueries = []string{
	"category:role",
	"action:device:wipe",
	"actor:u_00042",
	"result:failure",
	"ip:198.51.7.0/24",
}

// ReadConfig configures RunQuery, RunExport and RunVerify.
type ReadConfig struct {
	Common
	// Size is the log size read (DefaultReadSize when zero); the log is
	// built once in Dir and reused (see openStore).
	Size uint64
	// Queries are the searches of RunQuery (DefaultQueries when empty).
	Queries []string
	// HTTP also reads through the API on a 127.0.0.1 listener.
	HTTP bool
}

func (cfg *ReadConfig) setDefaults() error {
	if err := cfg.Common.setDefaults(); err != nil {
		return err
	}
	if cfg.Size == 0 {
		cfg.Size = DefaultReadSize
	}
	if len(cfg.Queries) == 0 {
		cfg.Queries = DefaultQueries
	}
	return nil
}

// withStore opens the workload's store, adds its note and the raw-scan
// baseline runs to res, and calls fn; it closes the store after.
func withStore(ctx context.Context, cfg *ReadConfig, res *Result, fn func(st *store) error) (err error) {
	st, err := openStore(ctx, &cfg.Common, cfg.Size)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.l.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	res.Notes = append(res.Notes, st.note)
	return fn(st)
}

// rawScanRate is the storage limit of a read workload: the log's entries
// over the time a plain Pebble iteration of the whole store takes.
func rawScanRate(st *store) (float64, error) {
	size, err := st.l.Size(ledger.DefaultLogID)
	if err != nil {
		return 0, err
	}
	_, took, err := rawScan(st.l.DB())
	if err != nil {
		return 0, err
	}
	return float64(size) / took.Seconds(), nil
}

// RunQuery measures searches on a log of Size entries: in process, a full
// Ledger.Scan that parses each entry and applies the query
// (ledger.ParseQuery, Query.Match), in entries scanned per second; the same
// whole match set through the field indexes (Ledger.Search), whose count
// must equal the scan's; and, as configured, the first page (100 events) of
// GET /v1/logs/{log}/events?q=, which searches the same way. The baseline is
// a raw Pebble iteration of the whole store.
func RunQuery(ctx context.Context, cfg ReadConfig) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	res := newResult("query", cfg)
	err := withStore(ctx, &cfg, res, func(st *store) error {
		var srv *server
		if cfg.HTTP {
			var err error
			if srv, err = startServer(ctx, st.l, nil, 1); err != nil {
				return err
			}
			defer srv.close()
		}
		runs := map[string][]float64{}
		durs := map[string][]time.Duration{}
		notes := map[string]string{}
		var rawRuns []float64
		for run := 0; run < cfg.Runs; run++ {
			cfg.progress(fmt.Sprintf("run %d/%d raw scan", run+1, cfg.Runs), int64(run), int64(cfg.Runs))
			r, err := rawScanRate(st)
			if err != nil {
				return err
			}
			rawRuns = append(rawRuns, r)
			for _, qs := range cfg.Queries {
				cfg.progress(fmt.Sprintf("run %d/%d %s", run+1, cfg.Runs, qs), int64(run), int64(cfg.Runs))
				q, err := ledger.ParseQuery(qs, time.Now())
				if err != nil {
					return fmt.Errorf("query %q: %w", qs, err)
				}
				start := time.Now()
				var scanned, matched int64
				if _, err := st.l.Scan(ctx, ledger.DefaultLogID, ledger.ScanOptions{Bound: st.size}, func(r *ledger.Record) (bool, error) {
					scanned++
					if r.Leaf == nil {
						return true, nil
					}
					en, err := ledger.ParseEntry(r.Leaf)
					if err != nil {
						return false, fmt.Errorf("entry %d: %w", r.Index, err)
					}
					if q.Match(en) {
						matched++
					}
					return true, nil
				}); err != nil {
					return err
				}
				took := time.Since(start)
				if uint64(scanned) != st.size {
					return fmt.Errorf("%w: scanned %d of %d", errSize, scanned, st.size)
				}
				k := "scan-match/q=" + qs
				runs[k] = append(runs[k], float64(scanned)/took.Seconds())
				durs[k] = append(durs[k], took)
				notes[k] = fmt.Sprintf("%d matches", matched)

				// The same match set through the field indexes (Ledger.Search),
				// which must find exactly what the scan found.
				start = time.Now()
				var found int64
				stats, err := st.l.Search(ctx, ledger.DefaultLogID, q, ledger.ScanOptions{Bound: st.size}, func(*ledger.Record) (bool, error) {
					found++
					return true, nil
				})
				if err != nil {
					return err
				}
				took = time.Since(start)
				if found != matched {
					return fmt.Errorf("%w: Search found %d of %q, the scan %d", errSize, found, qs, matched)
				}
				k = "search/q=" + qs
				runs[k] = append(runs[k], 1/took.Seconds())
				durs[k] = append(durs[k], took)
				notes[k] = fmt.Sprintf("%d matches, %d entries read; plan %s", found, stats.Examined, stats.Plan)
				if srv != nil {
					k := "http-page/q=" + qs
					path := "/v1/logs/" + ledger.DefaultLogID + "/events?limit=100&q=" + url.QueryEscape(qs)
					// Enough requests to measure, within about a second.
					n, took, d, err := driveFor(ctx, 1, time.Second, func(ctx context.Context, g, i int) error {
						_, err := srv.do(ctx, http.MethodGet, path, nil, io.Discard)
						return err
					})
					if err != nil {
						return err
					}
					runs[k] = append(runs[k], float64(n)/took.Seconds())
					durs[k] = append(durs[k], d...)
				}
			}
		}
		res.add(Row{Name: "raw-scan", Series: "raw-pebble", Size: st.size, Unit: "entries/s", Runs: rawRuns,
			Note: "a plain Pebble iteration over every key of the store"})
		for _, qs := range cfg.Queries {
			for _, k := range []string{"scan-match/q=" + qs, "search/q=" + qs, "http-page/q=" + qs} {
				if len(runs[k]) == 0 {
					continue
				}
				row := Row{Name: k, Size: st.size, Unit: "entries/s", Runs: runs[k], Note: notes[k]}
				switch k[:2] {
				case "ht":
					row.Unit = "pages/s"
				case "se":
					row.Unit = "searches/s"
				}
				row.P50, row.P99 = percentiles(durs[k])
				res.add(row)
				if k[:2] == "sc" {
					res.compare(k, "raw-scan")
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Notes = append(res.Notes, "scan-match: Ledger.Scan of the whole log, ParseEntry and Query.Match of each entry; p50/p99: one whole scan",
		"search: the whole match set through the field indexes (Ledger.Search), checked against the scan's count; p50/p99: one whole search",
		"http-page: the first page (limit=100, newest first) of GET /v1/logs/default/events?q=…, one client; p50/p99: one request")
	res.finish()
	return res, nil
}

// RunExport measures exporting the whole log of Size entries: in process,
// Ledger.Scan writing each entry as a CSV row (CSVWriter.WriteRecord, as the export route) or
// as an NDJSON line (its canonical JSON) to nowhere; and, as configured,
// GET /v1/logs/{log}/events?format=csv and format=ndjson, read to the end.
// Each HTTP export appends its audit entry to the log, which grows by one;
// the in-process exports read the first Size entries. The baseline is a raw
// Pebble iteration of the whole store.
func RunExport(ctx context.Context, cfg ReadConfig) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	res := newResult("export", cfg)
	err := withStore(ctx, &cfg, res, func(st *store) error {
		var srv *server
		if cfg.HTTP {
			var err error
			if srv, err = startServer(ctx, st.l, nil, 1); err != nil {
				return err
			}
			defer srv.close()
		}
		runs := map[string][]float64{}
		bytesOut := map[string]int64{}
		var rawRuns []float64
		kinds := []string{"csv", "ndjson"}
		for run := 0; run < cfg.Runs; run++ {
			cfg.progress(fmt.Sprintf("run %d/%d raw scan", run+1, cfg.Runs), int64(run), int64(cfg.Runs))
			r, err := rawScanRate(st)
			if err != nil {
				return err
			}
			rawRuns = append(rawRuns, r)
			for _, kind := range kinds {
				cfg.progress(fmt.Sprintf("run %d/%d %s", run+1, cfg.Runs, kind), int64(run), int64(cfg.Runs))
				n, took, size, err := exportInProcess(ctx, st, kind)
				if err != nil {
					return err
				}
				if n != st.size {
					return fmt.Errorf("%w: exported %d of %d", errSize, n, st.size)
				}
				runs[kind] = append(runs[kind], float64(n)/took.Seconds())
				bytesOut[kind] = size
				if srv == nil {
					continue
				}
				k := kind + "-http"
				before, err := st.l.Size(ledger.DefaultLogID)
				if err != nil {
					return err
				}
				cw := &countWriter{}
				start := time.Now()
				if _, err := srv.do(ctx, http.MethodGet, "/v1/logs/"+ledger.DefaultLogID+"/events?order=asc&format="+kind, nil, cw); err != nil {
					return err
				}
				took = time.Since(start)
				runs[k] = append(runs[k], float64(before)/took.Seconds())
				bytesOut[k] = cw.n
			}
		}
		res.add(Row{Name: "raw-scan", Series: "raw-pebble", Size: st.size, Unit: "entries/s", Runs: rawRuns,
			Note: "a plain Pebble iteration over every key of the store"})
		for _, kind := range kinds {
			for _, k := range []string{kind, kind + "-http"} {
				if len(runs[k]) == 0 {
					continue
				}
				res.add(Row{Name: "export-" + k, Size: st.size, Unit: "entries/s", Runs: runs[k],
					Note: fmt.Sprintf("%.1f MB written", float64(bytesOut[k])/1e6)})
				res.compare("export-"+k, "raw-scan")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.finish()
	return res, nil
}

// exportInProcess writes the first st.size entries as CSV or NDJSON to
// nowhere and returns the entries written, the time and the bytes.
func exportInProcess(ctx context.Context, st *store, kind string) (uint64, time.Duration, int64, error) {
	cw := &countWriter{}
	bw := bufio.NewWriterSize(cw, 64<<10)
	var csvw *ledger.CSVWriter
	if kind == "csv" {
		csvw = ledger.NewCSVWriter(bw, false) // it writes the header row
	}
	var n uint64
	start := time.Now()
	_, err := st.l.Scan(ctx, ledger.DefaultLogID, ledger.ScanOptions{Bound: st.size, Transient: true}, func(r *ledger.Record) (bool, error) {
		n++
		if r.Leaf == nil {
			return true, nil
		}
		if csvw == nil {
			_, _ = bw.Write(r.Leaf)
			return true, bw.WriteByte('\n')
		}
		ok, err := csvw.WriteRecord(r) // as the export route
		if !ok && err == nil {
			return false, fmt.Errorf("entry %d does not parse", r.Index)
		}
		return true, err
	})
	if err == nil && csvw != nil {
		err = csvw.Flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return 0, 0, 0, fmt.Errorf("couldn't export: %w", err)
	}
	return n, time.Since(start), cw.n, nil
}

// countWriter counts what is written to it and drops it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// RunVerify measures Ledger.Verify of a log of Size entries (the whole
// replay: every leaf hash, the chain, the tree, every checkpoint), in
// entries/s. Its limits, measured in the same run: a raw Pebble iteration of
// the store (storage) and SHA-256 of the generator's leaves (hashing, one
// goroutine).
func RunVerify(ctx context.Context, cfg ReadConfig) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	res := newResult("verify", cfg)
	leaves, _ := Leaves(Events(cfg.Seed, 0, int(min(cfg.Size, 65536))))
	err := withStore(ctx, &cfg, res, func(st *store) error {
		var runs, rawRuns, shaRuns []float64
		var verified uint64
		for run := 0; run < cfg.Runs; run++ {
			cfg.progress(fmt.Sprintf("run %d/%d verify", run+1, cfg.Runs), int64(run), int64(cfg.Runs))
			start := time.Now()
			rep, err := st.l.Verify(ctx, ledger.DefaultLogID, ledger.VerifyOptions{})
			if err != nil {
				return err
			}
			took := time.Since(start)
			if !rep.OK || rep.Size < st.size {
				return fmt.Errorf("verify of the bench store failed: ok %v, size %d, problems %v", rep.OK, rep.Size, rep.Problems)
			}
			verified += rep.Size
			runs = append(runs, float64(rep.Size)/took.Seconds())
			r, err := rawScanRate(st)
			if err != nil {
				return err
			}
			rawRuns = append(rawRuns, r)
			shaRuns = append(shaRuns, sha256Rate(leaves, 300*time.Millisecond))
		}
		res.add(Row{Name: "raw-scan", Series: "raw-pebble", Size: st.size, Unit: "entries/s", Runs: rawRuns,
			Note: "a plain Pebble iteration over every key of the store"})
		res.add(Row{Name: "sha256-leaf", Series: "sha256", Unit: "entries/s", Runs: shaRuns,
			Note: "RFC 6962 leaf hash of the same kind of leaves, one goroutine"})
		res.add(Row{Name: "verify", Size: st.size, Unit: "entries/s", Runs: runs, Entries: verified})
		res.compare("verify", "raw-scan")
		res.compare("verify", "sha256-leaf")
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.finish()
	return res, nil
}
