package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

func TestHealthAndMetrics(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], event(0))

	r := h.do("GET", "/healthz", "", nil)
	want(t, r, http.StatusOK)

	r = h.do("GET", "/metrics", "", nil)
	want(t, r, http.StatusOK)
	if !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/plain") {
		t.Errorf("metrics Content-Type %q, want Prometheus text", r.hdr.Get("Content-Type"))
	}
	for _, m := range []string{
		`auditledger_tree_size{log="default"} 1`,
		`auditledger_appended_entries_total 1`,
		`auditledger_http_request_duration_seconds_bucket`,
		`auditledger_checkpoint_size{log="other"} 0`,
		`auditledger_index_lag_entries{log="other"} 0`,
	} {
		if !bytes.Contains(r.body, []byte(m)) {
			t.Errorf("metrics lack %q", m)
		}
	}
}

func TestPublicRoutes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	v := h.verifier("default")
	if v.Name() != "auditledger.local/default" {
		t.Errorf("key name %q, want auditledger.local/default", v.Name())
	}

	// The empty log's checkpoint: size 0, SHA-256(""), a zero chain.
	c, _ := h.waitCheckpoint("default", 0)
	if c.size != 0 || c.root != tlog.Hash(sha256.Sum256(nil)) || c.chain != (tlog.Hash{}) {
		t.Errorf("empty checkpoint %+v, want size 0, root SHA-256(\"\"), zero chain", c)
	}

	// Grow the log in steps, so that several sizes get a checkpoint.
	var sizes []uint64
	for _, n := range []int{1, 2, 5, 9} {
		h.ingest("default", h.tok["ingest"], events(int(h.size("default")), n))
		c, _ := h.waitCheckpoint("default", h.size("default"))
		sizes = append(sizes, c.size)
	}
	view := h.checkLog("default")
	size := view.size

	r := h.do("GET", "/v1/logs/default/checkpoint", "", nil)
	want(t, r, http.StatusOK)
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("checkpoint Content-Type %q", ct)
	}
	latest := r.body
	if c := openNote(t, latest, v); c.size != size {
		t.Fatalf("latest checkpoint size %d, want %d", c.size, size)
	}

	t.Run("checkpoints", func(t *testing.T) {
		for _, s := range append([]uint64{0}, sizes...) {
			r := h.do("GET", fmt.Sprintf("/v1/logs/default/checkpoints/%d", s), "", nil)
			want(t, r, http.StatusOK)
			c := openNote(t, r.body, v)
			if c.size != s || c.root != view.tree.root(t, s) {
				t.Errorf("checkpoint at %d: size %d root %v, want root %v", s, c.size, c.root, view.tree.root(t, s))
			}
		}
		r := h.do("GET", fmt.Sprintf("/v1/logs/default/checkpoints/%d", size), "", nil)
		want(t, r, http.StatusOK)
		if !bytes.Equal(r.body, latest) {
			t.Errorf("checkpoint at the latest size differs from /checkpoint:\n%s\n%s", r.body, latest)
		}
	})

	t.Run("consistency", func(t *testing.T) {
		pairs := [][2]uint64{{0, 0}, {0, size}, {1, 1}, {1, 2}, {1, size}, {2, 3}, {3, 8}, {4, 8}, {5, size - 1}, {7, size}, {size, size}}
		for _, p := range pairs {
			from, to := p[0], p[1]
			r := h.do("GET", fmt.Sprintf("/v1/logs/default/proofs/consistency?from=%d&to=%d", from, to), "", nil)
			want(t, r, http.StatusOK)
			var cr consistencyReply
			decodeStrict(t, r, &cr)
			if cr.From != from || cr.To != to || cr.Hashes == nil {
				t.Fatalf("consistency %d→%d answered %s", from, to, r)
			}
			if (from == to || from == 0) && len(cr.Hashes) != 0 {
				t.Errorf("consistency %d→%d: %d hashes, want none", from, to, len(cr.Hashes))
			}
			hs := decodeHashes(t, cr.Hashes)
			r1, r2 := proofs.Hash(view.tree.root(t, from)), proofs.Hash(view.tree.root(t, to))
			if err := proofs.VerifyConsistency(from, to, hs, r1, r2); err != nil {
				t.Errorf("consistency %d→%d does not verify: %v", from, to, err)
			}
			if from > 0 && from < to {
				flipEach(t, hs, fmt.Sprintf("consistency %d→%d", from, to), func(m [][]byte) error {
					return proofs.VerifyConsistency(from, to, m, r1, r2)
				})
			}
		}
	})

	for _, tc := range []struct {
		name   string
		path   string
		status int
		code   string
		field  string
	}{
		{"checkpoint of unknown log", "/v1/logs/nope/checkpoint", 404, "not_found", ""},
		{"key of unknown log", "/v1/logs/nope/key", 404, "not_found", ""},
		{"unpublished size", fmt.Sprintf("/v1/logs/default/checkpoints/%d", size+1), 404, "not_found", ""},
		{"unpublished size far off", "/v1/logs/default/checkpoints/1000000", 404, "not_found", ""},
		{"size not a number", "/v1/logs/default/checkpoints/abc", 400, "invalid_argument", "size"},
		{"size negative", "/v1/logs/default/checkpoints/-1", 400, "invalid_argument", "size"},
		{"consistency from > to", "/v1/logs/default/proofs/consistency?from=3&to=2", 400, "invalid_argument", ""},
		{"consistency to > size", fmt.Sprintf("/v1/logs/default/proofs/consistency?from=1&to=%d", size+1), 400, "invalid_argument", ""},
		{"consistency no from", "/v1/logs/default/proofs/consistency?to=2", 400, "invalid_argument", "from"},
		{"consistency no to", "/v1/logs/default/proofs/consistency?from=1", 400, "invalid_argument", "to"},
		{"consistency from not a number", "/v1/logs/default/proofs/consistency?from=x&to=2", 400, "invalid_argument", "from"},
		{"consistency to overflows", "/v1/logs/default/proofs/consistency?from=1&to=18446744073709551616", 400, "invalid_argument", "to"},
		{"consistency unknown log", "/v1/logs/nope/proofs/consistency?from=0&to=0", 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do("GET", tc.path, "", nil), tc.status, tc.code, tc.field, noPos)
		})
	}
}

func TestIngest(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := h.tok["ingest"]
	var all []appended
	var last time.Time
	for _, tc := range []struct {
		name string
		body any
		n    int
	}{
		{"single", event(0), 1},
		{"batch of one", events(1, 1), 1},
		{"batch", events(2, 7), 7},
		{"another batch", events(9, 30), 30},
		{"single again", event(39), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.size("default")
			start := time.Now().UTC()
			out, r := h.ingest("default", tok, tc.body)
			if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
			if len(out.Entries) != tc.n || out.Checkpoint != "" {
				t.Fatalf("answer %s: want %d entries and no checkpoint", r, tc.n)
			}
			for i, e := range out.Entries {
				if e.Index == nil || *e.Index != before+uint64(i) {
					t.Fatalf("entry %d: index %v, want %d (contiguous, in request order)", i, e.Index, before+uint64(i))
				}
				if e.Skipped != "" || e.InclusionProof != nil {
					t.Fatalf("entry %d: %+v", i, e)
				}
				ra, err := time.Parse(time.RFC3339Nano, e.ReceivedAt)
				if err != nil || !strings.HasSuffix(e.ReceivedAt, "Z") || ra.Format(time.RFC3339Nano) != e.ReceivedAt {
					t.Fatalf("entry %d: received_at %q is not UTC RFC3339Nano (%v)", i, e.ReceivedAt, err)
				}
				if ra.Before(last) || ra.Before(start.Add(-time.Second)) || ra.After(time.Now().Add(time.Second)) {
					t.Fatalf("entry %d: received_at %v, previous %v, request at %v", i, ra, last, start)
				}
				last = ra
			}
			if got := h.size("default"); got != before+uint64(tc.n) {
				t.Fatalf("size %d after appending %d to %d", got, tc.n, before)
			}
			all = append(all, out.Entries...)
			h.checkLog("default")
		})
	}

	// Every acknowledged leaf_hash is proofs.LeafHash of the stored entry,
	// and received_at is the entry's.
	for _, e := range all {
		rec, err := h.l.Read("default", *e.Index)
		if err != nil {
			t.Fatal(err)
		}
		if got := proofs.EncodeHash(proofs.LeafHash(rec.Leaf)); got != e.LeafHash {
			t.Errorf("entry %d: answered leaf_hash %s, stored entry hashes to %s", *e.Index, e.LeafHash, got)
		}
		en, err := ledger.ParseEntry(rec.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		if en.ReceivedAt.Format(time.RFC3339Nano) != e.ReceivedAt {
			t.Errorf("entry %d: answered received_at %s, stored %s", *e.Index, e.ReceivedAt, en.ReceivedAt.Format(time.RFC3339Nano))
		}
		if en.Log != "default" || en.V != 1 || en.IP != "10.0.0.1" || en.Result != "success" || en.Time == nil || !en.Time.Equal(en.ReceivedAt) {
			t.Errorf("entry %d: server fields %+v", *e.Index, en)
		}
	}

	// An admin and the operator may append too; the other log is separate.
	h.ingest("default", h.tok["admin"], event(100))
	h.ingest("other", h.tok["op"], event(101))
	out, _ := h.ingest("other", h.tok["ingest-other"], events(102, 2))
	if *out.Entries[0].Index != 1 || *out.Entries[1].Index != 2 {
		t.Errorf("other log indexes %d, %d, want 1, 2", *out.Entries[0].Index, *out.Entries[1].Index)
	}
	h.checkLog("other")
}

func TestIngestRejects(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := h.tok["ingest"]
	h.ingest("default", tok, events(0, 3))

	withField := func(i int, k string, v any) map[string]any {
		e := event(i)
		e[k] = v
		return e
	}
	without := func(i int, k string) map[string]any {
		e := event(i)
		delete(e, k)
		return e
	}
	badActor := event(0)
	badActor["actor"] = map[string]any{"type": "user"}
	tooMany := batchOf(ledger.MaxBatchEvents + 1)

	for _, tc := range []struct {
		name  string
		body  any
		query string
		hdr   []string
		code  string
		field string
		pos   int
	}{
		{"batch with one bad item", []any{event(1), badActor, event(2)}, "", nil, "invalid_event", "actor.id", 1},
		{"batch with bad last item", []any{event(1), event(2), withField(3, "category", "nope")}, "", nil, "invalid_event", "category", 2},
		{"batch with unknown field", []any{event(1), withField(2, "bogus", 1)}, "", nil, "invalid_event", "bogus", 1},
		{"batch with wrong type", []any{withField(1, "result", 7), event(2)}, "", nil, "invalid_event", "result", 0},
		{"batch item not an object", []any{event(1), "x"}, "", nil, "invalid_event", "", 1},
		{"unknown field", withField(1, "bogus", true), "", nil, "invalid_event", "bogus", noPos},
		{"unknown actor field", withField(1, "actor", map[string]any{"type": "user", "id": "u", "role": "x"}), "", nil, "invalid_event", "actor.role", noPos},
		{"wrong type category", withField(1, "category", 5), "", nil, "invalid_event", "category", noPos},
		{"wrong type read_only", withField(1, "read_only", "yes"), "", nil, "invalid_event", "read_only", noPos},
		{"wrong type details", withField(1, "details", []int{1}), "", nil, "invalid_event", "details", noPos},
		{"missing category", without(1, "category"), "", nil, "invalid_event", "category", noPos},
		{"missing actor", without(1, "actor"), "", nil, "invalid_event", "actor", noPos},
		{"reserved category audit", withField(1, "category", "audit"), "", nil, "invalid_event", "category", noPos},
		{"ref from a client", withField(1, "ref", 0), "", nil, "invalid_event", "ref", noPos},
		{"server field log", withField(1, "log", "default"), "", nil, "invalid_event", "log", noPos},
		{"bad action", withField(1, "action", "Role Assign"), "", nil, "invalid_event", "action", noPos},
		{"bad ip", withField(1, "ip", "10.0.0.300"), "", nil, "invalid_event", "ip", noPos},
		{"ip with zone", withField(1, "ip", "fe80::1%eth0"), "", nil, "invalid_event", "ip", noPos},
		{"bad time", withField(1, "time", "yesterday"), "", nil, "invalid_event", "time", noPos},
		{"long user_agent", withField(1, "user_agent", strings.Repeat("a", 513)), "", nil, "invalid_event", "user_agent", noPos},
		{"bad result", withField(1, "result", "maybe"), "", nil, "invalid_event", "result", noPos},
		{"null category", withField(1, "category", nil), "", nil, "invalid_event", "category", noPos},
		{"not JSON", "hello", "", nil, "invalid_event", "", noPos},
		{"truncated JSON", `{"category":"role"`, "", nil, "invalid_event", "", noPos},
		{"two values", func() string { b, _ := json.Marshal(event(1)); return string(b) + " {}" }(), "", nil, "invalid_event", "", noPos},
		{"two arrays", func() string { b, _ := json.Marshal(events(1, 2)); return string(b) + "[]" }(), "", nil, "invalid_event", "", noPos},
		{"empty body", "", "", nil, "invalid_event", "", noPos},
		{"a number", "42", "", nil, "invalid_event", "", noPos},
		{"empty array", "[]", "", nil, "", "", noPos},
		{"over 10,000 items", tooMany, "", nil, "invalid_event", "", noPos},
		{"bad wait", event(1), "?wait=forever", nil, "invalid_argument", "wait", noPos},
		{"long Idempotency-Key", event(1), "", []string{"Idempotency-Key", strings.Repeat("k", 256)}, "invalid_argument", "Idempotency-Key", noPos},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.size("default")
			r := h.do("POST", "/v1/logs/default/events"+tc.query, tok, tc.body, tc.hdr...)
			checkErr(t, r, http.StatusBadRequest, tc.code, tc.field, tc.pos)
			if after := h.size("default"); after != before {
				t.Fatalf("a rejected request stored %d entries", after-before)
			}
		})
	}
	h.checkLog("default")

	// Exactly 10,000 is allowed.
	before := h.size("default")
	out, _ := h.ingest("default", tok, batchOf(ledger.MaxBatchEvents))
	if len(out.Entries) != ledger.MaxBatchEvents || *out.Entries[ledger.MaxBatchEvents-1].Index != before+ledger.MaxBatchEvents-1 {
		t.Fatalf("batch of 10,000: %d entries", len(out.Entries))
	}
	// Unknown log: an operator gets a 404.
	checkErr(t, h.do("POST", "/v1/logs/nope/events", h.tok["op"], event(0)), http.StatusNotFound, "not_found", "", noPos)
}

// batchOf is a body of n small events.
func batchOf(n int) []byte {
	const ev = `{"category":"login","action":"login","actor":{"type":"user","id":"u"}}`
	b := bytes.Repeat([]byte(ev+","), n)
	b[len(b)-1] = ']'
	return append([]byte{'['}, b...)
}

func TestIngestTooLarge(t *testing.T) {
	const maxBody = 1 << 10
	small := newHarness(t, harnessOpts{maxBody: maxBody})
	tok := small.tok["ingest"]

	ok := event(0)
	ok["details"] = map[string]any{"pad": strings.Repeat("p", 500)}
	small.ingest("default", tok, ok)

	big := event(1)
	big["details"] = map[string]any{"pad": strings.Repeat("p", maxBody)}
	checkErr(t, small.do("POST", "/v1/logs/default/events", tok, big), http.StatusRequestEntityTooLarge, "too_large", "", noPos)
	checkErr(t, small.do("POST", "/v1/logs/default/events", tok, events(0, 20)), http.StatusRequestEntityTooLarge, "too_large", "", noPos)
	if n := small.size("default"); n != 1 {
		t.Fatalf("size %d after two refused bodies, want 1", n)
	}
	// The other JSON routes have their own limits, and stay well-formed.
	r := small.do("PATCH", "/v1/logs/default", small.tok["admin"], `{"verbose":true,"x":"`+strings.Repeat("x", 1<<17)+`"}`)
	checkErr(t, r, http.StatusRequestEntityTooLarge, "too_large", "", noPos)

	// A leaf past 65,535 bytes is a 413 too (SPEC §2), in a body well
	// under --max-body.
	h := newHarness(t, harnessOpts{})
	for _, tc := range []struct {
		name string
		body any
		pos  int
	}{
		{"single event", func() any {
			e := event(2)
			e["details"] = map[string]any{"pad": strings.Repeat("p", ledger.MaxLeafSize)}
			return e
		}(), noPos},
		{"in a batch", func() any {
			e := event(3)
			e["details"] = map[string]any{"pad": strings.Repeat("p", ledger.MaxLeafSize)}
			return []any{event(2), e}
		}(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", "/v1/logs/default/events", h.tok["ingest"], tc.body)
			if r.status != http.StatusRequestEntityTooLarge {
				t.Errorf("an event whose leaf exceeds %d bytes: %s, want 413", ledger.MaxLeafSize, r)
			}
			if h.size("default") != 0 {
				t.Fatal("the oversized request stored entries")
			}
		})
	}
}

func TestIngestReadOnly(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := h.tok["ingest"]
	ro := event(0)
	ro["read_only"] = true

	out, r := h.ingest("default", tok, ro)
	if len(out.Entries) != 1 || out.Entries[0].Skipped != "read_only" || out.Entries[0].Index != nil || out.Entries[0].LeafHash != "" {
		t.Fatalf("read-only event on a quiet log: %s, want {\"skipped\":\"read_only\"}", r)
	}
	if !bytes.Contains(r.body, []byte(`{"skipped":"read_only"}`)) {
		t.Errorf("skipped entry is not exactly {\"skipped\":\"read_only\"}: %s", r.body)
	}
	out, r = h.ingest("default", tok, []any{event(1), ro, event(2)})
	if out.Entries[1].Skipped != "read_only" || *out.Entries[0].Index != 0 || *out.Entries[2].Index != 1 {
		t.Fatalf("mixed batch: %s", r)
	}
	if h.size("default") != 2 {
		t.Fatalf("size %d, want 2", h.size("default"))
	}
	h.checkLog("default")

	r = h.do("PATCH", "/v1/logs/default", h.tok["admin"], map[string]any{"verbose": true})
	want(t, r, http.StatusOK)
	out, r = h.ingest("default", tok, ro)
	if out.Entries[0].Skipped != "" || out.Entries[0].Index == nil {
		t.Fatalf("read-only event on a verbose log: %s, want it stored", r)
	}
	_, e := h.lastEntry("default")
	if e["read_only"] != true {
		t.Errorf("stored read-only entry lacks read_only: true: %v", e)
	}
	e0 := h.do("GET", "/v1/logs/default/events/0", h.tok["auditor"], nil)
	if bytes.Contains(e0.body, []byte("read_only")) {
		t.Errorf("an ordinary entry has read_only: %s", e0.body)
	}
	h.checkLog("default")
}

func TestIngestIdempotency(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	tok := h.tok["ingest"]
	body, _ := json.Marshal(events(0, 3))

	first := h.do("POST", "/v1/logs/default/events", tok, body, "Idempotency-Key", "k1")
	want(t, first, http.StatusCreated)
	for i := range 3 {
		again := h.do("POST", "/v1/logs/default/events", tok, body, "Idempotency-Key", "k1")
		if again.status != first.status || !bytes.Equal(again.body, first.body) {
			t.Fatalf("retry %d: %s, first answer %s", i, again, first)
		}
	}
	if n := h.size("default"); n != 3 {
		t.Fatalf("size %d after a request and its retries, want 3", n)
	}

	t.Run("same key another body", func(t *testing.T) {
		other, _ := json.Marshal(events(10, 3))
		checkErr(t, h.do("POST", "/v1/logs/default/events", tok, other, "Idempotency-Key", "k1"), http.StatusUnprocessableEntity, "", "", noPos)
		// A body that differs only in white space is another body too.
		checkErr(t, h.do("POST", "/v1/logs/default/events", tok, append(body, ' '), "Idempotency-Key", "k1"), http.StatusUnprocessableEntity, "", "", noPos)
		if n := h.size("default"); n != 3 {
			t.Fatalf("size %d, want 3", n)
		}
	})

	t.Run("other API key, same Idempotency-Key", func(t *testing.T) {
		r := h.do("POST", "/v1/logs/default/events", h.tok["ingest2"], body, "Idempotency-Key", "k1")
		want(t, r, http.StatusCreated)
		var out ingestReply
		decodeStrict(t, r, &out)
		if *out.Entries[0].Index != 3 {
			t.Fatalf("another key's request with the same Idempotency-Key was not appended: %s", r)
		}
		// And its own retry replays its own answer.
		again := h.do("POST", "/v1/logs/default/events", h.tok["ingest2"], body, "Idempotency-Key", "k1")
		if !bytes.Equal(again.body, r.body) {
			t.Fatalf("retry %s, first %s", again, r)
		}
	})

	t.Run("other log, same API key scope", func(t *testing.T) {
		r := h.do("POST", "/v1/logs/other/events", h.tok["op"], body, "Idempotency-Key", "k1")
		want(t, r, http.StatusCreated)
		r2 := h.do("POST", "/v1/logs/default/events", h.tok["op"], body, "Idempotency-Key", "k1")
		want(t, r2, http.StatusCreated)
		if bytes.Equal(r.body, r2.body) {
			t.Fatal("the same key on two logs gave one answer")
		}
	})

	t.Run("concurrent retries", func(t *testing.T) {
		before := h.size("default")
		b, _ := json.Marshal(events(20, 2))
		var wg sync.WaitGroup
		answers := make([]reply, 8)
		for i := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[i] = h.do("POST", "/v1/logs/default/events", tok, b, "Idempotency-Key", "concurrent")
			}()
		}
		wg.Wait()
		for _, a := range answers {
			if a.status != http.StatusCreated || !bytes.Equal(a.body, answers[0].body) {
				t.Fatalf("concurrent retries answered differently: %s vs %s", a, answers[0])
			}
		}
		if n := h.size("default"); n != before+2 {
			t.Fatalf("8 concurrent retries stored %d entries, want 2", n-before)
		}
	})

	t.Run("wait=checkpoint", func(t *testing.T) {
		before := h.size("default")
		b, _ := json.Marshal(events(30, 2))
		first := h.do("POST", "/v1/logs/default/events?wait=checkpoint", tok, b, "Idempotency-Key", "waited")
		want(t, first, http.StatusCreated)
		h.ingest("default", tok, event(40)) // the log moves on
		again := h.do("POST", "/v1/logs/default/events?wait=checkpoint", tok, b, "Idempotency-Key", "waited")
		if !bytes.Equal(again.body, first.body) {
			t.Fatalf("retry %s, first %s", again, first)
		}
		if n := h.size("default"); n != before+3 {
			t.Fatalf("stored %d, want 3", n-before)
		}
	})

	t.Run("skipped read-only", func(t *testing.T) {
		before := h.size("default")
		ro := event(50)
		ro["read_only"] = true
		b, _ := json.Marshal([]any{ro, event(51)})
		first := h.do("POST", "/v1/logs/default/events", tok, b, "Idempotency-Key", "ro")
		want(t, first, http.StatusCreated)
		again := h.do("POST", "/v1/logs/default/events", tok, b, "Idempotency-Key", "ro")
		if !bytes.Equal(again.body, first.body) {
			t.Fatalf("retry %s, first %s", again, first)
		}
		if n := h.size("default"); n != before+1 {
			t.Fatalf("stored %d, want 1", n-before)
		}
	})

	t.Run("failed request leaves the key free", func(t *testing.T) {
		before := h.size("default")
		bad := event(60)
		bad["category"] = "nope"
		checkErr(t, h.do("POST", "/v1/logs/default/events", tok, bad, "Idempotency-Key", "free"), http.StatusBadRequest, "invalid_event", "category", noPos)
		h.ingest("default", tok, event(61), "Idempotency-Key", "free")
		if n := h.size("default"); n != before+1 {
			t.Fatalf("stored %d, want 1", n-before)
		}
	})
	h.checkLog("default")
}

func TestIngestWaitCheckpoint(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	v := h.verifier("default")
	h.ingest("default", h.tok["ingest"], events(0, 5))
	for _, tc := range []struct {
		name string
		body any
	}{
		{"single", event(5)},
		{"batch", events(6, 12)},
		{"batch with skipped", []any{event(18), map[string]any{"category": "login", "action": "login", "actor": map[string]any{"type": "user", "id": "x"}, "read_only": true}, event(19)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", "/v1/logs/default/events?wait=checkpoint", h.tok["ingest"], tc.body)
			want(t, r, http.StatusCreated)
			var out ingestReply
			decodeStrict(t, r, &out)
			if out.Checkpoint == "" {
				t.Fatalf("no checkpoint: %s", r)
			}
			c := openNote(t, []byte(out.Checkpoint), v)
			stored := 0
			for i, e := range out.Entries {
				if e.Skipped != "" {
					if e.InclusionProof != nil {
						t.Errorf("entry %d: skipped but has a proof", i)
					}
					continue
				}
				stored++
				if *e.Index >= c.size {
					t.Fatalf("entry %d is not covered by the checkpoint of size %d", *e.Index, c.size)
				}
				lh := decodeHash(t, e.LeafHash)
				hs := decodeHashes(t, e.InclusionProof)
				if err := proofs.VerifyInclusion(*e.Index, c.size, lh, hs, c.root); err != nil {
					t.Fatalf("entry %d: inclusion proof does not verify against the checkpoint: %v", *e.Index, err)
				}
				var rp tlog.RecordProof
				for _, x := range hs {
					rp = append(rp, tlog.Hash(x))
				}
				if err := tlog.CheckRecord(rp, int64(c.size), c.root, int64(*e.Index), lh); err != nil {
					t.Fatalf("entry %d: tlog.CheckRecord: %v", *e.Index, err)
				}
				flipEach(t, hs, fmt.Sprintf("inclusion of %d", *e.Index), func(m [][]byte) error {
					return proofs.VerifyInclusion(*e.Index, c.size, lh, m, c.root)
				})
			}
			if stored == 0 {
				t.Fatal("nothing stored")
			}
		})
	}
	h.checkLog("default")

	// A log that never checkpoints in time: the entries are committed, so
	// the answer is a 201 (a 5xx would invite a duplicating retry) that says
	// the checkpoint did not come.
	slow := newHarness(t, harnessOpts{checkpointInterval: time.Hour, waitTimeout: 50 * time.Millisecond})
	slow.ingest("default", slow.tok["ingest"], event(0))
	r := slow.do("POST", "/v1/logs/default/events?wait=checkpoint", slow.tok["ingest"], event(1))
	var timedOut struct {
		Entries         []map[string]any `json:"entries"`
		Checkpoint      *string          `json:"checkpoint"`
		CheckpointError string           `json:"checkpoint_error"`
	}
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &timedOut) != nil {
		t.Fatalf("wait timeout: %v, want 201", r)
	}
	if len(timedOut.Entries) != 1 || timedOut.Entries[0]["index"] != float64(1) || timedOut.Checkpoint != nil || timedOut.CheckpointError == "" {
		t.Fatalf("wait timeout answer %s", r.body)
	}
	if n := slow.size("default"); n != 2 {
		t.Fatalf("size %d, want 2: the entries are committed before the wait", n)
	}
}

func TestLogObject(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 4))
	h.waitCheckpoint("default", 4)
	for _, who := range []string{"op", "admin", "auditor"} {
		t.Run(who, func(t *testing.T) {
			r := h.do("GET", "/v1/logs/default", h.tok[who], nil)
			want(t, r, http.StatusOK)
			var lo logObject
			decodeStrict(t, r, &lo)
			key := h.do("GET", "/v1/logs/default/key", "", nil)
			if lo.ID != "default" || lo.Origin != "auditledger.local/default" || lo.VerifierKey != strings.TrimSpace(string(key.body)) ||
				lo.Size != 4 || lo.RetentionDays != 0 || lo.Verbose {
				t.Fatalf("log object %s", r)
			}
			v, err := note.NewVerifier(lo.VerifierKey)
			if err != nil {
				t.Fatal(err)
			}
			if c := openNote(t, []byte(lo.Checkpoint), v); c.size != 4 {
				t.Fatalf("log object checkpoint size %d, want 4", c.size)
			}
		})
	}
	checkErr(t, h.do("GET", "/v1/logs/nope", h.tok["op"], nil), http.StatusNotFound, "not_found", "", noPos)

	r := h.do("GET", "/v1/logs", h.tok["op"], nil)
	want(t, r, http.StatusOK)
	var list struct {
		Logs []logObject `json:"logs"`
	}
	decodeStrict(t, r, &list)
	if len(list.Logs) != 2 || list.Logs[0].ID != "default" || list.Logs[1].ID != "other" {
		t.Fatalf("GET /v1/logs: %s", r)
	}
}

func TestEntryAndAnnotations(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 5))

	r := h.do("GET", "/v1/logs/default/events/2", h.tok["auditor"], nil)
	want(t, r, http.StatusOK)
	leaf, extra := entryLeaf(t, r.body)
	rec, err := h.l.Read("default", 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf, rec.Leaf) {
		t.Fatalf("entry 2 as served is not the stored leaf:\n%s\n%s", r.body, rec.Leaf)
	}
	if string(extra["index"]) != "2" || string(extra["leaf_hash"]) != strconv.Quote(proofs.EncodeHash(rec.LeafHash)) ||
		string(extra["chain_hash"]) != strconv.Quote(proofs.EncodeHash(rec.ChainHash)) || string(extra["annotations"]) != "[]" {
		t.Fatalf("entry 2 extras %v", extra)
	}

	// Annotate entry 2 twice and entry 0 once.
	var anns []uint64
	for i, tc := range []struct {
		ref  uint64
		text string
	}{{2, "this was a test"}, {2, "second thoughts"}, {0, "unrelated"}} {
		r := h.do("POST", fmt.Sprintf("/v1/logs/default/events/%d/annotations", tc.ref), h.tok["admin"], map[string]any{"text": tc.text})
		want(t, r, http.StatusCreated)
		var a struct {
			Index    uint64 `json:"index"`
			Ref      uint64 `json:"ref"`
			LeafHash string `json:"leaf_hash"`
		}
		decodeStrict(t, r, &a)
		if a.Index != uint64(5+i) || a.Ref != tc.ref {
			t.Fatalf("annotation %d: %s", i, r)
		}
		e := h.checkAudit("default", "annotation:add", h.key["admin"].ID)
		if e["ref"] != float64(tc.ref) || e["details"].(map[string]any)["text"] != tc.text {
			t.Fatalf("annotation entry %v", e)
		}
		anns = append(anns, a.Index)
	}
	r = h.do("GET", "/v1/logs/default/events/2", h.tok["auditor"], nil)
	want(t, r, http.StatusOK)
	var got struct {
		Annotations []json.RawMessage `json:"annotations"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Annotations) != 2 {
		t.Fatalf("entry 2 has %d annotations, want 2: %s", len(got.Annotations), r.body)
	}
	for i, a := range got.Annotations {
		leaf, extra := entryLeaf(t, a)
		rec, err := h.l.Read("default", anns[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(leaf, rec.Leaf) || string(extra["index"]) != strconv.FormatUint(anns[i], 10) {
			t.Fatalf("annotation %d as listed: %s, stored %s", i, a, rec.Leaf)
		}
	}
	h.checkLog("default")

	size := h.size("default")
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"entry past the end", "GET", fmt.Sprintf("/v1/logs/default/events/%d", size), nil, 404, "not_found", ""},
		{"entry huge index", "GET", "/v1/logs/default/events/18446744073709551615", nil, 404, "not_found", ""},
		{"entry index overflows", "GET", "/v1/logs/default/events/18446744073709551616", nil, 400, "invalid_argument", "index"},
		{"entry bad index", "GET", "/v1/logs/default/events/x1", nil, 400, "invalid_argument", "index"},
		{"entry negative index", "GET", "/v1/logs/default/events/-1", nil, 400, "invalid_argument", "index"},
		{"entry unknown log", "GET", "/v1/logs/nope/events/0", nil, 404, "not_found", ""},
		{"annotate past the end", "POST", fmt.Sprintf("/v1/logs/default/events/%d/annotations", size+5), map[string]any{"text": "x"}, 404, "not_found", ""},
		{"annotate bad index", "POST", "/v1/logs/default/events/x/annotations", map[string]any{"text": "x"}, 400, "invalid_argument", "index"},
		{"annotate empty text", "POST", "/v1/logs/default/events/0/annotations", map[string]any{"text": ""}, 400, "invalid_argument", "text"},
		{"annotate no text", "POST", "/v1/logs/default/events/0/annotations", map[string]any{}, 400, "invalid_argument", "text"},
		{"annotate long text", "POST", "/v1/logs/default/events/0/annotations", map[string]any{"text": strings.Repeat("t", 8193)}, 400, "invalid_argument", "text"},
		{"annotate unknown field", "POST", "/v1/logs/default/events/0/annotations", map[string]any{"text": "x", "ref": 1}, 400, "invalid_argument", ""},
		{"annotate wrong type", "POST", "/v1/logs/default/events/0/annotations", map[string]any{"text": 5}, 400, "invalid_argument", "text"},
		{"annotate not JSON", "POST", "/v1/logs/default/events/0/annotations", "text=x", 400, "invalid_argument", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do(tc.method, tc.path, h.tok["op"], tc.body), tc.status, tc.code, tc.field, noPos)
			if n := h.size("default"); n != size {
				t.Fatalf("a refused request changed the size from %d to %d", size, n)
			}
		})
	}
}

func TestInclusion(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	out, _ := h.ingest("default", h.tok["ingest"], events(0, 13))
	view := h.checkLog("default")
	size := view.size
	v := h.verifier("default")

	check := func(t *testing.T, r reply, idx, treeSize uint64, withCheckpoint bool) {
		t.Helper()
		want(t, r, http.StatusOK)
		var p inclusionReply
		decodeStrict(t, r, &p)
		if p.Index != idx || p.TreeSize != treeSize || p.LeafHash != out.Entries[idx].LeafHash || p.Hashes == nil {
			t.Fatalf("inclusion of %d in %d: %s", idx, treeSize, r)
		}
		root := view.tree.root(t, treeSize)
		if withCheckpoint {
			if p.Checkpoint == "" {
				t.Fatalf("no checkpoint without tree_size: %s", r)
			}
			c := openNote(t, []byte(p.Checkpoint), v)
			if c.size != treeSize {
				t.Fatalf("checkpoint size %d, tree_size %d", c.size, treeSize)
			}
			root = c.root
		} else if p.Checkpoint != "" {
			t.Fatalf("a checkpoint with tree_size: %s", r)
		}
		hs := decodeHashes(t, p.Hashes)
		lh := decodeHash(t, p.LeafHash)
		if err := proofs.VerifyInclusion(idx, treeSize, lh, hs, root); err != nil {
			t.Fatalf("inclusion of %d in %d: %v", idx, treeSize, err)
		}
		flipEach(t, hs, "inclusion", func(m [][]byte) error { return proofs.VerifyInclusion(idx, treeSize, lh, m, root) })
	}
	for _, tc := range []struct {
		name     string
		query    string
		idx      uint64
		treeSize uint64
		withCP   bool
	}{
		{"index", "index=5", 5, size, true},
		{"first index", "index=0", 0, size, true},
		{"last index", fmt.Sprintf("index=%d", size-1), size - 1, size, true},
		{"index and tree_size", "index=5&tree_size=6", 5, 6, false},
		{"index and full tree_size", "index=5&tree_size=" + strconv.FormatUint(size, 10), 5, size, false},
		{"index 0 tree_size 1", "index=0&tree_size=1", 0, 1, false},
		{"leaf_hash", "leaf_hash=" + urlq(out.Entries[7].LeafHash), 7, size, true},
		{"leaf_hash and tree_size", "leaf_hash=" + urlq(out.Entries[7].LeafHash) + "&tree_size=9", 7, 9, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check(t, h.do("GET", "/v1/logs/default/proofs/inclusion?"+tc.query, h.tok["auditor"], nil), tc.idx, tc.treeSize, tc.withCP)
		})
	}

	unknown := sha256.Sum256([]byte("nope"))
	for _, tc := range []struct {
		name   string
		query  string
		status int
		code   string
		field  string
	}{
		{"no index", "", 400, "invalid_argument", "index"},
		{"bad index", "index=abc", 400, "invalid_argument", "index"},
		{"negative index", "index=-1", 400, "invalid_argument", "index"},
		{"index overflows", "index=18446744073709551616", 400, "invalid_argument", "index"},
		{"index past the end", fmt.Sprintf("index=%d", size), 404, "not_found", ""},
		{"huge index", "index=18446744073709551615", 404, "not_found", ""},
		{"index and leaf_hash", "index=1&leaf_hash=" + urlq(out.Entries[1].LeafHash), 400, "invalid_argument", "index"},
		{"bad leaf_hash", "leaf_hash=notbase64!", 400, "invalid_argument", "leaf_hash"},
		{"short leaf_hash", "leaf_hash=AAAA", 400, "invalid_argument", "leaf_hash"},
		{"unknown leaf_hash", "leaf_hash=" + urlq(proofs.EncodeHash(unknown)), 404, "not_found", ""},
		{"tree_size past size", fmt.Sprintf("index=1&tree_size=%d", size+1), 400, "invalid_argument", "tree_size"},
		{"tree_size huge", "index=1&tree_size=18446744073709551615", 400, "invalid_argument", "tree_size"},
		{"tree_size overflows", "index=1&tree_size=18446744073709551616", 400, "invalid_argument", "tree_size"},
		{"tree_size equals index", "index=3&tree_size=3", 400, "invalid_argument", "tree_size"},
		{"tree_size below index", "index=3&tree_size=2", 400, "invalid_argument", "tree_size"},
		{"tree_size zero", "index=0&tree_size=0", 400, "invalid_argument", "tree_size"},
		{"tree_size bad", "index=0&tree_size=x", 400, "invalid_argument", "tree_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do("GET", "/v1/logs/default/proofs/inclusion?"+tc.query, h.tok["auditor"], nil), tc.status, tc.code, tc.field, noPos)
		})
	}

	// Without tree_size, an entry no checkpoint covers yet is a 404 that
	// says so; with tree_size it is provable at once.
	slow := newHarness(t, harnessOpts{checkpointInterval: time.Hour})
	slow.ingest("default", slow.tok["ingest"], events(0, 3))
	checkErr(t, slow.do("GET", "/v1/logs/default/proofs/inclusion?index=1", slow.tok["auditor"], nil), http.StatusNotFound, "not_yet_checkpointed", "", noPos)
	r := slow.do("GET", "/v1/logs/default/proofs/inclusion?index=1&tree_size=3", slow.tok["auditor"], nil)
	want(t, r, http.StatusOK)
	checkErr(t, slow.do("GET", "/v1/logs/default/checkpoints/3", "", nil), http.StatusNotFound, "not_found", "", noPos)
}

func urlq(s string) string {
	return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(s)
}

func TestVerifyRoutes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 6))
	h.ingest("other", h.tok["ingest-other"], events(0, 2))
	view := h.checkLog("default")
	other := h.checkLog("other")

	for _, tc := range []struct {
		name  string
		path  string
		token string
		want  logView
	}{
		{"verify as auditor", "/v1/logs/default/verify", "auditor", view},
		{"verify as admin", "/v1/logs/default/verify", "admin", view},
		{"verify as operator", "/v1/logs/other/verify", "op", other},
		{"audit/verify as auditor", "/audit/verify", "auditor", view},
		{"audit/verify as admin", "/audit/verify", "admin", view},
		{"audit/verify as other log's auditor", "/audit/verify", "auditor-other", other},
		{"audit/verify as operator", "/audit/verify", "op", view},
		{"audit/verify as operator with ?log=", "/audit/verify?log=other", "op", other},
		{"audit/verify ignores ?log= of a scoped key", "/audit/verify?log=other", "auditor", view},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", tc.path, h.tok[tc.token], nil)
			want(t, r, http.StatusOK)
			var vr verifyReply
			decodeStrict(t, r, &vr)
			if !vr.OK || vr.Size != tc.want.size || vr.Problems == nil || len(vr.Problems) != 0 ||
				decodeHash(t, vr.Root) != tc.want.tree.root(t, tc.want.size) || decodeHash(t, vr.ChainHead) != tc.want.cp.chain {
				t.Fatalf("verify: %s", r)
			}
		})
	}
	checkErr(t, h.do("GET", "/audit/verify?log=nope", h.tok["op"], nil), http.StatusNotFound, "not_found", "", noPos)
	checkErr(t, h.do("GET", "/v1/logs/nope/verify", h.tok["op"], nil), http.StatusNotFound, "not_found", "", noPos)
}

func TestCreateLog(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	op := h.tok["op"]
	r := h.do("POST", "/v1/logs", op, map[string]any{"id": "acme-1", "retention_days": 30, "verbose": true})
	want(t, r, http.StatusCreated)
	var lo logObject
	decodeStrict(t, r, &lo)
	if lo.ID != "acme-1" || lo.Origin != "auditledger.local/acme-1" || lo.RetentionDays != 30 || !lo.Verbose {
		t.Fatalf("created log %s", r)
	}
	def := h.verifier("default")
	v := h.verifier("acme-1")
	if lo.VerifierKey == "" || strings.TrimSpace(string(h.do("GET", "/v1/logs/acme-1/key", "", nil).body)) != lo.VerifierKey {
		t.Fatalf("verifier_key %q is not the served key", lo.VerifierKey)
	}
	if v.Name() == def.Name() || v.KeyHash() == def.KeyHash() {
		t.Fatalf("the new log's key %s+%08x is the default log's", v.Name(), v.KeyHash())
	}
	other := h.verifier("other")
	if v.KeyHash() == other.KeyHash() {
		t.Fatal("two logs share a key")
	}
	// The new log's checkpoints are signed by its own key, never the default's.
	c, msg := h.waitCheckpoint("acme-1", 0)
	if _, err := note.Open(msg, note.VerifierList(def)); err == nil {
		t.Fatal("the new log's checkpoint verifies with the default log's key")
	}
	_ = c
	// Its first entry is the audit entry of its creation, by the operator.
	e := h.checkAudit("acme-1", "log:create", h.key["op"].ID)
	if tg, _ := e["target"].(map[string]any); tg["id"] != "acme-1" {
		t.Errorf("log:create target %v", e["target"])
	}
	h.ingest("acme-1", op, events(0, 3))
	h.checkLog("acme-1")
	// A key for the new log works on it.
	r = h.do("POST", "/v1/keys", op, map[string]any{"name": "acme ingest", "role": "ingest", "log": "acme-1"})
	want(t, r, http.StatusCreated)
	var k keyObject
	decodeStrict(t, r, &k)
	h.ingest("acme-1", k.Token, event(9))

	r = h.do("POST", "/v1/logs", op, map[string]any{"id": "plain"})
	want(t, r, http.StatusCreated)
	decodeStrict(t, r, &lo)
	if lo.RetentionDays != 0 || lo.Verbose {
		t.Fatalf("defaults: %s", r)
	}

	before := h.size("default")
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"taken id", map[string]any{"id": "acme-1"}, 409, "exists", ""},
		{"default is taken", map[string]any{"id": "default"}, 409, "exists", ""},
		{"bad id", map[string]any{"id": "Acme_1"}, 400, "invalid_argument", "id"},
		{"id starts with dash", map[string]any{"id": "-acme"}, 400, "invalid_argument", "id"},
		{"id too long", map[string]any{"id": strings.Repeat("a", 64)}, 400, "invalid_argument", "id"},
		{"no id", map[string]any{}, 400, "invalid_argument", "id"},
		{"negative retention", map[string]any{"id": "neg", "retention_days": -1}, 400, "invalid_argument", ""},
		{"unknown field", map[string]any{"id": "unk", "colour": "red"}, 400, "invalid_argument", ""},
		{"wrong type", map[string]any{"id": "wt", "verbose": "yes"}, 400, "invalid_argument", "verbose"},
		{"not JSON", "id=x", 400, "invalid_argument", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do("POST", "/v1/logs", op, tc.body), tc.status, tc.code, tc.field, noPos)
		})
	}
	for _, id := range []string{"neg", "unk", "wt"} {
		checkErr(t, h.do("GET", "/v1/logs/"+id+"/key", "", nil), http.StatusNotFound, "not_found", "", noPos)
	}
	if h.size("default") != before {
		t.Fatal("refused log creations wrote audit entries")
	}
}

func TestPatchLog(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, tc := range []struct {
		name    string
		token   string
		logID   string
		body    any
		retDays int
		verbose bool
		audit   map[string]any // the audit entry's details; nil for none
	}{
		{"verbose on", "admin", "default", map[string]any{"verbose": true}, 0, true,
			map[string]any{"verbose_from": false, "verbose_to": true}},
		{"retention", "admin", "default", map[string]any{"retention_days": 90}, 90, true,
			map[string]any{"retention_days_from": float64(0), "retention_days_to": float64(90)}},
		{"both by operator", "op", "default", map[string]any{"retention_days": 7, "verbose": false}, 7, false,
			map[string]any{"retention_days_from": float64(90), "retention_days_to": float64(7), "verbose_from": true, "verbose_to": false}},
		{"nothing", "admin", "default", map[string]any{}, 7, false, nil},
		{"other log by its admin", "admin-other", "other", map[string]any{"verbose": true}, 0, true,
			map[string]any{"verbose_from": false, "verbose_to": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.size(tc.logID)
			r := h.do("PATCH", "/v1/logs/"+tc.logID, h.tok[tc.token], tc.body)
			want(t, r, http.StatusOK)
			var lo logObject
			decodeStrict(t, r, &lo)
			if lo.ID != tc.logID || lo.RetentionDays != tc.retDays || lo.Verbose != tc.verbose {
				t.Fatalf("PATCH answered %s", r)
			}
			r = h.do("GET", "/v1/logs/"+tc.logID, h.tok["op"], nil)
			decodeStrict(t, r, &lo)
			if lo.RetentionDays != tc.retDays || lo.Verbose != tc.verbose {
				t.Fatalf("GET after PATCH: %s", r)
			}
			if tc.audit == nil {
				if h.size(tc.logID) != before {
					t.Fatal("a PATCH that changed nothing wrote an audit entry")
				}
				return
			}
			if h.size(tc.logID) != before+1 {
				t.Fatalf("PATCH wrote %d entries, want 1", h.size(tc.logID)-before)
			}
			e := h.checkAudit(tc.logID, "settings:update", h.key[tc.token].ID)
			got, _ := json.Marshal(e["details"])
			w, _ := json.Marshal(tc.audit)
			if !bytes.Equal(got, w) {
				t.Errorf("settings:update details %s, want %s", got, w)
			}
		})
	}
	h.checkLog("default")
	h.checkLog("other")

	before := h.size("default")
	for _, tc := range []struct {
		name   string
		logID  string
		body   any
		status int
		code   string
		field  string
	}{
		{"negative retention", "default", map[string]any{"retention_days": -1}, 400, "invalid_argument", "retention_days"},
		{"unknown field", "default", map[string]any{"id": "x"}, 400, "invalid_argument", ""},
		{"wrong type", "default", map[string]any{"verbose": 1}, 400, "invalid_argument", "verbose"},
		{"not JSON", "default", "verbose", 400, "invalid_argument", ""},
		{"trailing data", "default", `{"verbose":true} {}`, 400, "invalid_argument", ""},
		{"unknown log", "nope", map[string]any{"verbose": true}, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do("PATCH", "/v1/logs/"+tc.logID, h.tok["op"], tc.body), tc.status, tc.code, tc.field, noPos)
		})
	}
	if h.size("default") != before {
		t.Fatal("refused PATCHes wrote audit entries")
	}
}

type keyObject struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Log     string `json:"log"`
	Created string `json:"created"`
	Revoked bool   `json:"revoked"`
	Token   string `json:"token"`
}

func TestKeys(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	made := map[string]keyObject{}
	for _, tc := range []struct {
		name     string
		caller   string
		body     map[string]any
		auditLog string
	}{
		{"operator makes an ingest key", "op", map[string]any{"name": "svc", "role": "ingest", "log": "default"}, "default"},
		{"operator makes an operator key", "op", map[string]any{"name": "op2", "role": "operator"}, "default"},
		{"operator makes an admin for other", "op", map[string]any{"name": "adm", "role": "admin", "log": "other"}, "other"},
		{"admin makes an auditor", "admin", map[string]any{"name": "aud", "role": "auditor", "log": "default"}, "default"},
		{"admin makes an admin", "admin", map[string]any{"name": "adm2", "role": "admin", "log": "default"}, "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", "/v1/keys", h.tok[tc.caller], tc.body)
			want(t, r, http.StatusCreated)
			var k keyObject
			decodeStrict(t, r, &k)
			wantLog, _ := tc.body["log"].(string)
			if k.ID == "" || k.Name != tc.body["name"] || k.Role != tc.body["role"] || k.Log != wantLog || k.Revoked || k.Token == "" {
				t.Fatalf("created key %s", r)
			}
			if _, err := time.Parse(time.RFC3339, k.Created); err != nil {
				t.Errorf("created %q: %v", k.Created, err)
			}
			e := h.checkAudit(tc.auditLog, "api_key:create", h.key[tc.caller].ID)
			if tg, _ := e["target"].(map[string]any); tg["type"] != "api_key" || tg["id"] != k.ID {
				t.Errorf("api_key:create target %v, want the new key %s", e["target"], k.ID)
			}
			if strings.Contains(fmt.Sprint(e), k.Token) {
				t.Error("the audit entry holds the token")
			}
			made[tc.body["name"].(string)] = k
		})
	}
	// The new tokens work, each within its role.
	h.ingest("default", made["svc"].Token, event(0))
	want(t, h.do("GET", "/v1/logs", made["op2"].Token, nil), http.StatusOK)
	want(t, h.do("PATCH", "/v1/logs/other", made["adm"].Token, map[string]any{}), http.StatusOK)
	want(t, h.do("GET", "/v1/logs/default/events/0", made["aud"].Token, nil), http.StatusOK)
	checkErr(t, h.do("POST", "/v1/logs/default/events", made["aud"].Token, event(1)), http.StatusForbidden, "forbidden", "", noPos)

	t.Run("list", func(t *testing.T) {
		for _, tc := range []struct {
			caller string
			query  string
			want   []string
		}{
			{"op", "", []string{"op", "admin", "auditor", "ingest", "ingest2", "admin-other", "auditor-other", "ingest-other", "svc", "op2", "adm", "aud", "adm2"}},
			{"op", "?log=other", []string{"admin-other", "auditor-other", "ingest-other", "adm"}},
			{"admin", "", []string{"admin", "auditor", "ingest", "ingest2", "svc", "aud", "adm2"}},
			{"admin", "?log=other", []string{"admin", "auditor", "ingest", "ingest2", "svc", "aud", "adm2"}},
			{"admin-other", "", []string{"admin-other", "auditor-other", "ingest-other", "adm"}},
		} {
			r := h.do("GET", "/v1/keys"+tc.query, h.tok[tc.caller], nil)
			want(t, r, http.StatusOK)
			var list struct {
				Keys []keyObject `json:"keys"`
			}
			decodeStrict(t, r, &list)
			var names []string
			for _, k := range list.Keys {
				names = append(names, k.Name)
				if k.Token != "" {
					t.Errorf("GET /v1/keys shows key %s's token", k.Name)
				}
			}
			for _, k := range made {
				if bytes.Contains(r.body, []byte(k.Token)) || bytes.Contains(r.body, []byte(strings.SplitN(k.Token, "_", 3)[2])) {
					t.Errorf("GET /v1/keys holds the secret of %s", k.Name)
				}
			}
			if bytes.Contains(r.body, []byte("secret")) {
				t.Errorf("GET /v1/keys shows secret hashes: %s", r.body)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("%s GET /v1/keys%s: %v, want %v", tc.caller, tc.query, names, tc.want)
			}
		}
	})

	t.Run("revoke", func(t *testing.T) {
		for _, tc := range []struct {
			name, caller, victim, log string
		}{
			{"operator revokes", "op", "svc", "default"},
			{"admin revokes in its log", "admin", "aud", "default"},
			{"operator revokes an operator", "op", "op2", "default"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok := made[tc.victim].Token
				if r := h.do("GET", "/v1/logs/default/events/0", tok, nil); r.status == http.StatusUnauthorized {
					t.Fatalf("the key is dead before it was revoked: %s", r)
				}
				r := h.do("DELETE", "/v1/keys/"+made[tc.victim].ID, h.tok[tc.caller], nil)
				want(t, r, http.StatusOK)
				var k keyObject
				decodeStrict(t, r, &k)
				if !k.Revoked || k.ID != made[tc.victim].ID || k.Token != "" {
					t.Fatalf("revoke answered %s", r)
				}
				e := h.checkAudit(tc.log, "api_key:revoke", h.key[tc.caller].ID)
				if tg, _ := e["target"].(map[string]any); tg["id"] != k.ID {
					t.Errorf("api_key:revoke target %v", e["target"])
				}
				// Dead at once, on every route.
				for _, p := range []struct{ method, path string }{
					{"GET", "/v1/logs/default/events/0"}, {"POST", "/v1/logs/default/events"}, {"GET", "/v1/keys"}, {"GET", "/audit/verify"},
				} {
					checkErr(t, h.do(p.method, p.path, tok, event(2)), http.StatusUnauthorized, "unauthenticated", "", noPos)
				}
				r = h.do("GET", "/v1/keys", h.tok["op"], nil)
				var list struct {
					Keys []keyObject `json:"keys"`
				}
				decodeStrict(t, r, &list)
				for _, lk := range list.Keys {
					if lk.ID == k.ID && !lk.Revoked {
						t.Error("GET /v1/keys shows the revoked key as live")
					}
				}
			})
		}
	})

	before, beforeOther := h.size("default"), h.size("other")
	for _, tc := range []struct {
		name   string
		caller string
		method string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"bad role", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "root", "log": "default"}, 400, "invalid_argument", "role"},
		{"no name", "op", "POST", "/v1/keys", map[string]any{"role": "ingest", "log": "default"}, 400, "invalid_argument", "name"},
		{"no log", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "ingest"}, 400, "invalid_argument", "log"},
		{"operator key with a log", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "operator", "log": "default"}, 400, "invalid_argument", ""},
		{"unknown log", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "ingest", "log": "nope"}, 404, "not_found", ""},
		{"unknown field", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "ingest", "log": "default", "token": "mine"}, 400, "invalid_argument", ""},
		{"wrong type", "op", "POST", "/v1/keys", map[string]any{"name": 1, "role": "ingest", "log": "default"}, 400, "invalid_argument", "name"},
		{"admin makes an operator", "admin", "POST", "/v1/keys", map[string]any{"name": "x", "role": "operator"}, 403, "forbidden", ""},
		{"admin makes a key for another log", "admin", "POST", "/v1/keys", map[string]any{"name": "x", "role": "ingest", "log": "other"}, 403, "forbidden", ""},
		{"revoke unknown key", "op", "DELETE", "/v1/keys/0123456789abcdef", nil, 404, "not_found", ""},
		{"admin revokes another log's key", "admin", "DELETE", "/v1/keys/" + h.key["ingest-other"].ID, nil, 404, "not_found", ""},
		{"admin revokes an operator key", "admin", "DELETE", "/v1/keys/" + h.key["op"].ID, nil, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do(tc.method, tc.path, h.tok[tc.caller], tc.body), tc.status, tc.code, tc.field, noPos)
		})
	}
	if h.size("default") != before || h.size("other") != beforeOther {
		t.Fatalf("refused key requests wrote audit entries: default %d→%d, other %d→%d", before, h.size("default"), beforeOther, h.size("other"))
	}
	// The keys refused above still work.
	want(t, h.do("GET", "/v1/logs/other", h.tok["auditor-other"], nil), http.StatusOK)
	want(t, h.do("GET", "/v1/logs", h.tok["op"], nil), http.StatusOK)
	h.checkLog("default")
	h.checkLog("other")
}

// TestAuth holds the role rules on every authenticated route: no token and
// a bad token are 401, a key without the right is 403, and none of it
// changes anything.
func TestAuth(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 2))
	h.ingest("other", h.tok["ingest-other"], events(0, 2))
	h.waitCheckpoint("default", 2)
	sizes := func() [2]uint64 { return [2]uint64{h.size("default"), h.size("other")} }
	before := sizes()
	nkeys := len(h.do("GET", "/v1/keys", h.tok["op"], nil).body)

	ingestKey := map[string]any{"name": "x", "role": "ingest", "log": "default"}
	for _, tc := range []struct {
		route     string
		method    string
		path      string
		body      any
		forbidden []string // each must get a 403
		allowed   []string // each must get past auth (neither 401 nor 403)
	}{
		{"create log", "POST", "/v1/logs", map[string]any{"id": "zz"}, []string{"admin", "auditor", "ingest", "admin-other"}, nil},
		{"list logs", "GET", "/v1/logs", nil, []string{"admin", "auditor", "ingest"}, []string{"op"}},
		{"create key", "POST", "/v1/keys", ingestKey, []string{"auditor", "ingest", "admin-other", "auditor-other", "ingest-other"}, nil},
		{"create operator key", "POST", "/v1/keys", map[string]any{"name": "x", "role": "operator"}, []string{"admin", "auditor", "ingest"}, nil},
		{"list keys", "GET", "/v1/keys", nil, []string{"auditor", "ingest", "auditor-other"}, []string{"op", "admin", "admin-other"}},
		{"revoke key", "DELETE", "/v1/keys/" + h.key["ingest2"].ID, nil, []string{"auditor", "ingest", "ingest2"}, nil},
		{"audit verify", "GET", "/audit/verify", nil, []string{"ingest", "ingest-other"}, []string{"op", "admin", "auditor"}},
		{"append", "POST", "/v1/logs/default/events", events(10, 1), []string{"auditor", "admin-other", "auditor-other", "ingest-other"}, nil},
		{"log object", "GET", "/v1/logs/default", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"patch log", "PATCH", "/v1/logs/default", map[string]any{"verbose": true}, []string{"auditor", "ingest", "admin-other"}, nil},
		{"events", "GET", "/v1/logs/default/events", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"audit events", "GET", "/audit?since=1h", nil, []string{"ingest", "ingest-other"}, []string{"op", "admin", "auditor"}},
		{"entry", "GET", "/v1/logs/default/events/0", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"annotate", "POST", "/v1/logs/default/events/0/annotations", map[string]any{"text": "x"}, []string{"auditor", "ingest", "admin-other"}, nil},
		{"inclusion", "GET", "/v1/logs/default/proofs/inclusion?index=0", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"verify", "GET", "/v1/logs/default/verify", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"other log's entry", "GET", "/v1/logs/other/events/0", nil, []string{"admin", "auditor", "ingest"}, []string{"admin-other", "auditor-other"}},
		{"append to other log", "POST", "/v1/logs/other/events", events(10, 1), []string{"admin", "ingest", "auditor-other"}, nil},
		{"unknown log", "GET", "/v1/logs/nope", nil, []string{"admin", "auditor"}, nil},
	} {
		t.Run(tc.route, func(t *testing.T) {
			for _, a := range []struct{ name, token, www string }{
				{"no token", "", `Bearer realm="auditledger"`},
				{"bad token", "alk_0123456789abcdef_notthesecret", `Bearer realm="auditledger", error="invalid_token"`},
				{"made-up token", "not-a-token-at-all", `Bearer realm="auditledger", error="invalid_token"`},
				{"another key's secret", "alk_" + h.key["admin"].ID + "_" + strings.SplitN(h.tok["ingest"], "_", 3)[2], `Bearer realm="auditledger", error="invalid_token"`},
				{"basic auth", "raw:Basic b3A6b3A=", `Bearer realm="auditledger"`},
				{"bearer without token", "raw:Bearer ", `Bearer realm="auditledger"`},
				{"token without Bearer", "raw:" + h.tok["op"], `Bearer realm="auditledger"`},
			} {
				r := h.do(tc.method, tc.path, a.token, tc.body)
				checkErr(t, r, http.StatusUnauthorized, "unauthenticated", "", noPos)
				if got := r.hdr.Get("WWW-Authenticate"); got != a.www {
					t.Errorf("%s: WWW-Authenticate %q, want %q", a.name, got, a.www)
				}
			}
			for _, who := range tc.forbidden {
				r := h.do(tc.method, tc.path, h.tok[who], tc.body)
				if r.status != http.StatusForbidden {
					t.Errorf("%s: %s, want 403", who, r)
					continue
				}
				checkErr(t, r, http.StatusForbidden, "forbidden", "", noPos)
			}
			for _, who := range tc.allowed {
				if r := h.do(tc.method, tc.path, h.tok[who], tc.body); r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("%s: %s, want it let through", who, r)
				}
			}
		})
	}
	if got := sizes(); got != before {
		t.Fatalf("refused requests changed the logs: sizes %v → %v", before, got)
	}
	if n := len(h.do("GET", "/v1/keys", h.tok["op"], nil).body); n != nkeys {
		t.Fatal("refused requests changed the keys")
	}
	checkErr(t, h.do("GET", "/v1/logs/zz", h.tok["op"], nil), http.StatusNotFound, "not_found", "", noPos)
	// The ingest2 key survived every refused revoke.
	h.ingest("default", h.tok["ingest2"], event(20))
}

func TestUnknownRoutes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, tc := range []struct {
		name   string
		method string
		path   string
		status int
		code   string
	}{
		{"no such route", "GET", "/v2/nothing", 404, "not_found"},
		{"no such log route", "GET", "/v1/logs/default/nothing", 404, "not_found"},
		{"wrong method on public route", "POST", "/v1/logs/default/checkpoint", 405, ""},
		{"wrong method on healthz", "DELETE", "/healthz", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do(tc.method, tc.path, h.tok["op"], nil), tc.status, tc.code, "", noPos)
		})
	}
}

// TestConcurrentIngest appends from many clients at once and checks that
// every acknowledged entry is where its answer said, and the log verifies.
func TestConcurrentIngest(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const clients, rounds, batch = 6, 5, 4
	var mu sync.Mutex
	acked := map[uint64]string{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				resp := h.do("POST", "/v1/logs/default/events", h.tok["ingest"], events(1000*c+10*r, batch))
				if resp.status != http.StatusCreated {
					t.Errorf("client %d: %s", c, resp)
					return
				}
				var out ingestReply
				if err := json.Unmarshal(resp.body, &out); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i, e := range out.Entries {
					if i > 0 && *e.Index != *out.Entries[i-1].Index+1 {
						t.Errorf("client %d: batch not contiguous: %s", c, resp)
					}
					if _, dup := acked[*e.Index]; dup {
						t.Errorf("index %d acknowledged twice", *e.Index)
					}
					acked[*e.Index] = e.LeafHash
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	view := h.checkLog("default")
	if view.size != clients*rounds*batch || len(acked) != int(view.size) {
		t.Fatalf("size %d, acknowledged %d, want %d", view.size, len(acked), clients*rounds*batch)
	}
	for idx, lh := range acked {
		if got := proofs.EncodeHash(proofs.LeafHash(view.leaves[idx])); got != lh {
			t.Errorf("index %d: acknowledged %s, stored %s", idx, lh, got)
		}
	}
}

// TestClosedLedger: once the store is closed, health and appends answer 503
// with Retry-After, as the error object.
func TestClosedLedger(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], event(0))
	if err := h.l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		method, path string
		token        string
		body         any
	}{
		{"healthz", "GET", "/healthz", "", nil},
		{"append", "POST", "/v1/logs/default/events", h.tok["ingest"], event(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, tc.token, tc.body)
			checkErr(t, r, http.StatusServiceUnavailable, "unavailable", "", noPos)
			if r.hdr.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}
