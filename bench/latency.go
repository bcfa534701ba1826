package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// Defaults of LatencyConfig.
const (
	// DefaultLatencyDuration is how long one latency run appends.
	DefaultLatencyDuration = 10 * time.Second
	// DefaultLatencyClients is the number of appending clients.
	DefaultLatencyClients = 4
	// DefaultLatencyBatch is the events per call.
	DefaultLatencyBatch = 100
	// DefaultLatencyRate is the total events/s the clients aim at.
	DefaultLatencyRate = 20_000
)

// LatencyConfig configures RunLatency.
type LatencyConfig struct {
	Common
	// Duration is how long each run appends (DefaultLatencyDuration when
	// zero).
	Duration time.Duration
	// Clients and Batch: Clients goroutines append Batch events per call
	// (DefaultLatencyClients, DefaultLatencyBatch when zero).
	Clients int
	Batch   int
	// Rate is the total events/s the clients aim at (DefaultLatencyRate
	// when zero; negative: as fast as they can).
	Rate int
	// Interval is the ledger's checkpoint interval
	// (ledger.DefaultCheckpointInterval when zero).
	Interval time.Duration
	// HTTP appends through the API with ?wait=checkpoint instead, each
	// request answered once a checkpoint covers its events.
	HTTP bool
}

// RunLatency measures the time from an event's Append call to the first
// published signed checkpoint that covers it, under a steady load, in a
// fresh store: every call's start is its events' time, and a goroutine per
// call waits (Ledger.WaitCheckpoint) for a checkpoint of at least the call's
// last index + 1. The baseline is the Append call itself (the durable
// commit). Over HTTP, each request asks ?wait=checkpoint and its duration is
// the latency.
func RunLatency(ctx context.Context, cfg LatencyConfig) (*Result, error) {
	if err := cfg.Common.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultLatencyDuration
	}
	if cfg.Clients <= 0 {
		cfg.Clients = DefaultLatencyClients
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultLatencyBatch
	}
	if cfg.Batch > ledger.MaxBatchEvents {
		return nil, fmt.Errorf("bench: batch size %d is over %d", cfg.Batch, ledger.MaxBatchEvents)
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultLatencyRate
	}
	if cfg.Interval <= 0 {
		cfg.Interval = ledger.DefaultCheckpointInterval
	}
	res := newResult("latency", cfg)
	events := Events(cfg.Seed, 0, cfg.Clients*cfg.Batch)
	var bodies [][]byte
	if cfg.HTTP {
		var err error
		if bodies, err = Bodies(events, cfg.Batch); err != nil {
			return nil, err
		}
	}
	var cpRuns, appendRuns, rates []float64
	var cpAll, appendAll []time.Duration
	for run := 0; run < cfg.Runs; run++ {
		cfg.progress(fmt.Sprintf("run %d/%d", run+1, cfg.Runs), int64(run), int64(cfg.Runs))
		var m latencyMeasure
		err := measureDir(&cfg.Common, "latency", func(dir string) error {
			var err error
			m, err = latencyRun(ctx, &cfg, dir, events, bodies)
			return err
		})
		if err != nil {
			return nil, err
		}
		p50, _ := percentiles(m.cp)
		cpRuns = append(cpRuns, p50)
		cpAll = append(cpAll, m.cp...)
		rates = append(rates, m.rate)
		if !cfg.HTTP {
			a50, _ := percentiles(m.append)
			appendRuns = append(appendRuns, a50)
			appendAll = append(appendAll, m.append...)
		}
	}
	name := fmt.Sprintf("event-to-checkpoint/interval=%s", cfg.Interval)
	if cfg.HTTP {
		name = fmt.Sprintf("http-wait-checkpoint/interval=%s", cfg.Interval)
	}
	row := Row{Name: name, Series: "latency", Batch: cfg.Batch, Clients: cfg.Clients, Unit: "ms (p50)", Runs: cpRuns,
		Note: fmt.Sprintf("load %s events/s (median of runs)", FormatValue(median(rates)))}
	row.P50, row.P99 = percentiles(cpAll)
	res.add(row)
	if !cfg.HTTP {
		ar := Row{Name: "append-call", Series: "latency", Batch: cfg.Batch, Clients: cfg.Clients, Unit: "ms (p50)", Runs: appendRuns,
			Note: "the Append call alone: the durable commit"}
		ar.P50, ar.P99 = percentiles(appendAll)
		res.add(ar)
		res.compare(name, "append-call")
	}
	res.Notes = append(res.Notes,
		fmt.Sprintf("%d clients × %d events a call, aiming at %d events/s in all (negative: unpaced), checkpoint interval %s, %s a run",
			cfg.Clients, cfg.Batch, cfg.Rate, cfg.Interval, cfg.Duration),
		"median: of each run's p50; p50/p99: over every call of every run")
	res.finish()
	return res, nil
}

type latencyMeasure struct {
	cp, append []time.Duration
	rate       float64
}

func latencyRun(ctx context.Context, cfg *LatencyConfig, dir string, events []ledger.Event, bodies [][]byte) (m latencyMeasure, err error) {
	l, err := ledger.Open(ctx, ledger.Config{Dir: dir, CheckpointInterval: cfg.Interval, Logger: discardLogger()})
	if err != nil {
		return m, fmt.Errorf("couldn't open the ledger: %w", err)
	}
	defer func() {
		if cerr := l.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	var srv *server
	if cfg.HTTP {
		if srv, err = startServer(ctx, l, nil, cfg.Clients); err != nil {
			return m, err
		}
		defer srv.close()
	}
	// Each client paces itself to Rate/Clients events/s.
	var gap time.Duration
	if cfg.Rate > 0 {
		gap = time.Duration(float64(time.Second) * float64(cfg.Batch*cfg.Clients) / float64(cfg.Rate))
	}
	var mu sync.Mutex // guards m.cp and m.append
	var waits sync.WaitGroup
	var firstErr error
	path := "/v1/logs/" + ledger.DefaultLogID + "/events?wait=checkpoint"
	n, took, _, err := driveFor(ctx, cfg.Clients, cfg.Duration, func(ctx context.Context, g, i int) error {
		start := time.Now()
		defer func() {
			if gap > 0 {
				time.Sleep(time.Until(start.Add(gap)))
			}
		}()
		if cfg.HTTP {
			if _, err := srv.do(ctx, http.MethodPost, path, bodies[g], io.Discard); err != nil {
				return err
			}
			mu.Lock()
			m.cp = append(m.cp, time.Since(start))
			mu.Unlock()
			return nil
		}
		evs := events[g*cfg.Batch : (g+1)*cfg.Batch]
		out, err := l.Append(ctx, ledger.DefaultLogID, evs, ledger.AppendOptions{})
		if err != nil {
			return err
		}
		d := time.Since(start)
		mu.Lock()
		m.append = append(m.append, d)
		mu.Unlock()
		last := out[len(out)-1].Index
		waits.Add(1)
		go func() {
			defer waits.Done()
			_, err := l.WaitCheckpoint(ctx, ledger.DefaultLogID, last+1)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = err
				return
			}
			m.cp = append(m.cp, time.Since(start))
		}()
		return nil
	})
	waits.Wait()
	if err != nil {
		return m, err
	}
	if firstErr != nil {
		return m, fmt.Errorf("couldn't wait for a checkpoint: %w", firstErr)
	}
	m.rate = float64(n*cfg.Batch) / took.Seconds()
	size, err := l.Size(ledger.DefaultLogID)
	if err != nil {
		return m, err
	}
	if size != uint64(n*cfg.Batch) {
		return m, fmt.Errorf("%w: %d appended, log size %d", errSize, n*cfg.Batch, size)
	}
	return m, nil
}
