package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// ScanOptions choose the entries Scan visits.
type ScanOptions struct {
	// From is the first index visited: the lowest for ascending order, the
	// highest for descending. For descending order a From at or past the
	// bound means "from the newest".
	From uint64
	// Desc visits from newest to oldest.
	Desc bool
	// Bound, when non-zero, stops the scan at this size even if the log has
	// grown: an export shows the log as it was when it started.
	Bound uint64
	// Transient promises that fn keeps neither the Record nor its Leaf
	// after it returns, so that the scan may reuse both (an export).
	Transient bool
}

// Scan calls fn with each committed entry, in index order (or reverse), until
// fn returns false or an error. Entries appended while it runs are not
// visited past the size the log had when it started (or opts.Bound). It
// reads one Pebble snapshot and holds no lock between calls; fn may be slow.
// It returns the size the scan was bounded by.
//
// Scan reads the whole range it is given; Search is the same with a query,
// through the field indexes.
func (l *Ledger) Scan(ctx context.Context, logID string, opts ScanOptions, fn func(r *Record) (bool, error)) (uint64, error) {
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return 0, err
	}
	defer release()
	bound := st.size
	if opts.Bound != 0 && opts.Bound < bound {
		bound = opts.Bound
	}
	if bound == 0 {
		return 0, nil
	}
	lo, hi := uint64(0), bound // [lo, hi)
	if opts.Desc {
		if opts.From < bound {
			hi = opts.From + 1
		}
	} else {
		lo = opts.From
		if lo >= bound {
			return bound, nil
		}
	}
	snap := l.db.NewSnapshot()
	defer snap.Close()
	_, err = l.scanRange(ctx, snap, lg, lo, hi, opts, fn)
	return bound, err
}

// scanRange calls fn with each entry of [lo, hi) read from r, ascending or
// descending, until fn returns false (more is then false) or an error. An
// index with neither a payload nor a hash record is skipped.
func (l *Ledger) scanRange(ctx context.Context, r pebble.Reader, lg *logHandle, lo, hi uint64, opts ScanOptions, fn func(r *Record) (bool, error)) (more bool, err error) {
	logID, desc := lg.id, opts.Desc
	iter, err := r.NewIter(&pebble.IterOptions{
		LowerBound: entryKey(nil, lg.num, lo, 0),
		UpperBound: entryKey(nil, lg.num, hi, 0),
	})
	if err != nil {
		return false, err
	}
	defer iter.Close()
	hc := newHashCursor(r, lg.num)
	defer hc.close()

	var (
		spare Record // reused when opts.Transient
		buf   []byte
	)
	valid, next := iter.First, iter.Next
	if desc {
		valid, next = iter.Last, iter.Prev
	}
	ok := valid()
	for n := uint64(0); n < hi-lo; n++ {
		idx := lo + n
		if desc {
			idx = hi - 1 - n
		}
		if (n+1)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		rec := &spare
		if opts.Transient {
			spare = Record{Index: idx}
		} else {
			rec = &Record{Index: idx}
		}
		// The iterator stands at idx's keys (h, p, t…, in either direction)
		// or past them when it has none.
		for ; ok; ok = next() {
			k, kind, good := parseEntryKey(iter.Key())
			if !good {
				return false, fmt.Errorf("bad entry key %x in log %q", iter.Key(), logID)
			}
			if k != idx {
				if (k > idx) != desc {
					break
				}
				continue
			}
			takeEntryKey(iter, k, kind, hc, rec, opts.Transient, &buf)
		}
		h, err := hc.find(idx)
		switch {
		case err == nil:
			rec.LeafHash, rec.ChainHash, rec.ReceivedAtNanos = h.leafHash, h.chainHash, h.receivedAt
		case errors.Is(err, errNoHashRecord):
			if rec.Leaf == nil {
				continue
			}
		default:
			return false, fmt.Errorf("entry %d of log %q: %w", idx, logID, err)
		}
		if more, err := fn(rec); err != nil || !more {
			return false, err
		}
	}
	if err := iter.Error(); err != nil {
		return false, fmt.Errorf("couldn't scan log %q: %w", logID, err)
	}
	return true, nil
}

// takeEntryKey takes what the iterator's key of entry idx (of the given
// kind) holds for a reader: a hash run, offered to hc, or the payload, copied
// into rec.Leaf (into *buf, reused, when transient).
func takeEntryKey(iter *pebble.Iterator, idx uint64, kind byte, hc *hashCursor, rec *Record, transient bool, buf *[]byte) {
	switch kind {
	case kindHashes:
		hc.offer(idx, iter.Value())
	case kindPayload:
		if transient {
			*buf = append((*buf)[:0], iter.Value()...)
			rec.Leaf = *buf
		} else {
			rec.Leaf = append([]byte(nil), iter.Value()...)
		}
	}
}
