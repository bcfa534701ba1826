package ledger

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestIdempotencyPruned checks that a record is kept for the TTL, replayed
// within it, and pruned after it, and that a retry after that appends anew.
func TestIdempotencyPruned(t *testing.T) {
	ctx := context.Background()
	var now atomic.Int64
	now.Store(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l, err := Open(ctx, Config{Dir: t.TempDir(), CheckpointInterval: 10 * time.Millisecond,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendWith := func(key string) (uint64, bool) {
		t.Helper()
		idem := &Idempotency{Key: key}
		idem.BodyHash[0] = 1
		res, err := l.Append(ctx, DefaultLogID, []Event{testEvent(1)}, AppendOptions{Idempotency: idem})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Index, idem.Replayed
	}
	old, _ := appendWith("old")
	now.Add(int64(47 * time.Hour))
	recent, _ := appendWith("recent")
	if i, replayed := appendWith("old"); !replayed || i != old {
		t.Fatalf("within the TTL: index %d replayed %v, want %d replayed", i, replayed, old)
	}
	now.Add(int64(2 * time.Hour)) // "old" is 49 h old, "recent" 2 h
	l.pruneIdempotency()
	if i, replayed := appendWith("recent"); !replayed || i != recent {
		t.Fatalf("a recent record was pruned: index %d replayed %v", i, replayed)
	}
	if i, replayed := appendWith("old"); replayed || i == old {
		t.Fatalf("an expired record was replayed: index %d replayed %v", i, replayed)
	}
}

// TestKeyCacheRevocation authenticates from many goroutines while a key is
// revoked: once RevokeKey has returned, no Authenticate accepts the token.
func TestKeyCacheRevocation(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	k, tok, err := l.CreateKey(ctx, "svc", RoleIngest, DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	var revoked atomic.Bool
	done := make(chan struct{})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				after := revoked.Load()
				if _, err := l.Authenticate(tok); err == nil && after {
					errs <- fmt.Errorf("a revoked key was accepted")
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := l.RevokeKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	time.Sleep(20 * time.Millisecond)
	close(done)
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
