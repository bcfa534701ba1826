package api_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// variedEvent is a client event whose fields vary with i, for filters.
func variedEvent(i int) map[string]any {
	cats := []string{"login", "user", "role", "device"}
	acts := map[string][]string{"login": {"login"}, "user": {"user:invite", "user:delete"}, "role": {"role:assign"}, "device": {"device:wipe"}}
	c := cats[i%len(cats)]
	ev := map[string]any{
		"category": c,
		"action":   acts[c][i%len(acts[c])],
		"actor":    map[string]any{"type": "user", "id": "u" + strconv.Itoa(i%7), "email": fmt.Sprintf("user%d@example.com", i%7)},
		"ip":       fmt.Sprintf("10.0.%d.%d", i%3, i%250+1),
		"time":     time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour).Format(time.RFC3339),
	}
	if i%5 == 0 {
		ev["result"] = "failure"
	}
	if i%3 == 0 {
		ev["target"] = map[string]any{"type": "user", "id": "t" + strconv.Itoa(i%4), "name": "=cmd|' /C calc'!A0"}
	}
	return ev
}

// variedEvents is variedEvent(0) … variedEvent(n-1).
func variedEvents(n int) []map[string]any {
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = variedEvent(i)
	}
	return evs
}

type eventsPage struct {
	Events     []map[string]any `json:"events"`
	NextCursor *string          `json:"next_cursor"`
}

// pageAll follows next_cursor to the end and returns every index, in order.
func (h *harness) pageAll(path string, v url.Values, limit int, between func()) []uint64 {
	h.t.Helper()
	v.Set("limit", strconv.Itoa(limit))
	var out []uint64
	for pages := 0; ; pages++ {
		if pages > 10000 {
			h.t.Fatal("too many pages")
		}
		r := h.do("GET", path+"?"+v.Encode(), h.tok["auditor"], nil)
		want(h.t, r, http.StatusOK)
		var p eventsPage
		if err := json.Unmarshal(r.body, &p); err != nil {
			h.t.Fatal(err)
		}
		if len(p.Events) > limit {
			h.t.Fatalf("page of %d > limit %d", len(p.Events), limit)
		}
		for _, e := range p.Events {
			out = append(out, uint64(e["index"].(float64)))
		}
		if p.NextCursor == nil {
			return out
		}
		if len(p.Events) == 0 {
			h.t.Fatal("an empty page with a next_cursor")
		}
		v.Set("cursor", *p.NextCursor)
		if between != nil {
			between()
		}
	}
}

func TestEventsQueryMatchesBruteForce(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const n = 300
	evs := variedEvents(n)
	h.ingest("default", h.tok["ingest"], evs)
	// The brute-force side: every stored entry, parsed, filtered in memory.
	entries := make([]*ledger.Entry, n)
	for i := range entries {
		rec, err := h.l.Read("default", uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if entries[i], err = ledger.ParseEntry(rec.Leaf); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	queries := []string{
		"", "category:role", "-category:role", "action:invite", "action:user:*", "actor:u3",
		"actor:user2@example.com", "-actor:u1 result:failure", "ip:10.0.1.0/24", "-ip:10.0.0.0/16",
		"target:t1", "-target:*", "since:2026-01-05T00:00:00Z until:2026-01-07T00:00:00Z",
		"category:device action:wipe -result:failure", `target:"=cmd|' /C calc'!A0"`,
	}
	for _, q := range queries {
		parsed, err := ledger.ParseQuery(q, now)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		var wantAsc []uint64
		for i, en := range entries {
			if parsed.Match(en) {
				wantAsc = append(wantAsc, uint64(i))
			}
		}
		for _, order := range []string{"asc", "desc"} {
			limit := 1 + rng.IntN(40)
			t.Run(fmt.Sprintf("%s/%s/limit=%d", q, order, limit), func(t *testing.T) {
				got := h.pageAll("/v1/logs/default/events", url.Values{"q": {q}, "order": {order}}, limit, nil)
				want := append([]uint64(nil), wantAsc...)
				if order == "desc" {
					for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
						want[i], want[j] = want[j], want[i]
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("got %v\nwant %v", got, want)
				}
			})
		}
	}
	// The separate parameters mean the same as terms, ANDed with q.
	got := h.pageAll("/v1/logs/default/events", url.Values{"q": {"category:role"}, "actor": {"u3"}, "order": {"asc"}}, 1000, nil)
	viaQ := h.pageAll("/v1/logs/default/events", url.Values{"q": {"category:role actor:u3"}, "order": {"asc"}}, 1000, nil)
	if fmt.Sprint(got) != fmt.Sprint(viaQ) || len(got) == 0 {
		t.Fatalf("params %v, q %v", got, viaQ)
	}
}

func TestEventsPagingWhileAppending(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	evs := variedEvents(120)
	h.ingest("default", h.tok["ingest"], evs)
	next := 120
	appendSome := func() {
		h.ingest("default", h.tok["ingest"], []map[string]any{variedEvent(next), variedEvent(next + 1)})
		next += 2
	}
	// Ascending: pages reach the entries appended meanwhile; nothing skipped or repeated.
	asc := h.pageAll("/v1/logs/default/events", url.Values{"order": {"asc"}}, 7, appendSome)
	for i, idx := range asc {
		if idx != uint64(i) {
			t.Fatalf("asc page walk: position %d holds %d", i, idx)
		}
	}
	if len(asc) < 120 {
		t.Fatalf("asc saw %d entries", len(asc))
	}
	// Descending: from the newest at the first page down to 0, never the new ones.
	start := h.size("default")
	desc := h.pageAll("/v1/logs/default/events", url.Values{"order": {"desc"}}, 9, appendSome)
	if uint64(len(desc)) != start {
		t.Fatalf("desc saw %d entries, want %d", len(desc), start)
	}
	for i, idx := range desc {
		if idx != start-1-uint64(i) {
			t.Fatalf("desc page walk: position %d holds %d", i, idx)
		}
	}
}

func TestEventsExport(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	evs := variedEvents(90)
	h.ingest("default", h.tok["ingest"], evs)
	size := h.size("default")

	r := h.do("GET", "/v1/logs/default/events?format=csv&order=asc&q="+url.QueryEscape("category:user"), h.tok["auditor"], nil)
	want(t, r, http.StatusOK)
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("content type %q", ct)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(ledger.CSVHeader, ",") {
		t.Fatalf("header %v", rows[0])
	}
	if len(rows)-1 != 90/4+1 { // i%4 == 1
		t.Fatalf("%d rows", len(rows)-1)
	}
	for _, row := range rows[1:] {
		if row[3] != "user" {
			t.Fatalf("row %v", row)
		}
		if row[12] != "" && !strings.HasPrefix(row[12], "'=") {
			t.Fatalf("formula cell not neutralised: %q", row[12])
		}
	}
	// The export is recorded after it, and shows the log as it was.
	audit := h.checkAudit("default", "export:csv", h.key["auditor"].ID)
	if d := audit["details"].(map[string]any); d["rows"] != float64(len(rows)-1) || d["size"] != float64(size) {
		t.Fatalf("export audit details %v", d)
	}

	r = h.do("GET", "/v1/logs/default/events?format=ndjson", h.tok["auditor"], nil)
	want(t, r, http.StatusOK)
	lines := bytes.Split(bytes.TrimSpace(r.body), []byte("\n"))
	if uint64(len(lines)) != size+1 { // the csv export's audit entry is in it too
		t.Fatalf("%d ndjson lines, want %d", len(lines), size+1)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil || m["leaf_hash"] == nil {
			t.Fatalf("line %s: %v", l, err)
		}
	}

	r = h.do("GET", "/v1/logs/default/events?format=csv&bom=true&q=category:login", h.tok["auditor"], nil)
	if !bytes.HasPrefix(r.body, []byte("\uFEFFindex,")) {
		t.Fatalf("no BOM: %q", r.body[:10])
	}
}

func TestEventsErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 3))
	h.checkBadQueries(t, "/v1/logs/default/events", []badQuery{
		{"unknown key", "q=colour:red", "q"},
		{"malformed term", "q=category", "q"},
		{"bad duration", "q=since:7y", "q"},
		{"bad cidr", "ip=10.0.0.0/99", "ip"},
		{"limit too big", "limit=1001", "limit"},
		{"limit zero", "limit=0", "limit"},
		{"bad order", "order=sideways", "order"},
		{"bad format", "format=xml", "format"},
		{"bad cursor", "cursor=nope", "cursor"},
		{"unknown parameter", "colour=red", "colour"},
	})
	// A cursor of one order is refused in the other.
	r := h.do("GET", "/v1/logs/default/events?limit=1&order=asc", h.tok["auditor"], nil)
	var p eventsPage
	if err := json.Unmarshal(r.body, &p); err != nil || p.NextCursor == nil {
		t.Fatalf("%v", r)
	}
	r = h.do("GET", "/v1/logs/default/events?order=desc&cursor="+*p.NextCursor, h.tok["auditor"], nil)
	checkErr(t, r, http.StatusBadRequest, "invalid_argument", "cursor", noPos)
}
