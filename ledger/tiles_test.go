package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// tileFixture is a log grown in steps, with a checkpoint published at each
// step's size and at no other size but 0.
type tileFixture struct {
	l      *Ledger
	dir    string
	size   uint64
	cps    map[uint64]bool
	leaves [][]byte
	hashes []tlog.Hash
}

// growTiles appends to the default log up to each size in steps, one Append
// call (one commit) per step, and waits for the checkpoint at that size.
func growTiles(t *testing.T, l *Ledger, f *tileFixture, steps []uint64) {
	t.Helper()
	ctx := context.Background()
	for _, s := range steps {
		evs := make([]Event, 0, s-f.size)
		for i := f.size; i < s; i++ {
			evs = append(evs, testEvent(int(i)))
		}
		if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		cp, err := l.WaitCheckpoint(ctx, DefaultLogID, s)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != s {
			t.Fatalf("checkpoint at %d, want %d", cp.Size, s)
		}
		for i := f.size; i < s; i++ {
			r, err := l.Read(DefaultLogID, i)
			if err != nil {
				t.Fatal(err)
			}
			f.leaves = append(f.leaves, r.Leaf)
			f.hashes = append(f.hashes, tlog.RecordHash(r.Leaf))
		}
		f.size = s
		f.cps[s] = true
	}
}

// wantTile is tile (level, index) of width w as computed by
// golang.org/x/mod/sumdb/tlog from the leaves alone: the hash of each
// complete subtree of 256^level leaves.
func (f *tileFixture) wantTile(t *testing.T, hr tlog.HashReader, level int, index uint64, w int) []byte {
	t.Helper()
	idx := make([]int64, w)
	for i := range idx {
		idx[i] = tlog.StoredHashIndex(8*level, int64(index)*256+int64(i))
	}
	hs, err := hr.ReadHashes(idx)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, h := range hs {
		out = append(out, h[:]...)
	}
	return out
}

// served reports whether tile (level, index, w) must exist: a full tile
// that the tree covers, or a partial one that a checkpoint's size requires.
func (f *tileFixture) served(level uint, index uint64, w int) bool {
	n := f.size >> (8 * level)
	if w == 256 {
		return (index+1)*256 <= n
	}
	for s := range f.cps {
		if s>>(8*level) == index*256+uint64(w) {
			return true
		}
	}
	return false
}

// widths returns the widths to ask for at tile (level, index): every one
// for the first tiles, the last ones and those a checkpoint ends in; only
// the full width for the others (to keep the test short).
func (f *tileFixture) widths(level uint, index uint64) []int {
	last := (f.size >> (8 * level)) / 256
	all := index < 3 || index+2 >= last
	for s := range f.cps {
		all = all || s>>(8*(level+1)) == index
	}
	if !all {
		return []int{256}
	}
	ws := make([]int, 256)
	for i := range ws {
		ws[i] = i + 1
	}
	return ws
}

// checkTiles asks for every tile of levels 0…2 (every width where widths
// says so), and wants exactly the served ones, with tlog's bytes.
func (f *tileFixture) checkTiles(t *testing.T, l *Ledger) {
	t.Helper()
	hr := memHashReader(f.hashes)
	got := 0
	for level := uint(0); level <= 2; level++ {
		last := (f.size >> (8 * level)) / 256
		for index := uint64(0); index <= last+1; index++ {
			for _, w := range f.widths(level, index) {
				b, err := l.HashTile(DefaultLogID, uint8(level), index, w)
				if !f.served(level, index, w) {
					if !errors.Is(err, ErrNotFound) {
						t.Fatalf("tile %d/%d.p/%d at size %d: %v, want ErrNotFound", level, index, w, f.size, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("tile %d/%d.p/%d at size %d: %v", level, index, w, f.size, err)
				}
				if want := f.wantTile(t, hr, int(level), index, w); !bytes.Equal(b, want) {
					t.Fatalf("tile %d/%d.p/%d at size %d differs from tlog's", level, index, w, f.size)
				}
				got++
			}
		}
	}
	if got == 0 && f.size > 0 {
		t.Fatal("no tile served")
	}
}

// checkBundles reads every full bundle and every partial one that a
// checkpoint requires, and wants the stored leaves, hashing to the level-0
// tile of the same width.
func (f *tileFixture) checkBundles(t *testing.T, l *Ledger) {
	t.Helper()
	for index := uint64(0); index <= f.size/256; index++ {
		for _, w := range f.widths(0, index) {
			b, err := l.EntryBundle(DefaultLogID, index, w)
			if !f.served(0, index, w) {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("bundle %d.p/%d at size %d: %v, want ErrNotFound", index, w, f.size, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("bundle %d.p/%d: %v", index, w, err)
			}
			tile, err := l.HashTile(DefaultLogID, 0, index, w)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < w; i++ {
				if len(b) < 2 {
					t.Fatalf("bundle %d.p/%d ends at entry %d", index, w, i)
				}
				n := int(binary.BigEndian.Uint16(b))
				leaf := b[2 : 2+n]
				b = b[2+n:]
				x := index*256 + uint64(i)
				if !bytes.Equal(leaf, f.leaves[x]) {
					t.Fatalf("bundle %d.p/%d: entry %d is not the stored leaf", index, w, x)
				}
				if lh := tlog.RecordHash(leaf); !bytes.Equal(lh[:], tile[i*32:(i+1)*32]) {
					t.Fatalf("bundle %d.p/%d: entry %d does not hash to the level-0 tile", index, w, x)
				}
			}
			if len(b) != 0 {
				t.Fatalf("bundle %d.p/%d has %d bytes past its entries", index, w, len(b))
			}
		}
	}
}

func TestHashTilesAndBundles(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	f := &tileFixture{dir: dir, cps: map[uint64]bool{0: true}}
	// Empty log: nothing is served.
	f.checkTiles(t, l)
	for _, steps := range [][]uint64{
		{1, 2, 255},
		{256, 257},
		{300, 511, 512, 1000},
		{65535, 65536},
		{65537, 70000},
	} {
		growTiles(t, l, f, steps)
		f.checkTiles(t, l)
	}
	f.checkBundles(t, l)

	// After a restart the right-edge tiles are rebuilt from the store: the
	// same tiles, partial ones included.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	f.checkTiles(t, l)
	growTiles(t, l, f, []uint64{70100})
	f.checkTiles(t, l)
	f.checkBundles(t, l)
	rep, err := l.Verify(context.Background(), DefaultLogID, VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

func TestTileArguments(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	f := &tileFixture{l: l, cps: map[uint64]bool{0: true}}
	growTiles(t, l, f, []uint64{300})
	for _, c := range []struct {
		name  string
		level uint8
		index uint64
		width int
		want  error
	}{
		{"level past 63", 64, 0, 256, ErrInvalid},
		{"width 0", 0, 0, 0, ErrInvalid},
		{"width 257", 0, 0, 257, ErrInvalid},
		{"full tile not reached", 0, 1, 256, ErrNotFound},
		{"partial wider than the tree", 0, 1, 45, ErrNotFound},
		{"partial never checkpointed", 0, 1, 43, ErrNotFound},
		{"level 1 partial never checkpointed", 1, 0, 2, ErrNotFound},
		{"huge index", 0, 1 << 63, 256, ErrNotFound},
		{"level 8", 8, 0, 1, ErrNotFound},
		{"level 63", 63, 0, 1, ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := l.HashTile(DefaultLogID, c.level, c.index, c.width); !errors.Is(err, c.want) {
				t.Fatalf("HashTile: %v, want %v", err, c.want)
			}
			if c.level == 0 {
				if _, err := l.EntryBundle(DefaultLogID, c.index, c.width); !errors.Is(err, c.want) {
					t.Fatalf("EntryBundle: %v, want %v", err, c.want)
				}
			}
		})
	}
	if _, err := l.HashTile("nope", 0, 0, 256); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown log: %v", err)
	}
	if _, err := l.EntryBundle("nope", 0, 256); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown log: %v", err)
	}
	if _, err := l.HashTile(DefaultLogID, 0, 0, 256); err != nil {
		t.Fatalf("full tile: %v", err)
	}
	if _, err := l.HashTile(DefaultLogID, 0, 1, 44); err != nil {
		t.Fatalf("partial tile of the checkpoint at 300: %v", err)
	}
}

// TestBundleRedacted deletes one payload record, as retention will, and
// wants ErrRedacted for the bundles that hold it, full and partial, while
// every other bundle, every hash tile and every proof is unchanged.
func TestBundleRedacted(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	f := &tileFixture{l: l, cps: map[uint64]bool{0: true}}
	growTiles(t, l, f, []uint64{300, 600})
	tilesBefore := map[[2]uint64][]byte{}
	for _, tw := range [][2]uint64{{0, 256}, {1, 256}, {1, 44}, {2, 88}} {
		b, err := l.HashTile(DefaultLogID, 0, tw[0], int(tw[1]))
		if err != nil {
			t.Fatal(err)
		}
		tilesBefore[tw] = b
	}
	lg, err := l.handle(DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []uint64{260, 599} {
		if err := l.DB().Delete(entryKey(nil, lg.num, x, kindPayload), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		index    uint64
		width    int
		redacted bool
	}{
		{0, 256, false},
		{1, 256, true},  // holds 260
		{1, 44, true},   // the checkpoint at 300: holds 260
		{2, 88, true},   // the checkpoint at 600: holds 599
		{1, 3, false},   // never a checkpoint: not found, not gone
		{2, 100, false}, // past the tree
	} {
		_, err := l.EntryBundle(DefaultLogID, c.index, c.width)
		switch {
		case c.redacted && !errors.Is(err, ErrRedacted):
			t.Errorf("bundle %d.p/%d: %v, want ErrRedacted", c.index, c.width, err)
		case !c.redacted && errors.Is(err, ErrRedacted):
			t.Errorf("bundle %d.p/%d: %v", c.index, c.width, err)
		case !c.redacted && f.served(0, c.index, c.width) && err != nil:
			t.Errorf("bundle %d.p/%d: %v", c.index, c.width, err)
		case !f.served(0, c.index, c.width) && !errors.Is(err, ErrNotFound):
			t.Errorf("bundle %d.p/%d: %v, want ErrNotFound", c.index, c.width, err)
		}
	}
	for tw, before := range tilesBefore {
		b, err := l.HashTile(DefaultLogID, 0, tw[0], int(tw[1]))
		if err != nil || !bytes.Equal(b, before) {
			t.Fatalf("tile 0/%d.p/%d changed after a redaction: %v", tw[0], tw[1], err)
		}
	}
	r, err := l.Read(DefaultLogID, 260)
	if err != nil || !r.Redacted() {
		t.Fatalf("entry 260: %+v, %v; want redacted", r, err)
	}
}

// TestTileReturnsCopies checks that a caller writing into a returned tile
// does not change what the next caller gets (the cache and the edge are
// shared).
func TestTileReturnsCopies(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	f := &tileFixture{l: l, cps: map[uint64]bool{0: true}}
	growTiles(t, l, f, []uint64{300})
	for _, w := range []int{256, 44} {
		index := map[int]uint64{256: 0, 44: 1}[w]
		a, err := l.HashTile(DefaultLogID, 0, index, w)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), a...)
		for i := range a {
			a[i] ^= 0xff
		}
		b, err := l.HashTile(DefaultLogID, 0, index, w)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("tile 0/%d.p/%d changed after a caller wrote into its copy: %v", index, w, err)
		}
	}
}

// BenchmarkTile measures serving tiles and bundles from a log of 70,000
// entries: a full level-0 tile (not in the tile cache: one Pebble Get), the
// partial level-0 tile of the latest checkpoint (from memory), a partial
// tile of an old checkpoint whose full tile exists (a checkpoint lookup and
// a Get), and full and partial entry bundles.
func BenchmarkTile(b *testing.B) {
	l, err := Open(context.Background(), Config{Dir: b.TempDir(), Logger: benchLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	evs := benchEvents(8192)
	const oldSize, size = 1000, 70000
	for done := 0; done < size; {
		n := min(len(evs), size-done)
		if done < oldSize {
			n = oldSize - done
		}
		if _, err := l.Append(ctx, DefaultLogID, evs[:n], AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		done += n
		if done == oldSize {
			if _, err := l.WaitCheckpoint(ctx, DefaultLogID, oldSize); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := l.WaitCheckpoint(ctx, DefaultLogID, size); err != nil {
		b.Fatal(err)
	}
	// A fresh tile cache, so that full tiles come from Pebble.
	l.tiles = newTileCache(0)
	for _, c := range []struct {
		name         string
		bundle       bool
		level        uint8
		index        uint64
		width        int
		indexStrided bool // walk over every full tile of level 0
	}{
		{name: "tile=full/level=0", indexStrided: true, width: 256},
		{name: "tile=full/level=1", level: 1, index: 0, width: 256},
		{name: "tile=partial-latest/level=0", index: size / 256, width: size % 256},
		{name: "tile=partial-latest/level=1", level: 1, index: 1, width: (size >> 8) % 256},
		{name: "tile=partial-old/level=0", index: oldSize / 256, width: oldSize % 256},
		{name: "bundle=full", bundle: true, indexStrided: true, width: 256},
		{name: "bundle=partial-latest", bundle: true, index: size / 256, width: size % 256},
	} {
		read := func(b *testing.B, i int) int {
			index := c.index
			if c.indexStrided {
				index = uint64(i) % (size / 256)
			}
			var out []byte
			var err error
			if c.bundle {
				out, err = l.EntryBundle(DefaultLogID, index, c.width)
			} else {
				out, err = l.HashTile(DefaultLogID, c.level, index, c.width)
			}
			if err != nil {
				b.Fatalf("%s: %v", c.name, err)
			}
			return len(out)
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(read(b, 0)))
			for i := 0; b.Loop(); i++ {
				read(b, i)
			}
		})
	}
}
