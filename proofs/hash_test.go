package proofs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/auditledger/auditledger/proofs"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"
)

// checkLeafHash checks LeafHash and LeafHashPrefixed of one leaf against
// rfc6962's HashLeaf, tlog's RecordHash and SHA-256(0x00 || leaf).
func checkLeafHash(t *testing.T, leaf []byte) {
	t.Helper()
	want := sha256.Sum256(append([]byte{0}, leaf...))
	got := proofs.LeafHash(leaf)
	if got != want {
		t.Errorf("LeafHash(%q) = %x, want SHA-256(0x00 || leaf) = %x", leaf, got, want)
	}
	if r := rfc6962.DefaultHasher.HashLeaf(leaf); !bytes.Equal(got[:], r) {
		t.Errorf("LeafHash(%q) = %x, rfc6962 HashLeaf = %x", leaf, got, r)
	}
	if r := tlog.RecordHash(leaf); got != proofs.Hash(r) {
		t.Errorf("LeafHash(%q) = %x, tlog.RecordHash = %x", leaf, got, r)
	}
	buf := append([]byte{0xff}, leaf...)
	if p := proofs.LeafHashPrefixed(buf); p != got {
		t.Errorf("LeafHashPrefixed(0xff || %q) = %x, want %x", leaf, p, got)
	}
	if buf[0] != 0 || !bytes.Equal(buf[1:], leaf) {
		t.Errorf("LeafHashPrefixed left the buffer %x, want 0x00 || leaf", buf)
	}
}

func TestLeafHash(t *testing.T) {
	for _, tc := range []struct {
		name string
		leaf []byte
	}{
		{"empty", nil},
		{"zero byte", []byte{0}},
		{"one byte", []byte{1}},
		{"json", []byte(`{"action":"login","actor":{"id":"u1","type":"user"},"category":"login"}`)},
		{"one block", bytes.Repeat([]byte{0xab}, 63)},
		{"past a block", bytes.Repeat([]byte{0xab}, 64)},
		{"400 bytes", bytes.Repeat([]byte("a"), 400)},
		{"largest leaf", bytes.Repeat([]byte{0x5a}, 65535)},
	} {
		t.Run(tc.name, func(t *testing.T) { checkLeafHash(t, tc.leaf) })
	}

	// RFC 6962's empty leaf: SHA-256 of the single byte 0x00.
	const emptyLeaf = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
	if got := proofs.LeafHash(nil); hex.EncodeToString(got[:]) != emptyLeaf {
		t.Errorf("LeafHash(nil) = %x, want %s", got, emptyLeaf)
	}
}

func TestNodeHash(t *testing.T) {
	a, b := proofs.LeafHash([]byte("a")), proofs.LeafHash([]byte("b"))
	for _, tc := range []struct {
		name        string
		left, right []byte
	}{
		{"two leaves", a[:], b[:]},
		{"swapped", b[:], a[:]},
		{"same twice", a[:], a[:]},
		{"zero hashes", make([]byte, 32), make([]byte, 32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := sha256.Sum256(append(append([]byte{1}, tc.left...), tc.right...))
			got := proofs.NodeHash(tc.left, tc.right)
			if got != want {
				t.Errorf("NodeHash = %x, want SHA-256(0x01 || l || r) = %x", got, want)
			}
			if r := rfc6962.DefaultHasher.HashChildren(tc.left, tc.right); !bytes.Equal(got[:], r) {
				t.Errorf("NodeHash = %x, rfc6962 HashChildren = %x", got, r)
			}
			if r := tlog.NodeHash(tlog.Hash(tc.left), tlog.Hash(tc.right)); got != proofs.Hash(r) {
				t.Errorf("NodeHash = %x, tlog.NodeHash = %x", got, r)
			}
			if s := proofs.NodeHashSlice(tc.left, tc.right); !bytes.Equal(s, got[:]) {
				t.Errorf("NodeHashSlice = %x, want %x", s, got)
			}
		})
	}
	if proofs.NodeHash(a[:], b[:]) == proofs.NodeHash(b[:], a[:]) {
		t.Error("NodeHash is symmetric")
	}
	// A node is never a leaf: the prefixes differ.
	if proofs.NodeHash(a[:], b[:]) == proofs.LeafHash(append(a[:], b[:]...)) {
		t.Error("NodeHash(a, b) equals LeafHash(a || b)")
	}
}

func TestChainHash(t *testing.T) {
	leaves := [][]byte{[]byte(`{"i":0}`), []byte(`{"i":1}`), []byte(`{"i":2}`)}
	var prev proofs.Hash // chain_hash[-1]: 32 zero bytes
	for i, leaf := range leaves {
		lh := proofs.LeafHash(leaf)
		want := sha256.Sum256(append(append([]byte{}, prev[:]...), lh[:]...))
		got := proofs.ChainHash(prev, lh)
		if got != want {
			t.Fatalf("chain_hash[%d] = %x, want SHA-256(chain_hash[%d] || leaf_hash) = %x", i, got, i-1, want)
		}
		prev = got
	}
	// The first link is SHA-256 of 32 zero bytes and the first leaf hash.
	lh := proofs.LeafHash(leaves[0])
	if got, want := proofs.ChainHash(proofs.Hash{}, lh), sha256.Sum256(append(make([]byte, 32), lh[:]...)); got != want {
		t.Errorf("chain_hash[0] = %x, want %x", got, want)
	}
	// Order matters.
	l0, l1 := proofs.LeafHash(leaves[0]), proofs.LeafHash(leaves[1])
	a := proofs.ChainHash(proofs.ChainHash(proofs.Hash{}, l0), l1)
	b := proofs.ChainHash(proofs.ChainHash(proofs.Hash{}, l1), l0)
	if a == b {
		t.Error("chain over swapped entries has the same head")
	}
}

func TestEmptyRoot(t *testing.T) {
	const want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := hex.EncodeToString(proofs.EmptyRoot[:]); got != want {
		t.Errorf("EmptyRoot = %s, want SHA-256(\"\") = %s", got, want)
	}
	if !bytes.Equal(proofs.EmptyRoot[:], rfc6962.DefaultHasher.EmptyRoot()) {
		t.Errorf("EmptyRoot differs from rfc6962's")
	}
	if h, err := tlog.TreeHash(0, nil); err != nil || proofs.Hash(h) != proofs.EmptyRoot {
		t.Errorf("EmptyRoot differs from tlog.TreeHash(0) = %x, %v", h, err)
	}
}

func TestParseHash(t *testing.T) {
	h := proofs.LeafHash([]byte("x"))
	enc := base64.StdEncoding.EncodeToString(h[:])
	if got := proofs.EncodeHash(h); got != enc {
		t.Errorf("EncodeHash = %q, want %q", got, enc)
	}
	if got, err := proofs.ParseHash(enc); err != nil || got != h {
		t.Errorf("ParseHash(%q) = %x, %v; want %x", enc, got, err, h)
	}
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"31 bytes", base64.StdEncoding.EncodeToString(h[:31])},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(h[:], 0))},
		{"url alphabet", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32))},
		{"unpadded", strings.TrimRight(enc, "=")},
		{"hex", hex.EncodeToString(h[:])},
		{"not base64", "!!!!"},
		{"space inside", enc[:10] + " " + enc[10:]},
		{"CR inside", enc[:10] + "\r" + enc[10:]},
		{"LF inside", enc[:10] + "\n" + enc[10:]},
		{"CRLF at the end", enc + "\r\n"},
		{"non-zero padding bits", nonCanonical(enc)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := proofs.ParseHash(tc.in); err == nil {
				t.Errorf("ParseHash(%q) accepted it", tc.in)
			}
		})
	}
}

func TestDecodeHashes(t *testing.T) {
	a, b := proofs.LeafHash([]byte("a")), proofs.LeafHash([]byte("b"))
	in := [][]byte{a[:], b[:]}
	enc := proofs.EncodeHashes(in)
	if len(enc) != 2 || enc[0] != proofs.EncodeHash(a) || enc[1] != proofs.EncodeHash(b) {
		t.Fatalf("EncodeHashes = %q", enc)
	}
	got, err := proofs.DecodeHashes(enc)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], a[:]) || !bytes.Equal(got[1], b[:]) {
		t.Errorf("DecodeHashes(EncodeHashes(x)) = %x, %v", got, err)
	}
	if got, err := proofs.DecodeHashes(nil); err != nil || len(got) != 0 {
		t.Errorf("DecodeHashes(nil) = %x, %v", got, err)
	}
	if e := proofs.EncodeHashes(nil); e == nil || len(e) != 0 {
		t.Errorf("EncodeHashes(nil) = %#v, want an empty list (JSON [])", e)
	}
	if _, err := proofs.DecodeHashes([]string{enc[0], "AAAA"}); err == nil || !strings.Contains(err.Error(), "proof hash 1") {
		t.Errorf("DecodeHashes with a short second hash: %v, want an error naming hash 1", err)
	}
}

// BenchmarkLeafHash hashes a 400-byte leaf, a typical entry.
func BenchmarkLeafHash(b *testing.B) {
	leaf := bytes.Repeat([]byte("a"), 400)
	b.Run("size=400/LeafHash", func(b *testing.B) {
		b.SetBytes(int64(len(leaf)))
		b.ReportAllocs()
		for b.Loop() {
			proofs.LeafHash(leaf)
		}
	})
	b.Run("size=400/LeafHashPrefixed", func(b *testing.B) {
		buf := append([]byte{0}, leaf...)
		b.SetBytes(int64(len(leaf)))
		b.ReportAllocs()
		for b.Loop() {
			proofs.LeafHashPrefixed(buf)
		}
	})
}
