package proofs_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/auditledger/auditledger/proofs"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/tlog"
)

// memTree is an in-memory store of every complete node of a Merkle tree,
// filled by a compact.Range visitor, with a NodeReader over it. It is the
// store the proofs are built from.
type memTree struct {
	// levels[l] is the concatenation of the hashes of every complete node at
	// level l, left to right.
	levels [][]byte
}

// newMemTree builds the tree over the given leaf hashes.
func newMemTree(tb testing.TB, leafHashes []proofs.Hash) *memTree {
	tb.Helper()
	t := &memTree{levels: [][]byte{make([]byte, 0, len(leafHashes)*proofs.HashSize)}}
	rf := compact.RangeFactory{Hash: proofs.NodeHashSlice}
	r := rf.NewEmptyRange(0)
	var visitErr error
	visit := func(id compact.NodeID, h []byte) {
		for uint(len(t.levels)) <= id.Level {
			t.levels = append(t.levels, nil)
		}
		if got := uint64(len(t.levels[id.Level])); got != id.Index*proofs.HashSize && visitErr == nil {
			visitErr = fmt.Errorf("node %d/%d visited out of order", id.Level, id.Index)
		}
		t.levels[id.Level] = append(t.levels[id.Level], h...)
	}
	for i := range leafHashes {
		if err := r.Append(leafHashes[i][:], visit); err != nil {
			tb.Fatalf("compact range append %d: %v", i, err)
		}
	}
	if visitErr != nil {
		tb.Fatal(visitErr)
	}
	return t
}

// size returns the number of leaves in the tree.
func (t *memTree) size() uint64 { return uint64(len(t.levels[0]) / proofs.HashSize) }

// node returns the stored hash of a complete node, or nil.
func (t *memTree) node(id compact.NodeID) []byte {
	if id.Level >= uint(len(t.levels)) {
		return nil
	}
	row := t.levels[id.Level]
	if (id.Index+1)*proofs.HashSize > uint64(len(row)) {
		return nil
	}
	off := id.Index * proofs.HashSize
	return row[off : off+proofs.HashSize : off+proofs.HashSize]
}

// errOutside is what the test reader returns for a node outside the tree the
// proof is for: the NodeReader contract says this never happens.
var errOutside = errors.New("node outside the tree")

// reader returns a NodeReader for the tree of the given size. It refuses
// nodes that are not wholly inside that tree, holding proofs to the
// NodeReader contract. Like the ledger's reader, it returns slices of its own
// storage, not copies.
func (t *memTree) reader(size uint64) proofs.NodeReader {
	return func(ids []compact.NodeID) ([][]byte, error) {
		out := make([][]byte, len(ids))
		for i, id := range ids {
			if _, end := id.Coverage(); end > size {
				return nil, fmt.Errorf("%w: node %d/%d in tree of size %d", errOutside, id.Level, id.Index, size)
			}
			h := t.node(id)
			if h == nil {
				return nil, fmt.Errorf("%w: node %d/%d not stored", errOutside, id.Level, id.Index)
			}
			out[i] = h
		}
		return out, nil
	}
}

// refLog is the same log kept by golang.org/x/mod/sumdb/tlog, which we did not
// write: its stored hashes, built with StoredHashes.
type refLog struct {
	stored []tlog.Hash
}

func (r *refLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(r.stored)) {
			return nil, fmt.Errorf("tlog stored hash %d out of range", x)
		}
		out[i] = r.stored[x]
	}
	return out, nil
}

// fixture is a log of n entries held both ways, with each size's root.
type fixture struct {
	leaves     [][]byte
	leafHashes []proofs.Hash
	tree       *memTree
	ref        *refLog
	roots      []proofs.Hash // roots[n] is our Root of the tree of size n
}

// leafData returns the i-th test leaf: distinct, of varying length.
func leafData(i int) []byte {
	return []byte(`{"i":` + strconv.Itoa(i) + `,"pad":"` + string(bytes.Repeat([]byte("x"), i%7)) + `"}`)
}

func newFixture(tb testing.TB, n int) *fixture {
	tb.Helper()
	f := &fixture{ref: &refLog{}}
	for i := range n {
		data := leafData(i)
		f.leaves = append(f.leaves, data)
		f.leafHashes = append(f.leafHashes, proofs.LeafHash(data))
		hs, err := tlog.StoredHashes(int64(i), data, f.ref)
		if err != nil {
			tb.Fatalf("tlog.StoredHashes(%d): %v", i, err)
		}
		f.ref.stored = append(f.ref.stored, hs...)
	}
	f.tree = newMemTree(tb, f.leafHashes)
	return f
}

// rootOf returns the root of the tree of the given size, from the cache when
// it holds it.
func (f *fixture) rootOf(tb testing.TB, size uint64) proofs.Hash {
	tb.Helper()
	if size < uint64(len(f.roots)) {
		return f.roots[size]
	}
	return f.root(tb, size)
}

// root returns our Root of the tree of the given size, checking it against
// tlog.TreeHash.
func (f *fixture) root(tb testing.TB, size uint64) proofs.Hash {
	tb.Helper()
	got, err := proofs.Root(size, f.tree.reader(size))
	if err != nil {
		tb.Fatalf("Root(%d): %v", size, err)
	}
	want, err := tlog.TreeHash(int64(size), f.ref)
	if err != nil {
		tb.Fatalf("tlog.TreeHash(%d): %v", size, err)
	}
	if got != proofs.Hash(want) {
		tb.Fatalf("Root(%d) = %x, tlog.TreeHash = %x", size, got, want)
	}
	return got
}

var (
	bigOnce    sync.Once
	bigFixture *fixture
)

const bigSize = 100_000

// big returns the shared fixture of bigSize entries, built once.
func big(tb testing.TB) *fixture {
	tb.Helper()
	bigOnce.Do(func() {
		f := newFixture(tb, bigSize)
		f.roots = make([]proofs.Hash, 301)
		for n := range f.roots {
			f.roots[n] = f.root(tb, uint64(n))
		}
		bigFixture = f
	})
	if bigFixture == nil {
		tb.Fatal("fixture failed to build")
	}
	return bigFixture
}

func toTlog(p [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i, h := range p {
		copy(out[i][:], h)
	}
	return out
}

// cloneProof deep-copies a proof so that a test may alter it without touching
// the store its hashes alias.
func cloneProof(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i, h := range p {
		out[i] = slices.Clone(h)
	}
	return out
}

// flipped returns a copy of p with one bit of hash i flipped.
func flipped(p [][]byte, i, bit int) [][]byte {
	q := cloneProof(p)
	q[i][bit/8] ^= 1 << (bit % 8)
	return q
}

func flipRoot(h proofs.Hash, bit int) proofs.Hash {
	h[bit/8] ^= 1 << (bit % 8)
	return h
}

// inclusionHolds reports whether our verifier and tlog's accept an inclusion
// proof, failing the test when they disagree.
func inclusionHolds(t *testing.T, index, size uint64, leaf proofs.Hash, p [][]byte, root proofs.Hash) bool {
	ours := proofs.VerifyInclusion(index, size, leaf, p, root)
	if ours != nil && !errors.Is(ours, proofs.ErrInvalidProof) {
		t.Errorf("VerifyInclusion(%d, %d) error %v is not ErrInvalidProof", index, size, ours)
	}
	theirs := tlog.CheckRecord(toTlog(p), int64(size), tlog.Hash(root), int64(index), tlog.Hash(leaf))
	for _, h := range p {
		if len(h) != proofs.HashSize {
			// tlog's proof type cannot hold a short or long hash; ours must refuse it.
			theirs = errors.New("hash of the wrong length")
		}
	}
	if (ours == nil) != (theirs == nil) {
		t.Errorf("inclusion %d in %d: VerifyInclusion says %v, tlog.CheckRecord says %v", index, size, ours, theirs)
	}
	return ours == nil
}

// consistencyHolds is inclusionHolds for consistency proofs.
func consistencyHolds(t *testing.T, from, to uint64, p [][]byte, root1, root2 proofs.Hash) bool {
	ours := proofs.VerifyConsistency(from, to, p, root1, root2)
	if ours != nil && !errors.Is(ours, proofs.ErrInvalidProof) {
		t.Errorf("VerifyConsistency(%d, %d) error %v is not ErrInvalidProof", from, to, ours)
	}
	if from == 0 || from > to || to == 0 {
		// Outside what tlog.CheckTree takes (it needs 1 ≤ n ≤ t).
		return ours == nil
	}
	theirs := tlog.CheckTree(toTlog(p), int64(to), tlog.Hash(root2), int64(from), tlog.Hash(root1))
	for _, h := range p {
		if len(h) != proofs.HashSize {
			theirs = errors.New("hash of the wrong length")
		}
	}
	if (ours == nil) != (theirs == nil) {
		t.Errorf("consistency %d→%d: VerifyConsistency says %v, tlog.CheckTree says %v", from, to, ours, theirs)
	}
	return ours == nil
}

// alter says how thoroughly a check alters a proof it has verified.
type alter int

const (
	alterNone    alter = iota // only build and verify the proof
	alterSome                 // one bit and one byte of each hash, and every other alteration
	alterAllBits              // every bit of every hash, and every other alteration
)

// checkInclusion builds the inclusion proof of index in the tree of size,
// checks that it equals tlog's ProveRecord and that both verifiers accept it,
// then that every alteration makes both reject it.
func checkInclusion(t *testing.T, f *fixture, index, size uint64, root proofs.Hash, mode alter) {
	t.Helper()
	p, err := proofs.Inclusion(index, size, f.tree.reader(size))
	if err != nil {
		t.Fatalf("Inclusion(%d, %d): %v", index, size, err)
	}
	want, err := tlog.ProveRecord(int64(size), int64(index), f.ref)
	if err != nil {
		t.Fatalf("tlog.ProveRecord(%d, %d): %v", size, index, err)
	}
	if !slices.Equal(toTlog(p), want) || len(p) != len(want) {
		t.Fatalf("Inclusion(%d, %d) = %x, tlog.ProveRecord = %x", index, size, p, want)
	}
	leaf := f.leafHashes[index]
	if !inclusionHolds(t, index, size, leaf, p, root) {
		t.Fatalf("inclusion proof of %d in %d does not verify", index, size)
	}
	if mode == alterNone {
		return
	}

	reject := func(what string, index, size uint64, leaf proofs.Hash, p [][]byte, root proofs.Hash) {
		if inclusionHolds(t, index, size, leaf, p, root) {
			t.Errorf("inclusion %d in %d: %s verifies", index, size, what)
		}
	}
	for i := range p {
		if mode == alterAllBits {
			for bit := range 8 * proofs.HashSize {
				reject(fmt.Sprintf("hash %d bit %d flipped", i, bit), index, size, leaf, flipped(p, i, bit), root)
			}
			continue
		}
		bit := int((index*31 + size*17 + uint64(i)*7) % (8 * proofs.HashSize))
		reject(fmt.Sprintf("hash %d bit %d flipped", i, bit), index, size, leaf, flipped(p, i, bit), root)
		if i == len(p)/2 {
			q := cloneProof(p)
			q[i][(bit/8+5)%proofs.HashSize] ^= 0xff
			reject(fmt.Sprintf("hash %d byte inverted", i), index, size, leaf, q, root)
		}
	}
	if len(p) > 0 {
		reject("proof without its last hash", index, size, leaf, p[:len(p)-1], root)
		reject("proof without its first hash", index, size, leaf, p[1:], root)
		q := cloneProof(p)
		q[len(q)-1] = q[len(q)-1][:proofs.HashSize-1]
		reject("last hash one byte short", index, size, leaf, q, root)
		q = cloneProof(p)
		q[0] = append(q[0], 0)
		reject("first hash one byte long", index, size, leaf, q, root)
		if len(p) > 1 {
			reject("proof with its hashes reversed", index, size, leaf, reversed(p), root)
		}
	}
	reject("proof with an extra hash at the end", index, size, leaf, append(cloneProof(p), root[:]), root)
	reject("proof with an extra hash in front", index, size, leaf, append([][]byte{leaf[:]}, p...), root)
	reject("root with a bit flipped", index, size, leaf, p, flipRoot(root, int(index%256)))
	reject("leaf hash with a bit flipped", index, size, flipRoot(leaf, int(size%256)), p, root)
	for _, j := range []uint64{index - 1, index + 1, index ^ 1, size} {
		if j < uint64(len(f.leafHashes)) && j != index {
			reject(fmt.Sprintf("wrong index %d", j), j, size, leaf, p, root)
			if j < size {
				reject(fmt.Sprintf("leaf %d's hash", j), index, size, f.leafHashes[j], p, root)
			}
		}
	}
	// The same hashes claimed for another size, with that size's true root,
	// must hold exactly when they are that size's honest proof as well.
	for _, s := range []uint64{size - 1, size + 1, 2 * size} {
		if s > index && s != size && s <= uint64(len(f.leafHashes)) {
			wrongClaim(t, fmt.Sprintf("wrong size %d", s), f.honestInclusion(t, index, s), p, func() bool {
				return inclusionHolds(t, index, s, leaf, p, f.rootOf(t, s))
			})
		}
	}
	if size > 1 {
		reject("the root of the tree one smaller", index, size, leaf, p, f.rootOf(t, size-1))
	}
}

// honestInclusion returns the true inclusion proof of index in size.
func (f *fixture) honestInclusion(t *testing.T, index, size uint64) [][]byte {
	t.Helper()
	p, err := proofs.Inclusion(index, size, f.tree.reader(size))
	if err != nil {
		t.Fatalf("Inclusion(%d, %d): %v", index, size, err)
	}
	return p
}

// honestConsistency returns the true consistency proof from one size to another.
func (f *fixture) honestConsistency(t *testing.T, from, to uint64) [][]byte {
	t.Helper()
	p, err := proofs.Consistency(from, to, f.tree.reader(to))
	if err != nil {
		t.Fatalf("Consistency(%d, %d): %v", from, to, err)
	}
	return p
}

// wrongClaim checks a proof presented for a claim it was not made for: it
// must verify exactly when it equals the claim's honest proof.
func wrongClaim(t *testing.T, what string, honest, p [][]byte, holds func() bool) {
	t.Helper()
	want := slices.EqualFunc(honest, p, bytes.Equal)
	if got := holds(); got != want {
		t.Errorf("%s: verifies = %v, want %v (the honest proof is %x, this is %x)", what, got, want, honest, p)
	}
}

func reversed(p [][]byte) [][]byte {
	q := cloneProof(p)
	slices.Reverse(q)
	return q
}

// checkConsistency is checkInclusion for the consistency proof between the
// trees of sizes from and to.
func checkConsistency(t *testing.T, f *fixture, from, to uint64, root1, root2 proofs.Hash, mode alter) {
	t.Helper()
	p, err := proofs.Consistency(from, to, f.tree.reader(to))
	if err != nil {
		t.Fatalf("Consistency(%d, %d): %v", from, to, err)
	}
	if from == 0 || from == to {
		if len(p) != 0 {
			t.Fatalf("Consistency(%d, %d) = %d hashes, want none", from, to, len(p))
		}
	}
	if from > 0 {
		want, err := tlog.ProveTree(int64(to), int64(from), f.ref)
		if err != nil {
			t.Fatalf("tlog.ProveTree(%d, %d): %v", to, from, err)
		}
		if !slices.Equal(toTlog(p), want) || len(p) != len(want) {
			t.Fatalf("Consistency(%d, %d) = %x, tlog.ProveTree = %x", from, to, p, want)
		}
	}
	if !consistencyHolds(t, from, to, p, root1, root2) {
		t.Fatalf("consistency proof %d→%d does not verify", from, to)
	}
	if mode == alterNone {
		return
	}

	reject := func(what string, from, to uint64, p [][]byte, root1, root2 proofs.Hash) {
		if consistencyHolds(t, from, to, p, root1, root2) {
			t.Errorf("consistency %d→%d: %s verifies", from, to, what)
		}
	}
	for i := range p {
		if mode == alterAllBits {
			for bit := range 8 * proofs.HashSize {
				reject(fmt.Sprintf("hash %d bit %d flipped", i, bit), from, to, flipped(p, i, bit), root1, root2)
			}
			continue
		}
		bit := int((from*31 + to*17 + uint64(i)*7) % (8 * proofs.HashSize))
		reject(fmt.Sprintf("hash %d bit %d flipped", i, bit), from, to, flipped(p, i, bit), root1, root2)
		if i == len(p)/2 {
			q := cloneProof(p)
			q[i][(bit/8+5)%proofs.HashSize] ^= 0xff
			reject(fmt.Sprintf("hash %d byte inverted", i), from, to, q, root1, root2)
		}
	}
	if len(p) > 0 {
		reject("proof without its last hash", from, to, p[:len(p)-1], root1, root2)
		reject("proof without its first hash", from, to, p[1:], root1, root2)
		q := cloneProof(p)
		q[len(q)-1] = q[len(q)-1][:proofs.HashSize-1]
		reject("last hash one byte short", from, to, q, root1, root2)
		if len(p) > 1 {
			reject("proof with its hashes reversed", from, to, reversed(p), root1, root2)
		}
	}
	reject("proof with an extra hash at the end", from, to, append(cloneProof(p), root2[:]), root1, root2)
	reject("proof with an extra hash in front", from, to, append([][]byte{root1[:]}, p...), root1, root2)
	if from > 0 {
		reject("new root with a bit flipped", from, to, p, root1, flipRoot(root2, int(to%256)))
		reject("old root with a bit flipped", from, to, p, flipRoot(root1, int(from%256)), root2)
	}
	if from > 0 && from < to {
		reject("roots swapped", from, to, p, root2, root1)
	}
	// The same hashes claimed between other sizes, with those sizes' true
	// roots, must hold exactly when they are the honest proof of that claim
	// (from the empty tree, or between equal sizes, the empty proof is).
	n := uint64(len(f.leafHashes))
	for _, s := range []uint64{from - 1, from + 1} {
		if s <= to && s != from {
			wrongClaim(t, fmt.Sprintf("wrong old size %d", s), f.honestConsistency(t, s, to), p, func() bool {
				return consistencyHolds(t, s, to, p, f.rootOf(t, s), root2)
			})
		}
	}
	for _, s := range []uint64{to - 1, to + 1} {
		if s >= from && s != to && s <= n {
			wrongClaim(t, fmt.Sprintf("wrong new size %d", s), f.honestConsistency(t, from, s), p, func() bool {
				return consistencyHolds(t, from, s, p, root1, f.rootOf(t, s))
			})
		}
	}
}

// smallMode is how much TestProofsAllSmallTrees alters the proof of (a, size):
// every bit of every hash up to 8 entries, every proof up to 32, and past
// that the proofs at either end and a spread of others (about one in 40,
// which keeps the package's tests fast under -race).
func smallMode(a, size uint64) alter {
	switch {
	case size <= 8:
		return alterAllBits
	case size <= 32, a < 2, a+2 > size, (a*7+size)%41 == 0:
		return alterSome
	}
	return alterNone
}

// TestProofsAllSmallTrees checks every inclusion proof and every consistency
// proof of every tree of 1 to 300 entries against tlog, and that altering
// them breaks them.
func TestProofsAllSmallTrees(t *testing.T) {
	t.Parallel()
	f := big(t)
	const maxSize = 300
	for size := uint64(1); size <= maxSize; size++ {
		root := f.roots[size]
		for index := range size {
			checkInclusion(t, f, index, size, root, smallMode(index, size))
		}
		for from := uint64(0); from <= size; from++ {
			checkConsistency(t, f, from, size, f.roots[from], root, smallMode(from, size))
		}
		if t.Failed() {
			t.Fatalf("stopping after size %d", size)
		}
	}
}

// TestProofsRandomLargeTrees checks random proofs in 20 random trees of up to
// 100,000 entries.
func TestProofsRandomLargeTrees(t *testing.T) {
	t.Parallel()
	f := big(t)
	rng := rand.New(rand.NewPCG(6962, 9162))
	sizes := []uint64{bigSize, bigSize - 1, 1 << 16, 1<<16 + 1, 1<<16 - 1}
	for len(sizes) < 20 {
		sizes = append(sizes, 1+rng.Uint64N(bigSize))
	}
	for _, size := range sizes {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			root := f.root(t, size)
			indexes := []uint64{0, size - 1, size / 2}
			for range 20 {
				indexes = append(indexes, rng.Uint64N(size))
			}
			for _, index := range indexes {
				checkInclusion(t, f, index, size, root, alterSome)
			}
			froms := []uint64{0, 1, size - 1, size, size / 2}
			for range 20 {
				froms = append(froms, rng.Uint64N(size+1))
			}
			for _, from := range froms {
				checkConsistency(t, f, from, size, f.rootOf(t, from), root, alterSome)
			}
			// Between two random sizes, neither of them the whole tree.
			for range 10 {
				to := 1 + rng.Uint64N(size)
				from := rng.Uint64N(to + 1)
				checkConsistency(t, f, from, to, f.rootOf(t, from), f.rootOf(t, to), alterSome)
			}
		})
	}
}

// TestRootMatchesTlog checks Root against tlog.TreeHash for every size up to
// 2,100 and around every power of two up to 2^16.
func TestRootMatchesTlog(t *testing.T) {
	f := big(t)
	if got := f.root(t, 0); got != proofs.EmptyRoot {
		t.Errorf("Root(0) = %x, want EmptyRoot", got)
	}
	for size := uint64(1); size <= 2100; size++ {
		f.root(t, size)
	}
	for k := range 17 {
		for _, size := range []uint64{1<<k - 1, 1 << k, 1<<k + 1} {
			if size > 0 {
				f.root(t, size)
			}
		}
	}
}

// TestProofErrors checks the errors of Inclusion, Consistency and Root on
// impossible arguments and on a failing or misbehaving NodeReader.
func TestProofErrors(t *testing.T) {
	f := big(t)
	boom := errors.New("boom")
	failing := func([]compact.NodeID) ([][]byte, error) { return nil, boom }
	short := func(ids []compact.NodeID) ([][]byte, error) {
		h, err := f.tree.reader(bigSize)(ids)
		if err != nil || len(h) == 0 {
			return h, err
		}
		return h[:len(h)-1], nil
	}
	for _, tc := range []struct {
		name    string
		call    func() error
		wantErr error // nil: any error
	}{
		{"inclusion index equal to size", func() error { _, err := proofs.Inclusion(5, 5, f.tree.reader(5)); return err }, nil},
		{"inclusion index beyond size", func() error { _, err := proofs.Inclusion(9, 5, f.tree.reader(5)); return err }, nil},
		{"inclusion in the empty tree", func() error { _, err := proofs.Inclusion(0, 0, f.tree.reader(0)); return err }, nil},
		{"consistency from beyond to", func() error { _, err := proofs.Consistency(6, 5, f.tree.reader(6)); return err }, nil},
		{"inclusion reader fails", func() error { _, err := proofs.Inclusion(3, 10, failing); return err }, boom},
		{"consistency reader fails", func() error { _, err := proofs.Consistency(3, 10, failing); return err }, boom},
		{"root reader fails", func() error { _, err := proofs.Root(10, failing); return err }, boom},
		{"inclusion reader returns too few", func() error { _, err := proofs.Inclusion(3, 10, short); return err }, nil},
		{"consistency reader returns too few", func() error { _, err := proofs.Consistency(3, 10, short); return err }, nil},
		{"root reader returns too few", func() error { _, err := proofs.Root(10, short); return err }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
		})
	}

	// Proofs that need no node never call the reader.
	for _, tc := range []struct {
		name     string
		from, to uint64
	}{{"from zero", 0, 10}, {"equal sizes", 7, 7}, {"both zero", 0, 0}} {
		t.Run("empty consistency "+tc.name, func(t *testing.T) {
			p, err := proofs.Consistency(tc.from, tc.to, failing)
			if err != nil || p == nil || len(p) != 0 {
				t.Errorf("Consistency(%d, %d) = %v, %v; want an empty non-nil proof", tc.from, tc.to, p, err)
			}
		})
	}
	if p, err := proofs.Inclusion(0, 1, failing); err != nil || len(p) != 0 {
		t.Errorf("Inclusion(0, 1) = %v, %v; want an empty proof", p, err)
	}
	if r, err := proofs.Root(0, failing); err != nil || r != proofs.EmptyRoot {
		t.Errorf("Root(0) = %x, %v; want EmptyRoot", r, err)
	}
}

// TestVerifyEmptyAndEqualTrees covers the consistency cases tlog does not
// take: from the empty tree, and between equal sizes.
func TestVerifyEmptyAndEqualTrees(t *testing.T) {
	f := big(t)
	r5, r6 := f.roots[5], f.roots[6]
	for _, tc := range []struct {
		name         string
		from, to     uint64
		proof        [][]byte
		root1, root2 proofs.Hash
		ok           bool
	}{
		{"empty to empty", 0, 0, nil, proofs.EmptyRoot, proofs.EmptyRoot, true},
		{"empty to 5", 0, 5, nil, proofs.EmptyRoot, r5, true},
		{"empty to 5 with a hash", 0, 5, [][]byte{r5[:]}, proofs.EmptyRoot, r5, false},
		{"5 to 5", 5, 5, nil, r5, r5, true},
		{"5 to 5 with another root", 5, 5, nil, r5, r6, false},
		{"5 to 5 with a hash", 5, 5, [][]byte{r5[:]}, r5, r5, false},
		{"6 to 5", 6, 5, nil, r6, r5, false},
		{"5 to 6 without a proof", 5, 6, nil, r5, r6, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := proofs.VerifyConsistency(tc.from, tc.to, tc.proof, tc.root1, tc.root2)
			if tc.ok && err != nil {
				t.Errorf("VerifyConsistency: %v", err)
			}
			if !tc.ok && !errors.Is(err, proofs.ErrInvalidProof) {
				t.Errorf("VerifyConsistency = %v, want ErrInvalidProof", err)
			}
		})
	}
	for _, tc := range []struct {
		name        string
		index, size uint64
	}{{"index equal to size", 5, 5}, {"empty tree", 0, 0}, {"index beyond size", 7, 5}} {
		t.Run("inclusion "+tc.name, func(t *testing.T) {
			err := proofs.VerifyInclusion(tc.index, tc.size, f.leafHashes[0], nil, f.roots[tc.size])
			if !errors.Is(err, proofs.ErrInvalidProof) {
				t.Errorf("VerifyInclusion = %v, want ErrInvalidProof", err)
			}
		})
	}
}

// TestReferenceTree reproduces transparency-dev/merkle's testonly reference
// tree: its leaf inputs, node hashes, roots, compact ranges and proofs.
func TestReferenceTree(t *testing.T) {
	inputs := testonly.LeafInputs()
	var leafHashes []proofs.Hash
	for _, in := range inputs {
		leafHashes = append(leafHashes, proofs.LeafHash(in))
	}
	tree := newMemTree(t, leafHashes)
	n := uint64(len(inputs))

	for level, row := range testonly.NodeHashes() {
		for index, want := range row {
			if got := tree.node(compact.NewNodeID(uint(level), uint64(index))); !bytes.Equal(got, want) {
				t.Errorf("node %d/%d = %x, want %x", level, index, got, want)
			}
		}
	}
	if got, want := proofs.EmptyRoot[:], testonly.EmptyRootHash(); !bytes.Equal(got, want) {
		t.Errorf("EmptyRoot = %x, want %x", got, want)
	}
	compactTrees := testonly.CompactTrees()
	for size, want := range testonly.RootHashes() {
		got, err := proofs.Root(uint64(size), tree.reader(uint64(size)))
		if err != nil || !bytes.Equal(got[:], want) {
			t.Errorf("Root(%d) = %x, %v; want %x", size, got, err, want)
		}
		ids := compact.RangeNodes(0, uint64(size), nil)
		hs, err := tree.reader(uint64(size))(ids)
		if err != nil || !slices.EqualFunc(hs, compactTrees[size], bytes.Equal) {
			t.Errorf("compact range of size %d = %x, %v; want %x", size, hs, err, compactTrees[size])
		}
	}

	ref := testonly.New(rfc6962.DefaultHasher)
	ref.AppendData(inputs...)
	for size := uint64(1); size <= n; size++ {
		for index := range size {
			got, err := proofs.Inclusion(index, size, tree.reader(size))
			if err != nil {
				t.Fatalf("Inclusion(%d, %d): %v", index, size, err)
			}
			want, err := ref.InclusionProof(index, size)
			if err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
				t.Errorf("Inclusion(%d, %d) = %x; testonly: %x, %v", index, size, got, want, err)
			}
		}
		for from := uint64(0); from <= size; from++ {
			got, err := proofs.Consistency(from, size, tree.reader(size))
			if err != nil {
				t.Fatalf("Consistency(%d, %d): %v", from, size, err)
			}
			want, err := ref.ConsistencyProof(from, size)
			if err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
				t.Errorf("Consistency(%d, %d) = %x; testonly: %x, %v", from, size, got, want, err)
			}
		}
	}

	// The expected proofs of testonly's reference_test.go, which hard-codes
	// them from the RFC 6962 definitions.
	for _, tc := range []struct {
		name     string
		consist  bool
		a, b     uint64 // index and size, or from and to
		wantHexs []string
	}{
		{"inclusion 0:1", false, 0, 1, nil},
		{"inclusion 0:2", false, 0, 2, []string{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"}},
		{"inclusion 1:2", false, 1, 2, []string{"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"}},
		{"inclusion 2:3", false, 2, 3, []string{"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
		{"inclusion 1:5", false, 1, 5, []string{
			"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		}},
		{"inclusion 0:8", false, 0, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
		}},
		{"inclusion 5:8", false, 5, 8, []string{
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
		{"consistency 1:1", true, 1, 1, nil},
		{"consistency 1:8", true, 1, 8, []string{
			"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
		}},
		{"consistency 2:5", true, 2, 5, []string{
			"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		}},
		{"consistency 6:8", true, 6, 8, []string{
			"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			"ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want [][]byte
			for _, s := range tc.wantHexs {
				want = append(want, mustHex(t, s))
			}
			var got [][]byte
			var err error
			roots := testonly.RootHashes()
			if tc.consist {
				got, err = proofs.Consistency(tc.a, tc.b, tree.reader(tc.b))
				if err == nil {
					err = proofs.VerifyConsistency(tc.a, tc.b, got, proofs.Hash(roots[tc.a]), proofs.Hash(roots[tc.b]))
				}
			} else {
				got, err = proofs.Inclusion(tc.a, tc.b, tree.reader(tc.b))
				if err == nil {
					err = proofs.VerifyInclusion(tc.a, tc.b, leafHashes[tc.a], got, proofs.Hash(roots[tc.b]))
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, bytes.Equal) {
				t.Errorf("proof = %x, want %x", got, want)
			}
		})
	}
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkInclusionProof builds inclusion proofs over an in-memory
// NodeReader; the tree size is in the sub-benchmark name.
func BenchmarkInclusionProof(b *testing.B) {
	for _, size := range []int{1000, 1_000_000} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			leafHashes := make([]proofs.Hash, size)
			for i := range leafHashes {
				leafHashes[i] = proofs.LeafHash(leafData(i))
			}
			tree := newMemTree(b, leafHashes)
			read := tree.reader(uint64(size))
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := proofs.Inclusion(rng.Uint64N(uint64(size)), uint64(size), read); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
