// Package ledger is auditledger's storage: many append-only logs in one Pebble
// database, each a hash chain and an RFC 6962 Merkle tree stored as C2SP hash
// tiles, with a group-commit sequencer, a checkpoint publisher, readers for
// entries and proofs, and an offline verifier.
package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Defaults for Config fields left zero.
const (
	// DefaultOrigin is the server origin when none is configured.
	DefaultOrigin = "auditledger.local"
	// DefaultCheckpointInterval is the least time between two checkpoints of one log.
	DefaultCheckpointInterval = time.Second
	// DefaultMaxPending bounds the events accepted but not yet committed; past
	// it Append returns ErrPushback.
	DefaultMaxPending = 262144
	// DefaultMaxBatch is the most entries the sequencer puts in one commit.
	DefaultMaxBatch = 8192
	// DefaultIndexMemoryEntries bounds the entries the indexer holds in
	// memory, over all logs, before it writes some out early (~40 MB for
	// events of ~400 bytes; decision 0010).
	DefaultIndexMemoryEntries = 1 << 18
	// DefaultTileCacheBytes is the memory for full tiles kept expanded for proofs.
	DefaultTileCacheBytes = 256 << 20
	// DefaultBlockCacheBytes is the memory of Pebble's block cache, shared
	// by the main store and the index store (Pebble's own default is 8 MiB).
	DefaultBlockCacheBytes = 256 << 20
	// VerifyBlockCacheBytes is the block cache for a process that opens a
	// store only to verify it (`auditledger verify`). Verify reads each block
	// once, so a cache only costs there: filling 256 MB means allocating and
	// faulting in that much fresh memory, a third of the system time of
	// verifying 1 M entries, while a small cache keeps recycling the same
	// memory (docs/performance.md, session 8).
	VerifyBlockCacheBytes = 16 << 20
	// DefaultIdempotencyTTL is how long an idempotency record is kept: twice
	// the 24 h that SPEC §4 promises.
	DefaultIdempotencyTTL = 48 * time.Hour
	// DefaultLogID is the log that exists from the first start.
	DefaultLogID = "default"
)

// Errors that callers branch on.
var (
	// ErrNotFound is returned for a log, entry, checkpoint or leaf hash that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when creating a log whose id is taken.
	ErrExists = errors.New("already exists")
	// ErrPushback is returned when the append queue is full; retry later.
	ErrPushback = errors.New("append queue full")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("ledger closed")
	// ErrFailed is returned after a commit failed: the process must restart, and
	// recovery then finds exactly what was durably committed.
	ErrFailed = errors.New("ledger failed")
	// ErrReadOnly is returned for writes to a ledger opened read-only.
	ErrReadOnly = errors.New("ledger is read-only")
	// ErrInvalid is returned, wrapped, for bad arguments (an index past the
	// size, a malformed log id).
	ErrInvalid = errors.New("invalid argument")
)

// Config configures a Ledger. Its field comments are the reference for the
// matching `serve` flags.
type Config struct {
	// Dir is the data directory: Pebble lives in Dir/db, log keys in Dir/keys.
	Dir string
	// FS is the filesystem for everything under Dir; nil means the OS's. Tests
	// pass Pebble's crashable in-memory filesystem.
	FS vfs.FS
	// Origin is the server origin; a log's checkpoint origin and key name are
	// "<Origin>/<log id>", fixed when the log is created.
	Origin string
	// CheckpointInterval is the least time between two checkpoints of a log.
	CheckpointInterval time.Duration
	// MaxPending bounds the events accepted but not yet committed.
	MaxPending int
	// MaxBatch bounds the entries in one commit.
	MaxBatch int
	// TileCacheBytes bounds the memory of the full-tile cache used by proofs.
	TileCacheBytes int64
	// BlockCacheBytes bounds Pebble's block cache (decompressed blocks of
	// both stores), which searches and exports read through.
	BlockCacheBytes int64
	// IndexMemoryEntries bounds the newest entries whose indexes the indexer
	// holds in memory, over all logs (each log's open posting block, up to
	// 65,535 entries, ~150 bytes each). Past it, the largest blocks are
	// written out early, which costs more CPU per entry (decision 0010).
	IndexMemoryEntries int
	// IdempotencyTTL is how long an idempotency record is kept before the
	// indexer goroutine prunes it (hourly); a retry after that appends again.
	IdempotencyTTL time.Duration
	// ReadOnly opens the store without writing anything: no default log, no
	// sequencer, no publisher, no recovery checks. For offline verify.
	ReadOnly bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// PebbleOptions, when set, may adjust Pebble's options before open
	// (benchmarks and tests).
	PebbleOptions func(*pebble.Options)

	// noIndexer leaves the indexer goroutine unstarted: nothing is indexed
	// (searches and lookups by hash scan the whole log) and expired
	// idempotency records are not pruned. Only benchmarks set it, to measure
	// what indexing costs the append path (BenchmarkAppend's indexer=off).
	noIndexer bool
}

func (c *Config) setDefaults() error {
	if c.Dir == "" {
		return fmt.Errorf("%w: no data directory", ErrInvalid)
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Origin == "" {
		c.Origin = DefaultOrigin
	}
	if err := checkOrigin(c.Origin); err != nil {
		return err
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.CheckpointInterval < time.Millisecond {
		return fmt.Errorf("%w: checkpoint interval %v is under 1ms", ErrInvalid, c.CheckpointInterval)
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.TileCacheBytes <= 0 {
		c.TileCacheBytes = DefaultTileCacheBytes
	}
	if c.BlockCacheBytes <= 0 {
		c.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if c.IndexMemoryEntries <= 0 {
		c.IndexMemoryEntries = DefaultIndexMemoryEntries
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Ledger is an open store. Its methods may be called from many goroutines.
type Ledger struct {
	cfg   Config
	db    *pebble.DB
	cache *pebble.Cache // the block cache of db and index
	tiles *tileCache

	// keyMu guards keyCache and orders key writes with cache fills.
	keyMu    sync.Mutex
	keyCache map[string]*APIKey

	// logsMu guards logs and serialises log creation.
	logsMu sync.RWMutex
	logs   map[string]*logHandle

	// closeMu guards closed and the send side of queue: Append holds it for
	// reading while it enqueues, Close for writing while it closes the queue.
	closeMu sync.RWMutex
	closed  bool
	queue   chan *request
	pending atomic.Int64 // events enqueued, not yet answered

	// dbMu guards db against Close: every public method that reads or writes
	// it holds dbMu for reading (see enter); Close holds it for writing while
	// it closes db and sets dbClosed.
	dbMu     sync.RWMutex
	dbClosed bool

	closeOnce sync.Once
	closeErr  error // set by the first Close

	failed atomic.Pointer[error] // set once, when a commit fails
	// testCommit, when a test sets it before appending, replaces the
	// committer's synced commit of a round's batch; testHandOff, likewise,
	// is called by the sequencer with each round before it hands it over.
	testCommit  func(*pebble.Batch) error
	testHandOff func(*round)

	grew    chan struct{} // committer → publisher: some log grew (buffer 1)
	index   *pebble.DB    // the leaf hash index store (hashindex.go); nil read-only
	meta    *pebble.DB    // checkpoints and cosignatures (meta.go); db itself read-only on an older directory
	idxWake chan struct{} // committer → indexer: some log grew (buffer 1)
	idxStop chan struct{} // closed by Close: stops the indexer and the retainer
	idxDone chan struct{}
	retDone chan struct{} // closed by the retainer (retention.go) when it stops
	retWake chan struct{} // UpdateSettings → retainer: apply retention now (buffer 1)
	stopPub chan struct{}
	seqDone chan struct{}
	pubDone chan struct{}

	// sealOpts are the options of the sstables that seal posting blocks
	// (openblock.go).
	sealOpts sstable.WriterOptions

	idem  idemLocks
	stats Stats

	witnessEvents witnessEvents // witness settings changes, for the pusher (witness.go)
}

// Open opens (or creates) the store in cfg.Dir, recovers every log's state,
// checks it against the log's last signed checkpoint, makes sure the default
// log exists, and starts the sequencer and the checkpoint publisher.
func Open(ctx context.Context, cfg Config) (*Ledger, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.ReadOnly {
		// Read-only writes nothing, not even the directory.
		if _, err := cfg.FS.Stat(filepath.Join(cfg.Dir, "db")); err != nil {
			return nil, fmt.Errorf("couldn't open the store read-only: %w", err)
		}
	} else if err := mkdirAllSynced(cfg.FS, cfg.Dir); err != nil {
		return nil, fmt.Errorf("couldn't create data directory: %w", err)
	}
	// One block cache for both stores; each DB holds its own reference, and
	// closeStores drops this one.
	cache := pebble.NewCache(cfg.BlockCacheBytes)
	opts := &pebble.Options{FS: cfg.FS, ReadOnly: cfg.ReadOnly, Logger: quietLogger{cfg.Logger}, Cache: cache}
	TunePebble(opts)
	if cfg.PebbleOptions != nil {
		cfg.PebbleOptions(opts)
	}
	db, err := pebble.Open(filepath.Join(cfg.Dir, "db"), opts)
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("couldn't open the store: %w", err)
	}
	if err := checkMainFormat(db, cfg.ReadOnly); err != nil {
		db.Close()
		cache.Unref()
		return nil, err
	}
	l := &Ledger{
		cfg:      cfg,
		db:       db,
		cache:    cache,
		tiles:    newTileCache(cfg.TileCacheBytes),
		keyCache: map[string]*APIKey{},
		logs:     map[string]*logHandle{},
		queue:    make(chan *request, 4096),
		grew:     make(chan struct{}, 1),
		stopPub:  make(chan struct{}),
		idxWake:  make(chan struct{}, 1),
		idxStop:  make(chan struct{}),
		idxDone:  make(chan struct{}),
		retDone:  make(chan struct{}),
		retWake:  make(chan struct{}, 1),
		seqDone:  make(chan struct{}),
		pubDone:  make(chan struct{}),
	}
	if err := l.openMeta(); err != nil {
		db.Close()
		cache.Unref()
		return nil, err
	}
	if !cfg.ReadOnly {
		if err := l.openIndex(); err != nil {
			l.closeStores()
			return nil, err
		}
	}
	if err := l.loadLogs(ctx); err != nil {
		l.closeStores()
		return nil, err
	}
	if cfg.ReadOnly {
		close(l.seqDone)
		close(l.pubDone)
		close(l.idxDone)
		close(l.retDone)
		l.closed = true
		return l, nil
	}
	if _, err := l.Log(DefaultLogID); errors.Is(err, ErrNotFound) {
		if _, err := l.CreateLog(ctx, DefaultLogID, LogSettings{}); err != nil {
			l.closeStores()
			return nil, err
		}
	}
	go l.sequence()
	go l.publish()
	if cfg.noIndexer {
		close(l.idxDone)
	} else {
		go l.indexer()
	}
	go l.retainer()
	return l, nil
}

// checkMainFormat refuses a main store of another format than mainFormat,
// and marks one without the key (new, or written before it) as mainFormat.
func checkMainFormat(db *pebble.DB, readOnly bool) error {
	v, err := getCopy(db, formatKey())
	switch {
	case err != nil:
		return fmt.Errorf("couldn't read the store's format: %w", err)
	case v == nil && !readOnly:
		if err := db.Set(formatKey(), []byte{mainFormat}, pebble.Sync); err != nil {
			return fmt.Errorf("couldn't write the store's format: %w", err)
		}
	case v != nil && (len(v) != 1 || v[0] != mainFormat):
		return fmt.Errorf("the store has format %x, this build reads %d: it was written by another version of auditledger", v, mainFormat)
	}
	return nil
}

// TunePebble sets the options the ledger opens its main store with, as
// measured in docs/performance.md; raw Pebble baselines (BenchmarkRawPebble,
// auditledger bench) use them too, so that they compare like with like.
func TunePebble(o *pebble.Options) {
	o.MemTableSize = 64 << 20
	o.L0CompactionThreshold = 4
	o.L0StopWritesThreshold = 24
	for i := range o.TargetFileSizes {
		o.TargetFileSizes[i] = 64 << 20
	}
	// 32 KiB data blocks, not Pebble's 4 KiB: a block holds ~50 entries
	// instead of ~7, so whole-log reads (verify, exports) pay the per-block
	// costs (cache insert and eviction, read, checksum) 8× less often, and
	// Snappy finds more to share. Measured on 1 M entries: verify
	// 0.62 → 1.0 M entries/s, a one-in-twelve export 49 k → 114 k rows/s,
	// 10% less disk; point reads (search pages, cold proofs, lookups by
	// hash) unchanged within noise (docs/performance.md).
	for i := range o.Levels {
		o.Levels[i].BlockSize = 32 << 10
	}
}

// Close stops accepting appends, commits everything already accepted,
// publishes a final checkpoint for every log that grew, and closes the store.
// Calling it again returns the first call's result.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.closeMu.Lock()
		wasClosed := l.closed // a read-only ledger starts closed
		l.closed = true
		if !wasClosed {
			close(l.queue)
		}
		l.closeMu.Unlock()
		if !wasClosed {
			<-l.seqDone
			close(l.stopPub)
			close(l.idxStop)
			<-l.pubDone
			<-l.idxDone
			<-l.retDone
		}
		l.dbMu.Lock()
		l.dbClosed = true
		l.closeErr = l.closeStores()
		l.dbMu.Unlock()
	})
	return l.closeErr
}

// closeStores closes the index store (flushed first: it has no WAL), the meta
// store and the main store.
func (l *Ledger) closeStores() error {
	var errs []error
	if l.index != nil {
		if err := l.index.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("couldn't flush the index store: %w", err))
		}
		if err := l.index.Close(); err != nil {
			errs = append(errs, fmt.Errorf("couldn't close the index store: %w", err))
		}
	}
	if l.meta != nil && l.meta != l.db {
		if err := l.meta.Close(); err != nil {
			errs = append(errs, fmt.Errorf("couldn't close the meta store: %w", err))
		}
	}
	if err := l.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("couldn't close the store: %w", err))
	}
	l.cache.Unref()
	return errors.Join(errs...)
}

// enter is called by each public method that uses the database; it returns
// ErrClosed once Close has closed it, and otherwise a release function.
func (l *Ledger) enter() (release func(), err error) {
	l.dbMu.RLock()
	if l.dbClosed {
		l.dbMu.RUnlock()
		return nil, ErrClosed
	}
	return l.dbMu.RUnlock, nil
}

// writable returns ErrReadOnly for a ledger opened read-only, and ErrFailed
// once a commit has failed: from then on nothing is written to the store
// (logs, settings, witnesses, keys) until a restart, which recovers the
// state from what the store holds. Reads go on.
func (l *Ledger) writable() error {
	if l.cfg.ReadOnly {
		return ErrReadOnly
	}
	if p := l.failed.Load(); p != nil {
		return fmt.Errorf("%w: %v", ErrFailed, *p)
	}
	return nil
}

// Healthy reports nil while the store is open and no commit has failed.
func (l *Ledger) Healthy() error {
	if p := l.failed.Load(); p != nil {
		return fmt.Errorf("%w: %v", ErrFailed, *p)
	}
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed && !l.cfg.ReadOnly {
		return ErrClosed
	}
	return nil
}

// DB returns the underlying Pebble database, for metrics and for tests that
// tamper with stored bytes.
func (l *Ledger) DB() *pebble.DB { return l.db }

// MetaDB returns the Pebble database that holds the checkpoints and witness
// cosignatures (meta.go), for tests that tamper with them.
func (l *Ledger) MetaDB() *pebble.DB { return l.meta }

// quietLogger sends Pebble's informational chatter to slog at debug level.
type quietLogger struct{ l *slog.Logger }

func (q quietLogger) Infof(format string, args ...interface{}) {
	q.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (q quietLogger) Errorf(format string, args ...interface{}) {
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (q quietLogger) Fatalf(format string, args ...interface{}) {
	q.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
	panic(fmt.Sprintf(format, args...))
}
