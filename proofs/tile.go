package proofs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/compact"
)

// TileHeight is the height of a C2SP tlog-tiles hash tile: a tile at tile level
// L holds up to TileWidth hashes of the tree nodes at Merkle level L·TileHeight.
const TileHeight = 8

// TileWidth is the number of hashes in a full tile, and of entries in a full
// entry bundle.
const TileWidth = 1 << TileHeight

// TileCoord locates a tree node in the tiles: the node at Merkle level
// Level·TileHeight + Height and index Offset + Index·(TileWidth >> Height) is
// the node at Height inside tile (Level, Index), computed from that tile's
// hashes. Height is 0 for nodes stored in a tile's bottom row.
type TileCoord struct {
	Level  uint
	Index  uint64
	Height uint
	Offset uint64
}

// TileOf returns where a node lives in the tiles.
func TileOf(id compact.NodeID) TileCoord {
	level := id.Level / TileHeight
	h := id.Level % TileHeight
	first := id.Index << h // first bottom-row position the node covers
	return TileCoord{
		Level:  level,
		Index:  first >> TileHeight,
		Height: h,
		Offset: id.Index & (TileWidth>>h - 1),
	}
}

// TileRowWidth returns how many hashes the bottom row of tile (level, index)
// holds in a tree of the given size: TileWidth for a full tile, fewer for the
// tile at the right edge, 0 for a tile the tree has not reached.
func TileRowWidth(level uint, index uint64, size uint64) int {
	n := size >> (level * TileHeight) // nodes at this tile level's bottom row
	start := index * TileWidth
	if index > n/TileWidth || n <= start { // the first test rules out an overflowed start
		return 0
	}
	if n-start >= TileWidth {
		return TileWidth
	}
	return int(n - start)
}

// TileNodes holds a tile's bottom row and every complete node above it inside
// the tile: Rows[h] is the concatenation of the hashes of the nodes at height h,
// left to right. Rows[0] is the tile as C2SP serves it.
type TileNodes struct {
	Rows [TileHeight][]byte
}

// ExpandTile computes the complete interior nodes of a tile from its bottom row
// (a multiple of HashSize bytes, at most TileWidth hashes).
func ExpandTile(row []byte) (*TileNodes, error) {
	if len(row)%HashSize != 0 || len(row) > TileWidth*HashSize {
		return nil, fmt.Errorf("couldn't expand tile: %d bytes is not a tile row", len(row))
	}
	t := &TileNodes{}
	t.Rows[0] = row
	for h := 1; h < TileHeight; h++ {
		below := t.Rows[h-1]
		n := len(below) / HashSize / 2
		cur := make([]byte, 0, n*HashSize)
		for j := 0; j < n; j++ {
			nh := NodeHash(below[2*j*HashSize:(2*j+1)*HashSize], below[(2*j+1)*HashSize:(2*j+2)*HashSize])
			cur = append(cur, nh[:]...)
		}
		t.Rows[h] = cur
	}
	return t, nil
}

// Node returns the hash of the node at height h and offset j inside the tile,
// or false when the tile does not hold that node completely.
func (t *TileNodes) Node(h uint, j uint64) ([]byte, bool) {
	row := t.Rows[h]
	if j >= uint64(len(row))/HashSize {
		return nil, false
	}
	return row[j*HashSize : (j+1)*HashSize], true
}

// Root returns the hash of a full tile's top node: the node at Merkle level
// (L+1)·TileHeight that the tile's 256 hashes make. It reports false for a
// partial tile.
func (t *TileNodes) Root() (Hash, bool) {
	top := t.Rows[TileHeight-1]
	if len(top) != 2*HashSize {
		return Hash{}, false
	}
	return NodeHash(top[:HashSize], top[HashSize:]), true
}

// TilePath returns the C2SP tlog-tiles path of a hash tile below the log
// prefix, "tile/L/x001/x234/067", with ".p/W" for a partial tile of width
// W < TileWidth.
func TilePath(level uint, index uint64, width int) string {
	return "tile/" + strconv.FormatUint(uint64(level), 10) + "/" + tileIndexPath(index, width)
}

// EntriesPath returns the C2SP tlog-tiles path of an entry bundle below the log
// prefix, "tile/entries/x001/067", with ".p/W" for a partial bundle.
func EntriesPath(index uint64, width int) string {
	return "tile/entries/" + tileIndexPath(index, width)
}

func tileIndexPath(index uint64, width int) string {
	s := fmt.Sprintf("%03d", index%1000)
	for index >= 1000 {
		index /= 1000
		s = fmt.Sprintf("x%03d/", index%1000) + s
	}
	if width > 0 && width < TileWidth {
		s += ".p/" + strconv.Itoa(width)
	}
	return s
}

// errBadTilePath is wrapped by ParseTileIndex.
var errBadTilePath = errors.New("bad tile path")

// ParseTileIndex parses the index part of a tile path, "x001/x234/067" with an
// optional ".p/W", into the tile index and the width (TileWidth when full). It
// accepts only the canonical form that TilePath writes.
func ParseTileIndex(s string) (index uint64, width int, err error) {
	width = TileWidth
	if i := strings.Index(s, ".p/"); i >= 0 {
		w, err := strconv.Atoi(s[i+3:])
		if err != nil || w < 1 || w >= TileWidth || strconv.Itoa(w) != s[i+3:] {
			return 0, 0, fmt.Errorf("%w: width %q", errBadTilePath, s[i+3:])
		}
		width, s = w, s[:i]
	}
	parts := strings.Split(s, "/")
	if len(parts) > 7 {
		return 0, 0, fmt.Errorf("%w: too many elements", errBadTilePath)
	}
	for i, p := range parts {
		last := i == len(parts)-1
		if !last {
			if !strings.HasPrefix(p, "x") {
				return 0, 0, fmt.Errorf("%w: element %q lacks its x", errBadTilePath, p)
			}
			p = p[1:]
		}
		if len(p) != 3 || strings.Trim(p, "0123456789") != "" {
			return 0, 0, fmt.Errorf("%w: element %q is not three digits", errBadTilePath, p)
		}
		d, _ := strconv.Atoi(p)
		index = index*1000 + uint64(d)
	}
	if tileIndexPath(index, 0) != s {
		return 0, 0, fmt.Errorf("%w: %q is not canonical", errBadTilePath, s)
	}
	return index, width, nil
}
