// Package witness connects auditledger to C2SP tlog-witness witnesses: the
// Pusher sends each log's checkpoints to its witnesses and keeps their
// cosignatures (SPEC §6), and Server is a witness of one log (the
// `monitor --witness` endpoint). Package ledger checks and stores; this
// package does the HTTP.
package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// Defaults for Config fields left zero.
const (
	// DefaultTimeout bounds one add-checkpoint request (SPEC §6: 10 s).
	DefaultTimeout = 10 * time.Second
	// DefaultMinBackoff is the first wait after a failed push.
	DefaultMinBackoff = time.Second
	// DefaultMaxBackoff is the longest wait between two pushes to a failing witness.
	DefaultMaxBackoff = time.Minute
	// maxResyncs bounds the 409 answers followed in a row before backing off.
	maxResyncs = 3
	// maxAnswer bounds the body read from a witness.
	maxAnswer = 64 << 10
)

// SizeContentType is the media type of a witness's 409 answer: its size.
const SizeContentType = "text/x.tlog.size"

// Config configures a Pusher.
type Config struct {
	// Ledger is the open store whose logs are pushed. Required.
	Ledger *ledger.Ledger
	// Client sends the requests; nil means a client of its own.
	Client *http.Client
	// Timeout bounds each add-checkpoint request.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed push; it
	// doubles from MinBackoff up to MaxBackoff, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
}

// Pusher pushes every log's checkpoints to the log's witnesses, one
// goroutine per (log, witness), so a slow or absent witness never delays
// appends, checkpoints or the other witnesses. Start it with Run.
type Pusher struct {
	cfg Config
	l   *ledger.Ledger

	// mu guards stats.
	mu    sync.Mutex
	stats map[pushKey]*pushStats
}

type pushKey struct{ log, witness string }

type pushStats struct {
	failures uint64
	pushes   uint64
}

// New checks cfg and returns a Pusher.
func New(cfg Config) (*Pusher, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("witness: no ledger")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Pusher{cfg: cfg, l: cfg.Ledger, stats: map[pushKey]*pushStats{}}, nil
}

// Run pushes until ctx is done: it starts a goroutine for each witness of
// each log, and starts and stops them as witness settings change. It returns
// once every goroutine it started has stopped.
func (p *Pusher) Run(ctx context.Context) {
	type running struct {
		w      ledger.Witness
		cancel context.CancelFunc
	}
	workers := map[pushKey]running{}
	var wg sync.WaitGroup
	defer func() {
		for _, r := range workers {
			r.cancel()
		}
		wg.Wait()
	}()
	for {
		changed := p.l.WitnessChanges()
		want := map[pushKey]ledger.Witness{}
		for _, info := range p.l.Logs() {
			for _, w := range info.Witnesses.List {
				want[pushKey{info.ID, w.Name}] = w
			}
		}
		for k, r := range workers {
			if w, ok := want[k]; !ok || w != r.w {
				r.cancel()
				delete(workers, k)
			}
		}
		for k, w := range want {
			if _, ok := workers[k]; ok {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			workers[k] = running{w: w, cancel: cancel}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.pushLoop(wctx, k.log, w)
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}

// errResync is a 409: the witness holds another size; push again from it.
var errResync = errors.New("witness holds another size")

// pushLoop keeps one witness up to date with one log: it pushes the latest
// checkpoint until the witness has cosigned it, with backoff after a
// failure, then waits for the next checkpoint.
func (p *Pusher) pushLoop(ctx context.Context, logID string, w ledger.Witness) {
	log := p.cfg.Logger.With("log", logID, "witness", w.Name)
	// old is the size the witness is believed to hold: the largest size it
	// cosigned for us, else 0. A 409 corrects it.
	var old uint64
	if sts, err := p.l.WitnessStatuses(logID); err == nil {
		for _, s := range sts {
			if s.Name == w.Name {
				old = s.CosignedSize
			}
		}
	}
	backoff := p.cfg.MinBackoff
	resyncs := 0
	for ctx.Err() == nil {
		sc, err := p.l.Checkpoint(logID)
		if err != nil {
			if errors.Is(err, ledger.ErrClosed) || errors.Is(err, ledger.ErrNotFound) {
				return
			}
			log.Warn("couldn't read the latest checkpoint", "err", err)
			if !sleep(ctx, backoff) {
				return
			}
			continue
		}
		if p.cosigned(logID, w.Name, sc.Size) {
			// Up to date: wait for the next checkpoint.
			if _, err := p.l.WaitCheckpoint(ctx, logID, sc.Size+1); err != nil {
				return
			}
			continue
		}
		err = p.push(ctx, logID, w, sc, &old)
		switch {
		case err == nil:
			backoff, resyncs = p.cfg.MinBackoff, 0
			log.Debug("checkpoint cosigned", "size", sc.Size)
			continue
		case errors.Is(err, errResync) && resyncs < maxResyncs:
			resyncs++
			log.Info("witness holds another size; resyncing", "witness_size", old)
			continue
		case ctx.Err() != nil:
			return
		}
		resyncs = 0
		p.count(logID, w.Name, true)
		log.Warn("push failed; will retry", "size", sc.Size, "err", err, "retry_in", backoff)
		if !sleep(ctx, jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
}

// cosigned reports whether the witness has cosigned the checkpoint at size.
func (p *Pusher) cosigned(logID, name string, size uint64) bool {
	sts, err := p.l.WitnessStatuses(logID)
	if err != nil {
		return false
	}
	for _, s := range sts {
		if s.Name == name && s.Cosigned && s.CosignedSize >= size {
			return true
		}
	}
	return false
}

// push sends one add-checkpoint request (C2SP tlog-witness): "old <size>",
// the consistency proof from that size, a blank line, and the log-signed
// note. On 200 it hands the cosignature lines to the ledger, which verifies
// and stores them; on 409 it sets *old to the witness's size and returns
// errResync.
func (p *Pusher) push(ctx context.Context, logID string, w ledger.Witness, sc *ledger.SignedCheckpoint, old *uint64) error {
	p.count(logID, w.Name, false)
	if *old > sc.Size {
		// The witness holds a larger tree of this origin than the log
		// ever signed: it saw another history (or this store lost data).
		return fmt.Errorf("the witness holds size %d, beyond the latest checkpoint %d: it was shown another history of this log", *old, sc.Size)
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", *old)
	if *old > 0 && *old < sc.Size {
		proof, err := p.l.ConsistencyProof(logID, *old, sc.Size)
		if err != nil {
			return fmt.Errorf("couldn't build the consistency proof %d→%d: %w", *old, sc.Size, err)
		}
		for _, h := range proofs.EncodeHashes(proof) {
			body.WriteString(h)
			body.WriteByte('\n')
		}
	}
	body.WriteByte('\n')
	body.Write(sc.LogSigned())

	rctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, strings.TrimRight(w.URL, "/")+"/add-checkpoint", &body)
	if err != nil {
		return fmt.Errorf("couldn't build the request: %w", err)
	}
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("couldn't reach the witness: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("couldn't read the witness's answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := p.l.AddCosignatures(logID, sc.Size, w.Name, answer); err != nil {
			return fmt.Errorf("couldn't keep the cosignature: %w", err)
		}
		*old = sc.Size
		return nil
	case http.StatusConflict:
		size, err := parseSize(resp.Header.Get("Content-Type"), answer)
		if err != nil {
			return fmt.Errorf("witness answered 409 without its size: %w", err)
		}
		*old = size
		return errResync
	default:
		return fmt.Errorf("witness answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
}

// parseSize reads a 409 answer's body: the witness's size as a decimal line.
func parseSize(contentType string, body []byte) (uint64, error) {
	if ct, _, _ := strings.Cut(contentType, ";"); strings.TrimSpace(ct) != SizeContentType {
		return 0, fmt.Errorf("content type %q, want %s", contentType, SizeContentType)
	}
	s := strings.TrimSuffix(string(body), "\n")
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n, nil
}

func (p *Pusher) count(logID, name string, failure bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := pushKey{logID, name}
	st := p.stats[k]
	if st == nil {
		st = &pushStats{}
		p.stats[k] = st
	}
	if failure {
		st.failures++
	} else {
		st.pushes++
	}
}

// Failures returns how many pushes to a log's witness have failed.
func (p *Pusher) Failures(logID, witnessName string) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st := p.stats[pushKey{logID, witnessName}]; st != nil {
		return st.failures
	}
	return 0
}

var (
	failuresDesc = prometheus.NewDesc("auditledger_witness_push_failures_total", "Failed checkpoint pushes per log and witness (timeouts, refusals, bad cosignatures).", []string{"log", "witness"}, nil)
	pushesDesc   = prometheus.NewDesc("auditledger_witness_pushes_total", "Checkpoint pushes attempted per log and witness.", []string{"log", "witness"}, nil)
)

// Describe implements prometheus.Collector.
func (p *Pusher) Describe(ch chan<- *prometheus.Desc) {
	ch <- failuresDesc
	ch <- pushesDesc
}

// Collect implements prometheus.Collector: the push and failure counters.
func (p *Pusher) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, st := range p.stats {
		ch <- prometheus.MustNewConstMetric(failuresDesc, prometheus.CounterValue, float64(st.failures), k.log, k.witness)
		ch <- prometheus.MustNewConstMetric(pushesDesc, prometheus.CounterValue, float64(st.pushes), k.log, k.witness)
	}
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// jitter spreads d over [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2)
}
