package proofs_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/proofs"
)

// testLog is a log built in memory with golang.org/x/mod/sumdb/tlog (an
// implementation we did not write): its leaves, its tree and a checkpoint
// signed with a deterministic key.
type testLog struct {
	logID  string
	key    testKey
	leaves [][]byte
	stored []tlog.Hash
	cp     proofs.Checkpoint
	note   []byte
}

func (l *testLog) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = l.stored[x]
	}
	return out, nil
}

// testLeaf is entry i of a log as the ledger writes it (RFC 8785 JSON);
// even entries are logins, odd ones role changes.
func testLeaf(t testing.TB, logID string, i int) []byte {
	t.Helper()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339Nano)
	e := map[string]any{
		"v": 1, "log": logID, "received_at": at, "time": at, "result": "success",
		"category": "login", "action": "login",
		"actor": map[string]any{"type": "user", "id": fmt.Sprintf("u%d", i%5)},
	}
	if i%2 == 1 {
		e["category"], e["action"] = "role", "role:assign"
		e["details"] = map[string]any{"role_to": "admin", "n": i}
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := jcs.Transform(b)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func newTestLog(t testing.TB, logID string, n int, keySeed byte) *testLog {
	t.Helper()
	l := &testLog{logID: logID, key: newTestKey(t, "auditledger.example/"+logID, keySeed)}
	var chain proofs.Hash
	for i := range n {
		leaf := testLeaf(t, logID, i)
		hs, err := tlog.StoredHashes(int64(i), leaf, l)
		if err != nil {
			t.Fatal(err)
		}
		l.stored = append(l.stored, hs...)
		l.leaves = append(l.leaves, leaf)
		chain = proofs.ChainHash(chain, proofs.LeafHash(leaf))
	}
	root := proofs.EmptyRoot
	if n > 0 {
		th, err := tlog.TreeHash(int64(n), l)
		if err != nil {
			t.Fatal(err)
		}
		root = proofs.Hash(th)
	}
	l.cp = proofs.Checkpoint{Origin: l.key.verifier.Name(), Size: uint64(n), Root: root, Chain: chain}
	var err error
	if l.note, err = proofs.SignCheckpoint(l.cp, l.key.signer); err != nil {
		t.Fatal(err)
	}
	return l
}

// entry is index i of the log as a bundle holds it, its proof from tlog.
func (l *testLog) entry(t testing.TB, i uint64) proofs.BundleEntry {
	t.Helper()
	p, err := tlog.ProveRecord(int64(len(l.leaves)), int64(i), l)
	if err != nil {
		t.Fatal(err)
	}
	hs := make([]string, len(p))
	for j, h := range p {
		hs[j] = base64.StdEncoding.EncodeToString(h[:])
	}
	return proofs.BundleEntry{
		Index: i, LeafHash: proofs.EncodeHash(proofs.LeafHash(l.leaves[i])),
		Leaf: base64.StdEncoding.EncodeToString(l.leaves[i]), InclusionProof: hs,
	}
}

// roleMatches are the indexes of the role changes: the odd ones.
func (l *testLog) roleMatches() []uint64 {
	var m []uint64
	for i := 1; i < len(l.leaves); i += 2 {
		m = append(m, uint64(i))
	}
	return m
}

// bundle is a sample of n role changes, as the server would make it.
func (l *testLog) bundle(t testing.TB, seed string, n int) *proofs.Bundle {
	t.Helper()
	matches := l.roleMatches()
	b := &proofs.Bundle{
		Format: proofs.BundleFormat, Log: l.logID, CreatedAt: "2026-11-25T21:40:00.5Z",
		Checkpoint: string(l.note), VerifierKey: l.key.vkey, Query: "category:role",
		Matches: uint64(len(matches)),
		Sample:  proofs.BundleSample{Algorithm: proofs.SampleAlgorithm, Seed: seed, Size: n},
		Entries: []proofs.BundleEntry{},
	}
	for _, i := range proofs.SampleIndexes(seed, n, matches) {
		b.Entries = append(b.Entries, l.entry(t, i))
	}
	return b
}

// reparse marshals b and parses it back, as a verifier reads a file.
func reparse(t testing.TB, b *proofs.Bundle) *proofs.Bundle {
	t.Helper()
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := proofs.ParseBundle(data)
	if err != nil {
		t.Fatalf("ParseBundle of a marshalled bundle: %v\n%s", err, data)
	}
	return out
}

// clone deep-copies a bundle.
func clone(t testing.TB, b *proofs.Bundle) *proofs.Bundle {
	c := *b
	c.Entries = slices.Clone(b.Entries)
	for i := range c.Entries {
		c.Entries[i].InclusionProof = slices.Clone(b.Entries[i].InclusionProof)
	}
	return &c
}

// queryCheck is the CheckEntry of these tests: the entry must be a role change.
func queryCheck(index uint64, leaf []byte) error {
	if !bytes.Contains(leaf, []byte(`"category":"role"`)) {
		return errors.New("does not match the query category:role")
	}
	return nil
}

func TestBundleVerifies(t *testing.T) {
	l := newTestLog(t, "default", 301, 1)
	for _, n := range []int{1, 7, 150, 151, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := reparse(t, l.bundle(t, "seed-1", n))
			if want := min(n, 150); len(b.Entries) != want {
				t.Fatalf("%d entries, want %d", len(b.Entries), want)
			}
			r := proofs.VerifyBundle(b, l.key.vkey, proofs.BundleOptions{CheckEntry: queryCheck, Matches: l.roleMatches()})
			if !r.OK || len(r.Problems) != 0 || !r.SignatureOK || !r.SampleChecked {
				t.Fatalf("a good bundle fails: %+v", r)
			}
			if r.Proved != len(b.Entries) || r.Entries != len(b.Entries) || r.Checkpoint.Size != 301 || r.KeyName != l.key.verifier.Name() {
				t.Fatalf("report %+v", r)
			}
			// The key may come with a trailing newline, as from a file.
			if r := proofs.VerifyBundle(b, l.key.vkey+"\n", proofs.BundleOptions{}); !r.OK {
				t.Fatalf("key with a newline: %+v", r.Problems)
			}
		})
	}
}

func TestBundleEmptyAndRedacted(t *testing.T) {
	// An empty log: no matches, no entries, and the bundle verifies.
	empty := newTestLog(t, "default", 0, 1)
	b := empty.bundle(t, "s", 10)
	if r := proofs.VerifyBundle(reparse(t, b), empty.key.vkey, proofs.BundleOptions{Matches: []uint64{}}); !r.OK || r.Entries != 0 {
		t.Fatalf("empty bundle: %+v", r)
	}
	// A redacted entry proves its leaf hash only, and counts as such.
	l := newTestLog(t, "default", 40, 1)
	b = l.bundle(t, "s", 5)
	b.Entries[2].Leaf, b.Entries[2].Redacted = "", true
	r := proofs.VerifyBundle(reparse(t, b), l.key.vkey, proofs.BundleOptions{CheckEntry: queryCheck})
	if !r.OK || r.Redacted != 1 || r.Proved != 5 {
		t.Fatalf("redacted entry: %+v", r)
	}
	b.Entries[2].LeafHash = b.Entries[3].LeafHash
	r = proofs.VerifyBundle(reparse(t, b), l.key.vkey, proofs.BundleOptions{})
	checkProblems(t, r, fmt.Sprintf("index %d: the inclusion proof does not lead from leaf_hash", b.Entries[2].Index))
}

// checkProblems wants the report to fail with exactly the problems given,
// each as a prefix of one problem's String, in order.
func checkProblems(t *testing.T, r *proofs.BundleReport, want ...string) {
	t.Helper()
	var got []string
	for _, p := range r.Problems {
		got = append(got, p.String())
	}
	if r.OK {
		t.Fatalf("a tampered bundle verifies; want problems %q", want)
	}
	if len(got) != len(want) {
		t.Fatalf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("problem %d is %q, want it to start %q\nall: %q", i, got[i], want[i], got)
		}
	}
}

func TestBundleTampering(t *testing.T) {
	l := newTestLog(t, "default", 101, 1)
	other := newTestLog(t, "other", 101, 2)
	good := l.bundle(t, "tamper", 12)
	idx := func(i int) uint64 { return good.Entries[i].Index }
	editLeaf := func(e *proofs.BundleEntry, from, to string) {
		leaf, _ := base64.StdEncoding.DecodeString(e.Leaf)
		if !bytes.Contains(leaf, []byte(from)) {
			t.Fatalf("leaf %s lacks %s", leaf, from)
		}
		e.Leaf = base64.StdEncoding.EncodeToString(bytes.Replace(leaf, []byte(from), []byte(to), 1))
	}
	notSampled := func() uint64 { // a role change the sample did not take
		for _, m := range l.roleMatches() {
			if !slices.ContainsFunc(good.Entries, func(e proofs.BundleEntry) bool { return e.Index == m }) {
				return m
			}
		}
		t.Fatal("every match was sampled")
		return 0
	}()
	otherKey := newTestKey(t, l.key.verifier.Name(), 9) // same name, another key

	for _, tc := range []struct {
		name   string
		tamper func(b *proofs.Bundle)
		opts   proofs.BundleOptions
		want   []string
	}{
		{"entry field changed", func(b *proofs.Bundle) {
			editLeaf(&b.Entries[3], `"role_to":"admin"`, `"role_to":"owner"`)
		}, proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the entry does not hash to its leaf_hash: the entry was altered", idx(3))}},
		{"entry field changed with its leaf_hash", func(b *proofs.Bundle) {
			editLeaf(&b.Entries[3], `"id":"u`, `"id":"x`)
			leaf, _ := base64.StdEncoding.DecodeString(b.Entries[3].Leaf)
			b.Entries[3].LeafHash = proofs.EncodeHash(proofs.LeafHash(leaf))
		}, proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the inclusion proof does not lead from the entry's leaf hash", idx(3))}},
		{"two entries changed, both reported", func(b *proofs.Bundle) {
			editLeaf(&b.Entries[0], `"role_to":"admin"`, `"role_to":"owner"`)
			editLeaf(&b.Entries[11], `"role_to":"admin"`, `"role_to":"owner"`)
		}, proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the entry does not hash", idx(0)), fmt.Sprintf("index %d: the entry does not hash", idx(11))}},
		{"checkpoint from another key", func(b *proofs.Bundle) {
			n, err := proofs.SignCheckpoint(l.cp, otherKey.signer)
			if err != nil {
				t.Fatal(err)
			}
			b.Checkpoint = string(n)
		}, proofs.BundleOptions{}, []string{"checkpoint: not signed by the key given"}},
		{"checkpoint and key of another log", func(b *proofs.Bundle) {
			b.Checkpoint, b.VerifierKey = string(other.note), other.key.vkey
		}, proofs.BundleOptions{}, append([]string{
			"key: the bundle names verifier key", "checkpoint: not signed by the key given",
			`checkpoint: origin "auditledger.example/other" is not that of log "default"`,
		}, func() []string { // its root proves none of them
			var out []string
			for _, e := range good.Entries {
				out = append(out, fmt.Sprintf("index %d: the inclusion proof does not lead", e.Index))
			}
			return out
		}()...)},
		{"checkpoint's root changed, signature kept", func(b *proofs.Bundle) {
			c := l.cp
			c.Root[0] ^= 1
			b.Checkpoint = strings.Replace(b.Checkpoint, proofs.EncodeHash(l.cp.Root), proofs.EncodeHash(c.Root), 1)
		}, proofs.BundleOptions{}, append([]string{"checkpoint: not signed by the key given"}, func() []string {
			var out []string
			for _, e := range good.Entries {
				out = append(out, fmt.Sprintf("index %d: the inclusion proof does not lead", e.Index))
			}
			return out
		}()...)},
		{"bundle's key swapped", func(b *proofs.Bundle) { b.VerifierKey = otherKey.vkey },
			proofs.BundleOptions{}, []string{"key: the bundle names verifier key"}},
		{"entry swapped for another's leaf", func(b *proofs.Bundle) {
			e := l.entry(t, notSampled)
			b.Entries[5].Leaf, b.Entries[5].LeafHash = e.Leaf, e.LeafHash
		}, proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the inclusion proof does not lead", idx(5))}},
		{"entry swapped for another's leaf, leaf_hash kept", func(b *proofs.Bundle) {
			b.Entries[5].Leaf = l.entry(t, notSampled).Leaf
		}, proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the entry does not hash to its leaf_hash: the entry was altered", idx(5))}},
		{"entry and proof of another index, index kept", func(b *proofs.Bundle) {
			e := l.entry(t, notSampled)
			b.Entries[5].Leaf, b.Entries[5].InclusionProof = e.Leaf, e.InclusionProof
		}, proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the entry does not hash to its leaf_hash, and the inclusion proof holds for neither", idx(5))}},
		{"two sampled leaves exchanged", func(b *proofs.Bundle) {
			b.Entries[1].Leaf, b.Entries[2].Leaf = b.Entries[2].Leaf, b.Entries[1].Leaf
			b.Entries[1].LeafHash, b.Entries[2].LeafHash = b.Entries[2].LeafHash, b.Entries[1].LeafHash
		}, proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the inclusion proof", idx(1)), fmt.Sprintf("index %d: the inclusion proof", idx(2))}},
		{"entry swapped whole for another match", func(b *proofs.Bundle) {
			b.Entries[5] = l.entry(t, notSampled)
			sort.Slice(b.Entries, func(i, j int) bool { return b.Entries[i].Index < b.Entries[j].Index })
		}, proofs.BundleOptions{Matches: l.roleMatches()}, []string{
			fmt.Sprintf("sample: the seed chooses index %d, which the bundle lacks", idx(5)),
			fmt.Sprintf("index %d: not chosen by the seed", notSampled),
		}},
		{"entry swapped whole for a non-match", func(b *proofs.Bundle) {
			b.Entries[5] = l.entry(t, idx(5)-1) // even: a login
		}, proofs.BundleOptions{CheckEntry: queryCheck}, []string{fmt.Sprintf("index %d: entry: does not match the query", idx(5)-1)}},
		{"entry of another log", func(b *proofs.Bundle) {
			e := other.entry(t, idx(4))
			b.Entries[4].Leaf, b.Entries[4].LeafHash = e.Leaf, e.LeafHash
		}, proofs.BundleOptions{}, []string{
			fmt.Sprintf("index %d: the inclusion proof does not lead", idx(4)),
			fmt.Sprintf(`index %d: entry: the entry belongs to log "other", not "default"`, idx(4)),
		}},
		{"index changed", func(b *proofs.Bundle) { b.Entries[6].Index++ },
			proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the inclusion proof does not lead", idx(6)+1)}},
		{"index past the checkpoint", func(b *proofs.Bundle) { b.Entries[11].Index = 101 },
			proofs.BundleOptions{}, []string{"index 101: beyond the checkpoint's tree of 101 entries"}},
		{"entry dropped", func(b *proofs.Bundle) { b.Entries = slices.Delete(b.Entries, 7, 8) },
			proofs.BundleOptions{}, []string{"bundle: 11 entries, but a sample of 12 from 50 matches holds 12"}},
		{"entry repeated", func(b *proofs.Bundle) { b.Entries[8] = b.Entries[7] },
			proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: out of order or repeated", idx(7))}},
		{"matches understated", func(b *proofs.Bundle) { b.Matches = 11 },
			proofs.BundleOptions{}, []string{"bundle: 12 entries, but a sample of 12 from 11 matches holds 11"}},
		{"seed changed", func(b *proofs.Bundle) { b.Sample.Seed = "tamper2" },
			proofs.BundleOptions{Matches: l.roleMatches()}, nil}, // checked below: some "sample:" problems
		{"non-canonical leaf", func(b *proofs.Bundle) {
			editLeaf(&b.Entries[9], `{"action"`, `{ "action"`)
			leaf, _ := base64.StdEncoding.DecodeString(b.Entries[9].Leaf)
			b.Entries[9].LeafHash = proofs.EncodeHash(proofs.LeafHash(leaf))
		}, proofs.BundleOptions{}, []string{
			fmt.Sprintf("index %d: the inclusion proof does not lead", idx(9)),
			fmt.Sprintf("index %d: entry: the leaf is not in RFC 8785 canonical form", idx(9)),
		}},
		{"leaf not base64", func(b *proofs.Bundle) { b.Entries[10].Leaf = "!" + b.Entries[10].Leaf[1:] },
			proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: leaf: not canonical standard base64", idx(10))}},
		{"proof hash not base64", func(b *proofs.Bundle) { b.Entries[10].InclusionProof[0] = "AAAA" },
			proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: inclusion_proof: proof hash 0", idx(10))}},
		{"proof hash dropped", func(b *proofs.Bundle) { b.Entries[10].InclusionProof = b.Entries[10].InclusionProof[1:] },
			proofs.BundleOptions{}, []string{fmt.Sprintf("index %d: the inclusion proof does not lead", idx(10))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := clone(t, good)
			tc.tamper(b)
			r := proofs.VerifyBundle(reparse(t, b), l.key.vkey, tc.opts)
			if tc.want == nil {
				if r.OK || len(r.Problems) == 0 || !strings.HasPrefix(r.Problems[0].String(), "sample: ") {
					t.Fatalf("want sample problems, got %+v", r.Problems)
				}
				return
			}
			checkProblems(t, r, tc.want...)
		})
	}

	// Every bit of every proof hash, flipped one at a time, is caught and
	// blamed on its entry.
	t.Run("proof byte flipped", func(t *testing.T) {
		for i := range good.Entries {
			for j := range good.Entries[i].InclusionProof {
				h, _ := base64.StdEncoding.DecodeString(good.Entries[i].InclusionProof[j])
				for k := range h {
					b := clone(t, good)
					h2 := slices.Clone(h)
					h2[k] ^= 1 << (k % 8)
					b.Entries[i].InclusionProof[j] = base64.StdEncoding.EncodeToString(h2)
					r := proofs.VerifyBundle(b, l.key.vkey, proofs.BundleOptions{})
					if r.OK || len(r.Problems) != 1 || !r.Problems[0].Entry || r.Problems[0].Index != good.Entries[i].Index ||
						!strings.Contains(r.Problems[0].Problem, "inclusion proof does not lead") {
						t.Fatalf("entry %d, proof hash %d, byte %d flipped: %+v", i, j, k, r.Problems)
					}
				}
			}
		}
	})

	// A key that is no key at all is reported, and nothing verifies.
	r := proofs.VerifyBundle(good, "not-a-key", proofs.BundleOptions{})
	if r.OK || r.SignatureOK || r.Problems[0].Where != "key" {
		t.Fatalf("bad key: %+v", r)
	}
}

func TestParseBundleStrict(t *testing.T) {
	l := newTestLog(t, "default", 21, 1)
	data, err := l.bundle(t, "strict", 3).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proofs.ParseBundle(data); err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for _, tc := range []struct{ name, in string }{
		{"unknown member", strings.Replace(s, `"log":`, `"colour":"red","log":`, 1)},
		{"unknown entry member", strings.Replace(s, `"index":`, `"note":"x","index":`, 1)},
		{"duplicate member", strings.Replace(s, `"log":"default"`, `"log":"other","log":"default"`, 1)},
		{"duplicate entry member", strings.Replace(s, `"index":`, `"index":0,"index":`, 1)},
		{"member in another case", strings.Replace(s, `"log":`, `"Log":`, 1)},
		{"member in a Unicode look-alike", strings.Replace(s, `"seed":`, `"ſeed":`, 1)},
		{"trailing data", s + "{}"},
		{"two objects", s + s},
		{"not UTF-8", strings.Replace(s, `"query":"category:role"`, "\"query\":\"\xff\"", 1)},
		{"other format", strings.Replace(s, proofs.BundleFormat, "auditledger-bundle/v2", 1)},
		{"bad log id", strings.Replace(s, `"log":"default"`, `"log":"De fault"`, 1)},
		{"other algorithm", strings.Replace(s, proofs.SampleAlgorithm, "chacha8", 1)},
		{"bad seed", strings.Replace(s, `"seed":"strict"`, `"seed":"a b"`, 1)},
		{"empty seed", strings.Replace(s, `"seed":"strict"`, `"seed":""`, 1)},
		{"sample size 0", strings.Replace(s, `"size":3`, `"size":0`, 1)},
		{"sample size too big", strings.Replace(s, `"size":3`, `"size":1001`, 1)},
		{"negative index", strings.Replace(s, `"index":`, `"index":-`, 1)},
		{"float index", regexpReplace(s, `"index":(\d+)`, `"index":$1.5`)},
		{"string matches", regexpReplace(s, `"matches":(\d+)`, `"matches":"$1"`)},
		{"no entries", strings.Replace(s, `"entries":[`, `"entries":null,"x":[`, 1)},
		{"entries null", regexpReplace(s, `(?s)"entries":\[.*\]`, `"entries":null`)},
		{"leaf and redacted", strings.Replace(s, `"leaf":`, `"redacted":true,"leaf":`, 1)},
		{"neither leaf nor redacted", regexpReplace(s, `"leaf":"[^"]*",`, ``)},
		{"no leaf_hash", regexpReplace(s, `"leaf_hash":"[^"]*",`, ``)},
		{"no proof", regexpReplace(s, `,"inclusion_proof":\[[^\]]*\]`, ``)},
		{"time not UTC", strings.Replace(s, `21:40:00.5Z`, `22:40:00.5+01:00`, 1)},
		{"time not a time", strings.Replace(s, `2026-11-25T21:40:00.5Z`, `yesterday`, 1)},
		{"no checkpoint", regexpReplace(s, `"checkpoint":"[^"]*"`, `"checkpoint":""`)},
		{"not an object", "[" + s + "]"},
		{"empty", ""},
		{"too deep", strings.Replace(s, `"query":"category:role"`, `"query":[[[[[[[[[[1]]]]]]]]]]`, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in == s {
				t.Fatal("the case changed nothing")
			}
			b, err := proofs.ParseBundle([]byte(tc.in))
			if err == nil || !errors.Is(err, proofs.ErrBadBundle) {
				t.Fatalf("ParseBundle accepted it (%v): %+v", err, b)
			}
		})
	}
	// Too many entries, and too long a proof.
	big := l.bundle(t, "strict", 3)
	for len(big.Entries) <= proofs.MaxBundleEntries {
		big.Entries = append(big.Entries, big.Entries[0])
	}
	if d, _ := big.Marshal(); d != nil {
		if _, err := proofs.ParseBundle(d); err == nil {
			t.Error("a bundle of 1001 entries parses")
		}
	}
	long := l.bundle(t, "strict", 1)
	for len(long.Entries[0].InclusionProof) <= proofs.MaxProofHashes {
		long.Entries[0].InclusionProof = append(long.Entries[0].InclusionProof, long.Entries[0].LeafHash)
	}
	if d, _ := long.Marshal(); d != nil {
		if _, err := proofs.ParseBundle(d); err == nil {
			t.Error("a proof of 65 hashes parses")
		}
	}
	if _, err := proofs.ParseBundle(make([]byte, proofs.MaxBundleSize+1)); err == nil {
		t.Error("an oversized bundle parses")
	}
}

func TestSample(t *testing.T) {
	matches := make([]uint64, 0, 500)
	for i := uint64(0); i < 1000; i += 2 {
		matches = append(matches, i)
	}
	// The Sampler's heap agrees with sorting every match by score.
	brute := func(seed string, n int) []uint64 {
		s := slices.Clone(matches)
		sort.Slice(s, func(i, j int) bool {
			a, b := proofs.SampleScore(seed, s[i]), proofs.SampleScore(seed, s[j])
			return bytes.Compare(a[:], b[:]) < 0
		})
		s = s[:min(n, len(s))]
		slices.Sort(s)
		return s
	}
	for _, seed := range []string{"a", "seed-2", "Z.9_x"} {
		for _, n := range []int{0, 1, 2, 10, 100, 499, 500, 501, 1000} {
			got := proofs.SampleIndexes(seed, n, matches)
			if want := brute(seed, n); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Fatalf("seed %q, n %d: %v, want %v", seed, n, got, want)
			}
			// The order of the match list does not matter.
			rev := slices.Clone(matches)
			slices.Reverse(rev)
			if got2 := proofs.SampleIndexes(seed, n, rev); !reflect.DeepEqual(got, got2) {
				t.Fatalf("seed %q, n %d: the sample depends on the order of the matches", seed, n)
			}
		}
	}
	if reflect.DeepEqual(proofs.SampleIndexes("a", 10, matches), proofs.SampleIndexes("b", 10, matches)) {
		t.Error("two seeds draw the same sample")
	}
	// The score is SHA-256 of "seed:index", as docs/bundle.md says
	// (printf 'abc:42' | sha256sum).
	const want = "77fed3f4d816b7f45026b803d1110fd9e8495ff5884d55c08c605d1b68057163" // printf 'abc:42' | sha256sum
	if got := fmt.Sprintf("%x", proofs.SampleScore("abc", 42)); got != want {
		t.Fatalf("SampleScore(abc, 42) = %s, want %s", got, want)
	}
	for _, s := range []string{"a", strings.Repeat("x", 128), "A-z.0_9"} {
		if proofs.CheckSeed(s) != nil {
			t.Errorf("CheckSeed(%q) refuses it", s)
		}
	}
	for _, s := range []string{"", strings.Repeat("x", 129), "a b", "a:b", "é", "a/b"} {
		if proofs.CheckSeed(s) == nil {
			t.Errorf("CheckSeed(%q) accepts it", s)
		}
	}
}

func regexpReplace(s, re, repl string) string {
	return regexp.MustCompile(re).ReplaceAllString(s, repl)
}

// FuzzParseBundle checks that ParseBundle never panics, that whatever it
// accepts VerifyBundle checks without panicking, and that an accepted
// bundle marshals to one that parses back the same.
func FuzzParseBundle(f *testing.F) {
	l := newTestLog(f, "default", 13, 1)
	for _, n := range []int{1, 3} {
		d, err := l.bundle(f, "fuzz", n).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(d)
	}
	b := l.bundle(f, "fuzz", 2)
	b.Entries[0].Leaf, b.Entries[0].Redacted = "", true
	d, _ := b.Marshal()
	f.Add(d)
	f.Add([]byte(`{"bundle":"auditledger-bundle/v1"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := proofs.ParseBundle(in)
		if err != nil {
			return
		}
		r := proofs.VerifyBundle(b, l.key.vkey, proofs.BundleOptions{CheckEntry: queryCheck, Matches: l.roleMatches()})
		if r.OK && (len(r.Problems) != 0 || !r.SignatureOK) {
			t.Fatalf("OK with problems: %+v", r)
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b2, err := proofs.ParseBundle(out)
		if err != nil {
			t.Fatalf("ParseBundle accepted %q, but not its own Marshal %q: %v", in, out, err)
		}
		if !reflect.DeepEqual(b, b2) {
			t.Fatalf("round trip changed the bundle:\n%+v\n%+v", b, b2)
		}
	})
}
