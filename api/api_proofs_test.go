package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditledger/auditledger/proofs"
)

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
