package ledger

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/proofs"
)

// Hash runs (decision 0011). The hash records of the entries one commit
// appends to a log are stored together, under the key of the last of them:
// "L n E <j> h" holds the records of entries j-n+1 … j, 72 bytes each, in
// index order. The sequencer ends a run at every tile end (an index ≡ 255
// mod 256) and at the log's last entry in the commit, so:
//
//   - a run never crosses a level-0 tile boundary (n ≤ j mod 256 + 1);
//   - every tile end and every commit's last entry of a log has a key: the
//     log's last entry, where recovery starts, always does;
//   - a store written before runs, with one record per entry, is a store of
//     runs of one, read by the same code.
//
// One key per run rather than per entry halves the keys an append writes,
// which is what Pebble's memtable, WAL and flushes pay for per entry.

// maxRunRecords is the most records a run holds: a whole level-0 tile.
const maxRunRecords = proofs.TileWidth

// errNoHashRecord is wrapped by hashCursor.find when no run covers an index.
var errNoHashRecord = errors.New("hash record is missing")

// hashRunLen returns how many records the run stored at index last holds,
// or an error when its value cannot be a run there.
func hashRunLen(last uint64, v []byte) (uint64, error) {
	if len(v) == 0 || len(v)%hashRecordLen != 0 {
		return 0, fmt.Errorf("hash run has %d bytes, not a multiple of %d", len(v), hashRecordLen)
	}
	n := uint64(len(v) / hashRecordLen)
	if n > last%proofs.TileWidth+1 {
		return 0, fmt.Errorf("hash run of %d records ending at %d crosses a tile boundary", n, last)
	}
	return n, nil
}

// hashCursor finds the hash records of a log's entries in one reader (the
// DB or a snapshot). It keeps the last run it read, so entries read in
// either order cost about one lookup per run. It is not safe for concurrent
// use; close releases its iterator.
type hashCursor struct {
	r    pebble.Reader
	num  uint32
	run  []byte // the current run's records (a copy)
	last uint64 // the index of run's last record
	n    uint64 // records in run; 0 when there is none
	iter *pebble.Iterator
	key  []byte
	// once: the cursor finds one record; the run it is in is not copied.
	once bool
}

func newHashCursor(r pebble.Reader, num uint32) *hashCursor {
	return &hashCursor{r: r, num: num}
}

func (c *hashCursor) close() error {
	if c.iter == nil {
		return nil
	}
	err := c.iter.Close()
	c.iter = nil
	return err
}

func (c *hashCursor) covers(i uint64) bool {
	return c.n > 0 && i <= c.last && c.last-i < c.n
}

// offer hands the cursor a run key met by the caller's own iteration (value
// v at index j), so that it need not look it up. A malformed run is ignored
// here: find reports it.
func (c *hashCursor) offer(j uint64, v []byte) {
	if c.covers(j) && c.last == j {
		return
	}
	if n, err := hashRunLen(j, v); err == nil {
		c.run, c.last, c.n = append(c.run[:0], v...), j, n
	}
}

// set keeps the run v stored at index j.
func (c *hashCursor) set(j uint64, v []byte) error {
	n, err := hashRunLen(j, v)
	if err != nil {
		c.n = 0
		return fmt.Errorf("entry %d: %w", j, err)
	}
	c.run, c.last, c.n = append(c.run[:0], v...), j, n
	return nil
}

// find returns the hash record of entry i. It wraps errNoHashRecord when no
// run covers i, and returns an error naming the run when the run that should
// is malformed.
func (c *hashCursor) find(i uint64) (hashRecord, error) {
	if c.covers(i) {
		return c.record(i), nil
	}
	// The run that ends i's tile: one Get when the log's commits fill tiles.
	if end := i | (proofs.TileWidth - 1); end != i {
		c.key = entryKey(c.key[:0], c.num, end, kindHashes)
		v, closer, err := c.r.Get(c.key)
		switch {
		case err == nil:
			n, perr := hashRunLen(end, v)
			if perr == nil && end-i < n {
				if c.once {
					r := runRecord(v, n, end, i)
					closer.Close()
					return r, nil
				}
				c.run, c.last, c.n = append(c.run[:0], v...), end, n
			}
			closer.Close()
			if c.covers(i) {
				return c.record(i), nil
			}
		case !errors.Is(err, pebble.ErrNotFound):
			return hashRecord{}, fmt.Errorf("couldn't read the hash run at %d: %w", end, err)
		}
	}
	// Otherwise the first run key at or after i, in i's tile.
	if c.iter == nil {
		it, err := c.r.NewIter(&pebble.IterOptions{LowerBound: entriesStart(c.num), UpperBound: entriesEnd(c.num)})
		if err != nil {
			return hashRecord{}, err
		}
		c.iter = it
	}
	c.key = entryKey(c.key[:0], c.num, i, kindHashes)
	end := i | (proofs.TileWidth - 1)
	for ok := c.iter.SeekGE(c.key); ok; ok = c.iter.Next() {
		j, kind, good := parseEntryKey(c.iter.Key())
		if !good || kind != kindHashes {
			if good && j > end {
				break
			}
			continue
		}
		if j > end {
			break
		}
		if err := c.set(j, c.iter.Value()); err != nil {
			return hashRecord{}, err
		}
		if c.covers(i) {
			return c.record(i), nil
		}
		break
	}
	if err := c.iter.Error(); err != nil {
		return hashRecord{}, err
	}
	return hashRecord{}, fmt.Errorf("entry %d: %w", i, errNoHashRecord)
}

// record parses the record of i from the current run, which covers i.
func (c *hashCursor) record(i uint64) hashRecord {
	return runRecord(c.run, c.n, c.last, i)
}

// runRecord parses the record of i from run, n records ending at last,
// which covers i.
func runRecord(run []byte, n, last, i uint64) hashRecord {
	off := (n - 1 - (last - i)) * hashRecordLen
	r, _ := parseHashRecord(run[off : off+hashRecordLen])
	return r
}
