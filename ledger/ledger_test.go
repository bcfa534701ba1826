package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/proofs"
)

func testEvent(i int) Event {
	return Event{
		Category: "role",
		Action:   "role:assign",
		Actor:    &Actor{Type: "user", ID: fmt.Sprintf("u%d", i%17), Email: "ann@example.com"},
		Target:   &Target{Type: "user", ID: fmt.Sprintf("t%d", i)},
		IP:       "10.0.0.1",
		Details:  []byte(`{"role_from":"member","role_to":"admin"}`),
	}
}

func openTest(t testing.TB, dir string) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), Config{Dir: dir, CheckpointInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// checkLog re-verifies the whole log: Verify finds nothing, and every
// inclusion proof at the final size and a consistency proof from every size
// check out with golang.org/x/mod/sumdb/tlog.
func checkLog(t *testing.T, l *Ledger, id string) {
	t.Helper()
	rep := verifyOK(t, l, id)
	info, err := l.Log(id)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != info.Size || rep.Root != info.Root {
		t.Fatalf("verify size/root %d/%x, log %d/%x", rep.Size, rep.Root, info.Size, info.Root)
	}
	n := info.Size
	hashes := make([]tlog.Hash, 0, n)
	for i := uint64(0); i < n; i++ {
		r, err := l.Read(id, i)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, tlog.Hash(r.LeafHash))
	}
	hr := memHashReader(hashes)
	th, err := tlog.TreeHash(int64(n), hr)
	if err != nil && n > 0 {
		t.Fatal(err)
	}
	if n > 0 && proofs.Hash(th) != info.Root {
		t.Fatalf("root %x, tlog.TreeHash %x", info.Root, th)
	}
	for i := uint64(0); i < n; i++ {
		p, err := l.InclusionProof(id, i, n)
		if err != nil {
			t.Fatal(err)
		}
		var rp tlog.RecordProof
		for _, h := range p {
			rp = append(rp, tlog.Hash(h))
		}
		if err := tlog.CheckRecord(rp, int64(n), th, int64(i), hashes[i]); err != nil {
			t.Fatalf("inclusion %d/%d: %v", i, n, err)
		}
	}
	for m := uint64(1); m < n; m++ {
		p, err := l.ConsistencyProof(id, m, n)
		if err != nil {
			t.Fatal(err)
		}
		var tp tlog.TreeProof
		for _, h := range p {
			tp = append(tp, tlog.Hash(h))
		}
		thm, _ := tlog.TreeHash(int64(m), hr)
		if err := tlog.CheckTree(tp, int64(n), th, int64(m), thm); err != nil {
			t.Fatalf("consistency %d→%d: %v", m, n, err)
		}
	}
}

// memHashReader serves the stored hashes of a tree built from leaf hashes, in
// tlog's numbering.
func memHashReader(leaves []tlog.Hash) tlog.HashReader {
	var stored []tlog.Hash
	for i, h := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), h, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, x := range idx {
				out[j] = stored[x]
			}
			return out, nil
		}))
		if err != nil {
			panic(err)
		}
		stored = append(stored, hs...)
	}
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, x := range idx {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[j] = stored[x]
		}
		return out, nil
	})
}

func TestAppendReopenVerify(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := openTest(t, dir)
	total := 0
	for _, n := range []int{1, 2, 5, 250, 3, 300, 1} {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = testEvent(total + i)
		}
		res, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Index != uint64(total+i) {
				t.Fatalf("index %d, want %d", r.Index, total+i)
			}
		}
		total += n
		checkLog(t, l, DefaultLogID)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	checkLog(t, l, DefaultLogID)
	res, err := l.Append(ctx, DefaultLogID, []Event{testEvent(0)}, AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Index != uint64(total) {
		t.Fatalf("after reopen index %d, want %d", res[0].Index, total)
	}
	checkLog(t, l, DefaultLogID)
	cp, err := l.WaitCheckpoint(ctx, DefaultLogID, uint64(total+1))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != uint64(total+1) {
		t.Fatalf("checkpoint size %d", cp.Size)
	}
}

func TestConcurrentAppend(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	seen := make([]bool, 64*50)
	var mu sync.Mutex
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				res, err := l.Append(ctx, DefaultLogID, []Event{testEvent(g*100 + i)}, AppendOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[res[0].Index] {
					t.Errorf("index %d twice", res[0].Index)
				}
				seen[res[0].Index] = true
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	checkLog(t, l, DefaultLogID)
}
