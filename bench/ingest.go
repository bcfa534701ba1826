package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// Defaults of IngestConfig.
const (
	// DefaultIngestEntries is how many entries one measurement of a case
	// with at least 256 events in flight writes; cases with fewer (single
	// events from a few clients, which run at fsync speed) write an eighth.
	DefaultIngestEntries = 200_000
	// DefaultPeerMaxTime bounds one peer measurement.
	DefaultPeerMaxTime = 20 * time.Second
)

// DefaultIngestBatches are the batch sizes measured with one client.
var DefaultIngestBatches = []int{1, 16, 128, 1024, 8192}

// DefaultIngestClients are the client counts measured with one event per
// call.
var DefaultIngestClients = []int{4, 16, 64, 256}

// IngestConfig configures RunIngest.
type IngestConfig struct {
	Common
	// Entries is how many entries each measurement writes
	// (DefaultIngestEntries when zero; see there).
	Entries int
	// Batches are the batch sizes measured with one client
	// (DefaultIngestBatches when empty); at most ledger.MaxBatchEvents.
	Batches []int
	// Clients are the client counts measured with one event per call
	// (DefaultIngestClients when empty).
	Clients []int
	// HTTP also measures every case through the API on a 127.0.0.1
	// listener, with a no-op HTTP handler as the floor for single events.
	HTTP bool
	// Peer is the path of the tessera-peer binary (bench/peers/tessera);
	// when set, every case is also run by Tessera's POSIX storage on the same
	// disk, with its documented default batching and with the case's batch
	// size.
	Peer string
	// PeerMaxTime bounds one peer measurement (DefaultPeerMaxTime when
	// zero): the peer starts no new Add after it, and its row counts the
	// entries it added.
	PeerMaxTime time.Duration
}

type ingestCase struct{ batch, clients int }

func (c ingestCase) String() string { return fmt.Sprintf("batch=%d/clients=%d", c.batch, c.clients) }

func (cfg *IngestConfig) setDefaults() error {
	if err := cfg.Common.setDefaults(); err != nil {
		return err
	}
	if cfg.Entries <= 0 {
		cfg.Entries = DefaultIngestEntries
	}
	if len(cfg.Batches) == 0 {
		cfg.Batches = DefaultIngestBatches
	}
	if len(cfg.Clients) == 0 {
		cfg.Clients = DefaultIngestClients
	}
	for _, b := range cfg.Batches {
		if b < 1 || b > ledger.MaxBatchEvents {
			return fmt.Errorf("bench: batch size %d is not within 1–%d", b, ledger.MaxBatchEvents)
		}
	}
	for _, c := range cfg.Clients {
		if c < 1 || c > 4096 {
			return fmt.Errorf("bench: client count %d is not within 1–4096", c)
		}
	}
	if cfg.PeerMaxTime <= 0 {
		cfg.PeerMaxTime = DefaultPeerMaxTime
	}
	if cfg.Peer != "" {
		if _, err := os.Stat(cfg.Peer); err != nil {
			return fmt.Errorf("bench: the tessera peer %s is absent (build it: see bench/peers/tessera/README.md): %w", cfg.Peer, err)
		}
	}
	return nil
}

func (cfg *IngestConfig) cases() []ingestCase {
	var cs []ingestCase
	for _, b := range cfg.Batches {
		cs = append(cs, ingestCase{b, 1})
	}
	for _, c := range cfg.Clients {
		if !slices.Contains(cs, ingestCase{1, c}) {
			cs = append(cs, ingestCase{1, c})
		}
	}
	return cs
}

// entries is how many entries one measurement of c writes: cfg.Entries,
// or an eighth of it when fewer than 256 events are in flight, rounded to
// whole calls.
func (cfg *IngestConfig) entries(c ingestCase) int {
	n := cfg.Entries
	if c.batch*c.clients < 256 {
		n /= 8
	}
	n = max(n/c.batch, c.clients) * c.batch
	return n
}

// RunIngest measures durable ingest of generated events: for each case (a
// batch size with one client, or single events from several clients), raw
// Pebble writing the same leaf bytes in synced commits of the same size
// from as many clients (the storage limit), ledger.Append into a fresh store
// in process, and, as configured, the same through the HTTP API and
// Tessera's POSIX storage. SHA-256 of the same leaves is the hashing limit.
// Each figure is the median of Runs runs; within a run the systems take
// turns, so they share the machine's state.
func RunIngest(ctx context.Context, cfg IngestConfig) (*Result, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	res := newResult("ingest", cfg)
	cases := cfg.cases()
	most := 0
	for _, c := range cases {
		most = max(most, cfg.entries(c))
	}
	cfg.progress("generating events", 0, int64(most))
	events := Events(cfg.Seed, 0, most)
	leaves, total := Leaves(events)
	res.Notes = append(res.Notes, leafNote(leaves, total))
	var leafFile string
	if cfg.Peer != "" {
		f, err := writeLeaves(cfg.Dir, leaves)
		if err != nil {
			return nil, err
		}
		defer os.Remove(f)
		leafFile = f
	}

	type series struct {
		name string
		runs map[ingestCase][]float64
		durs map[ingestCase][]time.Duration
		note map[ingestCase]string
		n    map[ingestCase]uint64
		size map[ingestCase]uint64
	}
	newSeries := func(name string) *series {
		return &series{name: name, runs: map[ingestCase][]float64{}, durs: map[ingestCase][]time.Duration{},
			note: map[ingestCase]string{}, n: map[ingestCase]uint64{}, size: map[ingestCase]uint64{}}
	}
	raw, al, web, floor := newSeries("raw-pebble"), newSeries("auditledger"), newSeries("auditledger-http"), newSeries("http-floor")
	tessDef, tessBatch, tessHTTP := newSeries("tessera-default"), newSeries("tessera-batch"), newSeries("tessera-http")
	var shaRuns []float64

	step := int64(0)
	for run := 0; run < cfg.Runs; run++ {
		shaRuns = append(shaRuns, sha256Rate(leaves[:min(len(leaves), 65536)], 300*time.Millisecond))
		for _, c := range cases {
			n := cfg.entries(c)
			stage := fmt.Sprintf("run %d/%d %s", run+1, cfg.Runs, c)
			step++
			cfg.progress(stage+" raw pebble", step, -1)
			if err := measureDir(&cfg.Common, "raw", func(dir string) error {
				rate, err := rawPebble(dir, leaves, n, c.batch, c.clients)
				raw.runs[c] = append(raw.runs[c], rate)
				raw.n[c] += uint64(n)
				return err
			}); err != nil {
				return nil, err
			}
			cfg.progress(stage+" auditledger", step, -1)
			if err := measureDir(&cfg.Common, "ingest", func(dir string) error {
				m, err := ingestLedger(ctx, dir, events[:n], c, false)
				if err != nil {
					return err
				}
				al.runs[c] = append(al.runs[c], m.rate)
				al.durs[c] = append(al.durs[c], m.durs...)
				al.n[c] += uint64(n)
				al.size[c] += m.size
				al.note[c] = fmt.Sprintf("%.1f entries/commit", m.perCommit)
				return nil
			}); err != nil {
				return nil, err
			}
			if cfg.HTTP {
				cfg.progress(stage+" auditledger over HTTP", step, -1)
				if err := measureDir(&cfg.Common, "ingest-http", func(dir string) error {
					m, err := ingestLedger(ctx, dir, events[:n], c, true)
					if err != nil {
						return err
					}
					web.runs[c] = append(web.runs[c], m.rate)
					web.durs[c] = append(web.durs[c], m.durs...)
					web.n[c] += uint64(n)
					web.size[c] += m.size
					web.note[c] = fmt.Sprintf("%.1f entries/commit", m.perCommit)
					return nil
				}); err != nil {
					return nil, err
				}
				if c.batch == 1 {
					cfg.progress(stage+" HTTP floor", step, -1)
					m, err := ingestFloor(ctx, events[:n], c)
					if err != nil {
						return nil, err
					}
					floor.runs[c] = append(floor.runs[c], m.rate)
					floor.durs[c] = append(floor.durs[c], m.durs...)
					floor.n[c] += uint64(n)
				}
			}
			if cfg.Peer != "" && cfg.HTTP && c.batch == 1 {
				cfg.progress(stage+" tessera over HTTP", step, -1)
				if err := measureDir(&cfg.Common, "tessera-http", func(dir string) error {
					rate, done, durs, err := runPeerHTTP(ctx, cfg.Peer, dir, leaves, n, c.clients, cfg.PeerMaxTime)
					if err != nil {
						return err
					}
					tessHTTP.runs[c] = append(tessHTTP.runs[c], rate)
					tessHTTP.durs[c] = append(tessHTTP.durs[c], durs...)
					tessHTTP.n[c] += uint64(done)
					tessHTTP.size[c] += uint64(done)
					tessHTTP.note[c] = "Tessera's HTTP example: POST /add, batches of 256 or 1 s"
					return nil
				}); err != nil {
					return nil, err
				}
			}
			if cfg.Peer != "" {
				for _, s := range []*series{tessDef, tessBatch} {
					batch := 0 // Tessera's default batching
					if s == tessBatch {
						batch = c.batch
					}
					cfg.progress(stage+" "+s.name, step, -1)
					if err := measureDir(&cfg.Common, "tessera", func(dir string) error {
						pr, err := runPeer(ctx, cfg.Peer, dir, leafFile, n, c.batch*c.clients, batch, cfg.PeerMaxTime)
						if err != nil {
							return err
						}
						s.runs[c] = append(s.runs[c], pr.Rate)
						s.n[c] += uint64(pr.Entries)
						s.size[c] += pr.Size
						s.note[c] = fmt.Sprintf("%d adders, batch %d, max age %s", pr.Adders, pr.BatchMaxSize, pr.BatchMaxAge)
						return nil
					}); err != nil {
						return nil, err
					}
				}
			}
		}
	}

	res.add(Row{Name: "sha256-leaf", Series: "sha256", Unit: "entries/s", Runs: shaRuns,
		Note: "RFC 6962 leaf hash of the same leaves, one goroutine"})
	name := func(s *series, c ingestCase) string { return s.name + "/" + c.String() }
	for _, s := range []*series{raw, al, web, floor, tessDef, tessBatch, tessHTTP} {
		for _, c := range cases {
			if len(s.runs[c]) == 0 {
				continue
			}
			row := Row{Name: name(s, c), Series: s.name, Batch: c.batch, Clients: c.clients, Unit: "entries/s",
				Runs: s.runs[c], Entries: s.n[c], LogSize: s.size[c], Note: s.note[c]}
			if c.batch == 1 && len(s.durs[c]) > 0 {
				row.P50, row.P99 = percentiles(s.durs[c])
			}
			res.add(row)
		}
	}
	for _, c := range cases {
		res.compare(name(al, c), name(raw, c))
		res.compare(name(al, c), "sha256-leaf")
		res.compare(name(al, c), name(tessDef, c))
		res.compare(name(al, c), name(tessBatch, c))
		res.compare(name(web, c), name(raw, c))
		res.compare(name(web, c), name(al, c))
		res.compare(name(web, c), name(floor, c))
		res.compare(name(web, c), name(tessHTTP, c))
		res.compare(name(tessHTTP, c), name(floor, c))
		res.compare(name(tessDef, c), name(raw, c))
		res.compare(name(tessBatch, c), name(raw, c))
	}
	res.Notes = append(res.Notes,
		"auditledger: ledger.Append of `batch` events per call from `clients` goroutines into a fresh store, each call answered after its fsync",
		"raw-pebble: the same leaf bytes, one value per entry under index-major keys, Pebble with the ledger's options, a synced commit per call",
		"p50/p99 (single-event cases): latency of one call or request")
	if cfg.HTTP {
		res.Notes = append(res.Notes, "auditledger-http: POST /v1/logs/default/events through the real API on 127.0.0.1, the client in the same process; http-floor: the same requests to a handler that does nothing")
	}
	if cfg.Peer != "" {
		res.Notes = append(res.Notes, "tessera-*: Tessera v1.0.4 POSIX storage as a library (bench/peers/tessera), batch×clients adders each awaiting its index; -default: its documented batching (256 entries, 250 ms), -batch: the case's batch size")
		if cfg.HTTP {
			res.Notes = append(res.Notes, "tessera-http: the peer serving Tessera's HTTP example (its conformance server's POST /add, batches of 256 or 1 s), driven by the same client with the same leaves, single events only")
		}
	}
	res.finish()
	return res, nil
}

// measureDir runs fn with a fresh directory under cfg.Dir and removes it.
func measureDir(cfg *Common, name string, fn func(dir string) error) error {
	dir, err := cfg.tempDir(name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return fn(dir)
}

// ingestMeasure is one ingest measurement.
type ingestMeasure struct {
	rate      float64
	durs      []time.Duration // per call, for single-event cases
	size      uint64          // the log's size afterwards
	perCommit float64
}

// ingestLedger appends events to a fresh ledger in dir, c.batch per call
// from c.clients goroutines, in process or through the API.
func ingestLedger(ctx context.Context, dir string, events []ledger.Event, c ingestCase, overHTTP bool) (m ingestMeasure, err error) {
	l, err := openLedger(ctx, dir)
	if err != nil {
		return m, err
	}
	defer func() {
		if cerr := l.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("couldn't close the ledger: %w", cerr)
		}
	}()
	calls := (len(events) + c.batch - 1) / c.batch
	var job func(ctx context.Context, i int) error
	if overHTTP {
		bodies, err := Bodies(events, c.batch)
		if err != nil {
			return m, err
		}
		srv, err := startServer(ctx, l, nil, c.clients)
		if err != nil {
			return m, err
		}
		defer srv.close()
		path := "/v1/logs/" + ledger.DefaultLogID + "/events"
		job = func(ctx context.Context, i int) error {
			_, err := srv.do(ctx, http.MethodPost, path, bodies[i], io.Discard)
			return err
		}
	} else {
		job = func(ctx context.Context, i int) error {
			lo := i * c.batch
			_, err := l.Append(ctx, ledger.DefaultLogID, events[lo:min(lo+c.batch, len(events))], ledger.AppendOptions{})
			return err
		}
	}
	st := l.Stats()
	commits0, entries0 := st.Commits.Load(), st.Entries.Load()
	took, durs, err := drive(ctx, c.clients, calls, job)
	if err != nil {
		return m, err
	}
	m.rate = float64(len(events)) / took.Seconds()
	if c.batch == 1 {
		m.durs = durs
	}
	if k := st.Commits.Load() - commits0; k > 0 {
		m.perCommit = float64(st.Entries.Load()-entries0) / float64(k)
	}
	if m.size, err = l.Size(ledger.DefaultLogID); err != nil {
		return m, err
	}
	if m.size != uint64(len(events)) {
		return m, fmt.Errorf("%w: %d appended, log size %d", errSize, len(events), m.size)
	}
	return m, nil
}

// ingestFloor sends the single-event requests of c to the no-op handler.
func ingestFloor(ctx context.Context, events []ledger.Event, c ingestCase) (ingestMeasure, error) {
	var m ingestMeasure
	bodies, err := Bodies(events, 1)
	if err != nil {
		return m, err
	}
	srv, err := startServer(ctx, nil, floorHandler, c.clients)
	if err != nil {
		return m, err
	}
	defer srv.close()
	var served atomic.Int64
	took, durs, err := drive(ctx, c.clients, len(bodies), func(ctx context.Context, i int) error {
		_, err := srv.do(ctx, http.MethodPost, "/v1/logs/default/events", bodies[i], io.Discard)
		served.Add(1)
		return err
	})
	if err != nil {
		return m, err
	}
	m.rate, m.durs = float64(served.Load())/took.Seconds(), durs
	return m, nil
}
