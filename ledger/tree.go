package ledger

import (
	"container/list"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"

	"github.com/auditledger/auditledger/proofs"
)

var rangeFactory = &compact.RangeFactory{Hash: proofs.NodeHashSlice}

// edgeTile is the tile at the right edge of one tile level: its bottom row and
// every complete node above it. Its rows only grow (append within their
// capacity), so a committed snapshot may share them: readers never look past
// the lengths in their snapshot, and the sequencer only writes past them.
type edgeTile struct {
	index uint64
	nodes proofs.TileNodes
}

func newEdgeTile(index uint64) *edgeTile {
	e := &edgeTile{index: index}
	for h := range e.nodes.Rows {
		e.nodes.Rows[h] = make([]byte, 0, (proofs.TileWidth>>h)*proofs.HashSize)
	}
	return e
}

// snapshot returns a copy of the tile that sees only what is in it now.
func (e *edgeTile) snapshot() *edgeTile {
	s := &edgeTile{index: e.index}
	s.nodes = e.nodes // copies the slice headers, with their lengths
	return s
}

// full reports whether the tile holds all its nodes.
func (e *edgeTile) full() bool {
	return len(e.nodes.Rows[proofs.TileHeight-1]) == 2*proofs.HashSize
}

// treeState is the sequencer's working state of one log: owned by the
// sequencer goroutine. It runs ahead of the committed state by the round
// being prepared and the round being committed, if any (decision 0012).
type treeState struct {
	size   uint64
	chain  proofs.Hash
	lastRA int64
	rng    *compact.Range
	edge   []*edgeTile // by tile level

	// Filled while a batch is built; the sequencer hands them to the
	// committer with the round (prepare).
	batch     *pebble.Batch
	num       uint32
	completed []completedTile
	run       []byte   // hash records of the log's entries in the batch not yet in it (hashrun.go)
	saved     treeSave // the state before the round being prepared, for undo
}

// treeSave is what undo needs to put a treeState back where it was before
// the round being prepared touched it.
type treeSave struct {
	size   uint64
	chain  proofs.Hash
	lastRA int64
	rng    *compact.Range
	edge   []*edgeTile
}

// save keeps the state as it is, before a round changes it: a copy of the
// compact range, and snapshots of the edge tiles. The range's list of hashes
// is copied, since Append rewrites it in place; the hashes in it are shared,
// since nothing writes one after it is made. The tiles' rows are shared too:
// what the round appends to them lies past the saved lengths.
func (s *treeState) save() {
	rng, err := rangeFactory.NewRange(s.rng.Begin(), s.rng.End(), slices.Clone(s.rng.Hashes()))
	if err != nil {
		panic(fmt.Sprintf("ledger: compact range copy: %v", err)) // only fails on a broken range
	}
	edge := make([]*edgeTile, len(s.edge))
	for i, e := range s.edge {
		edge[i] = e.snapshot()
	}
	s.saved = treeSave{size: s.size, chain: s.chain, lastRA: s.lastRA, rng: rng, edge: edge}
}

// undo puts the state back as save found it, for a round that is prepared
// again (its batch is reset). Appending to the restored edge tiles writes
// over what the undone round wrote past their saved lengths, which no
// published state covers: only the undone round's state did, and it was
// never published.
func (s *treeState) undo() {
	v := s.saved
	s.size, s.chain, s.lastRA, s.rng, s.edge = v.size, v.chain, v.lastRA, v.rng, v.edge
	s.batch, s.completed, s.run, s.saved = nil, s.completed[:0], s.run[:0], treeSave{}
}

// endRun puts the pending hash records into the batch as one run, under the
// key of the last entry appended.
func (s *treeState) endRun(key []byte) []byte {
	if len(s.run) == 0 {
		return key
	}
	key = entryKey(key[:0], s.num, s.size-1, kindHashes)
	s.batch.Set(key, s.run, nil)
	s.run = s.run[:0]
	return key
}

type completedTile struct {
	level uint
	tile  *edgeTile
}

// visit records a new tree node in its tile; when the node completes a tile,
// the tile's bottom row goes into the batch under the entry that completed it.
func (s *treeState) visit(id compact.NodeID, hash []byte) {
	tc := proofs.TileOf(id)
	for uint(len(s.edge)) <= tc.Level {
		s.edge = append(s.edge, newEdgeTile(0))
	}
	e := s.edge[tc.Level]
	row := e.nodes.Rows[tc.Height]
	if e.index != tc.Index || uint64(len(row)) != tc.Offset*proofs.HashSize {
		// The compact range visits nodes in order; anything else is a bug.
		panic(fmt.Sprintf("ledger: node %d/%d out of order: tile %d/%d holds %d hashes at height %d",
			id.Level, id.Index, tc.Level, e.index, len(row)/proofs.HashSize, tc.Height))
	}
	e.nodes.Rows[tc.Height] = append(row, hash...)
	if e.full() {
		if s.batch != nil {
			s.batch.Set(tileKey(s.num, tc.Level, e.index), e.nodes.Rows[0], nil)
		}
		s.completed = append(s.completed, completedTile{level: tc.Level, tile: e})
		s.edge[tc.Level] = newEdgeTile(e.index + 1)
	}
}

// appendLeaf adds one leaf hash to the tree.
func (s *treeState) appendLeaf(h proofs.Hash) {
	if err := s.rng.Append(h[:], s.visit); err != nil {
		panic(fmt.Sprintf("ledger: compact range append: %v", err)) // only fails on bad hash lengths
	}
	s.size++
}

// logState is a log's committed state: immutable once published.
type logState struct {
	size   uint64
	chain  proofs.Hash
	root   proofs.Hash
	lastRA int64
	edge   []*edgeTile // snapshots of the right-edge tiles at size
}

func (s *treeState) commitState() *logState {
	st := &logState{size: s.size, chain: s.chain, lastRA: s.lastRA, root: proofs.EmptyRoot}
	if s.size > 0 {
		r, err := s.rng.GetRootHash(nil)
		if err != nil {
			panic(fmt.Sprintf("ledger: root: %v", err))
		}
		copy(st.root[:], r)
	}
	st.edge = make([]*edgeTile, len(s.edge))
	for i, e := range s.edge {
		st.edge[i] = e.snapshot()
	}
	return st
}

// nodeReader returns a NodeReader over the log's committed tree as of st.
// Every node a proof asks for is complete, hence immutable, so reading it from
// a newer state than the proof's size gives the same hash.
func (l *Ledger) nodeReader(lg *logHandle, st *logState) proofs.NodeReader {
	return func(ids []compact.NodeID) ([][]byte, error) {
		out := make([][]byte, len(ids))
		for i, id := range ids {
			h, err := l.node(lg, st, id)
			if err != nil {
				return nil, err
			}
			out[i] = h
		}
		return out, nil
	}
}

func (l *Ledger) node(lg *logHandle, st *logState, id compact.NodeID) ([]byte, error) {
	tc := proofs.TileOf(id)
	var tn *proofs.TileNodes
	if proofs.TileRowWidth(tc.Level, tc.Index, st.size) == proofs.TileWidth {
		t, err := l.fullTile(lg, tc.Level, tc.Index)
		if err != nil {
			return nil, err
		}
		tn = t
	} else if tc.Level < uint(len(st.edge)) && st.edge[tc.Level].index == tc.Index {
		tn = &st.edge[tc.Level].nodes
	} else {
		return nil, fmt.Errorf("node %d/%d is not in the tree of size %d", id.Level, id.Index, st.size)
	}
	h, ok := tn.Node(tc.Height, tc.Offset)
	if !ok {
		return nil, fmt.Errorf("node %d/%d is not complete in the tree of size %d", id.Level, id.Index, st.size)
	}
	// A copy: callers keep proofs, and the tile may be cached.
	return append([]byte(nil), h...), nil
}

// fullTile returns a full tile expanded, from the cache or from Pebble.
func (l *Ledger) fullTile(lg *logHandle, level uint, index uint64) (*proofs.TileNodes, error) {
	k := tileCacheKey{num: lg.num, level: uint8(level), index: index}
	if t := l.tiles.get(k); t != nil {
		return t, nil
	}
	v, closer, err := l.db.Get(tileKey(lg.num, level, index))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("tile %d/%d of log %q is missing", level, index, lg.id)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read tile %d/%d: %w", level, index, err)
	}
	row := append([]byte(nil), v...)
	closer.Close()
	if len(row) != proofs.TileWidth*proofs.HashSize {
		return nil, fmt.Errorf("tile %d/%d of log %q has %d bytes", level, index, lg.id, len(row))
	}
	t, err := proofs.ExpandTile(row)
	if err != nil {
		return nil, err
	}
	l.tiles.put(k, t)
	return t, nil
}

// recoverLog rebuilds a log's tree state from the store: the size and chain
// head from the last hash record, the right-edge tiles from the hash records
// and full tiles below them, and the compact range from those tiles. It then
// publishes the state as committed.
func (l *Ledger) recoverLog(lg *logHandle) error {
	size, last, err := l.lastHashRecord(lg)
	if err != nil {
		return err
	}
	s := &treeState{size: size, chain: last.chainHash, lastRA: last.receivedAt, num: lg.num}
	// Rebuild each level's right-edge tile from the level below.
	c := newHashCursor(l.db, lg.num)
	defer c.close()
	for level := uint(0); size>>(level*proofs.TileHeight) > 0 || level == 0; level++ {
		n := size >> (level * proofs.TileHeight) // nodes in this level's bottom row
		index := n / proofs.TileWidth
		e := newEdgeTile(index)
		for p := index * proofs.TileWidth; p < n; p++ {
			var h []byte
			if level == 0 {
				rec, err := l.findHashRecord(c, lg, p)
				if err != nil {
					return fmt.Errorf("couldn't rebuild the tree: %w", err)
				}
				h = rec.leafHash[:]
			} else {
				t, err := l.fullTile(lg, level-1, p)
				if err != nil {
					return fmt.Errorf("couldn't rebuild the tree: %w", err)
				}
				r, _ := t.Root()
				h = r[:]
			}
			e.nodes.Rows[0] = append(e.nodes.Rows[0], h...)
		}
		exp, err := proofs.ExpandTile(e.nodes.Rows[0])
		if err != nil {
			return err
		}
		for hgt := 1; hgt < proofs.TileHeight; hgt++ {
			e.nodes.Rows[hgt] = append(e.nodes.Rows[hgt], exp.Rows[hgt]...)
		}
		s.edge = append(s.edge, e)
		if n == 0 {
			break
		}
	}
	st := &logState{size: size, edge: s.edge}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := l.nodeReader(lg, st)(ids)
	if err != nil {
		return fmt.Errorf("couldn't rebuild the tree: %w", err)
	}
	if s.rng, err = rangeFactory.NewRange(0, size, hashes); err != nil {
		return fmt.Errorf("couldn't rebuild the tree: %w", err)
	}
	lg.seq = s
	lg.lastRA = s.lastRA
	lg.state.Store(s.commitState())
	return nil
}

// lastHashRecord returns the log's size and its last hash record.
func (l *Ledger) lastHashRecord(lg *logHandle) (uint64, hashRecord, error) {
	iter, err := l.db.NewIter(&pebble.IterOptions{LowerBound: entriesStart(lg.num), UpperBound: entriesEnd(lg.num)})
	if err != nil {
		return 0, hashRecord{}, err
	}
	defer iter.Close()
	if !iter.Last() {
		return 0, hashRecord{}, iter.Error()
	}
	idx, _, ok := parseEntryKey(iter.Key())
	if !ok {
		return 0, hashRecord{}, fmt.Errorf("bad entry key %x", iter.Key())
	}
	rec, err := l.hashRecord(lg, idx)
	if err != nil {
		return 0, hashRecord{}, err
	}
	return idx + 1, rec, nil
}

// hashRecord reads the hash record of entry index from its run. A missing
// one is ErrNotFound.
func (l *Ledger) hashRecord(lg *logHandle, index uint64) (hashRecord, error) {
	c := &hashCursor{r: l.db, num: lg.num, once: true}
	defer c.close()
	return l.findHashRecord(c, lg, index)
}

// findHashRecord is hashRecord with the caller's cursor.
func (l *Ledger) findHashRecord(c *hashCursor, lg *logHandle, index uint64) (hashRecord, error) {
	rec, err := c.find(index)
	if errors.Is(err, errNoHashRecord) {
		return hashRecord{}, fmt.Errorf("entry %d of log %q: %w", index, lg.id, ErrNotFound)
	}
	if err != nil {
		return hashRecord{}, fmt.Errorf("couldn't read entry %d of log %q: %w", index, lg.id, err)
	}
	return rec, nil
}

// tileCache is an LRU of expanded full tiles. Full tiles never change, so a
// cached tile is never stale. Its methods may be called concurrently.
type tileCache struct {
	mu    sync.Mutex // guards everything below
	max   int
	ll    *list.List
	items map[tileCacheKey]*list.Element
}

type tileCacheKey struct {
	num   uint32
	level uint8
	index uint64
}

type tileCacheItem struct {
	key  tileCacheKey
	tile *proofs.TileNodes
}

// expandedTileBytes is the memory of one expanded full tile.
const expandedTileBytes = 2 * proofs.TileWidth * proofs.HashSize

func newTileCache(bytes int64) *tileCache {
	n := int(bytes / expandedTileBytes)
	if n < 16 {
		n = 16
	}
	return &tileCache{max: n, ll: list.New(), items: map[tileCacheKey]*list.Element{}}
}

func (c *tileCache) get(k tileCacheKey) *proofs.TileNodes {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*tileCacheItem).tile
	}
	return nil
}

func (c *tileCache) put(k tileCacheKey, t *proofs.TileNodes) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return
	}
	c.items[k] = c.ll.PushFront(&tileCacheItem{key: k, tile: t})
	for c.ll.Len() > c.max {
		e := c.ll.Back()
		c.ll.Remove(e)
		delete(c.items, e.Value.(*tileCacheItem).key)
	}
}
