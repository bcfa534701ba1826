package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditledger/auditledger/bench"
)

// benchJSON reads a --json result.
func benchJSON(t *testing.T, path string) *bench.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// TestBench runs every `auditledger bench` workload with tiny sizes through
// the binary: each prints its table, writes its JSON, and ingest and proofs
// draw their plots.
func TestBench(t *testing.T) {
	dir := t.TempDir()
	out := t.TempDir()
	for _, c := range []struct {
		workload string
		args     []string
		rows     []string
		plots    []string
	}{
		{"ingest", []string{"--entries", "400", "--batch", "1,32", "--clients", "3", "--http"},
			[]string{"auditledger/batch=32/clients=1", "auditledger-http/batch=1/clients=3", "raw-pebble/batch=1/clients=3", "sha256-leaf"},
			[]string{"ingest-batch.png", "ingest-clients.png"}},
		{"latency", []string{"--duration", "500ms", "--interval", "100ms", "--clients", "2", "--batch", "5", "--rate", "1000"},
			[]string{"event-to-checkpoint/interval=100ms", "append-call"}, nil},
		{"proofs", []string{"--sizes", "300", "--duration", "100ms", "--clients", "2", "--http"},
			[]string{"inclusion/size=300", "consistency-http/size=300"}, []string{"proofs.png"}},
		{"query", []string{"--size", "300", "--q", "category:login", "--http"},
			[]string{"scan-match/q=category:login", "http-page/q=category:login", "raw-scan"}, nil},
		{"export", []string{"--size", "300", "--http"}, []string{"export-csv", "export-ndjson-http"}, nil},
		{"verify", []string{"--size", "300"}, []string{"verify", "sha256-leaf", "raw-scan"}, nil},
	} {
		t.Run(c.workload, func(t *testing.T) {
			js := filepath.Join(out, c.workload+".json")
			plots := filepath.Join(out, c.workload+"-plots")
			args := append([]string{"bench", c.workload, "--dir", dir, "--runs", "1", "--json", js, "--plot", plots}, c.args...)
			r := wantCode(t, 0, args...)
			res := benchJSON(t, js)
			if res.Workload != c.workload {
				t.Errorf("JSON workload %q", res.Workload)
			}
			for _, name := range c.rows {
				if res.Row(name) == nil {
					t.Errorf("no row %s in the JSON", name)
				}
				if !strings.Contains(r.stdout, name) {
					t.Errorf("no row %s in the table:\n%s", name, r.stdout)
				}
			}
			for _, p := range c.plots {
				b, err := os.ReadFile(filepath.Join(plots, p))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(b, []byte("\x89PNG")) {
					t.Errorf("%s is not a PNG", p)
				}
				if !strings.Contains(r.stdout, "plot: "+filepath.Join(plots, p)) {
					t.Errorf("the output does not name %s:\n%s", p, r.stdout)
				}
			}
		})
	}
}

// TestBenchErrors: a missing peer and bad lists are usage errors that say
// what is wrong.
func TestBenchErrors(t *testing.T) {
	dir := t.TempDir()
	r := wantCode(t, 2, "bench", "ingest", "--dir", dir, "--peer", filepath.Join(dir, "no-such-peer"))
	if !strings.Contains(r.stderr, "tessera peer") || !strings.Contains(r.stderr, "absent") {
		t.Errorf("stderr does not say the peer is absent:\n%s", r)
	}
	r = wantCode(t, 2, "bench", "ingest", "--dir", dir, "--batch", "1,x")
	if !strings.Contains(r.stderr, `"x"`) {
		t.Errorf("stderr does not name the bad batch size:\n%s", r)
	}
	r = wantCode(t, 2, "bench", "proofs", "--dir", dir, "--sizes", "1G")
	if !strings.Contains(r.stderr, "1G") {
		t.Errorf("stderr does not name the bad size:\n%s", r)
	}
}
