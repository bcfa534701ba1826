package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/auditledger/auditledger/bench"
)

// benchPeerSource is where the tessera peer's module lives in a checkout.
const benchPeerSource = "bench/peers/tessera"

func benchCommand() *cli.Command {
	common := func(extra ...cli.Flag) []cli.Flag {
		return append([]cli.Flag{
			&cli.StringFlag{Name: "dir", Value: filepath.Join(os.TempDir(), "auditledger-bench"),
				Usage: "working directory: fresh stores are made and removed in it, the large read stores are kept and reused"},
			&cli.IntFlag{Name: "runs", Value: bench.DefaultRuns, Usage: "repeat each measurement this often; rows show the median"},
			&cli.Int64Flag{Name: "seed", Value: bench.DefaultSeed, Usage: "seed of the generated events"},
			&cli.StringFlag{Name: "json", Usage: "also write the result as JSON to this file"},
			&cli.StringFlag{Name: "plot", Usage: "also draw the result's plots as PNG files in this directory (ingest, proofs)"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the whole run (bench, ledger and server; not the peer) to this file"},
		}, extra...)
	}
	sub := func(name, usage string, flags []cli.Flag, run func(c *cli.Context, cm bench.Common) (*bench.Result, error)) *cli.Command {
		return &cli.Command{
			Name: name, Usage: usage, Flags: common(flags...),
			Action: func(c *cli.Context) error { return benchAction(c, run) },
		}
	}
	httpFlag := &cli.BoolFlag{Name: "http", Usage: "also measure through the HTTP API on a 127.0.0.1 listener"}
	sizeFlag := &cli.StringFlag{Name: "size", Value: strconv.Itoa(bench.DefaultReadSize), Usage: "log size to read (k and M suffixes); built once in --dir"}
	return &cli.Command{
		Name:  "bench",
		Usage: "measure ingest, checkpoint latency, proofs, query, export and verify against raw Pebble, SHA-256 and Tessera",
		Description: "Each workload prints a table: the median of --runs runs, every run, p50/p99 where it is a\n" +
			"latency, and the baselines measured in the same run with the ratio. docs/performance.md has\n" +
			"the commands and figures.",
		Subcommands: []*cli.Command{
			sub("ingest", "durable appends: batch sizes with one client, single events from many clients", []cli.Flag{
				&cli.IntFlag{Name: "entries", Value: bench.DefaultIngestEntries, Usage: "entries a measurement writes (an eighth when fewer than 256 are in flight)"},
				&cli.StringFlag{Name: "batch", Value: joinInts(bench.DefaultIngestBatches), Usage: "batch sizes measured with one client"},
				&cli.StringFlag{Name: "clients", Value: joinInts(bench.DefaultIngestClients), Usage: "client counts measured with one event per call"},
				httpFlag,
				&cli.StringFlag{Name: "peer", Usage: "`tessera`, or the path of a tessera-peer binary: also run Tessera's POSIX storage (see " + benchPeerSource + "/README.md)"},
				&cli.DurationFlag{Name: "peer-max-time", Value: bench.DefaultPeerMaxTime, Usage: "the peer starts no new append after this long in one measurement"},
			}, func(c *cli.Context, cm bench.Common) (*bench.Result, error) {
				batches, err := parseInts(c.String("batch"))
				if err != nil {
					return nil, err
				}
				clients, err := parseInts(c.String("clients"))
				if err != nil {
					return nil, err
				}
				peer, err := findPeer(c.Context, c.String("peer"), cm.Dir)
				if err != nil {
					return nil, err
				}
				return bench.RunIngest(c.Context, bench.IngestConfig{Common: cm, Entries: c.Int("entries"),
					Batches: batches, Clients: clients, HTTP: c.Bool("http"), Peer: peer, PeerMaxTime: c.Duration("peer-max-time")})
			}),
			sub("latency", "time from an event's append to the signed checkpoint that covers it, under load", []cli.Flag{
				&cli.DurationFlag{Name: "duration", Value: bench.DefaultLatencyDuration, Usage: "how long a run appends"},
				&cli.IntFlag{Name: "clients", Value: bench.DefaultLatencyClients, Usage: "appending clients"},
				&cli.IntFlag{Name: "batch", Value: bench.DefaultLatencyBatch, Usage: "events per call"},
				&cli.IntFlag{Name: "rate", Value: bench.DefaultLatencyRate, Usage: "events/s in all the clients aim at; negative: as fast as they can"},
				&cli.DurationFlag{Name: "interval", Value: time.Second, Usage: "the ledger's checkpoint interval"},
				&cli.BoolFlag{Name: "http", Usage: "append through the API with ?wait=checkpoint instead"},
			}, func(c *cli.Context, cm bench.Common) (*bench.Result, error) {
				return bench.RunLatency(c.Context, bench.LatencyConfig{Common: cm, Duration: c.Duration("duration"),
					Clients: c.Int("clients"), Batch: c.Int("batch"), Rate: c.Int("rate"), Interval: c.Duration("interval"), HTTP: c.Bool("http")})
			}),
			sub("proofs", "inclusion and consistency proofs at given log sizes, in process and over HTTP", []cli.Flag{
				&cli.StringFlag{Name: "sizes", Value: "1M", Usage: "log sizes, comma-separated (k and M suffixes); each built once in --dir"},
				&cli.DurationFlag{Name: "duration", Value: bench.DefaultProofsDuration, Usage: "how long each measurement runs"},
				&cli.IntFlag{Name: "clients", Value: bench.DefaultProofsClients, Usage: "concurrent callers"},
				httpFlag,
			}, func(c *cli.Context, cm bench.Common) (*bench.Result, error) {
				sizes, err := bench.ParseSizes(c.String("sizes"))
				if err != nil {
					return nil, err
				}
				return bench.RunProofs(c.Context, bench.ProofsConfig{Common: cm, Sizes: sizes,
					Duration: c.Duration("duration"), Clients: c.Int("clients"), HTTP: c.Bool("http")})
			}),
			sub("query", "searches: a full scan with the query in process, and the first page over HTTP", []cli.Flag{
				sizeFlag,
				&cli.StringSliceFlag{Name: "q", Usage: "a query to run (repeatable); default a set of common and rare ones"},
				httpFlag,
			}, func(c *cli.Context, cm bench.Common) (*bench.Result, error) {
				cfg, err := readConfig(c, cm)
				if err != nil {
					return nil, err
				}
				cfg.Queries = c.StringSlice("q")
				return bench.RunQuery(c.Context, cfg)
			}),
			sub("export", "whole-log CSV and NDJSON exports, in process and over HTTP", []cli.Flag{sizeFlag, httpFlag},
				func(c *cli.Context, cm bench.Common) (*bench.Result, error) {
					cfg, err := readConfig(c, cm)
					if err != nil {
						return nil, err
					}
					return bench.RunExport(c.Context, cfg)
				}),
			sub("verify", "the full replay of a log (Ledger.Verify)", []cli.Flag{sizeFlag},
				func(c *cli.Context, cm bench.Common) (*bench.Result, error) {
					cfg, err := readConfig(c, cm)
					if err != nil {
						return nil, err
					}
					return bench.RunVerify(c.Context, cfg)
				}),
		},
	}
}

func readConfig(c *cli.Context, cm bench.Common) (bench.ReadConfig, error) {
	sizes, err := bench.ParseSizes(c.String("size"))
	if err != nil {
		return bench.ReadConfig{}, err
	}
	if len(sizes) != 1 {
		return bench.ReadConfig{}, fmt.Errorf("--size takes one size")
	}
	return bench.ReadConfig{Common: cm, Size: sizes[0], HTTP: c.Bool("http")}, nil
}

// benchAction runs one workload with the common flags, shows progress on a
// terminal, and prints, writes and plots the result.
func benchAction(c *cli.Context, run func(c *cli.Context, cm bench.Common) (*bench.Result, error)) error {
	cm := bench.Common{Dir: c.String("dir"), Runs: c.Int("runs"), Seed: uint64(c.Int64("seed"))}
	if isTerminal(c.App.ErrWriter) {
		bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(c.App.ErrWriter),
			progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish(),
			progressbar.OptionSpinnerType(14), progressbar.OptionSetElapsedTime(true))
		var mu sync.Mutex
		cm.Progress = func(stage string, done, total int64) {
			mu.Lock()
			defer mu.Unlock()
			bar.Describe(stage)
			if total > 0 {
				bar.ChangeMax64(total)
				_ = bar.Set64(done)
			} else {
				_ = bar.Add64(0)
			}
		}
		defer bar.Finish()
	}
	if path := c.String("cpuprofile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := run(c, cm)
	if err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	if err := res.WriteTable(c.App.Writer); err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	if path := c.String("json"); path != "" {
		if err := res.WriteJSON(path); err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
	}
	if dir := c.String("plot"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
		files, err := bench.Plot(res, dir)
		if err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
		for _, f := range files {
			fmt.Fprintln(c.App.Writer, "plot:", f)
		}
	}
	return nil
}

// findPeer resolves --peer: empty means no peer; a path is used as is;
// "tessera" looks for tessera-peer in PATH, then in DIR/bin, and otherwise
// builds it there from bench/peers/tessera when the current directory is a
// checkout (the Go module proxy must be reachable for its dependencies).
func findPeer(ctx context.Context, peer, dir string) (string, error) {
	switch peer {
	case "":
		return "", nil
	case "tessera":
	default:
		if _, err := os.Stat(peer); err != nil {
			return "", fmt.Errorf("the tessera peer %s is absent: %w", peer, err)
		}
		return peer, nil
	}
	if p, err := exec.LookPath("tessera-peer"); err == nil {
		return p, nil
	}
	bin, err := filepath.Abs(filepath.Join(dir, "bin", "tessera-peer"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if _, err := os.Stat(filepath.Join(benchPeerSource, "go.mod")); err != nil {
		return "", fmt.Errorf("the tessera peer is absent: no tessera-peer in PATH or %s, and no %s here to build it from; "+
			"build it with `cd %s && go build -o /usr/local/bin/tessera-peer ./cmd/tessera-peer`", bin, benchPeerSource, benchPeerSource)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tessera-peer")
	build.Dir = benchPeerSource
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("couldn't build the tessera peer in %s: %w: %s", benchPeerSource, err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}
