package api_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

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
			// Cosignatures are added to it as witnesses send them.
			if cc := r.hdr.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("checkpoint at %d: Cache-Control %q, want no-cache", s, cc)
			}
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
