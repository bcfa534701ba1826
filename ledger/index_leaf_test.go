package ledger

import (
	"fmt"
	"slices"
	"testing"
)

// slowIndexFields is the reference for leafIndexFields: Entry.IndexValues
// of ParseStoredEntry, as the indexer's fallback reads them.
func slowIndexFields(leaf []byte) ([]string, int64, bool) {
	en, err := ParseStoredEntry(leaf)
	if err != nil {
		return nil, 0, false
	}
	var got []string
	for _, iv := range en.IndexValues() {
		f, ok := indexFields[iv.Field]
		if !ok || iv.Field == "result" && iv.Value == "success" {
			continue
		}
		got = append(got, fmt.Sprintf("%c=%q", f, iv.Value))
	}
	slices.Sort(got)
	return slices.Compact(got), entryQueryTime(en).UnixNano(), true
}

// checkIndexFields reports whether leafIndexFields took the leaf, and
// fails t when what it gives differs from the slow path's.
func checkIndexFields(t testing.TB, leaf []byte) bool {
	t.Helper()
	var scratch []byte
	var got []string
	qt, ok := leafIndexFields(leaf, &scratch, func(f byte, v []byte) {
		got = append(got, fmt.Sprintf("%c=%q", f, v))
	})
	if !ok {
		if len(got) > 0 {
			t.Fatalf("declined %q after giving %v", leaf, got)
		}
		return false
	}
	slices.Sort(got)
	got = slices.Compact(got)
	want, wantQT, parsed := slowIndexFields(leaf)
	if !parsed {
		t.Fatalf("took %q, which ParseStoredEntry refuses", leaf)
	}
	if !slices.Equal(got, want) || qt != wantQT {
		t.Fatalf("leaf %s:\ngot  %v, time %d\nwant %v, time %d", leaf, got, qt, want, wantQT)
	}
	return true
}

// TestLeafIndexFields compares the indexer's fast reader with
// ParseStoredEntry + IndexValues on every leaf the CSV tests use (the
// ledger's generators and random entries) and on loosely written and
// damaged ones.
func TestLeafIndexFields(t *testing.T) {
	taken := 0
	leaves := csvLeaves(t)
	for i, leaf := range leaves {
		// The first thousand are the leaves of the ledger's generators
		// (csvLeaves), which have few escapes; the rest random entries.
		if checkIndexFields(t, leaf) && i < 1000 {
			taken++
		}
	}
	if taken < 900 {
		t.Errorf("the fast path took %d of the first 1,000 generated leaves", taken)
	}
	for i, leaf := range leaves {
		for _, cut := range []int{1, len(leaf) / 2} {
			checkIndexFields(t, leaf[:len(leaf)-cut])
		}
		damaged := slices.Clone(leaf)
		damaged[i%len(damaged)] ^= 0x20
		checkIndexFields(t, damaged)
	}
	for _, leaf := range [][]byte{
		[]byte(`{"action":"user:invite","actor":{"email":"Ann.Lee@EXAMPLE.com","id":"u1","type":"user"},"category":"user","ip":"10.0.0.1","log":"default","read_only":true,"received_at":"2026-11-26T01:02:03.4Z","result":"failure","target":{"id":"t1","name":"Bob","type":"user"},"time":"1999-12-31T23:59:59.123456789Z","v":1}`),
		[]byte(`{"action":"login","actor":{"email":"Zoë@example.com","id":"u1","type":"user"},"category":"login","log":"default","received_at":"2026-11-26T01:02:03Z","v":1}`),
		[]byte(`{"action":"a:b:c","actor":{"id":"x\u0041","type":"user"},"category":"c","log":"default","received_at":"2026-11-26T01:02:03Z","v":1}`),
	} {
		checkIndexFields(t, leaf)
	}
}

func FuzzLeafIndexFields(f *testing.F) {
	for _, leaf := range csvLeaves(f)[:200] {
		f.Add(leaf)
	}
	f.Fuzz(func(t *testing.T, leaf []byte) {
		checkIndexFields(t, leaf)
	})
}
