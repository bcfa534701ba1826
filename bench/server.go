package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditledger/auditledger/api"
	"github.com/auditledger/auditledger/ledger"
)

// openLedger opens a ledger in dir with the server's defaults and no logs.
func openLedger(ctx context.Context, dir string) (*ledger.Ledger, error) {
	l, err := ledger.Open(ctx, ledger.Config{Dir: dir, Logger: discardLogger()})
	if err != nil {
		return nil, fmt.Errorf("couldn't open the ledger in %s: %w", dir, err)
	}
	return l, nil
}

// discardLogger drops the ledger's and Pebble's logs.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// server is the real API on a real 127.0.0.1 listener, with a client whose
// keep-alive pool holds one connection per bench client.
type server struct {
	base   string
	token  string // an operator token: every route
	srv    *http.Server
	done   chan struct{}
	client *http.Client
}

// startServer serves the API of l on 127.0.0.1:0. handler, when not nil,
// replaces the API (the no-op floor).
func startServer(ctx context.Context, l *ledger.Ledger, handler http.Handler, clients int) (*server, error) {
	s := &server{done: make(chan struct{})}
	if handler == nil {
		token := "bench-operator-token-0123456789"
		if err := l.EnsureOperatorToken(ctx, token); err != nil {
			return nil, fmt.Errorf("couldn't create the bench token: %w", err)
		}
		h, err := api.New(ctx, api.Config{Ledger: l, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, fmt.Errorf("couldn't build the API: %w", err)
		}
		handler, s.token = h, token
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("couldn't listen on 127.0.0.1: %w", err)
	}
	s.base = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	s.client = newHTTPClient(clients)
	// Open the clients' connections before any clock starts.
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.do(ctx, http.MethodGet, "/healthz", nil, io.Discard); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// newHTTPClient is a client whose keep-alive pool holds clients
// connections.
func newHTTPClient(clients int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = clients, clients
	tr.DisableCompression = true
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}
}

func (s *server) close() {
	s.client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

// do sends one request and copies a 2xx answer's body to out; any other
// status is an error.
func (s *server) do(ctx context.Context, method, path string, body []byte, out io.Writer) (int64, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return 0, err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("couldn't %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	n, err := io.Copy(out, resp.Body)
	if err != nil {
		return n, fmt.Errorf("couldn't read the answer to %s %s: %w", method, path, err)
	}
	return n, nil
}

// floorHandler is the no-op floor: it reads the body and answers 201 with
// a fixed body of the size of one ingest answer, and does nothing else.
// It is what HTTP over loopback and the bench's own clients cost.
var floorHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{"entries":[{"index":12345,"leaf_hash":"n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=","received_at":"2026-11-25T20:49:06.123456789Z"}]}`))
})

// drive runs n jobs from clients goroutines, each taking the next job
// number, and returns the wall time and every job's duration. It stops at
// the first error, or when stop (if set) says so.
func drive(ctx context.Context, clients, n int, job func(ctx context.Context, i int) error) (time.Duration, []time.Duration, error) {
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	durs := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for firstErr.Load() == nil && ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				if err := job(ctx, i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				durs[g] = append(durs[g], time.Since(t))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if p := firstErr.Load(); p != nil {
		return took, nil, *p
	}
	if err := ctx.Err(); err != nil {
		return took, nil, err
	}
	var all []time.Duration
	for _, d := range durs {
		all = append(all, d...)
	}
	return took, all, nil
}

// driveFor runs jobs from clients goroutines for d (at least one job
// each), and returns the jobs done, the wall time and every job's duration.
func driveFor(ctx context.Context, clients int, d time.Duration, job func(ctx context.Context, g, i int) error) (int, time.Duration, []time.Duration, error) {
	var firstErr atomic.Pointer[error]
	durs := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; firstErr.Load() == nil && ctx.Err() == nil; i++ {
				t := time.Now()
				if i > 0 && t.After(deadline) {
					return
				}
				if err := job(ctx, g, i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				durs[g] = append(durs[g], time.Since(t))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if p := firstErr.Load(); p != nil {
		return 0, took, nil, *p
	}
	if err := ctx.Err(); err != nil {
		return 0, took, nil, err
	}
	var all []time.Duration
	for _, d := range durs {
		all = append(all, d...)
	}
	return len(all), took, all, nil
}

// errSize is returned when a workload's own count disagrees with the log.
var errSize = errors.New("entry count does not match the log size")
