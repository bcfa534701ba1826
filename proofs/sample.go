package proofs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"regexp"
	"slices"
)

// This file is the sample of an auditor bundle (docs/bundle.md, "The
// sample"): a reproducible draw without replacement from a query's
// matches, keyed by a seed, that anyone holding the seed and the list of
// matches can draw again.

var seedRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// CheckSeed returns an error unless s is a valid sample seed: 1 to
// MaxSeedLen bytes of letters, digits, '.', '_' and '-'.
func CheckSeed(s string) error {
	if !seedRe.MatchString(s) {
		return fmt.Errorf("seed must be 1–%d characters of A-Z a-z 0-9 . _ -", MaxSeedLen)
	}
	return nil
}

// SampleAlgorithm names the sampling rule of SampleIndexes.
const SampleAlgorithm = "sha256-rank-v1"

// SampleScore is the rank of index under seed: SHA-256 of the seed's
// bytes, a colon, and the index in decimal (printf '%s:%d' "$seed" "$i" |
// sha256sum). Lower scores, compared as big-endian numbers (that is, byte
// by byte), rank first.
func SampleScore(seed string, index uint64) Hash {
	b := make([]byte, 0, len(seed)+21)
	b = append(b, seed...)
	b = append(b, ':')
	b = fmt.Appendf(b, "%d", index)
	return sha256.Sum256(b)
}

// Sampler draws a sample without replacement from a stream of matches:
// the n indexes of lowest SampleScore (ties, which need a SHA-256
// collision, go to the lower index). It holds at most n indexes, so a scan
// of any number of matches runs in O(n) memory and O(log n) per match. It
// is not safe for concurrent use.
type Sampler struct {
	seed string
	n    int
	heap []scored // a max-heap on (score, index): the worst kept on top
}

type scored struct {
	score Hash
	index uint64
}

func (a scored) less(b scored) bool {
	if c := bytes.Compare(a.score[:], b.score[:]); c != 0 {
		return c < 0
	}
	return a.index < b.index
}

// NewSampler returns a Sampler that keeps n indexes under seed.
func NewSampler(seed string, n int) *Sampler {
	return &Sampler{seed: seed, n: max(n, 0)}
}

// Add offers one matching index. An index offered twice is kept twice;
// callers offer each match once.
func (s *Sampler) Add(index uint64) {
	if s.n == 0 {
		return
	}
	x := scored{SampleScore(s.seed, index), index}
	h := s.heap
	if len(h) < s.n {
		h = append(h, x)
		for i := len(h) - 1; i > 0; { // sift up
			p := (i - 1) / 2
			if !h[p].less(h[i]) {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		s.heap = h
		return
	}
	if !x.less(h[0]) {
		return
	}
	h[0] = x
	for i := 0; ; { // sift down
		l, big := 2*i+1, i
		if l < len(h) && h[big].less(h[l]) {
			big = l
		}
		if l+1 < len(h) && h[big].less(h[l+1]) {
			big = l + 1
		}
		if big == i {
			break
		}
		h[i], h[big] = h[big], h[i]
		i = big
	}
}

// Indexes returns the sample, in ascending index order.
func (s *Sampler) Indexes() []uint64 {
	out := make([]uint64, len(s.heap))
	for i, x := range s.heap {
		out[i] = x.index
	}
	slices.Sort(out)
	return out
}

// SampleIndexes returns the sample of n that SampleAlgorithm draws from
// matches under seed, in ascending index order: the min(n, len(matches))
// matches of lowest SampleScore. matches must not repeat an index.
func SampleIndexes(seed string, n int, matches []uint64) []uint64 {
	s := NewSampler(seed, n)
	for _, m := range matches {
		s.Add(m)
	}
	return s.Indexes()
}
