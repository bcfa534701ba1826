package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// Defaults of ProofsConfig.
const (
	// DefaultProofsDuration is how long each proof measurement runs.
	DefaultProofsDuration = 3 * time.Second
	// DefaultProofsClients is how many concurrent callers ask for proofs.
	DefaultProofsClients = 8
)

// DefaultProofsSizes are the log sizes proofs are measured at.
var DefaultProofsSizes = []uint64{1_000_000}

// ProofsConfig configures RunProofs.
type ProofsConfig struct {
	Common
	// Sizes are the log sizes to measure at (DefaultProofsSizes when
	// empty). Each log is built once in Dir and reused (see openStore): at
	// ~100,000 entries/s and ~480 B of disk per entry.
	Sizes []uint64
	// Duration is how long each measurement runs (DefaultProofsDuration
	// when zero).
	Duration time.Duration
	// Clients is the number of concurrent callers, in process and over
	// HTTP (DefaultProofsClients when zero).
	Clients int
	// HTTP also measures the proof routes through the API on a 127.0.0.1
	// listener, with a no-op handler as the floor.
	HTTP bool
}

// RunProofs measures inclusion proofs (a random index) and consistency
// proofs (from a random size) at each configured log size, against the tree
// of exactly that size, from Clients concurrent callers: in process
// (Ledger.InclusionProof, Ledger.ConsistencyProof) and, as configured, over
// HTTP. The baseline in process is reading one random entry (Ledger.Read:
// two Pebble gets); over HTTP, the no-op handler. Before measuring, a warm-up
// of one Duration fills the tile cache, as on a server that has run a while.
// The first proof of each kind is verified against the root.
func RunProofs(ctx context.Context, cfg ProofsConfig) (*Result, error) {
	if err := cfg.Common.setDefaults(); err != nil {
		return nil, err
	}
	if len(cfg.Sizes) == 0 {
		cfg.Sizes = DefaultProofsSizes
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultProofsDuration
	}
	if cfg.Clients <= 0 {
		cfg.Clients = DefaultProofsClients
	}
	res := newResult("proofs", cfg)
	for _, size := range cfg.Sizes {
		if size < 2 {
			return nil, fmt.Errorf("bench: a proof log needs at least 2 entries, not %d", size)
		}
		if err := proofsAt(ctx, &cfg, res, size); err != nil {
			return nil, err
		}
	}
	res.Notes = append(res.Notes,
		fmt.Sprintf("%d concurrent callers, %s a measurement; p50/p99: one proof (or request)", cfg.Clients, cfg.Duration),
		"entry-read: Ledger.Read of a random entry, the storage baseline")
	res.finish()
	return res, nil
}

func proofsAt(ctx context.Context, cfg *ProofsConfig, res *Result, size uint64) (err error) {
	st, err := openStore(ctx, &cfg.Common, size)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.l.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	res.Notes = append(res.Notes, st.note)
	l := st.l
	root, err := l.RootAt(ledger.DefaultLogID, size)
	if err != nil {
		return err
	}
	if err := checkProofs(l, size, root); err != nil {
		return err
	}

	var srv, floor *server
	if cfg.HTTP {
		if srv, err = startServer(ctx, l, nil, cfg.Clients); err != nil {
			return err
		}
		defer srv.close()
		if floor, err = startServer(ctx, nil, floorHandler, cfg.Clients); err != nil {
			return err
		}
		defer floor.close()
	}
	rnds := make([]*rand.Rand, cfg.Clients)
	for g := range rnds {
		rnds[g] = rand.New(rand.NewPCG(cfg.Seed, uint64(g)))
	}
	type kind struct {
		name string
		job  func(ctx context.Context, g, i int) error
	}
	inclusionPath := "/v1/logs/" + ledger.DefaultLogID + "/proofs/inclusion?tree_size=" + strconv.FormatUint(size, 10) + "&index="
	consistencyPath := "/v1/logs/" + ledger.DefaultLogID + "/proofs/consistency?to=" + strconv.FormatUint(size, 10) + "&from="
	kinds := []kind{
		{"entry-read", func(ctx context.Context, g, i int) error {
			_, err := l.Read(ledger.DefaultLogID, rnds[g].Uint64N(size))
			return err
		}},
		{"inclusion", func(ctx context.Context, g, i int) error {
			_, err := l.InclusionProof(ledger.DefaultLogID, rnds[g].Uint64N(size), size)
			return err
		}},
		{"consistency", func(ctx context.Context, g, i int) error {
			_, err := l.ConsistencyProof(ledger.DefaultLogID, 1+rnds[g].Uint64N(size-1), size)
			return err
		}},
	}
	if cfg.HTTP {
		kinds = append(kinds,
			kind{"http-floor", func(ctx context.Context, g, i int) error {
				_, err := floor.do(ctx, http.MethodGet, inclusionPath+"0", nil, io.Discard)
				return err
			}},
			kind{"inclusion-http", func(ctx context.Context, g, i int) error {
				_, err := srv.do(ctx, http.MethodGet, inclusionPath+strconv.FormatUint(rnds[g].Uint64N(size), 10), nil, io.Discard)
				return err
			}},
			kind{"consistency-http", func(ctx context.Context, g, i int) error {
				_, err := srv.do(ctx, http.MethodGet, consistencyPath+strconv.FormatUint(1+rnds[g].Uint64N(size-1), 10), nil, io.Discard)
				return err
			}},
		)
	}
	// Warm up: the tile cache, Pebble's block cache and the connections.
	cfg.progress(fmt.Sprintf("warming up the %d-entry log", size), 0, -1)
	if _, _, _, err := driveFor(ctx, cfg.Clients, cfg.Duration, kinds[1].job); err != nil {
		return err
	}
	runs := map[string][]float64{}
	durs := map[string][]time.Duration{}
	for run := 0; run < cfg.Runs; run++ {
		for _, k := range kinds {
			cfg.progress(fmt.Sprintf("run %d/%d %s at size %d", run+1, cfg.Runs, k.name, size), int64(run), int64(cfg.Runs))
			n, took, d, err := driveFor(ctx, cfg.Clients, cfg.Duration, k.job)
			if err != nil {
				return fmt.Errorf("%s at size %d: %w", k.name, size, err)
			}
			runs[k.name] = append(runs[k.name], float64(n)/took.Seconds())
			durs[k.name] = append(durs[k.name], d...)
		}
	}
	name := func(k string) string { return fmt.Sprintf("%s/size=%d", k, size) }
	for _, k := range kinds {
		row := Row{Name: name(k.name), Series: k.name, Size: size, Clients: cfg.Clients, Unit: "per s", Runs: runs[k.name]}
		row.P50, row.P99 = percentiles(durs[k.name])
		res.add(row)
	}
	res.compare(name("inclusion"), name("entry-read"))
	res.compare(name("consistency"), name("entry-read"))
	if cfg.HTTP {
		res.compare(name("inclusion-http"), name("inclusion"))
		res.compare(name("inclusion-http"), name("http-floor"))
		res.compare(name("consistency-http"), name("consistency"))
		res.compare(name("consistency-http"), name("http-floor"))
		// One answer over HTTP must verify, too.
		var out struct {
			Index    uint64   `json:"index"`
			TreeSize uint64   `json:"tree_size"`
			LeafHash string   `json:"leaf_hash"`
			Hashes   []string `json:"hashes"`
		}
		if err := getJSON(ctx, srv, inclusionPath+strconv.FormatUint(size/3, 10), &out); err != nil {
			return err
		}
		lh, err := proofs.ParseHash(out.LeafHash)
		if err != nil {
			return err
		}
		hs, err := proofs.DecodeHashes(out.Hashes)
		if err != nil {
			return err
		}
		if err := proofs.VerifyInclusion(out.Index, out.TreeSize, lh, hs, root); err != nil {
			return fmt.Errorf("the inclusion proof served over HTTP does not verify: %w", err)
		}
	}
	return nil
}

// checkProofs verifies one inclusion and one consistency proof of the log
// at size, so that the workload measures proofs that hold.
func checkProofs(l *ledger.Ledger, size uint64, root proofs.Hash) error {
	idx := size / 2
	rec, err := l.Read(ledger.DefaultLogID, idx)
	if err != nil {
		return err
	}
	p, err := l.InclusionProof(ledger.DefaultLogID, idx, size)
	if err != nil {
		return err
	}
	if err := proofs.VerifyInclusion(idx, size, rec.LeafHash, p, root); err != nil {
		return fmt.Errorf("the inclusion proof of entry %d at size %d does not verify: %w", idx, size, err)
	}
	from := size/2 + 1
	root1, err := l.RootAt(ledger.DefaultLogID, from)
	if err != nil {
		return err
	}
	c, err := l.ConsistencyProof(ledger.DefaultLogID, from, size)
	if err != nil {
		return err
	}
	if err := proofs.VerifyConsistency(from, size, c, root1, root); err != nil {
		return fmt.Errorf("the consistency proof %d→%d does not verify: %w", from, size, err)
	}
	return nil
}

// getJSON GETs path and decodes the JSON answer into v.
func getJSON(ctx context.Context, s *server, path string, v any) error {
	var buf bytes.Buffer
	if _, err := s.do(ctx, http.MethodGet, path, nil, &buf); err != nil {
		return err
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		return fmt.Errorf("couldn't decode the answer to %s: %w", path, err)
	}
	return nil
}
