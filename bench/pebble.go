package bench

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/ledger"
)

// pebbleOptions are the options ledger.Open gives its main store
// (ledger.TunePebble), so that the raw baseline differs from the ledger only
// in what it writes.
func pebbleOptions() *pebble.Options {
	o := &pebble.Options{Logger: quietPebble{}}
	ledger.TunePebble(o)
	return o
}

// quietPebble drops Pebble's logs.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// rawKey is an index-major key like the ledger's payload key: every commit
// writes one ascending run.
func rawKey(dst []byte, index uint64) []byte {
	dst = append(dst, 'L', 0, 0, 0, 1, 'E')
	dst = binary.BigEndian.AppendUint64(dst, index)
	return append(dst, 'p')
}

// rawPebble is the storage limit: it writes leaves (n of them, cycling) into
// a fresh Pebble store in dir, one value per entry, from clients goroutines
// each committing batch entries per synced commit (with batch 1, a synced
// Set per entry: Pebble's own group commit). It returns entries/s.
func rawPebble(dir string, leaves [][]byte, n, batch, clients int) (float64, error) {
	db, err := pebble.Open(filepath.Join(dir, "db"), pebbleOptions())
	if err != nil {
		return 0, fmt.Errorf("couldn't open raw Pebble: %w", err)
	}
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var key []byte
			for firstErr.Load() == nil {
				lo := next.Add(int64(batch)) - int64(batch)
				if lo >= int64(n) {
					return
				}
				hi := min(lo+int64(batch), int64(n))
				var err error
				if batch == 1 {
					key = rawKey(key[:0], uint64(lo))
					err = db.Set(key, leaves[lo%int64(len(leaves))], pebble.Sync)
				} else {
					b := db.NewBatch()
					for i := lo; i < hi; i++ {
						key = rawKey(key[:0], uint64(i))
						_ = b.Set(key, leaves[i%int64(len(leaves))], nil)
					}
					err = b.Commit(pebble.Sync)
					b.Close()
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	cerr := db.Close()
	if p := firstErr.Load(); p != nil {
		return 0, fmt.Errorf("couldn't write raw Pebble: %w", *p)
	}
	if cerr != nil {
		return 0, fmt.Errorf("couldn't close raw Pebble: %w", cerr)
	}
	return float64(n) / took.Seconds(), nil
}

// rawScan is the storage limit of the read workloads: a plain iteration
// over every key of db, touching each value. It returns the keys visited and
// the time taken.
func rawScan(db *pebble.DB) (int64, time.Duration, error) {
	start := time.Now()
	it, err := db.NewIter(nil)
	if err != nil {
		return 0, 0, fmt.Errorf("couldn't iterate: %w", err)
	}
	var n int64
	var sink byte
	for ok := it.First(); ok; ok = it.Next() {
		if v := it.Value(); len(v) > 0 {
			sink ^= v[0]
		}
		n++
	}
	_ = sink
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("couldn't iterate: %w", err)
	}
	return n, time.Since(start), nil
}
