package ledger

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/proofs"
)

// entryIter returns an iterator over the E range of log id in the main
// store; the caller closes it.
func entryIter(t *testing.T, l *Ledger, id string) *pebble.Iterator {
	t.Helper()
	lg, err := l.handle(id)
	if err != nil {
		t.Fatal(err)
	}
	iter, err := l.DB().NewIter(&pebble.IterOptions{LowerBound: entriesStart(lg.num), UpperBound: entriesEnd(lg.num)})
	if err != nil {
		t.Fatal(err)
	}
	return iter
}

// runEnds returns the index of every hash run key of log id.
func runEnds(t *testing.T, l *Ledger, id string) []uint64 {
	t.Helper()
	iter := entryIter(t, l, id)
	defer iter.Close()
	var ends []uint64
	for iter.First(); iter.Valid(); iter.Next() {
		if idx, kind, ok := parseEntryKey(iter.Key()); ok && kind == kindHashes {
			ends = append(ends, idx)
		}
	}
	return ends
}

// splitRuns rewrites every run of log id as runs of one record each, the
// layout of a store written before runs.
func splitRuns(t *testing.T, l *Ledger, id string) {
	t.Helper()
	lg, err := l.handle(id)
	if err != nil {
		t.Fatal(err)
	}
	b := l.DB().NewBatch()
	for _, j := range runEnds(t, l, id) {
		v := mustGet(t, l.DB(), entryKey(nil, lg.num, j, kindHashes))
		n := uint64(len(v) / hashRecordLen)
		for k := uint64(0); k < n; k++ {
			b.Set(entryKey(nil, lg.num, j-n+1+k, kindHashes), v[k*hashRecordLen:(k+1)*hashRecordLen], nil)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// checkRecords reads every entry of log id each way the ledger can (Read,
// LeafHash, Scan both ways, Search, a hash cursor in random order, IndexOf)
// and wants the records want, which scanEntries read from the raw keys.
func checkRecords(t *testing.T, l *Ledger, id string, want []Record) {
	t.Helper()
	ctx := context.Background()
	same := func(how string, got *Record) {
		t.Helper()
		w := want[got.Index]
		if got.LeafHash != w.LeafHash || got.ChainHash != w.ChainHash || got.ReceivedAtNanos != w.ReceivedAtNanos || !bytes.Equal(got.Leaf, w.Leaf) {
			t.Fatalf("%s: entry %d differs from its stored records", how, got.Index)
		}
	}
	for i := range want {
		r, err := l.Read(id, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		same("Read", r)
		h, err := l.LeafHash(id, uint64(i))
		if err != nil || h != want[i].LeafHash {
			t.Fatalf("LeafHash(%d) = %x, %v", i, h[:4], err)
		}
	}
	for _, desc := range []bool{false, true} {
		from := uint64(0)
		if desc {
			from = uint64(len(want))
		}
		var seen []uint64
		_, err := l.Scan(ctx, id, ScanOptions{Desc: desc, From: from}, func(r *Record) (bool, error) {
			same("Scan", r)
			seen = append(seen, r.Index)
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != len(want) {
			t.Fatalf("Scan (desc %v) saw %d entries, want %d", desc, len(seen), len(want))
		}
		q, err := ParseQuery("actor:u3", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		_, err = l.Search(ctx, id, q, ScanOptions{Desc: desc, From: from}, func(r *Record) (bool, error) {
			same("Search", r)
			n++
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("Search found nothing")
		}
	}
	lg, err := l.handle(id)
	if err != nil {
		t.Fatal(err)
	}
	c := newHashCursor(l.DB(), lg.num)
	defer c.close()
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(len(want)) {
		rec, err := c.find(uint64(i))
		if err != nil || rec.leafHash != want[i].LeafHash || rec.chainHash != want[i].ChainHash {
			t.Fatalf("find(%d): %v", i, err)
		}
	}
	if _, err := c.find(uint64(len(want))); !errors.Is(err, errNoHashRecord) {
		t.Fatalf("find past the end: %v", err)
	}
	waitIndexed(t, l, id)
	checkIndexOf(t, l, id)
}

// TestHashRuns: each commit stores a log's hash records as runs that end at
// every tile end and at the commit's last entry; every reader reads them,
// and reads a store of runs of one (the layout before runs) the same way,
// also after a restart and with new runs appended after old ones.
func TestHashRuns(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTest(t, dir)
	id := DefaultLogID
	calls := []int{1, 1, 5, 300, 1000, 3, 256, 700, 255, 1}
	var wantEnds []uint64
	size := uint64(0)
	for c, n := range calls {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = testEvent(c*10000 + i)
		}
		if _, err := l.Append(ctx, id, evs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := size; i < size+uint64(n); i++ {
			if i%proofs.TileWidth == proofs.TileWidth-1 || i == size+uint64(n)-1 {
				wantEnds = append(wantEnds, i)
			}
		}
		size += uint64(n)
	}
	if got := runEnds(t, l, id); !slices.Equal(got, wantEnds) {
		t.Fatalf("runs end at %v, want %v", got, wantEnds)
	}
	// Callers side by side: their commits hold several requests each, and
	// a log's run covers all of its entries in the commit.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if _, err := l.Append(ctx, id, []Event{testEvent(g*100 + i)}, AppendOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := scanEntries(t, l, id) // checks the runs follow each other without a gap
	if len(want) != int(size)+320 {
		t.Fatalf("%d entries, want %d", len(want), size+320)
	}
	checkRecords(t, l, id, want)
	verifyOK(t, l, id)

	splitRuns(t, l, id)
	if got := runEnds(t, l, id); len(got) != len(want) {
		t.Fatalf("%d runs after the split, want %d", len(got), len(want))
	}
	checkRecords(t, l, id, want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Recovery reads the runs of one; new runs follow them.
	l = openTest(t, dir)
	defer l.Close()
	checkRecords(t, l, id, want)
	evs := make([]Event, 300)
	for i := range evs {
		evs[i] = testEvent(90000 + i)
	}
	if _, err := l.Append(ctx, id, evs, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	want = scanEntries(t, l, id)
	checkRecords(t, l, id, want)
	verifyOK(t, l, id)
}

// verifyOK runs Verify on log id and wants no problem.
func verifyOK(t *testing.T, l *Ledger, id string) *VerifyReport {
	t.Helper()
	rep, err := l.Verify(context.Background(), id, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify: %+v", rep.Problems)
	}
	return rep
}

// TestHashRunLen: what a run's value may be at its key.
func TestHashRunLen(t *testing.T) {
	rec := make([]byte, hashRecordLen)
	for _, tc := range []struct {
		last uint64
		n    int
		ok   bool
	}{
		{0, 1, true},
		{0, 2, false}, // before entry 0
		{255, 256, true},
		{255, 257, false},
		{256, 1, true},
		{256, 2, false}, // across the start of tile 1
		{300, 45, true},
		{300, 46, false},
	} {
		_, err := hashRunLen(tc.last, bytes.Repeat(rec, tc.n))
		if (err == nil) != tc.ok {
			t.Errorf("%d records at %d: %v", tc.n, tc.last, err)
		}
	}
	for _, l := range []int{0, 1, hashRecordLen - 1, hashRecordLen + 1} {
		if _, err := hashRunLen(255, make([]byte, l)); err == nil {
			t.Errorf("%d bytes: no error", l)
		}
	}
}

// TestRunPayloadDeleted: an entry whose payload is deleted (what retention
// will do) has no key of its own when its record is inside a run. Readers
// still return it, redacted, and Verify reports only its payload: the chain
// and tree go on with its stored leaf hash, so every checkpoint still checks.
func TestRunPayloadDeleted(t *testing.T) {
	ctx := context.Background()
	for _, victim := range []uint64{0, 300, 400, 498, 499} {
		fx := newTamperFixture(t)
		l, err := Open(ctx, tamperConfig(fx.fs, false))
		if err != nil {
			t.Fatal(err)
		}
		fx.meta = l.MetaDB()
		mustDelete(t, l.DB(), fx.entryKey(victim, kindPayload))
		for _, o := range []VerifyOptions{{}, {segment: 7, batch: 3, readers: 3, hashers: 2}, {segment: 400, batch: 5, readers: 2, hashers: 1}} {
			rep, err := l.Verify(ctx, "audited", o)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 1 || rep.Problems[0].Index != victim || rep.Problems[0].Problem != "payload is missing" || rep.Size != tamperSize {
				t.Fatalf("entry %d, %+v: %+v", victim, o, rep)
			}
		}
		r, err := l.Read("audited", victim)
		if err != nil || !r.Redacted() {
			t.Fatalf("Read(%d) = %+v, %v", victim, r, err)
		}
		n := 0
		_, err = l.Scan(ctx, "audited", ScanOptions{}, func(r *Record) (bool, error) {
			if r.Index != uint64(n) || r.Redacted() != (r.Index == victim) {
				t.Fatalf("Scan: entry %d at %d (redacted %v)", r.Index, n, r.Redacted())
			}
			n++
			return true, nil
		})
		if err != nil || n != tamperSize {
			t.Fatalf("Scan: %d entries, %v", n, err)
		}
		l.Close()
	}
}
