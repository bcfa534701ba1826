package ledger

import (
	"sync/atomic"
	"time"
)

// Stats counts the ledger's work; the API exports it as metrics. Its fields
// may be read at any time.
type Stats struct {
	// Commits is the number of synced commits that stored entries.
	Commits atomic.Int64
	// Entries is the number of entries committed.
	Entries atomic.Int64
	// Pushbacks is the number of Append calls refused with ErrPushback.
	Pushbacks atomic.Int64
	// Redone is the number of rounds the sequencer undid and sequenced
	// again, because a request in them failed to build after part of it was
	// sequenced: only an event that skipped validation (AppendOptions.Validated
	// on an event that was not) or a bug can do that.
	Redone atomic.Int64
	// Checkpoints is the number of checkpoints signed.
	Checkpoints atomic.Int64
	// CommitNanos is the total time of the rounds, each from the start of
	// its preparing to just before its answer, which includes waiting for
	// the round before to commit; rounds overlap, so the total can exceed
	// the time elapsed.
	CommitNanos atomic.Int64
	// OnCommit, when set before the first append, is called by the committer
	// after each commit with its entry count and duration. It must be fast.
	OnCommit func(entries int, d time.Duration)
}

func (s *Stats) observeCommit(entries int, d time.Duration) {
	if entries == 0 {
		return
	}
	s.Commits.Add(1)
	s.Entries.Add(int64(entries))
	s.CommitNanos.Add(int64(d))
	if s.OnCommit != nil {
		s.OnCommit(entries, d)
	}
}

// Stats returns the ledger's counters.
func (l *Ledger) Stats() *Stats { return &l.stats }
