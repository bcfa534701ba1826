package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/proofs"
)

// Record is one stored entry as readers get it.
type Record struct {
	Index     uint64
	LeafHash  proofs.Hash
	ChainHash proofs.Hash
	// Leaf is the entry's canonical JSON; nil when retention removed it.
	Leaf []byte
	// ReceivedAtNanos is the server time of the entry, from the hash record.
	ReceivedAtNanos int64

	entry *Entry // the parsed Leaf, once Entry or Search has parsed it
}

// Redacted reports whether the payload was removed by retention.
func (r *Record) Redacted() bool { return r.Leaf == nil }

// Entry returns the parsed entry (ParseStoredEntry of Leaf), nil for a
// redacted record. The parse is done once and kept: a record that Search
// matched is already parsed. Not safe for concurrent use.
func (r *Record) Entry() (*Entry, error) {
	if r.entry != nil || r.Leaf == nil {
		return r.entry, nil
	}
	en, err := ParseStoredEntry(r.Leaf)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", r.Index, err)
	}
	r.entry = en
	return en, nil
}

// reader enters the database (see enter) and returns a log's handle and
// committed state; the caller must call release when done with the database.
func (l *Ledger) reader(logID string) (*logHandle, *logState, func(), error) {
	release, err := l.enter()
	if err != nil {
		return nil, nil, nil, err
	}
	lg, err := l.handle(logID)
	if err == nil {
		var st *logState
		if st, err = lg.committed(); err == nil {
			return lg, st, release, nil
		}
	}
	release()
	return nil, nil, nil, err
}

// Size returns the log's committed size.
func (l *Ledger) Size(logID string) (uint64, error) {
	lg, err := l.handle(logID)
	if err != nil {
		return 0, err
	}
	st, err := lg.committed()
	if err != nil {
		return 0, err
	}
	return st.size, nil
}

// Read returns the committed entry at index.
func (l *Ledger) Read(logID string, index uint64) (*Record, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return nil, err
	}
	defer release()
	if index >= st.size {
		return nil, fmt.Errorf("entry %d of log %q: %w", index, logID, ErrNotFound)
	}
	return l.readRecord(lg, index)
}

// LeafHash returns the leaf hash of the committed entry at index, reading
// only its hash record (a proof's answer needs no more).
func (l *Ledger) LeafHash(logID string, index uint64) (proofs.Hash, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return proofs.Hash{}, err
	}
	defer release()
	if index >= st.size {
		return proofs.Hash{}, fmt.Errorf("entry %d of log %q: %w", index, logID, ErrNotFound)
	}
	rec, err := l.hashRecord(lg, index)
	return rec.leafHash, err
}

func (l *Ledger) readRecord(lg *logHandle, index uint64) (*Record, error) {
	rec, err := l.hashRecord(lg, index)
	if err != nil {
		return nil, err
	}
	r := &Record{Index: index, LeafHash: rec.leafHash, ChainHash: rec.chainHash, ReceivedAtNanos: rec.receivedAt}
	v, closer, err := l.db.Get(entryKey(make([]byte, 0, 16), lg.num, index, kindPayload))
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("couldn't read entry %d: %w", index, err)
	default:
		r.Leaf = append([]byte(nil), v...)
		closer.Close()
	}
	return r, nil
}

// InclusionProof returns the proof that entry index is in the tree of size
// treeSize (index < treeSize ≤ the committed size).
func (l *Ledger) InclusionProof(logID string, index, treeSize uint64) ([][]byte, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return nil, err
	}
	defer release()
	if index >= treeSize || treeSize > st.size {
		return nil, fmt.Errorf("%w: need index < tree_size ≤ %d, got index %d, tree_size %d", ErrInvalid, st.size, index, treeSize)
	}
	return proofs.Inclusion(index, treeSize, l.nodeReader(lg, st))
}

// ConsistencyProof returns the proof that the tree of size from is a prefix
// of the tree of size to (0 ≤ from ≤ to ≤ the committed size).
func (l *Ledger) ConsistencyProof(logID string, from, to uint64) ([][]byte, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return nil, err
	}
	defer release()
	if from > to || to > st.size {
		return nil, fmt.Errorf("%w: need 0 ≤ from ≤ to ≤ %d, got from %d, to %d", ErrInvalid, st.size, from, to)
	}
	return proofs.Consistency(from, to, l.nodeReader(lg, st))
}

// RootAt returns the Merkle root of the log's first size entries.
func (l *Ledger) RootAt(logID string, size uint64) (proofs.Hash, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return proofs.Hash{}, err
	}
	defer release()
	if size > st.size {
		return proofs.Hash{}, fmt.Errorf("%w: size %d is past the log's %d", ErrInvalid, size, st.size)
	}
	return proofs.Root(size, l.nodeReader(lg, st))
}

// Annotations returns the indexes of the committed entries that annotate
// entry index, in order.
func (l *Ledger) Annotations(logID string, index uint64) ([]uint64, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return nil, err
	}
	defer release()
	size := st.size
	lower := refKey(nil, lg.num, index, 0)
	upper := refKey(nil, lg.num, index+1, 0)
	iter, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	out := []uint64{}
	for iter.First(); iter.Valid(); iter.Next() {
		k := iter.Key()
		if idx := binary.BigEndian.Uint64(k[len(k)-8:]); idx < size {
			out = append(out, idx)
		}
	}
	return out, iter.Error()
}
