package api_test

// Benchmarks of ingest through the HTTP API: a real server on a 127.0.0.1
// listener in front of a ledger on a real data directory under b.TempDir(),
// driven by net/http clients in the same process; and, in the same run, the
// same events through ledger.Append directly, so that the cost of HTTP, Gin,
// auth and JSON reads as a ratio; and the same requests to a handler that does
// nothing, the floor that net/http over loopback leaves on the machine.
// docs/performance.md holds the commands, the figures and the machine.
//
// One op is one event (entry). Every sub-benchmark calls b.SetBytes with the
// mean size of an event's JSON and reports entries/s and the mean entries per
// synced commit (the group commit size); the ones with single-event requests
// also report the p50 and p99 latency of a request (or of an Append call).
// The clients share the machine with the server, so on a small machine their
// own CPU counts against the figure.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditledger/auditledger/api"
	"github.com/auditledger/auditledger/ledger"
)

// httpBenchUserAgent is a real browser's user agent: with it an event's JSON
// is ~400 bytes.
const httpBenchUserAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"

// httpBenchEvent is the JSON of a realistic role:assign event, different for
// each i: ~400 bytes.
func httpBenchEvent(i int) []byte {
	return fmt.Appendf(nil, `{"category":"role","action":"role:assign",`+
		`"actor":{"type":"user","id":"u%d","name":"Ann Example","email":"ann@example.com"},`+
		`"target":{"type":"user","id":"t%d","name":"Bob Example"},`+
		`"ip":"10.0.%d.%d","user_agent":%q,`+
		`"details":{"role_from":"member","role_to":"admin","org_id":"org_%d","reason":"on-call rotation","ticket":"OPS-%d"}}`,
		i%1000, i, i/256%256, i%256, httpBenchUserAgent, i%97, i)
}

// httpBenchBodies returns the request bodies that carry n events in requests
// of batch events each (the last may be shorter): a JSON array each, or the
// bare event when batch is 1. It also returns the mean event size.
func httpBenchBodies(n, batch int) ([][]byte, int64) {
	var bodies [][]byte
	total := 0
	for i := 0; i < n; i += batch {
		if batch == 1 {
			ev := httpBenchEvent(i)
			total += len(ev)
			bodies = append(bodies, ev)
			continue
		}
		body := []byte{'['}
		for j := i; j < i+batch && j < n; j++ {
			if j > i {
				body = append(body, ',')
			}
			ev := httpBenchEvent(j)
			total += len(ev)
			body = append(body, ev...)
		}
		bodies = append(bodies, append(body, ']'))
	}
	return bodies, int64(total / max(n, 1))
}

// openHTTPBenchLedger opens a ledger with the server's defaults on a fresh
// data directory and closes it when b ends.
func openHTTPBenchLedger(b *testing.B) *ledger.Ledger {
	b.Helper()
	l, err := ledger.Open(context.Background(), ledger.Config{
		Dir:    b.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := l.Close(); err != nil {
			b.Errorf("close ledger: %v", err)
		}
	})
	return l
}

// runHTTPBenchClients runs n requests from clients goroutines, each taking
// the next request number until none is left, times them, and returns every
// request's duration. The timer is reset just before the first request.
func runHTTPBenchClients(b *testing.B, clients, n int, do func(i int) error) []time.Duration {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Bool
	durs := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				start := time.Now()
				if err := do(i); err != nil {
					if failed.CompareAndSwap(false, true) {
						b.Error(err)
					}
					return
				}
				durs[g] = append(durs[g], time.Since(start))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	return slices.Concat(durs...)
}

// reportHTTPBench reports entries/s, the mean group commit size since
// commits0/entries0 (when l is not nil, after checking that the log holds
// b.N entries), and, when latency is set, the p50 and p99 of durs.
func reportHTTPBench(b *testing.B, l *ledger.Ledger, commits0, entries0 int64, durs []time.Duration, latency bool) {
	b.Helper()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	if l != nil {
		info, err := l.Log(ledger.DefaultLogID)
		if err != nil {
			b.Fatal(err)
		}
		if info.Size != uint64(b.N) {
			b.Fatalf("log size %d after %d events", info.Size, b.N)
		}
		st := l.Stats()
		if c := st.Commits.Load() - commits0; c > 0 {
			b.ReportMetric(float64(st.Entries.Load()-entries0)/float64(c), "entries/commit")
		}
	}
	if latency && len(durs) > 0 {
		slices.Sort(durs)
		pct := func(p float64) float64 {
			return float64(durs[int(p*float64(len(durs)-1))]) / float64(time.Millisecond)
		}
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
	}
}

// httpBenchFloorAnswer is what the floor handler answers: the size of the
// API's answer to one event.
var httpBenchFloorAnswer = []byte(`{"entries":[{"index":12345,"leaf_hash":"n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=","received_at":"2026-11-25T20:49:06.123456789Z"}]}`)

// httpBenchFloor is the floor handler: it reads the body and answers 201
// with a fixed ingest answer, and does nothing else.
func httpBenchFloor(w http.ResponseWriter, r *http.Request) {
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(httpBenchFloorAnswer)
}

// benchHTTPAppend posts b.N events in requests of batch events from clients
// concurrent clients, each request answered 201 only after its durable
// commit. With floor set, the server is httpBenchFloor instead of the API,
// and there is no ledger: what net/http and the clients cost on their own.
func benchHTTPAppend(b *testing.B, clients, batch int, floor bool) {
	ctx := context.Background()
	var l *ledger.Ledger
	var handler http.Handler = http.HandlerFunc(httpBenchFloor)
	token := "floor"
	if !floor {
		l = openHTTPBenchLedger(b)
		var err error
		if _, token, err = l.CreateKey(ctx, "bench", ledger.RoleIngest, ledger.DefaultLogID); err != nil {
			b.Fatal(err)
		}
		if handler, err = api.New(ctx, api.Config{Ledger: l, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
			b.Fatal(err)
		}
	}
	srv := httptest.NewServer(handler) // 127.0.0.1:0
	b.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		b.Fatalf("server is not on a 127.0.0.1 listener: %s", srv.URL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = clients, clients
	tr.DisableCompression = true
	client := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)

	// Open the clients' connections before the clock starts.
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(srv.URL + "/healthz")
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()

	url := srv.URL + "/v1/logs/" + ledger.DefaultLogID + "/events"
	auth := "Bearer " + token
	bodies, mean := httpBenchBodies(b.N, batch)
	b.SetBytes(mean)
	var commits0, entries0 int64
	if l != nil {
		commits0, entries0 = l.Stats().Commits.Load(), l.Stats().Entries.Load()
	}
	durs := runHTTPBenchClients(b, clients, len(bodies), func(i int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", auth)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("request %d: status %d: %s", i, resp.StatusCode, bytes.TrimSpace(out))
		}
		return nil
	})
	reportHTTPBench(b, l, commits0, entries0, durs, batch == 1)
}

// benchInProcessAppend appends the events of benchHTTPAppend, parsed before
// the clock starts, with ledger.Append from clients goroutines, batch events
// a call.
func benchInProcessAppend(b *testing.B, clients, batch int) {
	ctx := context.Background()
	l := openHTTPBenchLedger(b)
	bodies, mean := httpBenchBodies(b.N, batch)
	calls := make([][]ledger.Event, len(bodies))
	for i, body := range bodies {
		evs, _, err := ledger.ParseEvents(body)
		if err != nil {
			b.Fatalf("body %d: %v", i, err)
		}
		calls[i] = evs
	}
	b.SetBytes(mean)
	st := l.Stats()
	commits0, entries0 := st.Commits.Load(), st.Entries.Load()
	durs := runHTTPBenchClients(b, clients, len(calls), func(i int) error {
		_, err := l.Append(ctx, ledger.DefaultLogID, calls[i], ledger.AppendOptions{})
		return err
	})
	reportHTTPBench(b, l, commits0, entries0, durs, batch == 1)
}

// BenchmarkHTTPAppend measures ingest through the HTTP API against the same
// events through ledger.Append in the same run:
//
//   - batch=1000: JSON arrays of 1,000 events from 4 concurrent clients;
//   - clients=64/batch=1: one event per request from 64 concurrent clients;
//   - inprocess/batch=1000 and inprocess/clients=64: the same calls,
//     already parsed, straight to ledger.Append;
//   - floor/clients=64/batch=1: the same requests to a net/http handler
//     that only reads the body and answers a fixed 201, with no ledger: the
//     ceiling that HTTP/1.1 over loopback and the clients leave on this
//     machine, whatever the API does.
func BenchmarkHTTPAppend(b *testing.B) {
	b.Run("batch=1000", func(b *testing.B) { benchHTTPAppend(b, 4, 1000, false) })
	b.Run("clients=64/batch=1", func(b *testing.B) { benchHTTPAppend(b, 64, 1, false) })
	b.Run("inprocess/batch=1000", func(b *testing.B) { benchInProcessAppend(b, 4, 1000) })
	b.Run("inprocess/clients=64", func(b *testing.B) { benchInProcessAppend(b, 64, 1) })
	b.Run("floor/clients=64/batch=1", func(b *testing.B) { benchHTTPAppend(b, 64, 1, true) })
}
