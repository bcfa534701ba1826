package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// randomQuery makes one to three random terms over variedEvent's values.
func randomQuery(r *rand.Rand) string {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	var terms []string
	for range 1 + r.IntN(3) {
		t := pick(
			"category:"+pick("login", "user", "role", "device"),
			"action:"+pick("login", "invite", "user:*", "device:wipe", "role:assign", "de*"),
			"actor:"+pick("u1", "u3", "U3", "user2@example.com", "USER4@Example.com", "u*"),
			"target:"+pick("t1", "t*", "*", `"=cmd|' /C calc'!A0"`),
			"ip:"+pick("10.0.1.0/24", "10.0.2.7", "10.0.0.*", "10.0.0.0/16"),
			"result:"+pick("failure", "success"),
			"since:"+time.Date(2026, 1, 1, r.IntN(30), 0, 0, 0, time.UTC).Format(time.RFC3339),
			"until:"+time.Date(2026, 1, 1, 12+r.IntN(40), 0, 0, 0, time.UTC).Format(time.RFC3339),
		)
		if r.IntN(5) == 0 {
			t = "-" + t
		}
		terms = append(terms, t)
	}
	return strings.Join(terms, " ")
}

// TestEventsRandomQueriesWhileAppending pages through random queries with
// small pages, both orders, appending between pages, and wants exactly the
// brute-force answer: ascending reaches the entries appended meanwhile,
// descending stays below the size at its first page.
func TestEventsRandomQueriesWhileAppending(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const n = 600
	evs := variedEvents(n)
	for i := 0; i < n; i += 300 {
		h.ingest("default", h.tok["ingest"], evs[i:i+300])
	}
	next, calls := n, 0
	appendSome := func() { // during the first pages of each walk
		if calls++; calls <= 8 {
			h.ingest("default", h.tok["ingest"], []map[string]any{variedEvent(next), variedEvent(next + 1), variedEvent(next + 2)})
			next += 3
		}
	}
	var all []*ledger.Entry
	entries := func() []*ledger.Entry { // parsed once each
		for i := uint64(len(all)); i < h.size("default"); i++ {
			rec, err := h.l.Read("default", i)
			if err != nil {
				t.Fatal(err)
			}
			en, err := ledger.ParseEntry(rec.Leaf)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, en)
		}
		return all
	}
	r := rand.New(rand.NewPCG(8, 8))
	for range 100 {
		q := randomQuery(r)
		order := []string{"asc", "desc"}[r.IntN(2)]
		limit := 2 + r.IntN(30)
		parsed, err := ledger.ParseQuery(q, time.Now())
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		start := h.size("default")
		calls = 0
		got := h.pageAll("/v1/logs/default/events", url.Values{"q": {q}, "order": {order}}, limit, appendSome)
		var want []uint64
		for i, en := range entries() {
			if parsed.Match(en) && (order == "asc" || uint64(i) < start) {
				want = append(want, uint64(i))
			}
		}
		if order == "desc" {
			slices.Reverse(want)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q %s limit %d: got %d entries %v\nwant %d %v", q, order, limit, len(got), got, len(want), want)
		}
	}
}

// TestExportMemoryIsFlat streams a large CSV export slowly and samples the
// server's heap (it runs in this process) as it goes: the heap must not grow
// with the rows sent.
func TestExportMemoryIsFlat(t *testing.T) {
	if raceEnabled {
		// The same test runs in the plain `go test ./...` of CI; under -race
		// the heap also holds Pebble's manually managed memory, freed
		// asynchronously by earlier tests' stores.
		t.Skip("heap figures are not the export's under -race; checked in the plain run")
	}
	// A small block cache: under -race Pebble keeps its cache in the Go
	// heap, and a cache filling up is not the export's memory.
	h := newHarness(t, harnessOpts{blockCacheBytes: 1 << 20})
	const n = 60_000
	batch := make([]ledger.Event, 0, 1000)
	for i := range n {
		ev := ledger.Event{
			Category: "user", Action: "user:update",
			Actor:     &ledger.Actor{Type: "user", ID: fmt.Sprintf("u%d", i%50)},
			UserAgent: strings.Repeat("agent ", 50),
		}
		batch = append(batch, ev)
		if len(batch) == cap(batch) {
			if _, err := h.l.Append(context.Background(), "default", batch, ledger.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	// The indexer's batches and Pebble's flushes and compactions of the
	// appends are not the export's memory: let them finish first.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if n, err := h.l.IndexedSize("default"); err != nil || n >= h.size("default") || time.Now().After(deadline) {
			break
		}
	}
	if err := h.l.DB().Flush(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); h.l.DB().Metrics().Compact.NumInProgress > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := heap()
	req, _ := http.NewRequest("GET", h.srv.URL+"/v1/logs/default/events?format=csv&q=category:user", nil)
	req.Header.Set("Authorization", "Bearer "+h.tok["auditor"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var read, rows int
	var peak uint64
	buf := make([]byte, 32<<10)
	for {
		k, err := br.Read(buf)
		read += k
		rows += strings.Count(string(buf[:k]), "\n")
		if read/(4<<20) != (read-k)/(4<<20) { // every 4 MiB
			peak = max(peak, heap())
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if rows != n+1 {
		t.Fatalf("%d CSV lines, want %d", rows, n+1)
	}
	grew := int64(peak) - int64(base)
	t.Logf("export of %d MiB: heap %d MiB at start, %d MiB at its peak", read>>20, base>>20, peak>>20)
	if read < 20<<20 {
		t.Fatalf("export of %d bytes is too small to tell", read)
	}
	if grew > int64(read)/4 {
		t.Fatalf("heap grew by %d MiB over an export of %d MiB", grew>>20, read>>20)
	}
}
