package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/auditledger/auditledger/proofs"
)

// waitIndexed waits until the indexer has caught up with the log.
func waitIndexed(t *testing.T, l *Ledger, id string) {
	t.Helper()
	lg, err := l.handle(id)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	// Indexed, and no full block waiting for its seal: the index store
	// holds what it will hold until more entries come.
	for lg.indexed.Load() < lg.state.Load().size || sealPending(lg) {
		if time.Now().After(deadline) {
			t.Fatalf("indexer stuck at %d of %d", lg.indexed.Load(), lg.state.Load().size)
		}
		time.Sleep(time.Millisecond)
	}
}

// sealPending reports whether lg's open block is full and waits for its
// seal.
func sealPending(lg *logHandle) bool {
	_, _, _, full := lg.open.state()
	return full
}

// checkIndexOf looks up every entry's leaf hash and wants its index (the
// lowest one, for equal leaves), and an unknown hash wants ErrNotFound.
func checkIndexOf(t *testing.T, l *Ledger, id string) {
	t.Helper()
	size, err := l.Size(id)
	if err != nil {
		t.Fatal(err)
	}
	first := map[proofs.Hash]uint64{}
	for i := uint64(0); i < size; i++ {
		r, err := l.Read(id, i)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := first[r.LeafHash]; !ok {
			first[r.LeafHash] = i
		}
	}
	for h, want := range first {
		got, err := l.IndexOf(id, h)
		if err != nil || got != want {
			t.Fatalf("IndexOf(%x) = %d, %v; want %d", h[:4], got, err, want)
		}
	}
	if _, err := l.IndexOf(id, proofs.LeafHash([]byte("nope"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
}

// TestIndexOfFullBuckets has four hash buckets an epoch, so that each holds
// dozens of records from many indexer batches, merged. The clock stands
// still, so that every call appends the same entries again (the same leaf
// hashes, in every batch): a lookup must find the first.
func TestIndexOfFullBuckets(t *testing.T) {
	defer func(e uint64, b uint) { hashEpoch, hashBucketBits = e, b }(hashEpoch, hashBucketBits)
	hashEpoch, hashBucketBits = 512, 2
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	l, err := Open(ctx, Config{Dir: t.TempDir(), CheckpointInterval: 10 * time.Millisecond, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 1200; i += 100 {
		evs := make([]Event, 100)
		for j := range evs {
			evs[j] = testEvent(j + i%300)
		}
		if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		waitIndexed(t, l, DefaultLogID) // one indexer batch per call
	}
	checkIndexOf(t, l, DefaultLogID)
}

func TestIndexOf(t *testing.T) {
	defer func(b uint64) { postingBlock = b }(postingBlock)
	defer func(e uint64) { hashEpoch = e }(hashEpoch)
	postingBlock, hashEpoch = 128, 256 // 700 entries over six posting blocks, three hash epochs
	ctx := context.Background()
	dir := t.TempDir()
	l := openTest(t, dir)
	evs := make([]Event, 700)
	for i := range evs {
		evs[i] = testEvent(i)
	}
	if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	// Whether or not the indexer has caught up, lookups are exact.
	checkIndexOf(t, l, DefaultLogID)
	waitIndexed(t, l, DefaultLogID)
	checkIndexOf(t, l, DefaultLogID)

	// The index behind the log: lookups scan the tail.
	lg, _ := l.handle(DefaultLogID)
	lg.indexed.Store(100)
	checkIndexOf(t, l, DefaultLogID)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// The index store lost: it is rebuilt, and lookups stay exact meanwhile.
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	checkIndexOf(t, l, DefaultLogID)
	if _, err := l.Append(ctx, DefaultLogID, evs[:3], AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, l, DefaultLogID)
	checkIndexOf(t, l, DefaultLogID)
}
