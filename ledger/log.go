package ledger

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/proofs"
)

var logIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CheckLogID returns an ErrInvalid error unless id is a valid log id.
func CheckLogID(id string) error {
	if !logIDRe.MatchString(id) {
		return fmt.Errorf("%w: log id %q must match [a-z0-9][a-z0-9-]{0,62}", ErrInvalid, id)
	}
	return nil
}

func checkOrigin(o string) error {
	if len(o) > 200 || strings.ContainsAny(o, " \t\r\n+") || o == "" {
		return fmt.Errorf("%w: origin %q must be a non-empty name without spaces or '+'", ErrInvalid, o)
	}
	return nil
}

// LogSettings are a log's mutable settings.
type LogSettings struct {
	// RetentionDays is how long entry payloads are kept; 0 keeps them forever.
	RetentionDays int `json:"retention_days"`
	// Verbose stores read-only events; when false they are skipped.
	Verbose bool `json:"verbose"`
}

// logRecord is the stored form of a log (key G l <id>).
type logRecord struct {
	ID       string      `json:"id"`
	Num      uint32      `json:"num"`
	Origin   string      `json:"origin"`
	Settings LogSettings `json:"settings"`
	// Witnesses are the log's witness settings (witness.go); absent when none.
	Witnesses *WitnessSettings `json:"witnesses,omitempty"`
}

// LogInfo describes a log.
type LogInfo struct {
	ID          string
	Origin      string
	VerifierKey string
	Settings    LogSettings
	// Size is the number of committed entries.
	Size uint64
	// Root is the Merkle root at Size.
	Root proofs.Hash
	// ChainHead is chain_hash[Size-1], or zero for an empty log.
	ChainHead proofs.Hash
	// Witnesses are the log's witness settings.
	Witnesses WitnessSettings
}

// logHandle is one open log.
type logHandle struct {
	id       string
	num      uint32
	origin   string
	signer   note.Signer
	verifier note.Verifier
	vkey     string

	settings atomic.Pointer[LogSettings]

	// enqueueMu orders appends to this log: it is held while received_at is
	// assigned and the request is queued, so queue order and received_at order agree.
	enqueueMu sync.Mutex
	lastRA    int64 // guarded by enqueueMu: the largest received_at handed out

	// seq is the tree state the sequencer works on; owned by the sequencer
	// goroutine (and by recovery before it starts).
	seq *treeState
	// state is the last committed state; written by the committer
	// (sequencer.go) after each commit, read by everyone.
	state atomic.Pointer[logState]

	// indexed is the size up to which the indexes hold this log, in the
	// index store or in the open block; written by the indexer (under
	// open.mu), read by searches and IndexOf.
	indexed atomic.Uint64
	// open is the newest part of the indexes, in memory (openblock.go).
	open openBlock
	// fresh is the committer's hand-off of committed entries to the
	// indexer (fresh.go).
	fresh freshQueue

	// cpMu guards cpWait; cp is the latest published checkpoint.
	cp     atomic.Pointer[SignedCheckpoint]
	cpMu   sync.Mutex
	cpWait chan struct{} // closed and replaced at each publish

	wit witnessState // witness settings, cosignatures, witnessed size (witness.go)
}

// CreateLog creates a log with a new Ed25519 note key. The key file is written
// and synced before the log record is committed, so a crash leaves at most an
// unused key file, never a log without its key. The empty log's checkpoint is
// signed at once.
func (l *Ledger) CreateLog(ctx context.Context, id string, s LogSettings) (*LogInfo, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := l.writable(); err != nil {
		return nil, err
	}
	if err := CheckLogID(id); err != nil {
		return nil, err
	}
	if s.RetentionDays < 0 {
		return nil, fmt.Errorf("%w: retention_days must be ≥ 0", ErrInvalid)
	}
	l.logsMu.Lock()
	defer l.logsMu.Unlock()
	if _, ok := l.logs[id]; ok {
		return nil, fmt.Errorf("log %q: %w", id, ErrExists)
	}
	num, err := l.nextLogNum()
	if err != nil {
		return nil, err
	}
	origin := l.cfg.Origin + "/" + id
	skey, _, err := proofs.GenerateKey(origin)
	if err != nil {
		return nil, err
	}
	if err := writeSecretFile(l.cfg.FS, l.keyPath(id), []byte(skey+"\n")); err != nil {
		return nil, fmt.Errorf("couldn't store the key of log %q: %w", id, err)
	}
	rec := logRecord{ID: id, Num: num, Origin: origin, Settings: s}
	val, _ := json.Marshal(rec)
	b := l.db.NewBatch()
	b.Set(logRecordKey(id), val, nil)
	b.Set(logNumKey(), binary.BigEndian.AppendUint32(nil, num), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("couldn't store log %q: %w", id, err)
	}
	lg, err := l.openLog(rec, skey)
	if err != nil {
		return nil, err
	}
	if err := l.recoverLog(lg); err != nil {
		return nil, err
	}
	if _, err := l.signCheckpoint(lg); err != nil {
		return nil, err
	}
	l.logs[id] = lg
	l.witnessEvents.notify()
	return lg.info(), nil
}

func (l *Ledger) nextLogNum() (uint32, error) {
	v, closer, err := l.db.Get(logNumKey())
	if errors.Is(err, pebble.ErrNotFound) {
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("couldn't read the log counter: %w", err)
	}
	defer closer.Close()
	if len(v) != 4 {
		return 0, fmt.Errorf("log counter has %d bytes", len(v))
	}
	return binary.BigEndian.Uint32(v) + 1, nil
}

func (l *Ledger) keyPath(id string) string {
	return filepath.Join(l.cfg.Dir, "keys", id+".key")
}

// openLog builds a handle from a stored record and its signer key.
func (l *Ledger) openLog(rec logRecord, skey string) (*logHandle, error) {
	signer, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("couldn't load the key of log %q: %w", rec.ID, err)
	}
	if signer.Name() != rec.Origin {
		return nil, fmt.Errorf("the key of log %q is named %q, want %q", rec.ID, signer.Name(), rec.Origin)
	}
	vkey, err := verifierKeyOf(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("couldn't derive the verifier of log %q: %w", rec.ID, err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("couldn't load the verifier of log %q: %w", rec.ID, err)
	}
	lg := &logHandle{
		id: rec.ID, num: rec.Num, origin: rec.Origin,
		signer: signer, verifier: verifier, vkey: vkey,
		cpWait: make(chan struct{}),
	}
	st := rec.Settings
	lg.settings.Store(&st)
	lg.wit.setConfig(rec.Witnesses)
	return lg, nil
}

// loadLogs reads every log record and key, and (unless read-only) recovers
// each log's tree state and checks it against its last checkpoint.
func (l *Ledger) loadLogs(ctx context.Context) error {
	iter, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixGlobal, globalLog},
		UpperBound: []byte{prefixGlobal, globalLog + 1},
	})
	if err != nil {
		return fmt.Errorf("couldn't list logs: %w", err)
	}
	var recs []logRecord
	for iter.First(); iter.Valid(); iter.Next() {
		var rec logRecord
		if err := json.Unmarshal(iter.Value(), &rec); err != nil {
			iter.Close()
			return fmt.Errorf("couldn't read log record %q: %w", iter.Key(), err)
		}
		recs = append(recs, rec)
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("couldn't list logs: %w", err)
	}
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		skey, err := readFile(l.cfg.FS, l.keyPath(rec.ID))
		if err != nil {
			return fmt.Errorf("couldn't read the key of log %q: %w", rec.ID, err)
		}
		lg, err := l.openLog(rec, string(skey))
		if err != nil {
			return err
		}
		if l.cfg.ReadOnly {
			// Best effort: a damaged store still opens read-only, for Verify
			// to say what is wrong; the log's readers then report ErrFailed.
			if err := l.recoverLog(lg); err != nil {
				l.cfg.Logger.Warn("couldn't recover log state", "log", rec.ID, "err", err)
			}
		} else {
			if err := l.recoverLog(lg); err != nil {
				return fmt.Errorf("log %q: %w", rec.ID, err)
			}
			if err := l.loadCheckpoint(lg); err != nil {
				return fmt.Errorf("log %q: %w", rec.ID, err)
			}
			if err := l.loadIndexMark(lg); err != nil {
				return err
			}
			if err := l.loadWitnessState(lg); err != nil {
				return err
			}
		}
		l.logs[rec.ID] = lg
	}
	return nil
}

// committed returns the log's committed state; it fails only for a log whose
// state could not be recovered in a read-only ledger.
func (lg *logHandle) committed() (*logState, error) {
	st := lg.state.Load()
	if st == nil {
		return nil, fmt.Errorf("%w: the state of log %q could not be recovered; run verify", ErrFailed, lg.id)
	}
	return st, nil
}

func (l *Ledger) handle(id string) (*logHandle, error) {
	l.logsMu.RLock()
	lg, ok := l.logs[id]
	l.logsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("log %q: %w", id, ErrNotFound)
	}
	return lg, nil
}

// Log returns a log's description, or ErrNotFound.
func (l *Ledger) Log(id string) (*LogInfo, error) {
	lg, err := l.handle(id)
	if err != nil {
		return nil, err
	}
	return lg.info(), nil
}

// Logs returns every log, sorted by id.
func (l *Ledger) Logs() []*LogInfo {
	l.logsMu.RLock()
	out := make([]*LogInfo, 0, len(l.logs))
	for _, lg := range l.logs {
		out = append(out, lg.info())
	}
	l.logsMu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// UpdateSettings replaces a log's settings durably.
func (l *Ledger) UpdateSettings(ctx context.Context, id string, s LogSettings) (*LogInfo, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := l.writable(); err != nil {
		return nil, err
	}
	if s.RetentionDays < 0 {
		return nil, fmt.Errorf("%w: retention_days must be ≥ 0", ErrInvalid)
	}
	l.logsMu.Lock()
	defer l.logsMu.Unlock()
	lg, ok := l.logs[id]
	if !ok {
		return nil, fmt.Errorf("log %q: %w", id, ErrNotFound)
	}
	rec := logRecord{ID: lg.id, Num: lg.num, Origin: lg.origin, Settings: s, Witnesses: lg.wit.record()}
	val, _ := json.Marshal(rec)
	if err := l.db.Set(logRecordKey(id), val, pebble.Sync); err != nil {
		return nil, fmt.Errorf("couldn't store the settings of log %q: %w", id, err)
	}
	lg.settings.Store(&s)
	select {
	case l.retWake <- struct{}{}: // a new retention_days applies now, not at the next hour
	default:
	}
	return lg.info(), nil
}

func (lg *logHandle) info() *LogInfo {
	info := &LogInfo{ID: lg.id, Origin: lg.origin, VerifierKey: lg.vkey, Settings: *lg.settings.Load()}
	if st := lg.state.Load(); st != nil {
		info.Size, info.Root, info.ChainHead = st.size, st.root, st.chain
	}
	info.Witnesses = *lg.wit.config()
	return info
}

// verifierKeyOf derives the note verifier key "name+hash+key" from a signer
// key "PRIVATE+KEY+name+hash+key".
func verifierKeyOf(skey string) (string, error) {
	return proofs.VerifierKeyFromSigner(skey)
}

// writeSecretFile writes a file readable by its owner only, synced, via a
// temporary file and a rename, and syncs the directory.
func writeSecretFile(fs vfs.FS, path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := mkdirAllSynced(fs, dir); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if fs == vfs.Default {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	} else {
		f, err := fs.Create(tmp, vfs.WriteCategoryUnspecified)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if err := fs.Rename(tmp, path); err != nil {
		return err
	}
	d, err := fs.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// mkdirAllSynced creates dir and any missing parents, and syncs the parent
// of each directory it created, so that a crash cannot lose the new
// directories (and the files in them) from the tree.
func mkdirAllSynced(fs vfs.FS, dir string) error {
	var created []string
	for d := dir; ; d = fs.PathDir(d) {
		if _, err := fs.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		created = append(created, d)
		if fs.PathDir(d) == d {
			break
		}
	}
	if err := fs.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i := len(created) - 1; i >= 0; i-- {
		d, err := fs.OpenDir(fs.PathDir(created[i]))
		if err != nil {
			return err
		}
		err = d.Sync()
		if cerr := d.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func readFile(fs vfs.FS, path string) ([]byte, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
