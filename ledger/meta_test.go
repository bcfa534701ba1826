package ledger

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// metaKeys returns every S and W key of logs 1…n in db, with its value.
func metaKeys(t *testing.T, db *pebble.DB, n uint32) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, r := range metaRanges(n) {
		iter, err := db.NewIter(&pebble.IterOptions{LowerBound: r[0], UpperBound: r[1]})
		if err != nil {
			t.Fatal(err)
		}
		for iter.First(); iter.Valid(); iter.Next() {
			out[string(iter.Key())] = bytes.Clone(iter.Value())
		}
		if err := iter.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func openRaw(t *testing.T, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{benchLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func setAll(t *testing.T, db *pebble.DB, kv map[string][]byte) {
	t.Helper()
	b := db.NewBatch()
	for k, v := range kv {
		if err := b.Set([]byte(k), v, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b.Close()
}

func checkVerifies(t *testing.T, l *Ledger, id string, checkpoints int) {
	t.Helper()
	rep, err := l.Verify(context.Background(), id, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Checkpoints != checkpoints {
		t.Fatalf("log %s: verify OK %v with %d checkpoints (want %d): %v", id, rep.OK, rep.Checkpoints, checkpoints, rep.Problems)
	}
}

// TestMetaMovesOlderLayout opens a data directory in the layout before the
// meta store (checkpoints and cosignatures in the main store): read-only, it
// is read where it is and nothing is written; read-write, every key moves to
// the meta store byte for byte and leaves the main store; and a move cut
// short after its copy (the pending mark still set) is finished at the next
// open.
func TestMetaMovesOlderLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateLog(ctx, "other", LogSettings{}); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		for _, id := range []string{DefaultLogID, "other"} {
			evs := make([]Event, 100+round)
			for i := range evs {
				evs[i] = testEvent(i)
			}
			res, err := l.Append(ctx, id, evs, AppendOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.WaitCheckpoint(ctx, id, res[len(res)-1].Index+1); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Back to the older layout: the meta store's keys in the main store,
	// plus a witness's size record, and no meta store.
	meta := openRaw(t, filepath.Join(dir, "meta"))
	old := metaKeys(t, meta, 2)
	if err := meta.Close(); err != nil {
		t.Fatal(err)
	}
	wkey := string(witnessSizeKeyOf(1, "gone.example/w"))
	old[wkey] = []byte{0, 0, 0, 0, 0, 0, 0, 7}
	cps := map[uint32]int{}
	for k := range old {
		if k[5] == logSigned {
			cps[uint32(k[4])]++
		}
	}
	if cps[1] < 2 || cps[2] < 2 {
		t.Fatalf("checkpoints per log %v: too few to test with", cps)
	}
	main := openRaw(t, filepath.Join(dir, "db"))
	setAll(t, main, old)
	if err := main.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "meta")); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(ctx, Config{Dir: dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkVerifies(t, ro, DefaultLogID, cps[1])
	checkVerifies(t, ro, "other", cps[2])
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "meta")); !os.IsNotExist(err) {
		t.Fatalf("read-only open created the meta store (%v)", err)
	}

	check := func(l *Ledger) {
		t.Helper()
		if left := metaKeys(t, l.DB(), 2); len(left) != 0 {
			t.Fatalf("%d checkpoint or witness keys left in the main store", len(left))
		}
		moved := metaKeys(t, l.MetaDB(), 2)
		for k, v := range old {
			if !bytes.Equal(moved[k], v) {
				t.Fatalf("key %x: %q in the meta store, was %q", k, moved[k], v)
			}
		}
		checkVerifies(t, l, DefaultLogID, cps[1])
		checkVerifies(t, l, "other", cps[2])
		size, err := l.Size("other")
		if err != nil {
			t.Fatal(err)
		}
		if sc, err := l.CheckpointAt("other", size); err != nil || sc.Size != size {
			t.Fatalf("checkpoint at %d: %v %v", size, sc, err)
		}
	}
	l = openTest(t, dir)
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A move cut short between its synced copy and the main store's
	// delete: both hold the keys and the pending mark is set.
	main = openRaw(t, filepath.Join(dir, "db"))
	setAll(t, main, old)
	if err := main.Close(); err != nil {
		t.Fatal(err)
	}
	meta = openRaw(t, filepath.Join(dir, "meta"))
	setAll(t, meta, map[string][]byte{string(metaPendingKey()): nil})
	if err := meta.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	check(l)
	if v, err := getCopy(l.MetaDB(), metaPendingKey()); err != nil || v != nil {
		t.Fatalf("the pending mark is still set (%v)", err)
	}
	// New checkpoints go to the meta store.
	res, err := l.Append(ctx, "other", []Event{testEvent(1)}, AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitCheckpoint(ctx, "other", res[0].Index+1); err != nil {
		t.Fatal(err)
	}
	if left := metaKeys(t, l.DB(), 2); len(left) != 0 {
		t.Fatalf("a new checkpoint went to the main store: %d keys", len(left))
	}
	checkVerifies(t, l, "other", cps[2]+1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
