package ledger

import (
	"testing"
)

func freshRun(first, n int) []freshEntry {
	out := make([]freshEntry, n)
	for i := range out {
		out[i].leaf = []byte{byte(first + i)}
	}
	return out
}

// TestFreshQueue checks the hand-off's bookkeeping: runs join, a take
// gives exactly the entries asked for or nothing, gaps and drops send the
// indexer to the store, and the bound holds.
func TestFreshQueue(t *testing.T) {
	var q freshQueue
	q.push(10, freshRun(10, 5))
	q.push(15, freshRun(15, 5)) // the next run, not copied into the first
	if len(q.segs) != 2 || q.n != 10 {
		t.Fatalf("segs %d, n %d", len(q.segs), q.n)
	}
	check := func(from, to uint64, ok bool) {
		t.Helper()
		parts, gotOK := q.take(from, to)
		if gotOK != ok {
			t.Fatalf("take(%d, %d): ok %v", from, to, gotOK)
		}
		if !ok {
			return
		}
		var got []freshEntry
		for _, p := range parts {
			got = append(got, p...)
		}
		if len(got) != int(to-from) {
			t.Fatalf("take(%d, %d): %d entries", from, to, len(got))
		}
		for i, e := range got {
			if e.leaf[0] != byte(from)+byte(i) {
				t.Fatalf("take(%d, %d)[%d] is entry %d", from, to, i, e.leaf[0])
			}
		}
	}
	check(5, 12, false)  // below the queue: read from the store
	check(10, 13, true)  // the head
	check(13, 21, false) // past the end
	check(13, 20, true)  // across the two runs
	if q.n != 0 || len(q.segs) != 0 {
		t.Fatalf("after taking everything: n %d, segs %d", q.n, len(q.segs))
	}
	q.push(30, freshRun(30, 4)) // a gap after 20
	check(20, 25, false)
	check(30, 34, true)
	// Full: dropped, and the indexer reads them from the store.
	q.push(34, freshRun(34, freshMax))
	q.push(34+freshMax, freshRun(0, 1))
	if q.n != freshMax || len(q.segs) != 1 {
		t.Fatalf("n %d, segs %d", q.n, len(q.segs))
	}
	check(34+freshMax, 35+freshMax, false)
	if q.n != 0 {
		t.Fatalf("stale entries kept: %d", q.n)
	}
}
