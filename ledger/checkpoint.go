package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/proofs"
)

// SignedCheckpoint is a checkpoint the log published.
type SignedCheckpoint struct {
	proofs.Checkpoint
	// Note is the signed note, as served.
	Note []byte
	// At is when it was signed (not part of the note).
	At time.Time
}

// signCheckpoint signs the log's committed state, stores the note (synced)
// and only then publishes it. It runs on the publisher goroutine, or at log
// creation before the log is visible, so two signings of one log never race.
//
// It never signs two inconsistent checkpoints: it signs only committed state,
// committed state only grows by appending, and at open recovery refuses a
// store whose tree does not extend the last stored checkpoint.
func (l *Ledger) signCheckpoint(lg *logHandle) (*SignedCheckpoint, error) {
	st := lg.state.Load()
	if prev := lg.cp.Load(); prev != nil && prev.Size >= st.size {
		return prev, nil
	}
	c := proofs.Checkpoint{Origin: lg.origin, Size: st.size, Root: st.root, Chain: st.chain}
	msg, err := proofs.SignCheckpoint(c, lg.signer)
	if err != nil {
		return nil, err
	}
	if err := l.meta.Set(checkpointKey(lg.num, c.Size), msg, pebble.Sync); err != nil {
		return nil, fmt.Errorf("couldn't store checkpoint %d of log %q: %w", c.Size, lg.id, err)
	}
	sc := &SignedCheckpoint{Checkpoint: c, Note: msg, At: l.cfg.Now()}
	lg.cp.Store(sc)
	lg.cpMu.Lock()
	close(lg.cpWait)
	lg.cpWait = make(chan struct{})
	lg.cpMu.Unlock()
	l.stats.Checkpoints.Add(1)
	return sc, nil
}

// loadCheckpoint reads the log's latest stored checkpoint, verifies it with
// the log's key, and checks that the recovered tree extends it: same root and
// chain head at its size. A mismatch means the store lost or changed
// acknowledged entries; the ledger refuses to open rather than sign a fork.
func (l *Ledger) loadCheckpoint(lg *logHandle) error {
	sc, err := l.latestStoredCheckpoint(lg)
	if errors.Is(err, ErrNotFound) {
		_, err = l.signCheckpoint(lg)
		return err
	}
	if err != nil {
		return err
	}
	st := lg.state.Load()
	if sc.Size > st.size {
		return fmt.Errorf("the store holds %d entries but checkpoint %d was signed: entries were lost; run `auditledger verify`", st.size, sc.Size)
	}
	root, err := proofs.Root(sc.Size, l.nodeReader(lg, st))
	if err != nil {
		return err
	}
	chain := proofs.Hash{}
	if sc.Size > 0 {
		rec, err := l.hashRecord(lg, sc.Size-1)
		if err != nil {
			return err
		}
		chain = rec.chainHash
	}
	if root != sc.Root || chain != sc.Chain {
		return fmt.Errorf("the stored tree at size %d does not match the signed checkpoint: the store was changed; run `auditledger verify`", sc.Size)
	}
	lg.cp.Store(sc)
	return nil
}

func (l *Ledger) latestStoredCheckpoint(lg *logHandle) (*SignedCheckpoint, error) {
	iter, err := l.meta.NewIter(&pebble.IterOptions{
		LowerBound: checkpointKey(lg.num, 0),
		UpperBound: append(logPrefix(lg.num), logSigned+1),
	})
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	if !iter.Last() {
		if err := iter.Error(); err != nil {
			return nil, err
		}
		return nil, ErrNotFound
	}
	return l.openStoredCheckpoint(lg, iter.Value())
}

func (l *Ledger) openStoredCheckpoint(lg *logHandle, msg []byte) (*SignedCheckpoint, error) {
	msg = append([]byte(nil), msg...)
	c, _, err := proofs.OpenCheckpoint(msg, lg.verifier)
	if err != nil {
		return nil, fmt.Errorf("stored checkpoint of log %q: %w", lg.id, err)
	}
	return &SignedCheckpoint{Checkpoint: c, Note: msg}, nil
}

// Checkpoint returns the log's latest published checkpoint, its note
// carrying the witness cosignatures collected for it so far.
func (l *Ledger) Checkpoint(logID string) (*SignedCheckpoint, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	lg, err := l.handle(logID)
	if err != nil {
		return nil, err
	}
	if sc := lg.cp.Load(); sc != nil {
		return l.withCosignatures(lg, sc, false)
	}
	if l.cfg.ReadOnly {
		return l.latestStoredCheckpoint(lg)
	}
	return nil, fmt.Errorf("checkpoint of log %q: %w", logID, ErrNotFound)
}

// CheckpointAt returns the checkpoint the log published at exactly size, its
// note carrying the witness cosignatures collected for it, or ErrNotFound.
func (l *Ledger) CheckpointAt(logID string, size uint64) (*SignedCheckpoint, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	lg, err := l.handle(logID)
	if err != nil {
		return nil, err
	}
	v, closer, err := l.meta.Get(checkpointKey(lg.num, size))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("checkpoint at size %d: %w", size, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read checkpoint %d: %w", size, err)
	}
	sc, err := l.openStoredCheckpoint(lg, v)
	closer.Close()
	if err != nil {
		return nil, err
	}
	return l.withCosignatures(lg, sc, true)
}

// WaitCheckpoint returns the first published checkpoint of at least size,
// waiting for the publisher when needed.
func (l *Ledger) WaitCheckpoint(ctx context.Context, logID string, size uint64) (*SignedCheckpoint, error) {
	lg, err := l.handle(logID)
	if err != nil {
		return nil, err
	}
	for {
		lg.cpMu.Lock()
		wait := lg.cpWait
		lg.cpMu.Unlock()
		if sc := lg.cp.Load(); sc != nil && sc.Size >= size {
			return l.withCosignatures(lg, sc, false)
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.pubDone:
			return nil, ErrClosed
		}
	}
}

// publish is the checkpoint publisher goroutine. A log gets a new checkpoint
// when it grew, at most once per CheckpointInterval. On stop it signs a final
// checkpoint for every log that grew.
func (l *Ledger) publish() {
	defer close(l.pubDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := l.publishDue()
		if next > 0 {
			timer.Reset(next)
		}
		select {
		case <-l.grew:
		case <-timer.C:
		case <-l.stopPub:
			for _, lg := range l.handles() {
				if _, err := l.signCheckpoint(lg); err != nil {
					l.cfg.Logger.Error("final checkpoint failed", "log", lg.id, "err", err)
				}
			}
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// publishDue signs the checkpoints that are due and returns how long until
// the next one is, or 0 when no log waits for one.
func (l *Ledger) publishDue() time.Duration {
	var next time.Duration
	now := l.cfg.Now()
	for _, lg := range l.handles() {
		st := lg.state.Load()
		prev := lg.cp.Load()
		if prev != nil && prev.Size >= st.size {
			continue
		}
		if prev != nil {
			if wait := prev.At.Add(l.cfg.CheckpointInterval).Sub(now); wait > 0 {
				if next == 0 || wait < next {
					next = wait
				}
				continue
			}
		}
		if _, err := l.signCheckpoint(lg); err != nil {
			l.cfg.Logger.Error("checkpoint failed", "log", lg.id, "err", err)
			if next == 0 || l.cfg.CheckpointInterval < next {
				next = l.cfg.CheckpointInterval
			}
		}
	}
	return next
}

func (l *Ledger) handles() []*logHandle {
	l.logsMu.RLock()
	defer l.logsMu.RUnlock()
	out := make([]*logHandle, 0, len(l.logs))
	for _, lg := range l.logs {
		out = append(out, lg)
	}
	return out
}
