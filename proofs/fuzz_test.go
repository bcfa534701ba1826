package proofs_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditledger/auditledger/proofs"
	"golang.org/x/mod/sumdb/tlog"
)

// FuzzParseCheckpoint checks that ParseCheckpoint never panics and accepts
// only the canonical text: whatever it accepts, Body writes back byte for
// byte.
func FuzzParseCheckpoint(f *testing.F) {
	for _, name := range []string{"checkpoint.body", "checkpoint-empty.body", "checkpoint.note"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c := testCheckpoint()
	f.Add(c.Body())
	f.Add(bytes.Replace(c.Body(), []byte("1234567"), []byte("01234567"), 1))
	f.Add(bytes.Replace(c.Body(), []byte("chain "), []byte("chain  "), 1))
	f.Add([]byte("o\n18446744073709551615\n" + proofs.EncodeHash(c.Root) + "\nchain " + proofs.EncodeHash(c.Chain) + "\n"))
	f.Add([]byte("o\n1\n" + proofs.EncodeHash(c.Root) + "\n"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := proofs.ParseCheckpoint(in)
		if err != nil {
			return
		}
		if out := c.Body(); !bytes.Equal(out, in) {
			t.Fatalf("ParseCheckpoint accepted %q, but Body writes it as %q", in, out)
		}
		if c.Origin == "" || len(c.Origin) > proofs.MaxOriginLen {
			t.Fatalf("accepted origin %q", c.Origin)
		}
	})
}

// FuzzParseTileIndex checks that ParseTileIndex never panics, that what it
// accepts is the canonical path TilePath and EntriesPath write, and that it
// agrees with tlog.ParseTilePath, which we did not write.
func FuzzParseTileIndex(f *testing.F) {
	for _, s := range []string{
		"000", "067", "999", "x001/000", "x001/x234/067", "x001/x234/067.p/8", "000.p/1", "000.p/255",
		"x018/x446/x744/x073/x709/x551/615", "x009/x223/x372/x036/x854/x775/807",
		"x000/001", "001.p/256", "001.p/08", "x001/x002/x003/x004/x005/x006/x007/008", "", ".p/", "x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		index, width, err := proofs.ParseTileIndex(s)
		tt, tlogErr := tlog.ParseTilePath("tile/8/0/" + s)
		if err != nil {
			// tlog's N is an int64, so it cannot accept what overflows ours.
			if tlogErr == nil {
				t.Fatalf("ParseTileIndex(%q) rejects it (%v), tlog.ParseTilePath accepts it as %+v", s, err, tt)
			}
			return
		}
		if width < 1 || width > proofs.TileWidth {
			t.Fatalf("ParseTileIndex(%q) width %d", s, width)
		}
		if got := proofs.EntriesPath(index, width); got != "tile/entries/"+s {
			t.Fatalf("ParseTileIndex(%q) = %d, %d, which EntriesPath writes as %q", s, index, width, got)
		}
		if got := proofs.TilePath(3, index, width); got != "tile/3/"+s {
			t.Fatalf("ParseTileIndex(%q) = %d, %d, which TilePath writes as %q", s, index, width, got)
		}
		if index <= math.MaxInt64 && (tlogErr != nil || uint64(tt.N) != index || tt.W != width) {
			t.Fatalf("ParseTileIndex(%q) = %d, %d; tlog.ParseTilePath = %+v, %v", s, index, width, tt, tlogErr)
		}
		if strings.Contains(s, "..") {
			t.Fatalf("ParseTileIndex accepted %q", s)
		}
	})
}
