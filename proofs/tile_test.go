package proofs_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/auditledger/auditledger/proofs"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

func TestTileOf(t *testing.T) {
	for _, tc := range []struct {
		level uint
		index uint64
		want  proofs.TileCoord
	}{
		{0, 0, proofs.TileCoord{Level: 0, Index: 0, Height: 0, Offset: 0}},
		{0, 255, proofs.TileCoord{Level: 0, Index: 0, Height: 0, Offset: 255}},
		{0, 256, proofs.TileCoord{Level: 0, Index: 1, Height: 0, Offset: 0}},
		{0, 1234067*256 + 9, proofs.TileCoord{Level: 0, Index: 1234067, Height: 0, Offset: 9}},
		{1, 0, proofs.TileCoord{Level: 0, Index: 0, Height: 1, Offset: 0}},
		{1, 127, proofs.TileCoord{Level: 0, Index: 0, Height: 1, Offset: 127}},
		{1, 128, proofs.TileCoord{Level: 0, Index: 1, Height: 1, Offset: 0}},
		{3, 37, proofs.TileCoord{Level: 0, Index: 1, Height: 3, Offset: 5}},
		{7, 0, proofs.TileCoord{Level: 0, Index: 0, Height: 7, Offset: 0}},
		{7, 1, proofs.TileCoord{Level: 0, Index: 0, Height: 7, Offset: 1}},
		{7, 2, proofs.TileCoord{Level: 0, Index: 1, Height: 7, Offset: 0}},
		{8, 0, proofs.TileCoord{Level: 1, Index: 0, Height: 0, Offset: 0}},
		{8, 300, proofs.TileCoord{Level: 1, Index: 1, Height: 0, Offset: 44}},
		{9, 5, proofs.TileCoord{Level: 1, Index: 0, Height: 1, Offset: 5}},
		{15, 3, proofs.TileCoord{Level: 1, Index: 1, Height: 7, Offset: 1}},
		{16, 3, proofs.TileCoord{Level: 2, Index: 0, Height: 0, Offset: 3}},
		{24, 1 << 20, proofs.TileCoord{Level: 3, Index: 1 << 12, Height: 0, Offset: 0}},
		{63, 1, proofs.TileCoord{Level: 7, Index: 0, Height: 7, Offset: 1}},
		{63, 2, proofs.TileCoord{Level: 7, Index: 1, Height: 7, Offset: 0}},
	} {
		t.Run(fmt.Sprintf("%d/%d", tc.level, tc.index), func(t *testing.T) {
			if got := proofs.TileOf(compact.NewNodeID(tc.level, tc.index)); got != tc.want {
				t.Errorf("TileOf = %+v, want %+v", got, tc.want)
			}
			checkTileCoord(t, tc.level, tc.index)
		})
	}
	rng := rand.New(rand.NewPCG(8, 256))
	for range 5000 {
		level := uint(rng.IntN(56))
		checkTileCoord(t, level, rng.Uint64N(1<<(63-level)))
	}
}

// checkTileCoord checks TileOf of one node against the definition in
// TileCoord's comment and against tlog.TileForIndex, whose least-width tile
// holding the node must be the node's tile.
func checkTileCoord(t *testing.T, level uint, index uint64) {
	t.Helper()
	c := proofs.TileOf(compact.NewNodeID(level, index))
	if c.Height >= proofs.TileHeight || c.Offset >= proofs.TileWidth>>c.Height {
		t.Errorf("TileOf(%d/%d) = %+v: height or offset out of the tile", level, index, c)
	}
	if c.Level*proofs.TileHeight+c.Height != level || c.Offset+c.Index*(proofs.TileWidth>>c.Height) != index {
		t.Errorf("TileOf(%d/%d) = %+v does not name the node", level, index, c)
	}
	if index >= 1<<(62-level) {
		return // beyond tlog's int64 stored-hash indexes
	}
	tt := tlog.TileForIndex(proofs.TileHeight, tlog.StoredHashIndex(int(level), int64(index)))
	if tt.L != int(c.Level) || uint64(tt.N) != c.Index || uint64(tt.W) != (c.Offset+1)<<c.Height {
		t.Errorf("TileOf(%d/%d) = %+v, tlog.TileForIndex = %+v", level, index, c, tt)
	}
}

// TestTileNodesMatchTree finds every node of a 100,000-entry tree in the
// expanded tiles that TileOf points at, and checks every full tile's Root.
func TestTileNodesMatchTree(t *testing.T) {
	f := big(t)
	tiles := map[[2]uint64]*proofs.TileNodes{}
	tileAt := func(level uint, index uint64) *proofs.TileNodes {
		k := [2]uint64{uint64(level), index}
		if tn, ok := tiles[k]; ok {
			return tn
		}
		row := f.tree.levels[level*proofs.TileHeight]
		width := proofs.TileRowWidth(level, index, f.tree.size())
		start := index * proofs.TileWidth * proofs.HashSize
		tn, err := proofs.ExpandTile(row[start : start+uint64(width)*proofs.HashSize])
		if err != nil {
			t.Fatalf("ExpandTile(%d/%d): %v", level, index, err)
		}
		tiles[k] = tn
		return tn
	}
	for level := range uint(len(f.tree.levels)) {
		for index := range uint64(len(f.tree.levels[level]) / proofs.HashSize) {
			id := compact.NewNodeID(level, index)
			c := proofs.TileOf(id)
			got, ok := tileAt(c.Level, c.Index).Node(c.Height, c.Offset)
			if !ok || !bytes.Equal(got, f.tree.node(id)) {
				t.Fatalf("node %d/%d: tile %+v holds %x, %v; want %x", level, index, c, got, ok, f.tree.node(id))
			}
		}
	}
	full := 0
	for k, tn := range tiles {
		root, ok := tn.Root()
		want := f.tree.node(compact.NewNodeID(uint(k[0]+1)*proofs.TileHeight, k[1]))
		if ok != (want != nil) || ok && !bytes.Equal(root[:], want) {
			t.Errorf("tile %d/%d Root = %x, %v; want %x", k[0], k[1], root, ok, want)
		}
		if ok {
			full++
		}
	}
	if full != bigSize/256+bigSize/256/256 {
		t.Errorf("%d full tiles, want %d", full, bigSize/256+bigSize/256/256)
	}
}

// refSubtree hashes leaf hashes into an RFC 6962 subtree the slow way.
func refSubtree(hs [][]byte) []byte {
	if len(hs) == 1 {
		return hs[0]
	}
	k := 1
	for k*2 < len(hs) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(refSubtree(hs[:k]), refSubtree(hs[k:]))
}

func testRow(width int) []byte {
	var row []byte
	for i := range width {
		h := proofs.LeafHash([]byte(strconv.Itoa(i)))
		row = append(row, h[:]...)
	}
	return row
}

func TestExpandTile(t *testing.T) {
	for _, width := range []int{0, 1, 2, 3, 7, 8, 100, 128, 129, 255, 256} {
		t.Run(fmt.Sprintf("width=%d", width), func(t *testing.T) {
			row := testRow(width)
			tn, err := proofs.ExpandTile(row)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tn.Rows[0], row) {
				t.Error("Rows[0] is not the tile")
			}
			for h := range uint(proofs.TileHeight) {
				n := uint64(width >> h)
				if got := len(tn.Rows[h]); got != int(n)*proofs.HashSize {
					t.Errorf("Rows[%d] holds %d bytes, want %d complete nodes", h, got, n)
				}
				for j := range n + 2 {
					got, ok := tn.Node(h, j)
					if j >= n {
						if ok {
							t.Errorf("Node(%d, %d) = %x in a tile of width %d", h, j, got, width)
						}
						continue
					}
					var leaves [][]byte
					for i := j << h; i < (j+1)<<h; i++ {
						leaves = append(leaves, row[i*proofs.HashSize:(i+1)*proofs.HashSize])
					}
					if want := refSubtree(leaves); !ok || !bytes.Equal(got, want) {
						t.Errorf("Node(%d, %d) = %x, %v; want %x", h, j, got, ok, want)
					}
				}
			}
			root, ok := tn.Root()
			if ok != (width == proofs.TileWidth) {
				t.Errorf("Root ok = %v for width %d", ok, width)
			}
			if ok {
				var leaves [][]byte
				for i := range width {
					leaves = append(leaves, row[i*proofs.HashSize:(i+1)*proofs.HashSize])
				}
				if want := refSubtree(leaves); !bytes.Equal(root[:], want) {
					t.Errorf("Root = %x, want %x", root, want)
				}
			}
		})
	}
	// Offsets so large that (j+1)·HashSize overflows must not wrap round to
	// the first node.
	tn, err := proofs.ExpandTile(testRow(proofs.TileWidth))
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range []uint64{1 << 59, 1<<59 - 1, 1<<59 + 3, math.MaxUint64, math.MaxUint64 / proofs.HashSize} {
		if got, ok := tn.Node(0, j); ok {
			t.Errorf("Node(0, %d) = %x, want none", j, got)
		}
	}
	for _, n := range []int{1, 31, 33, 257 * 32, 256*32 + 1} {
		t.Run(fmt.Sprintf("reject %d bytes", n), func(t *testing.T) {
			if _, err := proofs.ExpandTile(make([]byte, n)); err == nil {
				t.Errorf("ExpandTile(%d bytes) succeeded", n)
			}
		})
	}
}

// TestTileRowWidth checks TileRowWidth against tlog.NewTiles, which lists the
// tiles of a tree with their widths, for many tree sizes.
func TestTileRowWidth(t *testing.T) {
	sizes := []uint64{0, 1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65537, 1234567, 16777216, 16777217, 1 << 40}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		sizes = append(sizes, rng.Uint64N(1<<uint(rng.IntN(22)+1)))
	}
	for _, size := range sizes {
		if size > 1<<24 {
			// Only spot checks: tlog lists every tile.
			last := size/proofs.TileWidth - 1
			if got := proofs.TileRowWidth(0, last, size); got != proofs.TileWidth {
				t.Errorf("TileRowWidth(0, %d, %d) = %d, want a full tile", last, size, got)
			}
			continue
		}
		listed := map[[2]uint64]bool{}
		for _, tt := range tlog.NewTiles(proofs.TileHeight, 0, int64(size)) {
			listed[[2]uint64{uint64(tt.L), uint64(tt.N)}] = true
			if got := proofs.TileRowWidth(uint(tt.L), uint64(tt.N), size); got != tt.W {
				t.Errorf("TileRowWidth(%d, %d, %d) = %d, tlog says %d", tt.L, tt.N, size, got, tt.W)
			}
			if !listed[[2]uint64{uint64(tt.L), uint64(tt.N) + 1}] {
				// The tile after the last one at a level is not there yet.
				if got := proofs.TileRowWidth(uint(tt.L), uint64(tt.N)+1, size); got != 0 && uint64(tt.W) != proofs.TileWidth {
					t.Errorf("TileRowWidth(%d, %d, %d) = %d after a partial tile", tt.L, tt.N+1, size, got)
				}
			}
		}
		for level := range uint(9) {
			for _, index := range []uint64{0, 1, 2, 1000} {
				if !listed[[2]uint64{uint64(level), index}] {
					if got := proofs.TileRowWidth(level, index, size); got != 0 {
						t.Errorf("TileRowWidth(%d, %d, %d) = %d for a tile tlog does not list", level, index, size, got)
					}
				}
			}
		}
	}

	// Indexes so large that index·256 overflows must not wrap round to a tile
	// the tree has. A tile path can name them: x072/x057/x594/x037/x927/936 is 2^56.
	for _, tc := range []struct {
		name  string
		level uint
		index uint64
		size  uint64
	}{
		{"2^56 in a tree of 300", 0, 1 << 56, 300},
		{"2^56+1 in a tree of 300", 0, 1<<56 + 1, 300},
		{"2^56 in a tree of 2^20", 0, 1 << 56, 1 << 20},
		{"2^56 at level 1 of a tree of 2^20", 1, 1<<56 + 1, 1 << 20},
		{"largest index", 0, math.MaxUint64, math.MaxUint64},
		{"level past the top", 9, 0, math.MaxUint64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := proofs.TileRowWidth(tc.level, tc.index, tc.size); got != 0 {
				t.Errorf("TileRowWidth(%d, %d, %d) = %d, want 0", tc.level, tc.index, tc.size, got)
			}
		})
	}
}

func TestTilePaths(t *testing.T) {
	for _, tc := range []struct {
		name        string
		level       uint
		index       uint64
		width       int
		tile, entry string
	}{
		{"C2SP example", 0, 1234067, 256, "tile/0/x001/x234/067", "tile/entries/x001/x234/067"},
		{"C2SP example partial", 0, 1234067, 8, "tile/0/x001/x234/067.p/8", "tile/entries/x001/x234/067.p/8"},
		{"zero", 0, 0, 256, "tile/0/000", "tile/entries/000"},
		{"zero width means full", 2, 5, 0, "tile/2/005", "tile/entries/005"},
		{"width 1", 1, 999, 1, "tile/1/999.p/1", "tile/entries/999.p/1"},
		{"width 255", 3, 1000, 255, "tile/3/x001/000.p/255", "tile/entries/x001/000.p/255"},
		{"a million", 0, 1000000, 256, "tile/0/x001/x000/000", "tile/entries/x001/x000/000"},
		{"largest index", 0, math.MaxUint64, 256, "tile/0/x018/x446/x744/x073/x709/x551/615", "tile/entries/x018/x446/x744/x073/x709/x551/615"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := proofs.TilePath(tc.level, tc.index, tc.width); got != tc.tile {
				t.Errorf("TilePath = %q, want %q", got, tc.tile)
			}
			if got := proofs.EntriesPath(tc.index, tc.width); got != tc.entry {
				t.Errorf("EntriesPath = %q, want %q", got, tc.entry)
			}
			wantWidth := tc.width
			if wantWidth == 0 {
				wantWidth = proofs.TileWidth
			}
			checkTileIndexRoundTrip(t, strings.TrimPrefix(tc.entry, "tile/entries/"), tc.index, wantWidth)
		})
	}
}

// checkTileIndexRoundTrip parses the index part of a tile path and checks it
// against index and width, and against tlog's ParseTilePath and Tile.Path.
func checkTileIndexRoundTrip(t *testing.T, s string, index uint64, width int) {
	t.Helper()
	gotIndex, gotWidth, err := proofs.ParseTileIndex(s)
	if err != nil || gotIndex != index || gotWidth != width {
		t.Errorf("ParseTileIndex(%q) = %d, %d, %v; want %d, %d", s, gotIndex, gotWidth, err, index, width)
	}
	if index > math.MaxInt64 {
		return // tlog's N is an int64
	}
	for _, level := range []uint{0, 1, 5} {
		tt := tlog.Tile{H: proofs.TileHeight, L: int(level), N: int64(index), W: width}
		want := strings.TrimPrefix(tt.Path(), fmt.Sprintf("tile/%d/%d/", proofs.TileHeight, level))
		if got := strings.TrimPrefix(proofs.TilePath(level, index, width), fmt.Sprintf("tile/%d/", level)); got != want || got != s {
			t.Errorf("TilePath(%d, %d, %d) index part %q, tlog's %q (from %q)", level, index, width, got, want, tt.Path())
		}
	}
	data := tlog.Tile{H: proofs.TileHeight, L: -1, N: int64(index), W: width}
	if got, want := proofs.EntriesPath(index, width), strings.Replace(data.Path(), "tile/8/data/", "tile/entries/", 1); got != want {
		t.Errorf("EntriesPath(%d, %d) = %q, tlog's data tile %q", index, width, got, want)
	}
	if tt, err := tlog.ParseTilePath("tile/8/0/" + s); err != nil || uint64(tt.N) != index || tt.W != width {
		t.Errorf("tlog.ParseTilePath(tile/8/0/%s) = %+v, %v", s, tt, err)
	}
}

func TestTileIndexRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var indexes []uint64
	for k := range 64 {
		indexes = append(indexes, 1<<k-1, 1<<k, 1<<k+1)
	}
	for p := uint64(1); p < 1e19; p *= 10 {
		indexes = append(indexes, p-1, p, p+1)
	}
	for range 2000 {
		indexes = append(indexes, rng.Uint64()>>rng.IntN(64))
	}
	indexes = append(indexes, math.MaxUint64)
	for i, index := range indexes {
		width := []int{proofs.TileWidth, 1, 255, 1 + rng.IntN(255)}[i%4]
		checkTileIndexRoundTrip(t, strings.TrimPrefix(proofs.EntriesPath(index, width), "tile/entries/"), index, width)
		level := uint(i % 8)
		want := fmt.Sprintf("tile/%d/", level) + strings.TrimPrefix(proofs.EntriesPath(index, width), "tile/entries/")
		if got := proofs.TilePath(level, index, width); got != want {
			t.Errorf("TilePath(%d, %d, %d) = %q, want %q", level, index, width, got, want)
		}
	}
}

func TestParseTileIndexRejects(t *testing.T) {
	for _, s := range []string{
		"", "0", "00", "0000", "1", "67", "1234067",
		"x1/000", "x0001/000", "x000/001", "x000/000", "001/002", "x001", "x001/", "/001", "001/",
		"X001/000", "x001//000", "x-01/000", "x+01/000", "+01", "-01", " 001", "001 ", "0x1", "1e3", "abc", "x00a/000",
		"001.p/0", "001.p/256", "001.p/257", "001.p/08", "001.p/", "001.p", "001.p/+8", "001.p/-1", "001.p/ 8",
		"001.p/8/", "001.p/8.p/8", "001.P/8", "001p/8", ".p/8", "x001/.p/8", "001.p/1000000000000000000000",
		"x001/x002/x003/x004/x005/x006/x007/008",
		"x018/x446/x744/x073/x709/x551/616", // 2^64
		"x099/x999/x999/x999/x999/x999/999", // past 2^64
		"x999/x999/x999/x999/x999/x999/999",
		"٠٠١", // Arabic-Indic digits
	} {
		t.Run(strconv.Quote(s), func(t *testing.T) {
			if index, width, err := proofs.ParseTileIndex(s); err == nil {
				t.Errorf("ParseTileIndex(%q) = %d, %d; want an error", s, index, width)
			}
			if tt, err := tlog.ParseTilePath("tile/8/0/" + s); err == nil {
				t.Errorf("tlog.ParseTilePath accepts %q (%+v), which ParseTileIndex rejects", s, tt)
			}
		})
	}
}

// BenchmarkExpandTile expands a full tile, as the ledger does on a tile
// cache miss.
func BenchmarkExpandTile(b *testing.B) {
	for _, width := range []int{proofs.TileWidth, 100} {
		b.Run(fmt.Sprintf("width=%d", width), func(b *testing.B) {
			row := testRow(width)
			b.SetBytes(int64(len(row)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := proofs.ExpandTile(row); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
