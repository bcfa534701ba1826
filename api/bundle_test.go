package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// getBundle asks for a bundle with the auditor key and parses it strictly.
func (h *harness) getBundle(v url.Values) (*proofs.Bundle, reply) {
	h.t.Helper()
	r := h.do("GET", "/v1/logs/default/bundle?"+v.Encode(), h.tok["auditor"], nil)
	want(h.t, r, http.StatusOK)
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		h.t.Errorf("bundle Content-Type %q", ct)
	}
	b, err := proofs.ParseBundle(r.body)
	if err != nil {
		h.t.Fatalf("the server's bundle does not parse: %v\n%s", err, r.body)
	}
	return b, r
}

// sampleByHand draws the sample as docs/bundle.md says, without the proofs
// package: sort the matches by SHA-256("seed:index"), keep the first n,
// in index order.
func sampleByHand(seed string, n int, matches []uint64) []uint64 {
	s := slices.Clone(matches)
	score := func(i uint64) []byte {
		h := sha256.Sum256([]byte(fmt.Sprintf("%s:%d", seed, i)))
		return h[:]
	}
	slices.SortFunc(s, func(a, b uint64) int { return bytes.Compare(score(a), score(b)) })
	s = s[:min(n, len(s))]
	slices.Sort(s)
	return s
}

func TestBundle(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	evs := variedEvents(160)
	h.ingest("default", h.tok["ingest"], evs)
	view := h.checkLog("default") // every leaf, and a checkpoint covering them
	vkey := strings.TrimSpace(string(h.do("GET", "/v1/logs/default/key", "", nil).body))

	// The brute-force match set of category:role, from the stored entries.
	q, err := ledger.ParseQuery("category:role", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var matches []uint64
	for i, leaf := range view.leaves {
		en, err := ledger.ParseEntry(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if q.Match(en) {
			matches = append(matches, uint64(i))
		}
	}

	b, _ := h.getBundle(url.Values{"q": {"category:role"}, "sample": {"12"}, "seed": {"audit-2026-q4"}})
	r := proofs.VerifyBundle(b, vkey, proofs.BundleOptions{Matches: matches})
	if !r.OK || r.Proved != 12 || !r.SampleChecked {
		t.Fatalf("the server's bundle does not verify: %+v", r)
	}
	cp := openNote(t, []byte(b.Checkpoint), h.verifier("default"))
	if cp.size != view.size || b.VerifierKey != vkey || b.Log != "default" || b.Query != "category:role" ||
		b.Matches != uint64(len(matches)) || b.Sample.Seed != "audit-2026-q4" || b.Sample.Size != 12 {
		t.Fatalf("bundle head %+v (checkpoint size %d, log size %d, %d matches)", b, cp.size, view.size, len(matches))
	}
	// The sample is the one the documented algorithm draws, and every
	// entry is the stored leaf with a proof that sumdb/tlog accepts.
	got := make([]uint64, len(b.Entries))
	for i, e := range b.Entries {
		got[i] = e.Index
		leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
		if err != nil || !bytes.Equal(leaf, view.leaves[e.Index]) {
			t.Fatalf("entry %d: leaf %q is not the stored one", e.Index, leaf)
		}
		var rp tlog.RecordProof
		for _, x := range decodeHashes(t, e.InclusionProof) {
			rp = append(rp, tlog.Hash(x))
		}
		if err := tlog.CheckRecord(rp, int64(cp.size), cp.root, int64(e.Index), tlog.RecordHash(leaf)); err != nil {
			t.Fatalf("entry %d: tlog.CheckRecord: %v", e.Index, err)
		}
	}
	if want := sampleByHand("audit-2026-q4", 12, matches); !slices.Equal(got, want) {
		t.Fatalf("sample %v, want %v", got, want)
	}

	// Its audit entry comes after it, with the calling key as actor.
	audit := h.checkAudit("default", "bundle:create", h.key["auditor"].ID)
	d := audit["details"].(map[string]any)
	if d["query"] != "category:role" || d["sample"] != float64(12) || d["seed"] != "audit-2026-q4" ||
		d["tree_size"] != float64(cp.size) || d["matches"] != float64(len(matches)) || d["entries"] != float64(12) {
		t.Fatalf("bundle:create details %v", d)
	}
	if idx, _ := h.lastEntry("default"); idx < cp.size {
		t.Fatalf("the audit entry %d lies inside the bundle's tree of %d", idx, cp.size)
	}

	t.Run("reproducible", func(t *testing.T) {
		// Same seed, same query: the same entries, although the log grew
		// (by the first bundle's audit entry) and the checkpoint moved.
		h.waitCheckpoint("default", h.size("default"))
		b2, _ := h.getBundle(url.Values{"category": {"role"}, "sample": {"12"}, "seed": {"audit-2026-q4"}})
		if r := proofs.VerifyBundle(b2, vkey, proofs.BundleOptions{}); !r.OK {
			t.Fatalf("second bundle: %+v", r.Problems)
		}
		if b2.Checkpoint == b.Checkpoint {
			t.Fatal("the checkpoint did not move; the test proves nothing")
		}
		if len(b2.Entries) != len(b.Entries) {
			t.Fatalf("%d entries, then %d", len(b.Entries), len(b2.Entries))
		}
		for i := range b.Entries {
			if b.Entries[i].Index != b2.Entries[i].Index || b.Entries[i].Leaf != b2.Entries[i].Leaf {
				t.Fatalf("entry %d differs: %d then %d", i, b.Entries[i].Index, b2.Entries[i].Index)
			}
		}
		// Another seed draws another sample; no seed draws a random one,
		// and records it.
		b3, _ := h.getBundle(url.Values{"q": {"category:role"}, "sample": {"12"}, "seed": {"other"}})
		if slices.EqualFunc(b.Entries, b3.Entries, func(x, y proofs.BundleEntry) bool { return x.Index == y.Index }) {
			t.Fatal("seeds audit-2026-q4 and other drew the same sample")
		}
		b4, _ := h.getBundle(url.Values{"q": {"category:role"}})
		if len(b4.Sample.Seed) != 32 || b4.Sample.Size != 100 || len(b4.Entries) != min(100, len(matches)) {
			t.Fatalf("default seed %q, sample %d, %d entries", b4.Sample.Seed, b4.Sample.Size, len(b4.Entries))
		}
		again, _ := h.getBundle(url.Values{"q": {"category:role"}, "seed": {b4.Sample.Seed}})
		if !slices.EqualFunc(b4.Entries, again.Entries, func(x, y proofs.BundleEntry) bool { return x.Index == y.Index }) {
			t.Fatal("the recorded seed does not draw the same sample again")
		}
	})

	t.Run("all matches when the sample is larger", func(t *testing.T) {
		b, _ := h.getBundle(url.Values{"q": {"category:role"}, "sample": {"1000"}, "seed": {"x"}})
		got := make([]uint64, len(b.Entries))
		for i, e := range b.Entries {
			got[i] = e.Index
		}
		if !slices.Equal(got, matches) {
			t.Fatalf("entries %v, want every match %v", got, matches)
		}
		if r := proofs.VerifyBundle(b, vkey, proofs.BundleOptions{Matches: matches}); !r.OK {
			t.Fatalf("%+v", r.Problems)
		}
	})

	t.Run("no matches", func(t *testing.T) {
		b, _ := h.getBundle(url.Values{"q": {"category:billing"}})
		if b.Matches != 0 || len(b.Entries) != 0 {
			t.Fatalf("%+v", b)
		}
		if r := proofs.VerifyBundle(b, vkey, proofs.BundleOptions{}); !r.OK {
			t.Fatalf("%+v", r.Problems)
		}
	})

	t.Run("relative times are written out", func(t *testing.T) {
		b, _ := h.getBundle(url.Values{"q": {"since:7d category:role"}, "until": {"1h"}})
		parts := strings.Fields(b.Query)
		if len(parts) != 3 || !strings.HasPrefix(parts[0], "since:20") || !strings.HasPrefix(parts[2], "until:20") {
			t.Fatalf("query %q", b.Query)
		}
		if _, err := ledger.ParseQuery(b.Query, time.Time{}); err != nil {
			t.Fatalf("the recorded query does not parse: %v", err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		h.checkBadQueries(t, "/v1/logs/default/bundle", []badQuery{
			{"sample zero", "sample=0", "sample"},
			{"sample too big", "sample=1001", "sample"},
			{"sample not a number", "sample=ten", "sample"},
			{"seed with a space", "seed=a+b", "seed"},
			{"seed too long", "seed=" + strings.Repeat("s", 129), "seed"},
			{"bad query", "q=colour:red", "q"},
			{"bad filter", "ip=10.0.0.0/99", "ip"},
			{"unknown parameter", "limit=10", "limit"},
			{"format is not a bundle parameter", "format=csv", "format"},
		})
		checkErr(t, h.do("GET", "/v1/logs/nope/bundle", h.tok["op"], nil), http.StatusNotFound, "not_found", "", noPos)
	})
}

func TestBundleAuth(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 3))
	before := h.size("default")
	for _, a := range []struct{ name, token string }{
		{"no token", ""}, {"bad token", "not-a-token"}, {"basic auth", "raw:Basic b3A6b3A="},
	} {
		checkErr(t, h.do("GET", "/v1/logs/default/bundle", a.token, nil), http.StatusUnauthorized, "unauthenticated", "", noPos)
	}
	for _, who := range []string{"ingest", "admin-other", "auditor-other", "ingest-other"} {
		checkErr(t, h.do("GET", "/v1/logs/default/bundle", h.tok[who], nil), http.StatusForbidden, "forbidden", "", noPos)
	}
	if h.size("default") != before {
		t.Fatal("refused bundles were recorded")
	}
	for _, who := range []string{"op", "admin", "auditor"} {
		want(t, h.do("GET", "/v1/logs/default/bundle?sample=2", h.tok[who], nil), http.StatusOK)
		h.checkAudit("default", "bundle:create", h.key[who].ID)
	}
}

// TestBundleBoundedByCheckpoint: matches appended after the latest
// checkpoint are left out, so that every proof is against one checkpoint.
func TestBundleBoundedByCheckpoint(t *testing.T) {
	// A fresh log's first checkpoint (size 0) is signed at creation; with
	// an hour between checkpoints, none follows during the test.
	h := newHarness(t, harnessOpts{checkpointInterval: time.Hour})
	h.ingest("default", h.tok["ingest"], events(0, 10))
	b, _ := h.getBundle(url.Values{"q": {"category:role"}})
	if b.Matches != 0 || len(b.Entries) != 0 || !strings.Contains(b.Checkpoint, "\n0\n") {
		t.Fatalf("bundle past its checkpoint: %d matches, %d entries, checkpoint %q", b.Matches, len(b.Entries), b.Checkpoint)
	}
	vkey := strings.TrimSpace(string(h.do("GET", "/v1/logs/default/key", "", nil).body))
	if r := proofs.VerifyBundle(b, vkey, proofs.BundleOptions{}); !r.OK {
		t.Fatalf("%+v", r.Problems)
	}
	audit := h.checkAudit("default", "bundle:create", h.key["auditor"].ID)
	if d := audit["details"].(map[string]any); d["tree_size"] != float64(0) || d["matches"] != float64(0) {
		t.Fatalf("details %v", d)
	}
}

// TestBundleRedacted: an entry whose payload retention removed is in a
// bundle of an empty query with its leaf hash proved, and no leaf.
func TestBundleRedacted(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 6))
	h.waitCheckpoint("default", 6)
	// What retention does: delete the payload key L <log#:4> E <index:8> p
	// of entry 2 (the default log is number 1), keeping its hashes.
	key := []byte{'L'}
	key = binary.BigEndian.AppendUint32(key, 1)
	key = append(key, 'E')
	key = binary.BigEndian.AppendUint64(key, 2)
	key = append(key, 'p')
	if err := h.l.DB().Delete(key, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if rec, err := h.l.Read("default", 2); err != nil || !rec.Redacted() {
		t.Fatalf("entry 2 is not redacted: %v", err)
	}
	b, _ := h.getBundle(url.Values{"sample": {"1000"}, "seed": {"r"}})
	vkey := strings.TrimSpace(string(h.do("GET", "/v1/logs/default/key", "", nil).body))
	r := proofs.VerifyBundle(b, vkey, proofs.BundleOptions{})
	if !r.OK || r.Redacted != 1 || !b.Entries[2].Redacted || b.Entries[2].Leaf != "" {
		t.Fatalf("report %+v, entry 2 %+v", r, b.Entries[2])
	}
	// A query with terms never matches a redacted entry.
	b, _ = h.getBundle(url.Values{"q": {"category:role"}, "sample": {"1000"}, "seed": {"r"}})
	for _, e := range b.Entries {
		if e.Index == 2 {
			t.Fatal("a redacted entry matched category:role")
		}
	}
}
