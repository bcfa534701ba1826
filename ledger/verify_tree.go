package ledger

import (
	"github.com/auditledger/auditledger/proofs"
)

// verifyTree is the Merkle tree replay of Verify: a compact range from leaf 0
// (the hashes of the perfect subtrees that make up [0, end), largest first)
// that checks every full tile against the stored one as it completes. It is
// compact.Range without its allocation per node: the stack is a fixed array
// and the nodes are written in place. It is owned by Verify's goroutine.
type verifyTree struct {
	end   uint64            // the leaves appended so far
	n     int               // hashes on stack: the one bits of end
	stack [64]proofs.Hash   // stack[:n], largest subtree first
	rows  [][]byte          // per tile level: replayed bottom row of the current tile
	tiles map[uint64][]byte // per tile level: the stored tile met but not yet compared
	bufs  map[uint64][]byte // per tile level: the memory tiles copies into
	rep   *VerifyReport     // where mismatches go
}

func newVerifyTree(rep *VerifyReport) *verifyTree {
	return &verifyTree{tiles: map[uint64][]byte{}, bufs: map[uint64][]byte{}, rep: rep}
}

// storedTile records the stored tile at a level, to be compared when the
// replay completes the tile at that level. It copies hashes.
func (t *verifyTree) storedTile(level uint64, hashes []byte) {
	b := append(t.bufs[level][:0], hashes...)
	t.bufs[level] = b
	t.tiles[level] = b
}

// append adds the next leaf.
func (t *verifyTree) append(leaf *proofs.Hash) {
	idx := t.end
	t.row(0, idx, leaf)
	h := *leaf
	// Each one bit at the bottom of idx is a left sibling to merge with.
	for level := uint(0); idx>>level&1 == 1; level++ {
		t.n--
		h = proofs.NodeHash(t.stack[t.n][:], h[:])
		if (level+1)%proofs.TileHeight == 0 {
			t.row((level+1)/proofs.TileHeight, idx>>(level+1), &h)
		}
	}
	t.stack[t.n] = h
	t.n++
	t.end++
}

// root is the RFC 6962 root of the leaves appended so far.
func (t *verifyTree) root() proofs.Hash {
	if t.n == 0 {
		return proofs.EmptyRoot
	}
	h := t.stack[t.n-1]
	for i := t.n - 2; i >= 0; i-- {
		h = proofs.NodeHash(t.stack[i][:], h[:])
	}
	return h
}

// row adds node index of the bottom row of tile level; when it completes the
// tile, row compares it with the stored tile, a whole tile at a time.
func (t *verifyTree) row(level uint, index uint64, h *proofs.Hash) {
	for uint(len(t.rows)) <= level {
		t.rows = append(t.rows, make([]byte, 0, proofs.TileWidth*proofs.HashSize))
	}
	row := append(t.rows[level], h[:]...)
	t.rows[level] = row
	if len(row) < proofs.TileWidth*proofs.HashSize {
		return
	}
	n := index / proofs.TileWidth
	stored, ok := t.tiles[uint64(level)]
	first := n << ((level + 1) * proofs.TileHeight) // first leaf under the tile
	switch {
	case !ok:
		t.rep.add(first, "tile %d/%d is missing", level, n)
	case len(stored) != len(row):
		t.rep.add(first, "tile %d/%d has %d bytes, want %d", level, n, len(stored), len(row))
	case string(stored) != string(row):
		// Point at the first leaf under the first differing hash.
		for p := 0; p < proofs.TileWidth; p++ {
			a := stored[p*proofs.HashSize : (p+1)*proofs.HashSize]
			b := row[p*proofs.HashSize : (p+1)*proofs.HashSize]
			if string(a) != string(b) {
				t.rep.add(first+uint64(p)<<(level*proofs.TileHeight), "tile %d/%d does not match the entries", level, n)
				break
			}
		}
	}
	delete(t.tiles, uint64(level))
	t.rows[level] = row[:0]
}
