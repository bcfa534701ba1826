package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/proofs"
)

// The C2SP tlog-tiles read side (SPEC §6). Nothing here is stored for
// serving: a full hash tile is the value stored under the entry that
// completed it (one Pebble Get), a partial hash tile is a prefix of the
// right-edge tile held in memory (or of the full tile, once there is one),
// and an entry bundle is the payload records of its entries, read with one
// iterator.
//
// Which partial tiles exist: C2SP says the partial tile at level l of a tree
// of size s has width floor(s / 256^l) mod 256, and logs must serve those of
// every size a checkpoint was published at. Partial tile (l, N, W) is served
// iff some stored checkpoint has a size in [(256N+W)·256^l, (256N+W+1)·256^l);
// for level 0 and for entry bundles that is the one size 256N+W. It stays
// served after full tile N exists, as the first W hashes of the full tile
// (they are the same hashes: hashes never change), so a client holding an
// old checkpoint needs no fallback and a 200 never turns into a 404.

// MaxTileLevel is the highest hash tile level C2SP tlog-tiles allows.
const MaxTileLevel = 63

// ErrRedacted is returned, wrapped, for an entry bundle that holds an entry
// whose payload retention removed: the bundle can no longer be served whole.
var ErrRedacted = errors.New("entry redacted")

// HashTile returns hash tile (level, index) of a log as C2SP tlog-tiles
// serves it: width hashes of 32 bytes, where width is proofs.TileWidth for
// the full tile and 1…255 for a partial one. A full tile exists once the
// committed tree covers it; a partial tile exists for the widths that a
// published checkpoint's size requires (see the comment at the top of
// tiles.go). Otherwise it returns ErrNotFound; a level past MaxTileLevel or a
// width out of range is ErrInvalid. A full tile costs one Pebble Get (none
// when the tile cache holds it), a partial one at most a checkpoint lookup.
// The returned slice is the caller's.
func (l *Ledger) HashTile(logID string, level uint8, index uint64, width int) ([]byte, error) {
	if level > MaxTileLevel {
		return nil, fmt.Errorf("%w: tile level %d is past %d", ErrInvalid, level, MaxTileLevel)
	}
	if width < 1 || width > proofs.TileWidth {
		return nil, fmt.Errorf("%w: tile width %d is not in 1…%d", ErrInvalid, width, proofs.TileWidth)
	}
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return nil, err
	}
	defer release()
	lvl := uint(level)
	have := proofs.TileRowWidth(lvl, index, st.size)
	if have < width {
		return nil, fmt.Errorf("tile %d/%d.p/%d of log %q at size %d: %w", level, index, width, logID, st.size, ErrNotFound)
	}
	if width < proofs.TileWidth {
		ok, err := l.partialPublished(lg, lvl, index, width)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("tile %d/%d.p/%d of log %q: no checkpoint has that width: %w", level, index, width, logID, ErrNotFound)
		}
	}
	n := width * proofs.HashSize
	if have < proofs.TileWidth {
		// The right edge: in memory, and only ever appended to past the
		// length this snapshot sees.
		if lvl >= uint(len(st.edge)) || st.edge[lvl].index != index || len(st.edge[lvl].nodes.Rows[0]) < n {
			return nil, fmt.Errorf("tile %d/%d of log %q is not at the right edge of the tree of size %d", level, index, logID, st.size)
		}
		return append([]byte(nil), st.edge[lvl].nodes.Rows[0][:n]...), nil
	}
	row, err := l.tileRow(lg, lvl, index)
	if err != nil {
		return nil, err
	}
	return row[:n], nil
}

// tileRow returns a copy of the bottom row of a stored full tile: from the
// tile cache when it holds the tile, else with one Pebble Get (without
// filling the cache: serving a tile does not need it expanded).
func (l *Ledger) tileRow(lg *logHandle, level uint, index uint64) ([]byte, error) {
	if t := l.tiles.get(tileCacheKey{num: lg.num, level: uint8(level), index: index}); t != nil {
		return append([]byte(nil), t.Rows[0]...), nil
	}
	v, closer, err := l.db.Get(tileKey(lg.num, level, index))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("tile %d/%d of log %q is missing from the store", level, index, lg.id)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read tile %d/%d: %w", level, index, err)
	}
	defer closer.Close()
	if len(v) != proofs.TileWidth*proofs.HashSize {
		return nil, fmt.Errorf("tile %d/%d of log %q has %d bytes", level, index, lg.id, len(v))
	}
	return append([]byte(nil), v...), nil
}

// partialPublished reports whether a published checkpoint requires partial
// tile (level, index, width): whether one has a size s with
// floor(s / 256^level) = 256·index + width. The caller has checked that the
// committed tree reaches that far, so the bounds below do not overflow.
func (l *Ledger) partialPublished(lg *logHandle, level uint, index uint64, width int) (bool, error) {
	shift := level * proofs.TileHeight
	if shift >= 64 {
		return false, nil
	}
	lo := (index*proofs.TileWidth + uint64(width)) << shift
	hi := lo + 1<<shift
	if hi < lo {
		hi = math.MaxUint64
	}
	// Most requests are for the latest checkpoint: no I/O for those.
	if sc := lg.cp.Load(); sc != nil && sc.Size >= lo && sc.Size < hi {
		return true, nil
	}
	iter, err := l.meta.NewIter(&pebble.IterOptions{
		LowerBound: checkpointKey(lg.num, lo),
		UpperBound: checkpointKey(lg.num, hi),
	})
	if err != nil {
		return false, fmt.Errorf("couldn't look up checkpoints: %w", err)
	}
	found := iter.First()
	if err := iter.Close(); err != nil {
		return false, fmt.Errorf("couldn't look up checkpoints: %w", err)
	}
	return found, nil
}

// EntryBundle returns entry bundle index of a log as C2SP tlog-tiles serves
// it: the leaves of entries 256·index … 256·index+width-1, each as a
// big-endian uint16 length and its bytes. width is proofs.TileWidth for a
// full bundle and 1…255 for a partial one, which exists only when a
// checkpoint was published at size 256·index+width (and stays served after
// the full bundle exists). It returns ErrNotFound for a bundle that does not
// exist, ErrInvalid for a width out of range, and ErrRedacted when retention
// removed the payload of one of its entries. It reads the bundle's records
// with one Pebble iterator. The returned slice is the caller's.
func (l *Ledger) EntryBundle(logID string, index uint64, width int) ([]byte, error) {
	if width < 1 || width > proofs.TileWidth {
		return nil, fmt.Errorf("%w: bundle width %d is not in 1…%d", ErrInvalid, width, proofs.TileWidth)
	}
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return nil, err
	}
	defer release()
	if proofs.TileRowWidth(0, index, st.size) < width {
		return nil, fmt.Errorf("entry bundle %d.p/%d of log %q at size %d: %w", index, width, logID, st.size, ErrNotFound)
	}
	if width < proofs.TileWidth {
		ok, err := l.partialPublished(lg, 0, index, width)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("entry bundle %d.p/%d of log %q: no checkpoint has that size: %w", index, width, logID, ErrNotFound)
		}
	}
	first := index * proofs.TileWidth
	end := first + uint64(width)
	iter, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: entryKey(nil, lg.num, first, 0),
		UpperBound: entryKey(nil, lg.num, end, 0),
	})
	if err != nil {
		return nil, fmt.Errorf("couldn't read entry bundle %d: %w", index, err)
	}
	defer iter.Close()
	out := make([]byte, 0, width*512)
	next := first // the next entry whose payload the bundle needs
	for ok := iter.First(); ok; ok = iter.Next() {
		idx, kind, good := parseEntryKey(iter.Key())
		if !good {
			return nil, fmt.Errorf("bad entry key %x in log %q", iter.Key(), logID)
		}
		if kind != kindPayload {
			continue
		}
		if idx != next {
			break // entry next has no payload
		}
		v := iter.Value()
		if len(v) > math.MaxUint16 {
			return nil, fmt.Errorf("entry %d of log %q has a %d-byte leaf, more than a bundle can hold", idx, logID, len(v))
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(v)))
		out = append(out, v...)
		next++
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("couldn't read entry bundle %d: %w", index, err)
	}
	if next != end {
		return nil, fmt.Errorf("entry bundle %d of log %q: entry %d: %w", index, logID, next, ErrRedacted)
	}
	return out, nil
}
