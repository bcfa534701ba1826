package proofs

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// HashSize is the size in bytes of every hash in the log: SHA-256.
const HashSize = sha256.Size

// Hash is a SHA-256 hash: a leaf hash, a tree node, a root or a chain hash.
type Hash = [HashSize]byte

// EmptyRoot is the root of the empty tree: SHA-256 of the empty string.
var EmptyRoot = Hash(sha256.Sum256(nil))

// LeafHash returns the RFC 6962 leaf hash SHA-256(0x00 || leaf).
func LeafHash(leaf []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(leaf)
	var out Hash
	h.Sum(out[:0])
	return out
}

// LeafHashPrefixed returns the RFC 6962 leaf hash of buf[1:], using buf[0] as
// the space for the 0x00 prefix; it overwrites buf[0]. It saves the hasher
// allocation of LeafHash on the append path.
func LeafHashPrefixed(buf []byte) Hash {
	buf[0] = 0
	return sha256.Sum256(buf)
}

// NodeHash returns the RFC 6962 interior node hash SHA-256(0x01 || left || right).
func NodeHash(left, right []byte) Hash {
	var b [1 + 2*HashSize]byte
	b[0] = 1
	copy(b[1:], left)
	copy(b[1+HashSize:], right)
	return sha256.Sum256(b[:])
}

// NodeHashSlice is NodeHash returning a new slice, in the shape that
// transparency-dev/merkle's Rehash and compact ranges take.
func NodeHashSlice(left, right []byte) []byte {
	h := NodeHash(left, right)
	return h[:]
}

// ChainHash returns the next link of the hash chain: SHA-256(prev || leafHash).
// The link before the first entry is the zero hash.
func ChainHash(prev, leafHash Hash) Hash {
	var b [2 * HashSize]byte
	copy(b[:], prev[:])
	copy(b[HashSize:], leafHash[:])
	return sha256.Sum256(b[:])
}

// ParseHash decodes a standard base64 hash and checks its length.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return h, fmt.Errorf("couldn't decode hash %q: %w", s, err)
	}
	if len(b) != HashSize || base64.StdEncoding.EncodeToString(b) != s { // decoding skips CR, LF and spare bits
		return h, fmt.Errorf("hash %q is not %d bytes in canonical base64", s, HashSize)
	}
	copy(h[:], b)
	return h, nil
}

// EncodeHash returns the standard base64 form of a hash, as the API writes it.
func EncodeHash(h Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

// EncodeHashes returns the standard base64 form of each hash in a proof.
func EncodeHashes(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

// DecodeHashes decodes a proof's base64 hashes, checking each one's length.
func DecodeHashes(ss []string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		h, err := ParseHash(s)
		if err != nil {
			return nil, fmt.Errorf("proof hash %d: %w", i, err)
		}
		out[i] = h[:]
	}
	return out, nil
}
