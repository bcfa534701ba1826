package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Retention (SPEC §2, §4): a log whose settings have retention_days > 0
// has the payload of every entry received more than that many days ago
// deleted. Its hash record (leaf hash, chain hash, received_at) and every
// tree node stay, so every proof still verifies, and the entry reads as
// redacted. received_at never decreases along a log (Append), so the
// deleted entries are always a prefix [0, mark) of it; the retention mark
// records that prefix, and with it a bound that every received_at in it is
// under, so that verify can tell a payload retention deleted from one that
// is missing.

// logRetained is the key kind of a log's retention mark:
//
//	L <log#:4> D   mark (8) ‖ cutoff (unix ns, 8)
//
// Every entry below mark had its payload deleted, and every one of them was
// received before cutoff.
const logRetained = 'D'

func retentionKey(num uint32) []byte { return append(logPrefix(num), logRetained) }

// retention is a log's retention mark.
type retention struct {
	mark   uint64
	cutoff int64
}

func (r retention) encode() []byte {
	v := binary.BigEndian.AppendUint64(nil, r.mark)
	return binary.BigEndian.AppendUint64(v, uint64(r.cutoff))
}

// readRetention reads a log's retention mark from r (the store or one of
// its snapshots); a log without one has the zero mark.
func readRetention(r pebble.Reader, num uint32) (retention, error) {
	v, closer, err := r.Get(retentionKey(num))
	if errors.Is(err, pebble.ErrNotFound) {
		return retention{}, nil
	}
	if err != nil {
		return retention{}, err
	}
	defer closer.Close()
	if len(v) != 16 {
		return retention{}, fmt.Errorf("retention mark of %d bytes, want 16", len(v))
	}
	return retention{mark: binary.BigEndian.Uint64(v), cutoff: int64(binary.BigEndian.Uint64(v[8:]))}, nil
}

// retainEvery is how often the retainer looks for payloads to delete.
const retainEvery = time.Hour

// retainChunk is the most payloads one synced batch deletes.
const retainChunk = 10_000

// retainer is the goroutine that applies retention: at start, then every
// retainEvery and whenever a log's settings change, until Close.
func (l *Ledger) retainer() {
	defer close(l.retDone)
	tick := time.NewTicker(retainEvery)
	defer tick.Stop()
	for {
		l.retainAll()
		select {
		case <-tick.C:
		case <-l.retWake:
		case <-l.idxStop: // closed by Close
			return
		}
	}
}

// retainAll applies retention to every log, and returns how many payloads
// it deleted. A log it fails on is logged and left for the next pass.
func (l *Ledger) retainAll() int {
	release, err := l.enter()
	if err != nil {
		return 0
	}
	defer release()
	if l.writable() != nil {
		return 0
	}
	total := 0
	for _, lg := range l.handles() {
		n, err := l.retainLog(lg)
		total += n
		if err != nil {
			l.cfg.Logger.Warn("couldn't apply retention", "log", lg.id, "err", err)
			continue
		}
		if n > 0 {
			l.cfg.Logger.Info("retention deleted payloads", "log", lg.id, "payloads", n)
		}
	}
	return total
}

// retainLog deletes the payloads of lg's entries received before now minus
// its retention_days, from its retention mark on, in synced batches that
// each move the mark with the payloads they delete. Only entries covered by
// the published size are considered.
func (l *Ledger) retainLog(lg *logHandle) (int, error) {
	days := lg.settings.Load().RetentionDays
	st := lg.state.Load()
	if days <= 0 || st == nil {
		return 0, nil
	}
	cutoff := l.cfg.Now().Add(-time.Duration(days) * 24 * time.Hour).UnixNano()
	ret, err := readRetention(l.db, lg.num)
	if err != nil {
		return 0, err
	}
	// The mark keeps the latest cutoff it was moved under: every entry
	// below it was received before that one. (When retention_days grew
	// since, cutoff is earlier, and the entries from the mark on, received
	// after the mark's cutoff, are all kept.)
	markCutoff := max(cutoff, ret.cutoff)
	deleted := 0
	for ret.mark < st.size {
		select {
		case <-l.idxStop: // Close: the next start goes on from the mark
			return deleted, nil
		default:
		}
		end := ret.mark
		err := l.scanHashRecords(lg, ret.mark, min(st.size, ret.mark+retainChunk), func(idx uint64, rec hashRecord) bool {
			if idx != end || rec.receivedAt >= cutoff {
				return false // a record missing (verify reports it), or too new
			}
			end = idx + 1
			return true
		})
		if err != nil {
			return deleted, err
		}
		if end == ret.mark {
			return deleted, nil
		}
		b := l.db.NewBatch()
		var key []byte
		for idx := ret.mark; idx < end; idx++ {
			key = entryKey(key[:0], lg.num, idx, kindPayload)
			if err := b.Delete(key, nil); err != nil {
				b.Close()
				return deleted, err
			}
		}
		next := retention{mark: end, cutoff: markCutoff}
		if err := b.Set(retentionKey(lg.num), next.encode(), nil); err != nil {
			b.Close()
			return deleted, err
		}
		// Synced: a payload retention deleted does not come back with a
		// crash.
		err = b.Commit(pebble.Sync)
		b.Close()
		if err != nil {
			return deleted, err
		}
		deleted += int(end - ret.mark)
		ret = next
	}
	return deleted, nil
}
