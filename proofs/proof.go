package proofs

import (
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// ErrInvalidProof is the one opaque error for a proof that does not verify.
var ErrInvalidProof = errors.New("invalid proof")

// NodeReader returns the hashes of complete tree nodes, in the order of ids.
// Every id names a node whose subtree lies wholly inside the tree the proof is
// for. Implementations do the I/O; nothing in this package does. The proofs
// built from them may share the returned slices, so a reader must return
// slices its caller may keep and change.
type NodeReader func(ids []compact.NodeID) ([][]byte, error)

// Inclusion returns the RFC 6962 inclusion proof of leaf index in the tree of
// the given size.
func Inclusion(index, size uint64, read NodeReader) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("couldn't plan inclusion proof: %w", err)
	}
	return fetch(nodes, read)
}

// Consistency returns the RFC 6962 consistency proof between the trees of
// sizes from and to, 0 ≤ from ≤ to. It is empty when from is 0 or equals to.
func Consistency(from, to uint64, read NodeReader) ([][]byte, error) {
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return nil, fmt.Errorf("couldn't plan consistency proof: %w", err)
	}
	return fetch(nodes, read)
}

func fetch(nodes proof.Nodes, read NodeReader) ([][]byte, error) {
	if len(nodes.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes, err := read(nodes.IDs)
	if err != nil {
		return nil, fmt.Errorf("couldn't read proof nodes: %w", err)
	}
	return nodes.Rehash(hashes, NodeHashSlice)
}

// Root returns the root hash of the tree of the given size, folding the
// perfect subtrees that cover it.
func Root(size uint64, read NodeReader) (Hash, error) {
	if size == 0 {
		return EmptyRoot, nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := read(ids)
	if err != nil {
		return Hash{}, fmt.Errorf("couldn't read root nodes: %w", err)
	}
	if len(hashes) != len(ids) {
		return Hash{}, fmt.Errorf("couldn't read root nodes: got %d hashes for %d nodes", len(hashes), len(ids))
	}
	var root Hash
	copy(root[:], hashes[len(hashes)-1])
	for i := len(hashes) - 2; i >= 0; i-- {
		root = NodeHash(hashes[i], root[:])
	}
	return root, nil
}

// VerifyInclusion checks an inclusion proof of leafHash at index against the
// root of the tree of the given size. It returns ErrInvalidProof when the proof
// does not hold.
func VerifyInclusion(index, size uint64, leafHash Hash, hashes [][]byte, root Hash) error {
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash[:], hashes, root[:]); err != nil {
		return ErrInvalidProof
	}
	return nil
}

// VerifyConsistency checks a consistency proof between two roots. It returns
// ErrInvalidProof when the proof does not hold.
func VerifyConsistency(size1, size2 uint64, hashes [][]byte, root1, root2 Hash) error {
	if size1 == 0 {
		// Every tree is consistent with the empty tree; the proof must be
		// empty and the first root the empty tree's.
		if len(hashes) != 0 || root1 != EmptyRoot {
			return ErrInvalidProof
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, hashes, root1[:], root2[:]); err != nil {
		return ErrInvalidProof
	}
	return nil
}
