package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cockroachdb/pebble/v2"
)

// The meta store (DATA/meta) holds what is written beside the entries rather
// than with them: every log's signed checkpoints and its witnesses'
// cosignatures, under the same keys the main store used to hold them by:
//
//	L <log#:4> S <size:8>                  the checkpoint note signed at that size
//	L <log#:4> W c <size:8> <witness name> a witness's cosignature line(s) on it (witness.go)
//	L <log#:4> W s <witness name>          the largest size that witness cosigned
//	V                                      the meta format (1): the move below is done
//	v                                      present while the moved keys are not yet deleted from the main store
//
// Why a store of its own (decision 0008): the publisher writes a checkpoint
// about once a second, a second or so after the entries it covers, and a
// witness's cosignature later still. In the main store those keys sorted
// after the log's entries, so every memtable flush spanned from the first
// entry it held to the checkpoint keys, overlapped every earlier flush, and
// Pebble rewrote the entries once or twice more in compactions (20% of the
// ingest's CPU, measured). With them here, the main store's flushes of a log
// are one ascending run of entry keys each, which Pebble never rewrites.
//
// Nothing is lost in atomicity: a checkpoint was already its own synced write,
// after the commit of the entries it covers, and it still is. The check at
// open (loadCheckpoint) compares the two stores: a main store set back under
// its checkpoints is refused, as before.
const metaVersion = 1

func metaVersionKey() []byte { return []byte{'V'} }

// openMeta opens (or creates) the meta store and moves into it the
// checkpoint and witness keys an older data directory kept in the main
// store. Read-only, an older directory whose keys were not moved yet is read
// from the main store, where they still are.
func (l *Ledger) openMeta() error {
	dir := filepath.Join(l.cfg.Dir, "meta")
	opts := &pebble.Options{FS: l.cfg.FS, ReadOnly: l.cfg.ReadOnly, Logger: quietLogger{l.cfg.Logger}, Cache: l.cache}
	if l.cfg.ReadOnly {
		if _, err := l.cfg.FS.Stat(dir); err != nil {
			l.meta = l.db
			return nil
		}
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return fmt.Errorf("couldn't open the meta store: %w", err)
	}
	version, err := getCopy(db, metaVersionKey())
	if err == nil && version != nil && (len(version) != 1 || version[0] != metaVersion) {
		err = fmt.Errorf("the meta store has format %x, this build reads %d", version, metaVersion)
	}
	var pending []byte
	if err == nil {
		pending, err = getCopy(db, metaPendingKey())
	}
	if err != nil {
		db.Close()
		return err
	}
	switch {
	case l.cfg.ReadOnly && version == nil:
		// Never moved, or a move that a crash cut short before its copy
		// was synced: the main store has everything.
		db.Close()
		l.meta = l.db
		return nil
	case l.cfg.ReadOnly:
	case version == nil:
		err = moveToMeta(l.db, db)
	case pending != nil:
		err = deleteMoved(l.db, db)
	}
	if err != nil {
		db.Close()
		return err
	}
	l.meta = db
	return nil
}

// getCopy returns a copy of key's value in db, or nil when there is none.
func getCopy(db *pebble.DB, key []byte) ([]byte, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read key %q: %w", key, err)
	}
	defer closer.Close()
	return append([]byte{}, v...), nil
}

func metaPendingKey() []byte { return []byte{'v'} }

// metaKinds are the per-log key kinds the meta store holds.
var metaKinds = []byte{logSigned, logWitness}

// metaRanges returns the key ranges [lo, hi) of the meta store's kinds for
// logs 1…n.
func metaRanges(n uint32) [][2][]byte {
	var out [][2][]byte
	for num := uint32(1); num <= n; num++ {
		for _, kind := range metaKinds {
			out = append(out, [2][]byte{append(logPrefix(num), kind), append(logPrefix(num), kind+1)})
		}
	}
	return out
}

// moveToMeta copies every log's S and W keys from the main store into meta,
// with the version and the pending mark, in one synced batch; then
// deleteMoved deletes them from the main store. A crash in between leaves
// both copies and the pending mark, and the next open deletes again.
func moveToMeta(main, meta *pebble.DB) error {
	n, err := lastLogNum(main)
	if err != nil {
		return err
	}
	b := meta.NewBatch()
	defer b.Close()
	for _, r := range metaRanges(n) {
		iter, err := main.NewIter(&pebble.IterOptions{LowerBound: r[0], UpperBound: r[1]})
		if err != nil {
			return fmt.Errorf("couldn't read the checkpoints to move: %w", err)
		}
		for iter.First(); iter.Valid(); iter.Next() {
			if err := b.Set(iter.Key(), iter.Value(), nil); err != nil {
				iter.Close()
				return err
			}
		}
		if err := iter.Close(); err != nil {
			return fmt.Errorf("couldn't read the checkpoints to move: %w", err)
		}
	}
	if err := b.Set(metaVersionKey(), []byte{metaVersion}, nil); err != nil {
		return err
	}
	if n > 0 {
		if err := b.Set(metaPendingKey(), nil, nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("couldn't write the meta store: %w", err)
	}
	if n == 0 {
		return nil
	}
	return deleteMoved(main, meta)
}

// deleteMoved deletes the S and W keys of every log from the main store
// (synced), then the pending mark from meta.
func deleteMoved(main, meta *pebble.DB) error {
	n, err := lastLogNum(main)
	if err != nil {
		return err
	}
	b := main.NewBatch()
	defer b.Close()
	for _, r := range metaRanges(n) {
		if err := b.DeleteRange(r[0], r[1], nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("couldn't remove the moved checkpoints from the main store: %w", err)
	}
	if err := meta.Delete(metaPendingKey(), pebble.Sync); err != nil {
		return fmt.Errorf("couldn't write the meta store: %w", err)
	}
	return nil
}

// lastLogNum returns the last log number handed out, 0 for none.
func lastLogNum(db *pebble.DB) (uint32, error) {
	v, err := getCopy(db, logNumKey())
	if err != nil {
		return 0, err
	}
	if v == nil {
		return 0, nil
	}
	if len(v) != 4 {
		return 0, fmt.Errorf("log counter has %d bytes", len(v))
	}
	return binary.BigEndian.Uint32(v), nil
}
