package ledger

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/proofs"
)

// ErrIdempotencyMismatch is returned when an idempotency key is used again
// with a different request body.
var ErrIdempotencyMismatch = errors.New("idempotency key was used with another request body")

// Idempotency makes one Append call idempotent. The record of the first call
// is written in the same commit as its entries, so a retry after a crash
// either finds both or neither. Records are kept Config.IdempotencyTTL
// (48 h by default; SPEC asks at least 24 h), then pruned.
type Idempotency struct {
	// Key is the idempotency key, already scoped by the caller (the API scopes
	// it to the API key; the log scopes it further).
	Key string
	// BodyHash identifies the request; a retry must carry the same.
	BodyHash proofs.Hash

	// Replayed is set by Append when it returned the first call's results
	// instead of appending.
	Replayed bool
	// Response is set by Append on a replay: the answer saved with
	// SaveIdempotentResponse, if any.
	Response []byte
}

// idemRecord is the stored form (key L n I <sha256(key)>).
type idemRecord struct {
	BodyHash []byte          `json:"body_hash"`
	Created  int64           `json:"created"`
	Results  []idemResult    `json:"results"`
	Response json.RawMessage `json:"response,omitempty"`
}

type idemResult struct {
	Index      uint64 `json:"i"`
	LeafHash   []byte `json:"h,omitempty"`
	ReceivedAt int64  `json:"t,omitempty"`
	Skipped    bool   `json:"s,omitempty"`
}

const logIdem = 'I'

func idemKey(num uint32, key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return append(append(logPrefix(num), logIdem), sum[:]...)
}

// idemLocks serialises calls that share an idempotency key, so that two
// concurrent retries never both append.
type idemLocks struct {
	mu sync.Mutex // guards m
	m  map[string]*idemLock
}

type idemLock struct {
	mu   sync.Mutex
	refs int
}

func (il *idemLocks) lock(k string) func() {
	il.mu.Lock()
	if il.m == nil {
		il.m = map[string]*idemLock{}
	}
	lk := il.m[k]
	if lk == nil {
		lk = &idemLock{}
		il.m[k] = lk
	}
	lk.refs++
	il.mu.Unlock()
	lk.mu.Lock()
	return func() {
		lk.mu.Unlock()
		il.mu.Lock()
		if lk.refs--; lk.refs == 0 {
			delete(il.m, k)
		}
		il.mu.Unlock()
	}
}

func (l *Ledger) readIdem(lg *logHandle, key string) (*idemRecord, error) {
	v, closer, err := l.db.Get(idemKey(lg.num, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read idempotency record: %w", err)
	}
	defer closer.Close()
	var rec idemRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, fmt.Errorf("couldn't parse idempotency record: %w", err)
	}
	return &rec, nil
}

func (rec *idemRecord) appended() []Appended {
	out := make([]Appended, len(rec.Results))
	for i, r := range rec.Results {
		if r.Skipped {
			out[i] = Appended{Skipped: true}
			continue
		}
		out[i] = Appended{Index: r.Index, ReceivedAt: time.Unix(0, r.ReceivedAt).UTC()}
		copy(out[i].LeafHash[:], r.LeafHash)
	}
	return out
}

func newIdemRecord(bodyHash proofs.Hash, now time.Time, res []Appended) *idemRecord {
	rec := &idemRecord{BodyHash: bodyHash[:], Created: now.UnixNano(), Results: make([]idemResult, len(res))}
	for i, a := range res {
		if a.Skipped {
			rec.Results[i] = idemResult{Skipped: true}
			continue
		}
		rec.Results[i] = idemResult{Index: a.Index, LeafHash: append([]byte(nil), a.LeafHash[:]...), ReceivedAt: a.ReceivedAt.UnixNano()}
	}
	return rec
}

// SaveIdempotentResponse stores the full answer given to the first call of an
// idempotency key, so that a retry gets the very same bytes (used for answers
// that depend on more than the append, like ?wait=checkpoint).
func (l *Ledger) SaveIdempotentResponse(logID, key string, response []byte) error {
	release, err := l.enter()
	if err != nil {
		return err
	}
	defer release()
	lg, err := l.handle(logID)
	if err != nil {
		return err
	}
	unlock := l.idem.lock(logID + "\x00" + key)
	defer unlock()
	rec, err := l.readIdem(lg, key)
	if err != nil {
		return err
	}
	if rec == nil {
		return fmt.Errorf("idempotency record %q: %w", key, ErrNotFound)
	}
	rec.Response = append(json.RawMessage(nil), response...)
	v, _ := json.Marshal(rec)
	return l.db.Set(idemKey(lg.num, key), v, pebble.Sync)
}

// pruneEvery is how often expired idempotency records are pruned.
const pruneEvery = time.Hour

// pruneIdempotency deletes every idempotency record older than
// Config.IdempotencyTTL. A record is only rewritten when its key is absent,
// so deleting one that was read as expired cannot remove a newer one. The
// deletions are not synced: one that a crash undoes is done again.
func (l *Ledger) pruneIdempotency() {
	release, err := l.enter()
	if err != nil {
		return
	}
	defer release()
	cutoff := l.cfg.Now().Add(-l.cfg.IdempotencyTTL).UnixNano()
	for _, lg := range l.handles() {
		n, err := l.pruneLogIdempotency(lg, cutoff)
		if err != nil {
			l.cfg.Logger.Warn("couldn't prune idempotency records", "log", lg.id, "err", err)
			continue
		}
		if n > 0 {
			l.cfg.Logger.Debug("pruned idempotency records", "log", lg.id, "records", n)
		}
	}
}

func (l *Ledger) pruneLogIdempotency(lg *logHandle, cutoff int64) (int, error) {
	lower := append(logPrefix(lg.num), logIdem)
	iter, err := l.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: append(logPrefix(lg.num), logIdem+1)})
	if err != nil {
		return 0, err
	}
	defer iter.Close()
	b := l.db.NewBatch()
	defer b.Close()
	n := 0
	for iter.First(); iter.Valid(); iter.Next() {
		var rec struct {
			Created int64 `json:"created"`
		}
		if err := json.Unmarshal(iter.Value(), &rec); err != nil || rec.Created >= cutoff {
			continue // a record that does not parse is left for a person to see
		}
		if err := b.Delete(iter.Key(), nil); err != nil {
			return 0, err
		}
		n++
	}
	if err := iter.Error(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	return n, b.Commit(pebble.NoSync)
}
