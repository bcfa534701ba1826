package ledger

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/merkle/compact"

	"github.com/auditledger/auditledger/proofs"
)

// placeCases are keys in the E range that Verify cannot place, each next to
// a segment boundary of the small segments TestVerifySegments uses.
var placeCases = []tamperCase{
	{
		name: "unknown_record_kind",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			mustSet(t, db, fx.entryKey(7, 'z'), []byte("?"))
		},
		want: []uint64{7},
		text: "unknown record kind",
	},
	{
		// "L n E <8>" with no kind: the very key a segment starting at
		// entry 8 starts at.
		name: "short_key_at_boundary",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			mustSet(t, db, fx.entryKey(8, 0)[:14], []byte("?"))
		},
		want: []uint64{8},
		text: "unknown key",
	},
	{
		name: "short_key_at_start",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			mustSet(t, db, append(entriesStart(fx.num), 0), []byte("?"))
		},
		want: []uint64{0},
		text: "unknown key",
	},
	{
		name: "malformed_tile_key",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			mustSet(t, db, append(fx.entryKey(300, kindTile), 0, 0), []byte("?"))
		},
		want: []uint64{300},
		text: "malformed tile key",
	},
	{
		name: "entries_missing_across_segments",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			for i := uint64(5); i < 30; i++ {
				fx.deleteEntry(t, db, i)
			}
		},
		want: []uint64{5, 6, 13, 29},
		text: "missing",
	},
}

// TestVerifySegments: how the readers cut the log into segments and batches
// does not change what Verify reports. Each tamper case, and each key Verify
// cannot place, gives the same report from one reader scanning the log as one
// segment and from several readers taking segments of a few entries each.
func TestVerifySegments(t *testing.T) {
	ctx := context.Background()
	cases := append(slices.Clone(tamperCases), placeCases...)
	cases = append(cases, tamperCase{name: "untouched", tamper: func(*testing.T, *tamperFixture, *pebble.DB) {}})
	splits := []VerifyOptions{
		{segment: 1, batch: 1, readers: 2, hashers: 1},
		{segment: 7, batch: 3, readers: 3, hashers: 2},
		{segment: 8, batch: 2, readers: 2, hashers: 3},
		{segment: 256, batch: 5, readers: 2, hashers: 1},
		{segment: 100, batch: 512, readers: 4, hashers: 4},
		{segment: 599, batch: 64, readers: 2, hashers: 2},
		{segment: 1000, batch: 7, readers: 1, hashers: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newTamperFixture(t)
			l, err := Open(ctx, tamperConfig(fx.fs, false))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			fx.meta = l.MetaDB()
			tc.tamper(t, fx, l.DB())
			// The default segment holds the whole log: one reader, one scan.
			want, err := l.Verify(ctx, "audited", VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if !want.OK || want.Size != tamperSize {
					t.Fatalf("untouched: %+v", want)
				}
			} else {
				checkFound(t, want, tc)
			}
			for _, o := range splits {
				got, err := l.Verify(ctx, "audited", o)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("segment %d, batch %d, %d readers, %d hashers:\n got %+v\nwant %+v", o.segment, o.batch, o.readers, o.hashers, got, want)
				}
			}
		})
	}
}

// TestVerifyCancelled: a cancelled Verify returns the context's error and
// leaves no reader behind, whichever reader sees it first.
func TestVerifyCancelled(t *testing.T) {
	fx := newTamperFixture(t)
	l, err := Open(context.Background(), tamperConfig(fx.fs, true))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, readers := range []int{1, 2, 3} {
		_, err := l.Verify(ctx, "audited", VerifyOptions{segment: 10, batch: 4, readers: readers})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%d readers: err %v, want context.Canceled", readers, err)
		}
	}
	// The ledger is still usable: the readers are gone and released it.
	checkClean(t, l, "audited", tamperSize)
}

// TestVerifyTree checks the replay's compact range against
// transparency-dev/merkle's: the root at every size, and the full tiles it
// compares, which it must find equal to the tiles compact.Range's nodes make,
// and find the first leaf under a changed hash of.
func TestVerifyTree(t *testing.T) {
	const size = 2*65536 + 300 // two full level-1 tiles
	leaf := func(i int) proofs.Hash { return proofs.LeafHash([]byte{byte(i), byte(i >> 8), byte(i >> 16)}) }

	// The tiles from compact.Range's nodes, by the leaf that completes them.
	type tile struct {
		level  uint64
		hashes []byte
	}
	tiles := map[uint64][]tile{}
	var rows [3][]byte
	rng := rangeFactory.NewEmptyRange(0)
	roots := make([]proofs.Hash, 0, size+1)
	roots = append(roots, proofs.EmptyRoot)
	for i := 0; i < size; i++ {
		h := leaf(i)
		err := rng.Append(h[:], func(id compact.NodeID, hash []byte) {
			if id.Level%proofs.TileHeight != 0 {
				return
			}
			lv := id.Level / proofs.TileHeight
			rows[lv] = append(rows[lv], hash...)
			if len(rows[lv]) == proofs.TileWidth*proofs.HashSize {
				tiles[uint64(i)] = append(tiles[uint64(i)], tile{uint64(lv), rows[lv]})
				rows[lv] = nil
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		r, err := rng.GetRootHash(nil)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, proofs.Hash(r))
	}
	if n := len(tiles[65535]); n != 2 {
		t.Fatalf("leaf 65535 completes %d tiles, want 2", n)
	}

	replay := func(change func(level uint64, hashes []byte) []byte) *VerifyReport {
		rep := &VerifyReport{}
		tree := newVerifyTree(rep)
		if tree.root() != roots[0] {
			t.Fatal("empty root differs")
		}
		for i := 0; i < size; i++ {
			for _, tl := range tiles[uint64(i)] {
				tree.storedTile(tl.level, change(tl.level, slices.Clone(tl.hashes)))
			}
			h := leaf(i)
			tree.append(&h)
			if got := tree.root(); got != roots[i+1] {
				t.Fatalf("root at size %d: %x, want %x", i+1, got, roots[i+1])
			}
		}
		return rep
	}
	if rep := replay(func(_ uint64, h []byte) []byte { return h }); len(rep.Problems) != 0 {
		t.Fatalf("untouched tiles: %+v", rep.Problems)
	}
	// Change hash 5 of every level-1 tile: the leaves under it start at 5*256
	// in each.
	rep := replay(func(level uint64, h []byte) []byte {
		if level == 1 {
			h[5*proofs.HashSize+3] ^= 1
		}
		return h
	})
	want := []Problem{
		{Index: 5 * 256, Problem: "tile 1/0 does not match the entries"},
		{Index: 65536 + 5*256, Problem: "tile 1/1 does not match the entries"},
	}
	if !reflect.DeepEqual(rep.Problems, want) {
		t.Fatalf("changed tiles: %+v, want %+v", rep.Problems, want)
	}
	// Drop the level-0 tiles: each is missing at its first leaf.
	rep = replay(func(level uint64, h []byte) []byte {
		if level == 0 {
			return h[:proofs.HashSize]
		}
		return h
	})
	if n := len(rep.Problems); n != size/256 || rep.Problems[1] != (Problem{Index: 256, Problem: "tile 0/1 has 32 bytes, want 8192"}) {
		t.Fatalf("truncated tiles: %d problems, %+v", n, rep.Problems[:min(3, n)])
	}
}

// FuzzContainsReceivedAt: containsReceivedAt is bytes.Contains.
func FuzzContainsReceivedAt(f *testing.F) {
	field := receivedAtField(1_764_115_200_123_456_789)
	f.Add([]byte(nil))
	f.Add(field)
	f.Add(field[1:])
	f.Add(field[:len(field)-1])
	f.Add(append([]byte(`{"a_b":1,`), field...))
	f.Add(append(append([]byte(`_received_at`), field...), '}'))
	f.Add([]byte(`{"log":"x","received_at":"2025-11-26T00:00:00.123456789Z","user_agent":"a_b"}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, p := range [][]byte{payload, append(slices.Clone(payload), field...), append(slices.Clone(field), payload...)} {
			if got, want := containsReceivedAt(p, field), bytes.Contains(p, field); got != want {
				t.Fatalf("containsReceivedAt(%q) = %v, want %v", p, got, want)
			}
		}
	})
}
