package ledger

import (
	"context"
	"errors"
	"testing"
)

// TestLargeCallInChunks appends calls big enough to be validated and built
// in chunks: errors name the lowest bad position, and the stored leaves are
// in call order and verify.
func TestLargeCallInChunks(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	const n = 4 * chunkMin
	evs := func() []Event {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = testEvent(i)
		}
		return evs
	}
	for _, bad := range [][]int{{n - 3}, {n / 2, 7}, {chunkMin, 3 * chunkMin}} {
		e := evs()
		low := bad[0]
		for _, i := range bad {
			e[i].Category = "nope"
			low = min(low, i)
		}
		_, err := l.Append(ctx, DefaultLogID, e, AppendOptions{})
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Position != low || ve.Field != "category" {
			t.Fatalf("bad events at %v: %v, want position %d", bad, err, low)
		}
	}
	if size, _ := l.Size(DefaultLogID); size != 0 {
		t.Fatalf("a rejected call stored %d entries", size)
	}
	res, err := l.Append(ctx, DefaultLogID, evs(), AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range res {
		r, err := l.Read(DefaultLogID, a.Index)
		if err != nil {
			t.Fatal(err)
		}
		en, err := ParseEntry(r.Leaf)
		if err != nil || a.Index != uint64(i) || en.Target.ID != testEvent(i).Target.ID || r.LeafHash != a.LeafHash {
			t.Fatalf("entry %d: index %d, %v", i, a.Index, err)
		}
	}
	rep, err := l.Verify(ctx, DefaultLogID, VerifyOptions{})
	if err != nil || !rep.OK || rep.Size != n {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
