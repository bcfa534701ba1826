package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

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
