package bench_test

// Smoke tests of every workload with tiny sizes: each runs against real
// stores under t.TempDir() (and the real API on a 127.0.0.1 listener), and
// its numbers must be consistent — the entries reported equal the log size
// afterwards, every row has its runs and baselines. No timing is checked.
//
// The ingest test also runs the Tessera peer when AUDITLEDGER_TESSERA_PEER
// names its binary (.ci/run builds it); with CI=true it must.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditledger/auditledger/bench"
	"github.com/auditledger/auditledger/ledger"
)

func common(t *testing.T) bench.Common {
	t.Helper()
	return bench.Common{Dir: t.TempDir(), Runs: 2}
}

// checkRows checks what every result must hold: rows with one figure per
// run, a positive median, and a JSON form that reads back.
func checkRows(t *testing.T, res *bench.Result, runs int) {
	t.Helper()
	if len(res.Rows) == 0 {
		t.Fatal("no rows")
	}
	for _, row := range res.Rows {
		if len(row.Runs) != runs {
			t.Errorf("%s: %d runs, want %d", row.Name, len(row.Runs), runs)
		}
		if row.Value <= 0 {
			t.Errorf("%s: median %v", row.Name, row.Value)
		}
		if row.P99 < row.P50 {
			t.Errorf("%s: p99 %v < p50 %v", row.Name, row.P99, row.P50)
		}
		for _, b := range row.Baselines {
			if res.Row(b.Name) == nil || b.Ratio <= 0 {
				t.Errorf("%s: baseline %+v", row.Name, b)
			}
		}
	}
	var buf bytes.Buffer
	if err := res.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, row := range res.Rows {
		if !strings.Contains(buf.String(), row.Name) {
			t.Errorf("the table lacks row %s:\n%s", row.Name, buf.String())
		}
	}
	path := filepath.Join(t.TempDir(), "result.json")
	if err := res.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back bench.Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Workload != res.Workload || len(back.Rows) != len(res.Rows) {
		t.Errorf("JSON round trip: %s with %d rows, want %s with %d", back.Workload, len(back.Rows), res.Workload, len(res.Rows))
	}
}

// mustRow returns the named row or fails.
func mustRow(t *testing.T, res *bench.Result, name string) *bench.Row {
	t.Helper()
	row := res.Row(name)
	if row == nil {
		var names []string
		for _, r := range res.Rows {
			names = append(names, r.Name)
		}
		t.Fatalf("no row %s; rows: %v", name, names)
	}
	return row
}

func hasBaseline(row *bench.Row, name string) bool {
	return slices.ContainsFunc(row.Baselines, func(r bench.Ref) bool { return r.Name == name })
}

func TestEvents(t *testing.T) {
	evs := bench.Events(7, 0, 5000)
	again := bench.Events(7, 2500, 10)
	for i := range again {
		a, _ := json.Marshal(&evs[2500+i])
		b, _ := json.Marshal(&again[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("event %d differs when generated from another start:\n%s\n%s", 2500+i, a, b)
		}
	}
	for i := range evs {
		if err := evs[i].Validate(false); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	leaves, total := bench.Leaves(evs)
	sizes := make([]int, len(leaves))
	for i, l := range leaves {
		sizes[i] = len(l)
	}
	slices.Sort(sizes)
	med := sizes[len(sizes)/2]
	t.Logf("leaves: %d–%d B, median %d B, mean %d B", sizes[0], sizes[len(sizes)-1], med, total/int64(len(sizes)))
	if sizes[0] < 250 || sizes[len(sizes)-1] > bench.LeafMax || med < 350 || med > 500 {
		t.Errorf("leaf sizes %d–%d B, median %d B: not the mix the package promises", sizes[0], sizes[len(sizes)-1], med)
	}
	bodies, err := bench.Bodies(evs[:25], 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 3 {
		t.Fatalf("%d bodies for 25 events in 10s", len(bodies))
	}
	n := 0
	for _, b := range bodies {
		got, _, err := ledger.ParseEvents(b)
		if err != nil {
			t.Fatal(err)
		}
		n += len(got)
	}
	if n != 25 {
		t.Errorf("bodies hold %d events, want 25", n)
	}
}

func TestIngest(t *testing.T) {
	cfg := bench.IngestConfig{Common: common(t), Entries: 800, Batches: []int{1, 64}, Clients: []int{4}, HTTP: true,
		Peer: os.Getenv("AUDITLEDGER_TESSERA_PEER"), PeerMaxTime: 2 * time.Second}
	if cfg.Peer == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but AUDITLEDGER_TESSERA_PEER is unset: .ci/run builds the peer and must pass it")
		}
		t.Log("AUDITLEDGER_TESSERA_PEER is unset: the Tessera peer does not run")
	}
	res, err := bench.RunIngest(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, res, cfg.Runs)
	mustRow(t, res, "sha256-leaf")
	for _, c := range []struct {
		batch, clients, entries int
	}{
		{1, 1, 100}, {64, 1, 64}, {1, 4, 100},
	} {
		suffix := "/batch=" + itoa(c.batch) + "/clients=" + itoa(c.clients)
		want := uint64(c.entries * cfg.Runs)
		for _, s := range []string{"auditledger", "auditledger-http"} {
			row := mustRow(t, res, s+suffix)
			if row.Entries != want || row.LogSize != want {
				t.Errorf("%s: %d entries reported, log size %d, want %d", row.Name, row.Entries, row.LogSize, want)
			}
			if !hasBaseline(row, "raw-pebble"+suffix) {
				t.Errorf("%s has no raw Pebble baseline", row.Name)
			}
			if (c.batch == 1) != (row.P50 > 0) {
				t.Errorf("%s: p50 %v", row.Name, row.P50)
			}
		}
		if !hasBaseline(mustRow(t, res, "auditledger"+suffix), "sha256-leaf") {
			t.Errorf("auditledger%s has no SHA-256 baseline", suffix)
		}
		if row := mustRow(t, res, "raw-pebble"+suffix); row.Entries != want {
			t.Errorf("%s: %d entries, want %d", row.Name, row.Entries, want)
		}
		if c.batch == 1 {
			mustRow(t, res, "http-floor"+suffix)
		}
		if cfg.Peer != "" {
			for _, s := range []string{"tessera-default", "tessera-batch"} {
				row := mustRow(t, res, s+suffix)
				if row.Entries == 0 || row.Entries > want || row.LogSize != row.Entries {
					t.Errorf("%s: %d entries added, log size %d (at most %d asked)", row.Name, row.Entries, row.LogSize, want)
				}
				if !hasBaseline(mustRow(t, res, "auditledger"+suffix), row.Name) {
					t.Errorf("auditledger%s is not compared with %s", suffix, row.Name)
				}
			}
			if c.batch == 1 {
				row := mustRow(t, res, "tessera-http"+suffix)
				if row.Entries == 0 || row.Entries > want || row.LogSize != row.Entries || row.P50 <= 0 {
					t.Errorf("%s: %d entries added, log size %d, p50 %v", row.Name, row.Entries, row.LogSize, row.P50)
				}
				if !hasBaseline(mustRow(t, res, "auditledger-http"+suffix), row.Name) {
					t.Errorf("auditledger-http%s is not compared with %s", suffix, row.Name)
				}
			}
		}
	}
	files, err := bench.Plot(res, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	checkPNGs(t, files, 2)
}

func TestLatency(t *testing.T) {
	for _, overHTTP := range []bool{false, true} {
		cfg := bench.LatencyConfig{Common: common(t), Duration: time.Second, Clients: 2, Batch: 10, Rate: 2000,
			Interval: 100 * time.Millisecond, HTTP: overHTTP}
		res, err := bench.RunLatency(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, res, cfg.Runs)
		name := "event-to-checkpoint/interval=100ms"
		if overHTTP {
			name = "http-wait-checkpoint/interval=100ms"
		} else if !hasBaseline(mustRow(t, res, name), "append-call") {
			t.Error("no append-call baseline")
		}
		if row := mustRow(t, res, name); row.P50 <= 0 {
			t.Errorf("%s: p50 %v", name, row.P50)
		}
	}
}

func TestProofs(t *testing.T) {
	cfg := bench.ProofsConfig{Common: common(t), Sizes: []uint64{300, 1000}, Duration: 200 * time.Millisecond, Clients: 2, HTTP: true}
	res, err := bench.RunProofs(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, res, cfg.Runs)
	for _, size := range []string{"300", "1000"} {
		for _, k := range []string{"entry-read", "inclusion", "consistency", "http-floor", "inclusion-http", "consistency-http"} {
			row := mustRow(t, res, k+"/size="+size)
			if row.P50 <= 0 {
				t.Errorf("%s: p50 %v", row.Name, row.P50)
			}
		}
		if !hasBaseline(mustRow(t, res, "inclusion-http/size="+size), "inclusion/size="+size) {
			t.Errorf("inclusion-http/size=%s is not compared with in-process proofs", size)
		}
	}
	files, err := bench.Plot(res, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	checkPNGs(t, files, 1)

	// The stores are reused.
	cfg.Runs, cfg.HTTP = 1, false
	res, err = bench.RunProofs(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(res.Notes, "\n"), "reused"); n != 2 {
		t.Errorf("%d of 2 stores reused; notes: %q", n, res.Notes)
	}
}

func TestQuery(t *testing.T) {
	cfg := bench.ReadConfig{Common: common(t), Size: 600, Queries: []string{"category:login", "actor:u_00042"}, HTTP: true}
	res, err := bench.RunQuery(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, res, cfg.Runs)
	// The matches the scan counts are what the generator made.
	evs := bench.Events(bench.DefaultSeed, 0, 600)
	logins := 0
	for _, ev := range evs {
		if ev.Category == "login" {
			logins++
		}
	}
	row := mustRow(t, res, "scan-match/q=category:login")
	if want := itoa(logins) + " matches"; row.Note != want {
		t.Errorf("%s: %q, want %q", row.Name, row.Note, want)
	}
	if !hasBaseline(row, "raw-scan") {
		t.Errorf("%s has no raw-scan baseline", row.Name)
	}
	mustRow(t, res, "http-page/q=actor:u_00042")
}

func TestExport(t *testing.T) {
	cfg := bench.ReadConfig{Common: common(t), Size: 500, HTTP: true}
	res, err := bench.RunExport(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, res, cfg.Runs)
	for _, k := range []string{"export-csv", "export-ndjson", "export-csv-http", "export-ndjson-http"} {
		if !hasBaseline(mustRow(t, res, k), "raw-scan") {
			t.Errorf("%s has no raw-scan baseline", k)
		}
	}
	// Each HTTP export appended its audit entry: 2 runs × 2 formats.
	l, err := ledger.Open(context.Background(), ledger.Config{Dir: filepath.Join(cfg.Dir, "store-500-seed1"), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if size, err := l.Size(ledger.DefaultLogID); err != nil || size != 504 {
		t.Errorf("log size %d (%v) after 4 HTTP exports of 500 entries, want 504", size, err)
	}
}

func TestVerify(t *testing.T) {
	cfg := bench.ReadConfig{Common: common(t), Size: 700}
	res, err := bench.RunVerify(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, res, cfg.Runs)
	row := mustRow(t, res, "verify")
	if row.Entries != 700*uint64(cfg.Runs) {
		t.Errorf("verified %d entries, want %d", row.Entries, 700*cfg.Runs)
	}
	if !hasBaseline(row, "raw-scan") || !hasBaseline(row, "sha256-leaf") {
		t.Errorf("verify baselines: %+v", row.Baselines)
	}
}

func TestParseSizes(t *testing.T) {
	got, err := bench.ParseSizes("1000, 2k,10M,1_000")
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1000, 2000, 10_000_000, 1000}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"0", "x", "-1", "1G"} {
		if _, err := bench.ParseSizes(bad); err == nil {
			t.Errorf("ParseSizes(%q) did not fail", bad)
		}
	}
}

func checkPNGs(t *testing.T, files []string, n int) {
	t.Helper()
	if len(files) != n {
		t.Fatalf("%d plots, want %d", len(files), n)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s is not a PNG", f)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
