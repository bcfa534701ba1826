// Package bench holds auditledger's workloads: ingest (in-process and over
// HTTP), latency from an event to the signed checkpoint that covers it,
// inclusion and consistency proofs, query, export and verify. Each has a
// Config and a Run function returning a *Result; `auditledger bench` calls
// them, prints the Result as a table and can write it as JSON and plot it.
//
// Every workload measures, in the same run, the limits it is judged against:
// raw Pebble synced batches of the same leaf bytes (the storage limit) and raw
// SHA-256 of the same leaves (the hashing limit), so that its figures read as
// ratios that hold on a noisy, shared machine. The ingest workload can also
// run a peer, Tessera's POSIX storage, from its own module (bench/peers).
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Defaults for the Config fields the workloads share.
const (
	// DefaultRuns is how many times each measurement is repeated; rows show
	// the median.
	DefaultRuns = 3
	// DefaultSeed selects the generated events.
	DefaultSeed = 1
)

// Common holds the settings every workload takes.
type Common struct {
	// Dir is the working directory: fresh stores go in temporary
	// directories under it, and the stores that are slow to build (the
	// proof, query, export and verify logs) are kept in it and reused.
	Dir string
	// Runs is how many times each measurement is repeated (DefaultRuns when
	// zero); every row holds the median and every run's figure.
	Runs int
	// Seed selects the generated events (DefaultSeed when zero).
	Seed uint64
	// Progress, when set, is called with what is being measured now and how
	// far along it is (total is -1 when unknown). It may be called from
	// several goroutines, and must be fast.
	Progress func(stage string, done, total int64) `json:"-"`
	// Logger receives the workload's own logs; nil discards them. The
	// ledger's and Pebble's logs are always dropped.
	Logger *slog.Logger `json:"-"`
}

func (c *Common) setDefaults() error {
	if c.Dir == "" {
		return fmt.Errorf("bench: no working directory")
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("couldn't create the working directory: %w", err)
	}
	if c.Runs <= 0 {
		c.Runs = DefaultRuns
	}
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func (c *Common) progress(stage string, done, total int64) {
	if c.Progress != nil {
		c.Progress(stage, done, total)
	}
}

// tempDir makes a fresh directory under Dir for one measurement; remove it
// with os.RemoveAll when done.
func (c *Common) tempDir(name string) (string, error) {
	d, err := os.MkdirTemp(c.Dir, name+"-")
	if err != nil {
		return "", fmt.Errorf("couldn't create a directory for %s: %w", name, err)
	}
	return d, nil
}

// Ref is a baseline a row is compared with.
type Ref struct {
	// Name is the baseline row's name.
	Name string `json:"name"`
	// Value is the baseline's median, in the same unit as the row.
	Value float64 `json:"value"`
	// Ratio is the row's median over the baseline's.
	Ratio float64 `json:"ratio"`
}

// Row is one measured figure: the median of its runs, and for latencies
// their p50 and p99.
type Row struct {
	// Name says what was measured, with its parameters.
	Name string `json:"name"`
	// Series groups rows for plots ("auditledger", "raw-pebble", "tessera",
	// "inclusion"…); empty for rows that are not plotted.
	Series string `json:"series,omitempty"`
	// Batch, Clients and Size are the row's parameters, where they apply.
	Batch   int    `json:"batch,omitempty"`
	Clients int    `json:"clients,omitempty"`
	Size    uint64 `json:"size,omitempty"`
	// Value is the median of Runs.
	Value float64 `json:"value"`
	// Unit is Value's unit ("entries/s", "proofs/s", "ms").
	Unit string `json:"unit"`
	// Runs holds every run's figure.
	Runs []float64 `json:"runs"`
	// P50 and P99 are latency percentiles in milliseconds over every sample
	// of every run; zero when the row is not a latency.
	P50 float64 `json:"p50_ms,omitempty"`
	P99 float64 `json:"p99_ms,omitempty"`
	// Baselines are the limits this row is compared with, measured in the
	// same run.
	Baselines []Ref `json:"baselines,omitempty"`
	// Entries is how many entries the row's runs wrote or read in all;
	// LogSize is the size of the log(s) afterwards, summed over runs, where
	// the workload can check it (they must be equal for ingest).
	Entries uint64 `json:"entries,omitempty"`
	LogSize uint64 `json:"log_size,omitempty"`
	// Note says anything else needed to read the row.
	Note string `json:"note,omitempty"`
}

// Machine describes where a Result was measured.
type Machine struct {
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	CPUs       int    `json:"cpus"`
	GoVersion  string `json:"go_version"`
	CPUModel   string `json:"cpu_model,omitempty"`
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// Result is what one workload measured.
type Result struct {
	// Workload is the workload's name (ingest, latency, proofs, query,
	// export, verify).
	Workload string `json:"workload"`
	// Started and Took bound the measurement.
	Started time.Time     `json:"started"`
	Took    time.Duration `json:"took_ns"`
	Machine Machine       `json:"machine"`
	// Config is the workload's configuration, as run.
	Config any   `json:"config"`
	Rows   []Row `json:"rows"`
	// Notes are sentences printed under the table.
	Notes []string `json:"notes,omitempty"`
}

func newResult(workload string, cfg any) *Result {
	return &Result{Workload: workload, Started: time.Now().UTC(), Config: cfg, Machine: machine()}
}

func (r *Result) finish() {
	r.Took = time.Since(r.Started)
	r.Machine.LoadAfter = loadavg()
}

// Row returns the row named name, or nil.
func (r *Result) Row(name string) *Row {
	for i := range r.Rows {
		if r.Rows[i].Name == name {
			return &r.Rows[i]
		}
	}
	return nil
}

// add appends a row whose value is the median of runs.
func (r *Result) add(row Row) *Row {
	row.Value = median(row.Runs)
	r.Rows = append(r.Rows, row)
	return &r.Rows[len(r.Rows)-1]
}

// compare adds the named baseline to the row, with the ratio. Higher is
// better for rates; for latencies the ratio is still row / baseline.
func (r *Result) compare(row, baseline string) {
	a, b := r.Row(row), r.Row(baseline)
	if a == nil || b == nil || b.Value == 0 {
		return
	}
	a.Baselines = append(a.Baselines, Ref{Name: b.Name, Value: b.Value, Ratio: a.Value / b.Value})
}

// WriteTable prints the result as an aligned table, with the machine and
// the notes.
func (r *Result) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "%s: %d CPUs (%s), %s, load %s → %s, %d runs each, took %s\n",
		r.Workload, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.GoVersion,
		r.Machine.LoadBefore, r.Machine.LoadAfter, runsOf(r), r.Took.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tmedian\tunit\truns\tp50 ms\tp99 ms\tratio to baselines (same run, same parameters)\t")
	for _, row := range r.Rows {
		runs := make([]string, len(row.Runs))
		for i, v := range row.Runs {
			runs[i] = FormatValue(v)
		}
		var p50, p99 string
		if row.P50 != 0 || row.P99 != 0 {
			p50, p99 = fmt.Sprintf("%.3f", row.P50), fmt.Sprintf("%.3f", row.P99)
		}
		var refs []string
		for _, b := range row.Baselines {
			// The baseline's kind; its parameters are the row's own.
			kind, _, _ := strings.Cut(b.Name, "/")
			refs = append(refs, fmt.Sprintf("%.3g× %s", b.Ratio, kind))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", row.Name, FormatValue(row.Value), row.Unit,
			strings.Join(runs, " "), p50, p99, strings.Join(refs, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	return nil
}

// WriteJSON writes the result as indented JSON to path.
func (r *Result) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("couldn't encode the result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return nil
}

// FormatValue prints a figure with thousands separators (or three decimals
// when it is small).
func FormatValue(v float64) string {
	if v < 100 {
		return fmt.Sprintf("%.3f", v)
	}
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func runsOf(r *Result) int {
	n := 0
	for _, row := range r.Rows {
		n = max(n, len(row.Runs))
	}
	return n
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentiles returns the p50 and p99 of durs in milliseconds; it sorts durs.
func percentiles(durs []time.Duration) (p50, p99 float64) {
	if len(durs) == 0 {
		return 0, 0
	}
	slices.Sort(durs)
	at := func(p float64) float64 {
		return float64(durs[int(p*float64(len(durs)-1)+0.5)]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

func machine() Machine {
	m := Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadBefore: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadavg is the 1-minute load average, or "?" where /proc has none.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
