package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/api"
	"github.com/auditledger/auditledger/ledger"
)

// tileReader is a golang.org/x/mod/sumdb/tlog TileReader over the server's
// public tile routes: what an independent tlog-tiles client does. It maps
// tlog's paths, "tile/H/L/N[.p/W]" with a height, to ours, "tile/L/N[.p/W]",
// and checks the headers of every tile.
type tileReader struct {
	h    *harness
	log  string
	seen map[int]int // tiles fetched, by level
	// flip, when set, flips one bit of the first tile of each ReadTiles call.
	flip bool
}

func (r *tileReader) Height() int { return 8 }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tl := range tiles {
		rest, ok := strings.CutPrefix(tl.Path(), "tile/8/")
		if !ok || tl.L < 0 {
			return nil, fmt.Errorf("tlog asked for %s, which is not a hash tile", tl.Path())
		}
		rp := r.h.do("GET", "/v1/logs/"+r.log+"/tile/"+rest, "", nil)
		if rp.status != http.StatusOK {
			return nil, fmt.Errorf("GET tile/%s: %s", rest, rp)
		}
		if err := tileHeaders(rp, tl.W == 256); err != nil {
			return nil, fmt.Errorf("GET tile/%s: %v", rest, err)
		}
		if len(rp.body) != 32*tl.W {
			return nil, fmt.Errorf("GET tile/%s: %d bytes, want %d", rest, len(rp.body), 32*tl.W)
		}
		out[i] = rp.body
		r.seen[tl.L]++
	}
	if r.flip && len(out) > 0 {
		out[0][len(out[0])/2] ^= 1
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// tileHeaders checks the Content-Type and Cache-Control of a tile or bundle.
func tileHeaders(r reply, full bool) error {
	if ct := r.hdr.Get("Content-Type"); ct != "application/octet-stream" {
		return fmt.Errorf("Content-Type %q, want application/octet-stream", ct)
	}
	want := "no-cache"
	if full {
		want = "public, max-age=31536000, immutable"
	}
	if cc := r.hdr.Get("Cache-Control"); cc != want {
		return fmt.Errorf("Cache-Control %q, want %q (full: %v)", cc, want, full)
	}
	return nil
}

// grow appends events to a log through the API, in requests of at most
// 5,000, up to size, and returns the checkpoint at exactly that size.
func (h *harness) grow(logID string, from, size uint64) (checkpoint, []byte) {
	h.t.Helper()
	for done := from; done < size; {
		n := min(5000, size-done)
		h.ingest(logID, h.tok["op"], events(int(done), int(n)))
		done += n
	}
	c, msg := h.waitCheckpoint(logID, size)
	if c.size != size {
		h.t.Fatalf("checkpoint at %d, want %d", c.size, size)
	}
	return c, msg
}

// leafHashOf reads entry i's leaf from the entry bundle that holds it (the
// partial bundle of the checkpoint at size when the full one is not there)
// and returns tlog's record hash of it.
func (h *harness) leafHashOf(logID string, i, size uint64) tlog.Hash {
	h.t.Helper()
	n := i / 256
	w := 256
	if (n+1)*256 > size {
		w = int(size % 256)
	}
	leaves := h.bundle(logID, n, w)
	return tlog.RecordHash(leaves[i%256])
}

// bundle fetches an entry bundle, checks its headers and splits it into
// leaves.
func (h *harness) bundle(logID string, n uint64, w int) [][]byte {
	h.t.Helper()
	r := h.do("GET", "/v1/logs/"+logID+"/tile/entries/"+tlog.Tile{H: 8, L: 0, N: int64(n), W: w}.Path()[len("tile/8/0/"):], "", nil)
	want(h.t, r, http.StatusOK)
	if err := tileHeaders(r, w == 256); err != nil {
		h.t.Fatalf("bundle %d.p/%d: %v", n, w, err)
	}
	var leaves [][]byte
	b := r.body
	for len(b) > 0 {
		if len(b) < 2 {
			h.t.Fatalf("bundle %d.p/%d: a length cut short", n, w)
		}
		l := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+l {
			h.t.Fatalf("bundle %d.p/%d: entry %d cut short", n, w, len(leaves))
		}
		leaves = append(leaves, b[2:2+l])
		b = b[2+l:]
	}
	if len(leaves) != w {
		h.t.Fatalf("bundle %d.p/%d holds %d entries", n, w, len(leaves))
	}
	return leaves
}

// verifyWithTiles checks, with tlog's TileHashReader over our public tiles
// only, the tree of checkpoint c: its root, inclusion proofs of sampled
// entries (leaf hashes from the entry bundles), and consistency proofs from
// each earlier checkpoint. Each proof is also cross-checked against the
// ledger's own proof for the same sizes.
func (h *harness) verifyWithTiles(logID string, c checkpoint, earlier []checkpoint, rd *tileReader, rnd *rand.Rand) {
	h.t.Helper()
	t := h.t
	s := int64(c.size)
	thr := tlog.TileHashReader(tlog.Tree{N: s, Hash: c.root}, rd)
	th, err := tlog.TreeHash(s, thr)
	if err != nil {
		t.Fatalf("size %d: tlog.TreeHash over our tiles: %v", s, err)
	}
	if th != c.root {
		t.Fatalf("size %d: root from tiles %v, checkpoint %v", s, th, c.root)
	}
	idx := []uint64{0, c.size - 1, c.size / 2}
	for _, x := range []uint64{255, 256, 257, 65535, 65536} {
		if x < c.size {
			idx = append(idx, x)
		}
	}
	for range 5 {
		idx = append(idx, rnd.Uint64N(c.size))
	}
	for _, i := range idx {
		p, err := tlog.ProveRecord(s, int64(i), thr)
		if err != nil {
			t.Fatalf("size %d: tlog.ProveRecord(%d): %v", s, i, err)
		}
		if err := tlog.CheckRecord(p, s, c.root, int64(i), h.leafHashOf(logID, i, c.size)); err != nil {
			t.Fatalf("size %d: inclusion of %d from tiles: %v", s, i, err)
		}
		own, err := h.l.InclusionProof(logID, i, c.size)
		if err != nil {
			t.Fatal(err)
		}
		if len(own) != len(p) {
			t.Fatalf("size %d, index %d: %d hashes from tiles, %d from the ledger", s, i, len(p), len(own))
		}
		for k := range p {
			if !bytes.Equal(p[k][:], own[k]) {
				t.Fatalf("size %d, index %d: hash %d from tiles differs from the ledger's proof", s, i, k)
			}
		}
	}
	for _, e := range earlier {
		if e.size == 0 || e.size > c.size {
			continue
		}
		p, err := tlog.ProveTree(s, int64(e.size), thr)
		if err != nil {
			t.Fatalf("tlog.ProveTree(%d, %d): %v", s, e.size, err)
		}
		if err := tlog.CheckTree(p, s, c.root, int64(e.size), e.root); err != nil {
			t.Fatalf("consistency %d→%d from tiles: %v", e.size, s, err)
		}
		r := h.do("GET", fmt.Sprintf("/v1/logs/%s/proofs/consistency?from=%d&to=%d", logID, e.size, c.size), "", nil)
		want(t, r, http.StatusOK)
		var cr consistencyReply
		decodeStrict(t, r, &cr)
		own := decodeHashes(t, cr.Hashes)
		if len(own) != len(p) {
			t.Fatalf("consistency %d→%d: %d hashes from tiles, %d from the API", e.size, s, len(p), len(own))
		}
		for k := range p {
			if !bytes.Equal(p[k][:], own[k]) {
				t.Fatalf("consistency %d→%d: hash %d from tiles differs from the API's proof", e.size, s, k)
			}
		}
	}
}

// TestTilesIndependentClient grows a log to past 65,536 entries (so that
// level-2 tiles exist), with checkpoints at sizes that are and are not
// multiples of 256, and checks every checkpoint's tree with tlog's
// TileHashReader over our public tiles: right after it is published
// (partial tiles from the right edge) and again at the end, when most of
// those partial tiles have their full tile.
func TestTilesIndependentClient(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const logID = "default"
	rnd := rand.New(rand.NewPCG(1, 2))
	rd := &tileReader{h: h, log: logID, seen: map[int]int{}}
	var cps []checkpoint
	var size uint64
	for _, s := range []uint64{1, 2, 255, 256, 257, 1000, 5000, 65535, 65536, 65537, 70000} {
		c, _ := h.grow(logID, size, s)
		size = s
		h.verifyWithTiles(logID, c, cps, rd, rnd)
		cps = append(cps, c)
	}
	if rd.seen[2] == 0 {
		t.Fatalf("no level-2 tile fetched: %v", rd.seen)
	}
	// Old checkpoints, once the log has grown past them.
	for i, c := range cps {
		h.verifyWithTiles(logID, c, cps[:i], rd, rnd)
	}

	// A client that gets one bit wrong in any tile notices.
	bad := &tileReader{h: h, log: logID, seen: map[int]int{}, flip: true}
	last := cps[len(cps)-1]
	thr := tlog.TileHashReader(tlog.Tree{N: int64(last.size), Hash: last.root}, bad)
	if _, err := tlog.ProveRecord(int64(last.size), 12345, thr); err == nil {
		t.Fatal("tlog accepted a proof from a tile with a flipped bit")
	}
	if _, err := tlog.TreeHash(int64(last.size), thr); err == nil {
		t.Fatal("tlog accepted a tree hash from a tile with a flipped bit")
	}
}

// TestTileRoutes checks the routes' answers directly: tile bytes against
// the leaves served by the events route and against the level below,
// bundles, headers, the partial widths served, and the errors.
func TestTileRoutes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const logID = "default"
	get := func(p string) reply { return h.do("GET", "/v1/logs/"+logID+"/"+p, "", nil) }

	r := get("tile/0/000.p/1")
	checkErr(t, r, http.StatusNotFound, "not_found", "", noPos) // empty log: no tile

	h.grow(logID, 0, 300)
	h.grow(logID, 300, 600)
	h.grow(logID, 600, 65536+513)
	size := uint64(65536 + 513)

	// Every leaf as the events route serves it is in the bundles, and
	// hashes to the level-0 tiles; level-1 hashes are the roots of the
	// level-0 tiles; the level-2 partial tile is the root of the level-1 one.
	leafAt := func(i uint64) []byte {
		r := h.do("GET", fmt.Sprintf("/v1/logs/%s/events/%d", logID, i), h.tok["op"], nil)
		want(t, r, http.StatusOK)
		leaf, _ := entryLeaf(t, r.body)
		return leaf
	}
	for _, c := range []struct {
		n uint64
		w int
	}{{0, 256}, {1, 44}, {2, 88}, {1, 256}, {2, 256}, {256, 256}, {258, 1}} {
		leaves := h.bundle(logID, c.n, c.w)
		tr := get(strings.Replace(tlog.Tile{H: 8, L: 0, N: int64(c.n), W: c.w}.Path(), "tile/8/", "tile/", 1))
		want(t, tr, http.StatusOK)
		if err := tileHeaders(tr, c.w == 256); err != nil {
			t.Fatalf("tile 0/%d.p/%d: %v", c.n, c.w, err)
		}
		for k, leaf := range leaves {
			i := c.n*256 + uint64(k)
			if k%37 == 0 || k == len(leaves)-1 {
				if !bytes.Equal(leaf, leafAt(i)) {
					t.Fatalf("bundle %d.p/%d: entry %d is not the leaf the events route serves", c.n, c.w, i)
				}
			}
			lh := tlog.RecordHash(leaf)
			if !bytes.Equal(lh[:], tr.body[k*32:(k+1)*32]) {
				t.Fatalf("bundle %d.p/%d: entry %d does not hash to the level-0 tile", c.n, c.w, i)
			}
		}
	}
	tileRoot := func(row []byte) tlog.Hash {
		var hs []tlog.Hash
		for k := 0; k < len(row); k += 32 {
			hs = append(hs, tlog.Hash(row[k:k+32]))
		}
		for len(hs) > 1 {
			var up []tlog.Hash
			for k := 0; k < len(hs); k += 2 {
				up = append(up, tlog.NodeHash(hs[k], hs[k+1]))
			}
			hs = up
		}
		return hs[0]
	}
	l1 := get("tile/1/000")
	want(t, l1, http.StatusOK)
	for _, n := range []int{0, 1, 100, 255} {
		l0 := get(fmt.Sprintf("tile/0/%03d", n))
		want(t, l0, http.StatusOK)
		if root := tileRoot(l0.body); !bytes.Equal(root[:], l1.body[n*32:(n+1)*32]) {
			t.Fatalf("level-1 hash %d is not the root of level-0 tile %d", n, n)
		}
	}
	l2 := get("tile/2/000.p/1")
	want(t, l2, http.StatusOK)
	if root := tileRoot(l1.body); !bytes.Equal(root[:], l2.body) {
		t.Fatal("the level-2 partial tile is not the root of level-1 tile 0")
	}
	if err := tileHeaders(l2, false); err != nil {
		t.Fatal(err)
	}

	// The checkpoint route is not cached either.
	r = get("checkpoint")
	want(t, r, http.StatusOK)
	if cc := r.hdr.Get("Cache-Control"); cc != "no-cache" {
		t.Fatalf("checkpoint Cache-Control %q, want no-cache", cc)
	}

	// Partial widths: those of a checkpoint's size, at every level, stay
	// served (the checkpoints at 300 and 600 have full tiles now); any other
	// is a 404. The first checkpoint at a size that is not a step may have
	// been signed between two requests: ask the ledger which exist.
	cpAt := func(s uint64) bool { _, err := h.l.CheckpointAt(logID, s); return err == nil }
	for _, c := range []struct {
		path string
		size uint64 // the checkpoint size that requires it; 0 for none
	}{
		{"tile/0/001.p/44", 300},
		{"tile/entries/001.p/44", 300},
		{"tile/0/002.p/88", 600},
		{"tile/entries/002.p/88", 600},
		{"tile/1/000.p/1", 300},
		{"tile/1/000.p/2", 600},
		{"tile/0/258.p/1", size},
		{"tile/entries/258.p/1", size},
		{"tile/1/001.p/2", size},
		{"tile/2/000.p/1", size},
		{"tile/0/001.p/45", 301},
		{"tile/entries/001.p/43", 299},
		{"tile/0/002.p/1", 513},
		{"tile/1/000.p/3", 0},
	} {
		r := get(c.path)
		must := c.size != 0 && (c.size == 300 || c.size == 600 || c.size == size || cpAt(c.size))
		if c.path == "tile/1/000.p/3" {
			// Sizes 768…1023: none of the steps.
			must = false
			for s := uint64(768); s < 1024; s++ {
				must = must || cpAt(s)
			}
		}
		if must {
			want(t, r, http.StatusOK)
			if err := tileHeaders(r, false); err != nil {
				t.Fatalf("%s: %v", c.path, err)
			}
			continue
		}
		checkErr(t, r, http.StatusNotFound, "not_found", "", noPos)
		if cc := r.hdr.Get("Cache-Control"); cc != "no-cache" {
			t.Fatalf("%s: a 404 with Cache-Control %q", c.path, cc)
		}
	}

	// Bundles are gzipped for a client that accepts it (C2SP: SHOULD);
	// hash tiles never are.
	for _, p := range []string{"tile/entries/001", "tile/entries/001.p/44"} {
		plain := h.do("GET", "/v1/logs/"+logID+"/"+p, "", nil, "Accept-Encoding", "identity")
		want(t, plain, http.StatusOK)
		if ce := plain.hdr.Get("Content-Encoding"); ce != "" {
			t.Fatalf("%s with identity: Content-Encoding %q", p, ce)
		}
		for _, ae := range []string{"gzip", "br;q=1.0, gzip;q=0.5", "*"} {
			z := h.do("GET", "/v1/logs/"+logID+"/"+p, "", nil, "Accept-Encoding", ae)
			want(t, z, http.StatusOK)
			if z.hdr.Get("Content-Encoding") != "gzip" || z.hdr.Get("Vary") != "Accept-Encoding" {
				t.Fatalf("%s with %q: Content-Encoding %q, Vary %q", p, ae, z.hdr.Get("Content-Encoding"), z.hdr.Get("Vary"))
			}
			zr, err := gzip.NewReader(bytes.NewReader(z.body))
			if err != nil {
				t.Fatal(err)
			}
			unz, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(unz, plain.body) {
				t.Fatalf("%s gunzipped is not the plain bundle (%v)", p, err)
			}
			if len(z.body) >= len(plain.body)/2 {
				t.Errorf("%s: gzip %d bytes of %d", p, len(z.body), len(plain.body))
			}
		}
		r := h.do("GET", "/v1/logs/"+logID+"/"+p, "", nil, "Accept-Encoding", "gzip;q=0")
		if r.hdr.Get("Content-Encoding") != "" || !bytes.Equal(r.body, plain.body) {
			t.Fatalf("%s with gzip;q=0: Content-Encoding %q", p, r.hdr.Get("Content-Encoding"))
		}
	}
	r = h.do("GET", "/v1/logs/"+logID+"/tile/0/001", "", nil, "Accept-Encoding", "gzip")
	if ce := r.hdr.Get("Content-Encoding"); ce != "" || len(r.body) != 8192 {
		t.Fatalf("hash tile with gzip accepted: Content-Encoding %q, %d bytes", ce, len(r.body))
	}

	// A partial tile after its full tile exists is the full tile's prefix.
	full := get("tile/0/001")
	part := get("tile/0/001.p/44")
	if !bytes.Equal(part.body, full.body[:44*32]) {
		t.Fatal("tile/0/001.p/44 is not the first 44 hashes of tile/0/001")
	}

	for _, c := range []struct {
		path, field string
		status      int
	}{
		{"tile/0/1", "index", 400},
		{"tile/0/0001", "index", 400},
		{"tile/0/x1/000", "index", 400},
		{"tile/0/001/000", "index", 400},
		{"tile/0/x000/001", "index", 400},
		{"tile/0/000/", "index", 400},
		{"tile/0/", "index", 400},
		{"tile/0", "index", 400},
		{"tile/00/000", "level", 400},
		{"tile/64/000", "level", 400},
		{"tile/-1/000", "level", 400},
		{"tile/a/000", "level", 400},
		{"tile/", "level", 400},
		{"tile/0/000.p/0", "width", 400},
		{"tile/0/000.p/256", "width", 400},
		{"tile/0/000.p/01", "width", 400},
		{"tile/0/000.p/", "width", 400},
		{"tile/entries/1", "index", 400},
		{"tile/entries/000.p/x", "width", 400},
		{"tile/entries/", "index", 400},
		{"tile/0/259", "", 404},
		{"tile/entries/258", "", 404},
		{"tile/3/000.p/1", "", 404},
		{"tile/63/000.p/1", "", 404},
	} {
		r := get(c.path)
		code := "invalid_argument"
		if c.status == 404 {
			code = "not_found"
		}
		t.Run(c.path, func(t *testing.T) { checkErr(t, r, c.status, code, c.field, noPos) })
	}
	r = h.do("GET", "/v1/logs/nope/tile/0/000", "", nil)
	checkErr(t, r, http.StatusNotFound, "not_found", "", noPos)
	r = h.do("GET", "/v1/logs/nope/tile/entries/000", "", nil)
	checkErr(t, r, http.StatusNotFound, "not_found", "", noPos)

	// Metrics count what was served.
	r = h.do("GET", "/metrics", "", nil)
	want(t, r, http.StatusOK)
	for _, m := range []string{
		`auditledger_tiles_served_total{kind="hash",shape="full"}`,
		`auditledger_tiles_served_total{kind="hash",shape="partial"}`,
		`auditledger_tiles_served_total{kind="entries",shape="full"}`,
		`auditledger_tiles_served_total{kind="entries",shape="partial"}`,
		`auditledger_tile_bytes_served_total{kind="hash"}`,
	} {
		if !bytes.Contains(r.body, []byte(m+" ")) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// TestTileBundleRedacted deletes one entry's payload record straight from
// Pebble, as retention will, and wants 410 for the bundles that hold it and
// unchanged answers for the rest.
func TestTileBundleRedacted(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const logID = "default"
	get := func(p string) reply { return h.do("GET", "/v1/logs/"+logID+"/"+p, "", nil) }
	h.grow(logID, 0, 300)
	h.grow(logID, 300, 600)
	tilesBefore := map[string][]byte{}
	for _, p := range []string{"tile/0/000", "tile/0/001", "tile/0/001.p/44", "tile/0/002.p/88", "tile/entries/000"} {
		r := get(p)
		want(t, r, http.StatusOK)
		tilesBefore[p] = r.body
	}

	h.deletePayload(logID, 260)

	for _, p := range []string{"tile/entries/001", "tile/entries/001.p/44"} {
		r := get(p)
		e := checkErr(t, r, http.StatusGone, "redacted", "", noPos)
		if !strings.Contains(e.Message, "retention") {
			t.Errorf("%s: message %q", p, e.Message)
		}
		if cc := r.hdr.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: a 410 with Cache-Control %q", p, cc)
		}
	}
	for p, before := range tilesBefore {
		r := get(p)
		want(t, r, http.StatusOK)
		if !bytes.Equal(r.body, before) {
			t.Fatalf("%s changed after a redaction", p)
		}
	}
	// The entry reads as redacted, and its inclusion still verifies from
	// tiles alone, with the leaf hash the events route gives.
	r := h.do("GET", fmt.Sprintf("/v1/logs/%s/events/260", logID), h.tok["op"], nil)
	want(t, r, http.StatusOK)
	var red struct {
		Redacted bool   `json:"redacted"`
		LeafHash string `json:"leaf_hash"`
	}
	if err := json.Unmarshal(r.body, &red); err != nil || !red.Redacted {
		t.Fatalf("entry 260 after the redaction: %s", r.body)
	}
	c, _ := h.waitCheckpoint(logID, 600)
	thr := tlog.TileHashReader(tlog.Tree{N: int64(c.size), Hash: c.root}, &tileReader{h: h, log: logID, seen: map[int]int{}})
	p, err := tlog.ProveRecord(int64(c.size), 260, thr)
	if err != nil {
		t.Fatal(err)
	}
	lh, err := base64.StdEncoding.DecodeString(red.LeafHash)
	if err != nil || len(lh) != 32 {
		t.Fatalf("leaf_hash %q", red.LeafHash)
	}
	if err := tlog.CheckRecord(p, int64(c.size), c.root, 260, tlog.Hash(lh)); err != nil {
		t.Fatalf("inclusion of the redacted entry: %v", err)
	}
	if !slices.Equal(tilesBefore["tile/0/001"][4*32:5*32], lh) {
		t.Fatal("the redacted entry's leaf hash is not in tile/0/001")
	}
}

// FuzzTilePath asks the tile route for arbitrary paths below the tile/
// prefix of a 300-entry log (checkpoints at 0 and 300) and holds our parser
// to golang.org/x/mod/sumdb/tlog's: a 200 only for a path tlog parses and
// writes back the same (canonical), with 32·W bytes for a hash tile and W
// leaves for a bundle; never a 400 for such a path of level ≤ 63; and
// otherwise a well-formed error object, never a 500.
//
//	go test -run '^$' -fuzz FuzzTilePath -fuzztime 60s -fuzzminimizetime 3s ./api/
func FuzzTilePath(f *testing.F) {
	for _, s := range []string{
		"0/000", "0/001.p/44", "1/000.p/1", "entries/000", "entries/001.p/44", "0/001.p/43",
		"0/1", "00/000", "64/000", "0/x001/000", "0/x000/001", "0/000.p/0", "0/000.p/256",
		"entries/", "", "0/", "-1/000", "63/000.p/1", "0/000.p/01", "1/000", "0/x999/x999/x999/x999/x999/x999/999",
	} {
		f.Add(s)
	}
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{
		Dir: "/fuzz", FS: vfs.NewMem(), Logger: quiet, CheckpointInterval: time.Millisecond,
		PebbleOptions: func(o *pebble.Options) { o.MemTableSize = 4 << 20 },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	evs := make([]ledger.Event, 300)
	for i := range evs {
		evs[i] = ledger.Event{Category: "login", Action: "login", Actor: &ledger.Actor{Type: "user", ID: fmt.Sprint(i)}}
	}
	if _, err := l.Append(ctx, "default", evs, ledger.AppendOptions{}); err != nil {
		f.Fatal(err)
	}
	if _, err := l.WaitCheckpoint(ctx, "default", 300); err != nil {
		f.Fatal(err)
	}
	srv, err := api.New(ctx, api.Config{Ledger: l, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, p string) {
		if strings.Trim(p, "0123456789abcdefghijklmnopqrstuvwxyz./-") != "" {
			return // characters a URL path would escape or that change its meaning
		}
		req := httptest.NewRequest("GET", "/v1/logs/default/tile/"+p, nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)

		entries := strings.HasPrefix(p, "entries/")
		tp := "tile/8/" + p
		if entries {
			tp = "tile/8/0/" + strings.TrimPrefix(p, "entries/")
		}
		tl, perr := tlog.ParseTilePath(tp)
		canonical := perr == nil && tl.Path() == tp && tl.L >= 0 && tl.L <= 63
		switch rec.Code {
		case http.StatusOK:
			if !canonical {
				t.Fatalf("200 for tile/%s, which is not a canonical tile path (tlog: %v)", p, perr)
			}
			b := rec.Body.Bytes()
			if !entries && len(b) != 32*tl.W {
				t.Fatalf("tile/%s: %d bytes, want %d", p, len(b), 32*tl.W)
			}
			if entries {
				n := 0
				for len(b) >= 2 && len(b) >= 2+int(binary.BigEndian.Uint16(b)) {
					b = b[2+int(binary.BigEndian.Uint16(b)):]
					n++
				}
				if len(b) != 0 || n != tl.W {
					t.Fatalf("tile/%s: %d leaves and %d bytes left, want %d leaves", p, n, len(b), tl.W)
				}
			}
			return
		case http.StatusBadRequest:
			if canonical {
				t.Fatalf("400 for tile/%s, a canonical tile path: %s", p, rec.Body)
			}
		case http.StatusNotFound:
		default:
			t.Fatalf("%d for tile/%s: %s", rec.Code, p, rec.Body)
		}
		if !isErrorObject(rec.Body.Bytes()) {
			t.Fatalf("%d for tile/%s with a body that is not an error object: %q", rec.Code, p, rec.Body)
		}
	})
}

// deletePayload deletes the payload record of entry index straight from
// Pebble (what retention does, without its mark), after checking it is
// there. The key is the schema's in docs/design.md, L <log#:4> E <index:8>
// p, with the log number from the log record G l <id>.
func (h *harness) deletePayload(logID string, index uint64) {
	h.t.Helper()
	v, closer, err := h.l.DB().Get([]byte("Gl" + logID))
	if err != nil {
		h.t.Fatal(err)
	}
	var rec struct {
		Num uint32 `json:"num"`
	}
	err = json.Unmarshal(v, &rec)
	closer.Close()
	if err != nil || rec.Num == 0 {
		h.t.Fatalf("log record %q: %v", v, err)
	}
	key := []byte{'L'}
	key = binary.BigEndian.AppendUint32(key, rec.Num)
	key = append(key, 'E')
	key = binary.BigEndian.AppendUint64(key, index)
	key = append(key, 'p')
	if _, closer, err := h.l.DB().Get(key); err != nil {
		h.t.Fatalf("no payload record at %x: %v", key, err)
	} else {
		closer.Close()
	}
	if err := h.l.DB().Delete(key, pebble.Sync); err != nil {
		h.t.Fatal(err)
	}
}

// TestVerifyCountsEveryProblem: with more problems than the answer lists,
// GET …/verify says how many more there were.
func TestVerifyCountsEveryProblem(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.grow("default", 0, 1010)
	for i := uint64(0); i < 1005; i++ {
		h.deletePayload("default", i)
	}
	r := h.do("GET", "/v1/logs/default/verify", h.tok["op"], nil)
	want(t, r, http.StatusOK)
	var rep struct {
		OK       bool `json:"ok"`
		Problems []struct {
			Index   uint64 `json:"index"`
			Problem string `json:"problem"`
		} `json:"problems"`
		MoreProblems int `json:"more_problems"`
	}
	if err := json.Unmarshal(r.body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Problems) != 1000 || rep.MoreProblems != 5 || rep.Problems[999].Index != 999 || rep.Problems[0].Problem != "payload is missing" {
		t.Fatalf("verify with 1,005 payloads missing: ok %v, %d problems, %d more: %s", rep.OK, len(rep.Problems), rep.MoreProblems, r.body[:min(len(r.body), 300)])
	}
}
