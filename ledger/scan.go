package ledger

import (
	"context"
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
// descending, until fn returns false (more is then false) or an error.
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

	// Records of one index arrive together (h, p, t…), in either direction.
	var (
		cur   *Record
		spare Record // reused when opts.Transient
		buf   []byte
	)
	emit := func() (bool, error) {
		if cur == nil {
			return true, nil
		}
		r := cur
		cur = nil
		return fn(r)
	}
	valid := iter.First
	next := iter.Next
	if desc {
		valid, next = iter.Last, iter.Prev
	}
	n := 0
	for ok := valid(); ok; ok = next() {
		idx, kind, good := parseEntryKey(iter.Key())
		if !good {
			return false, fmt.Errorf("bad entry key %x in log %q", iter.Key(), logID)
		}
		if cur != nil && cur.Index != idx {
			if more, err := emit(); err != nil || !more {
				return false, err
			}
		}
		if cur == nil {
			if opts.Transient {
				spare = Record{Index: idx}
				cur = &spare
			} else {
				cur = &Record{Index: idx}
			}
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
		}
		switch kind {
		case kindHashes:
			rec, err := parseHashRecord(iter.Value())
			if err != nil {
				return false, fmt.Errorf("entry %d of log %q: %w", idx, logID, err)
			}
			cur.LeafHash, cur.ChainHash, cur.ReceivedAtNanos = rec.leafHash, rec.chainHash, rec.receivedAt
		case kindPayload:
			if opts.Transient {
				buf = append(buf[:0], iter.Value()...)
				cur.Leaf = buf
			} else {
				cur.Leaf = append([]byte(nil), iter.Value()...)
			}
		}
	}
	if err := iter.Error(); err != nil {
		return false, fmt.Errorf("couldn't scan log %q: %w", logID, err)
	}
	return emit()
}
