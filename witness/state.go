package witness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/proofs"
)

// stateFile is the name of the verified checkpoint in a state directory.
const stateFile = "checkpoint"

// Verified is a checkpoint whose signature was checked.
type Verified struct {
	proofs.Checkpoint
	// Note is the signed note, with the log's signature only.
	Note []byte
}

// State is the latest checkpoint of one log that a monitor (or the witness it
// serves) verified, kept in a directory as the signed note. Writes are
// atomic: a temporary file, synced, renamed over the old one, and the
// directory synced. Its methods may be called from many goroutines.
type State struct {
	dir string
	v   note.Verifier

	// mu guards cur and seq and serialises Update.
	mu  sync.Mutex
	cur *Verified
	seq uint64 // incremented at each saved update
}

// OpenState opens (creating it if needed) a state directory for the log whose
// verifier is v. A stored checkpoint that does not verify with v is an error:
// the state belongs to another log or was changed.
func OpenState(dir string, v note.Verifier) (*State, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create the state directory: %w", err)
	}
	s := &State{dir: dir, v: v}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read the state: %w", err)
	}
	c, _, err := proofs.OpenCheckpoint(b, v)
	if err != nil {
		return nil, fmt.Errorf("the stored checkpoint in %s does not verify with this log's key: %w", dir, err)
	}
	s.cur = &Verified{Checkpoint: c, Note: b}
	return s, nil
}

// Latest returns the latest verified checkpoint (nil when none yet) and the
// update sequence number, which changes at each saved update.
func (s *State) Latest() (*Verified, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, s.seq
}

// Update calls fn with the latest verified checkpoint (nil when none) while
// holding the state. When fn returns a new checkpoint it is written
// atomically before it becomes the latest; an error from fn is returned
// unchanged.
func (s *State) Update(fn func(cur *Verified) (*Verified, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := fn(s.cur)
	if err != nil || next == nil {
		return err
	}
	if err := writeAtomic(s.dir, stateFile, next.Note); err != nil {
		return fmt.Errorf("couldn't save the state: %w", err)
	}
	s.cur = next
	s.seq++
	return nil
}

// writeAtomic replaces dir/name with data: temporary file, fsync, rename,
// directory fsync.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
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
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
