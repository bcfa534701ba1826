package proofs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
	"golang.org/x/mod/sumdb/note"
)

// This file is the auditor bundle (SPEC §4, GET …/bundle; docs/bundle.md is
// the reference for its format): one JSON document holding a log's signed
// checkpoint, its verifier key, a reproducible random sample of a query's
// matches, and for each sampled entry its leaf bytes and its inclusion proof
// against that one checkpoint. ParseBundle reads one strictly; VerifyBundle
// checks everything in it and reports every failure it finds.

// BundleFormat is the value of a bundle's "bundle" member: the format and
// its version.
const BundleFormat = "auditledger-bundle/v1"

// Limits of a bundle. A bundle past any of them does not parse.
const (
	// MaxBundleSize is the largest bundle, in bytes: MaxBundleEntries
	// entries of the largest leaf, base64-encoded, with their proofs,
	// fit in it.
	MaxBundleSize = 100 << 20
	// MaxBundleEntries is the largest sample a bundle may hold.
	MaxBundleEntries = 1000
	// MaxBundleLeaf is the largest leaf, in bytes (SPEC §2: what a C2SP
	// entry bundle can hold).
	MaxBundleLeaf = 65535
	// MaxProofHashes bounds an inclusion proof: one hash per tree level.
	MaxProofHashes = 64
	// MaxSeedLen bounds a sample seed, in bytes.
	MaxSeedLen = 128

	maxNoteLen  = 64 << 10
	maxKeyLen   = 1 << 10
	maxQueryLen = 16 << 10
)

// ErrBadBundle is returned, wrapped, by ParseBundle for a document that is
// not a well-formed bundle.
var ErrBadBundle = errors.New("bad bundle")

// Bundle is an auditor bundle, as ParseBundle reads it and the server
// writes it. Hashes are standard base64, as everywhere in the API.
type Bundle struct {
	// Format is BundleFormat.
	Format string `json:"bundle"`
	// Log is the log id.
	Log string `json:"log"`
	// CreatedAt is when the server made the bundle, RFC 3339 in UTC.
	CreatedAt string `json:"created_at"`
	// Checkpoint is the signed checkpoint note every proof is against: the
	// log's latest when the bundle was started.
	Checkpoint string `json:"checkpoint"`
	// VerifierKey is the log's note verifier key as the server gave it. An
	// auditor checks with a key from a source they trust, and VerifyBundle
	// reports a bundle whose key is not that one.
	VerifierKey string `json:"verifier_key"`
	// Query is the filter the sample was drawn from, as a q string with
	// relative times (since:7d) resolved to RFC 3339 times, so that it
	// means the same at any later time.
	Query string `json:"query"`
	// Matches is how many entries below the checkpoint's size matched.
	Matches uint64 `json:"matches"`
	// Sample says how the entries were chosen from the matches.
	Sample BundleSample `json:"sample"`
	// Entries are the sampled entries, in ascending index order.
	Entries []BundleEntry `json:"entries"`
}

// BundleSample records how a bundle's entries were chosen, so that anyone
// holding the list of matches can choose them again (SampleIndexes).
type BundleSample struct {
	// Algorithm is SampleAlgorithm.
	Algorithm string `json:"algorithm"`
	// Seed keys the ranking: 1 to MaxSeedLen bytes of [A-Za-z0-9._-].
	Seed string `json:"seed"`
	// Size is the sample size asked for; the bundle holds min(Size,
	// Matches) entries.
	Size int `json:"size"`
}

// BundleEntry is one sampled entry with its inclusion proof.
type BundleEntry struct {
	// Index is the entry's index in the log.
	Index uint64 `json:"index"`
	// LeafHash is SHA-256(0x00 || leaf), as the server computed it.
	LeafHash string `json:"leaf_hash"`
	// Leaf is the standard base64 of the exact leaf bytes: the entry's
	// RFC 8785 canonical JSON. Empty for a redacted entry.
	Leaf string `json:"leaf,omitempty"`
	// Redacted is true when retention removed the entry's payload: only
	// its leaf hash is proved.
	Redacted bool `json:"redacted,omitempty"`
	// InclusionProof is the RFC 6962 inclusion proof of the leaf hash at
	// Index in the checkpoint's tree.
	InclusionProof []string `json:"inclusion_proof"`
}

var (
	bundleLog = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	jsonKeyRe = regexp.MustCompile(`^[a-z_]{1,32}$`)
)

// ParseBundle reads a bundle strictly: valid UTF-8 JSON of at most
// MaxBundleSize bytes holding one object and nothing after it, no member
// unknown, duplicated or spelt in another case, every required member
// present, the format, log id, time, seed and sample algorithm well formed,
// and every size within the limits above. It does not check hashes,
// signatures or proofs: VerifyBundle does, entry by entry.
func ParseBundle(data []byte) (*Bundle, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadBundle, len(data), MaxBundleSize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not valid UTF-8", ErrBadBundle)
	}
	if err := checkJSONKeys(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Bundle
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the bundle object", ErrBadBundle)
	}
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	return &b, nil
}

// check checks what ParseBundle promises beyond the JSON syntax.
func (b *Bundle) check() error {
	switch {
	case b.Format != BundleFormat:
		return fmt.Errorf("bundle is %q, want %q", b.Format, BundleFormat)
	case !bundleLog.MatchString(b.Log):
		return fmt.Errorf("log %q is not a log id", b.Log)
	case b.Checkpoint == "" || len(b.Checkpoint) > maxNoteLen:
		return fmt.Errorf("checkpoint is empty or longer than %d bytes", maxNoteLen)
	case b.VerifierKey == "" || len(b.VerifierKey) > maxKeyLen:
		return fmt.Errorf("verifier_key is empty or longer than %d bytes", maxKeyLen)
	case len(b.Query) > maxQueryLen:
		return fmt.Errorf("query is longer than %d bytes", maxQueryLen)
	case b.Sample.Algorithm != SampleAlgorithm:
		return fmt.Errorf("sample algorithm %q, want %q", b.Sample.Algorithm, SampleAlgorithm)
	case CheckSeed(b.Sample.Seed) != nil:
		return fmt.Errorf("sample seed %q: %v", b.Sample.Seed, CheckSeed(b.Sample.Seed))
	case b.Sample.Size < 1 || b.Sample.Size > MaxBundleEntries:
		return fmt.Errorf("sample size %d is not 1–%d", b.Sample.Size, MaxBundleEntries)
	case b.Entries == nil:
		return errors.New("no entries list")
	case len(b.Entries) > MaxBundleEntries:
		return fmt.Errorf("%d entries, more than %d", len(b.Entries), MaxBundleEntries)
	}
	if t, err := time.Parse(time.RFC3339Nano, b.CreatedAt); err != nil || t.Location() != time.UTC {
		return fmt.Errorf("created_at %q is not an RFC 3339 time in UTC", b.CreatedAt)
	}
	maxLeaf64 := base64.StdEncoding.EncodedLen(MaxBundleLeaf)
	for i, e := range b.Entries {
		switch {
		case e.LeafHash == "":
			return fmt.Errorf("entry %d (index %d): no leaf_hash", i, e.Index)
		case e.Redacted == (e.Leaf != ""):
			return fmt.Errorf("entry %d (index %d): want exactly one of leaf and redacted", i, e.Index)
		case len(e.Leaf) > maxLeaf64:
			return fmt.Errorf("entry %d (index %d): leaf longer than %d bytes", i, e.Index, MaxBundleLeaf)
		case e.InclusionProof == nil:
			return fmt.Errorf("entry %d (index %d): no inclusion_proof", i, e.Index)
		case len(e.InclusionProof) > MaxProofHashes:
			return fmt.Errorf("entry %d (index %d): inclusion proof of %d hashes, more than %d", i, e.Index, len(e.InclusionProof), MaxProofHashes)
		}
	}
	return nil
}

// checkJSONKeys walks a JSON document and rejects an object member name
// that is not lowercase ASCII (encoding/json would match "Index" or a
// Unicode look-alike to "index") or that appears twice in one object (JSON
// readers disagree on which one wins).
func checkJSONKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token in an object is a member name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				if top != nil && top.object {
					top.key = true
				}
				if len(stack) >= 8 {
					return errors.New("nested too deep")
				}
				stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			case '[':
				if top != nil && top.object {
					top.key = true
				}
				if len(stack) >= 8 {
					return errors.New("nested too deep")
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.object && top.key {
				if !jsonKeyRe.MatchString(t) {
					return fmt.Errorf("member name %q is not a bundle field", t)
				}
				if top.keys[t] {
					return fmt.Errorf("member %q appears twice in one object", t)
				}
				top.keys[t] = true
				top.key = false
				continue
			}
			if top != nil && top.object {
				top.key = true
			}
		default:
			if top != nil && top.object {
				top.key = true
			}
		}
	}
}

// Marshal returns the bundle as JSON, one entry per line, as the server
// writes it.
func (b *Bundle) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	w, err := NewBundleWriter(&buf, b)
	if err != nil {
		return nil, err
	}
	for _, e := range b.Entries {
		if err := w.Entry(e); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// BundleWriter writes a bundle as a stream, so that a server need not hold
// every entry at once: NewBundleWriter writes every member but the
// entries, Entry each entry in turn, Close the end. It is not safe for
// concurrent use.
type BundleWriter struct {
	w   io.Writer
	n   int
	buf []byte
}

// NewBundleWriter writes head's members other than its entries to w, and
// returns the writer of the entries.
func NewBundleWriter(w io.Writer, head *Bundle) (*BundleWriter, error) {
	h := *head
	h.Entries = nil
	j, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("couldn't encode bundle: %w", err)
	}
	// The entries come last in the struct: drop `"entries":null}`.
	j, ok := bytes.CutSuffix(j, []byte(`"entries":null}`))
	if !ok {
		return nil, errors.New("couldn't encode bundle: entries are not its last member")
	}
	j = append(j, `"entries":[`...)
	if _, err := w.Write(j); err != nil {
		return nil, fmt.Errorf("couldn't write bundle: %w", err)
	}
	return &BundleWriter{w: w}, nil
}

// Entry writes the next entry, on a line of its own.
func (bw *BundleWriter) Entry(e BundleEntry) error {
	if e.InclusionProof == nil {
		e.InclusionProof = []string{}
	}
	j, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("couldn't encode bundle entry %d: %w", e.Index, err)
	}
	bw.buf = bw.buf[:0]
	if bw.n > 0 {
		bw.buf = append(bw.buf, ',')
	}
	bw.buf = append(bw.buf, '\n')
	bw.buf = append(bw.buf, j...)
	bw.n++
	if _, err := bw.w.Write(bw.buf); err != nil {
		return fmt.Errorf("couldn't write bundle: %w", err)
	}
	return nil
}

// Close writes the end of the bundle. It does not close the underlying
// writer.
func (bw *BundleWriter) Close() error {
	if _, err := io.WriteString(bw.w, "\n]}\n"); err != nil {
		return fmt.Errorf("couldn't write bundle: %w", err)
	}
	return nil
}

// BundleOptions are the optional checks of VerifyBundle.
type BundleOptions struct {
	// CheckEntry, when set, is called with each entry's index and leaf
	// bytes (once the leaf is canonical JSON of the bundle's log), and a
	// non-nil error is reported as a problem of that entry. The command line uses it to
	// parse the entry as the ledger does and to match it against the
	// bundle's query, which this package cannot.
	CheckEntry func(index uint64, leaf []byte) error
	// Matches, when non-nil, is the full list of indexes that matched the
	// query (say, from an NDJSON export of the same query); VerifyBundle
	// then recomputes the sample from it and reports every difference.
	// Indexes at or past the checkpoint's size are ignored.
	Matches []uint64
}

// BundleProblem is one failed check of a bundle.
type BundleProblem struct {
	// Index is the log index of the entry the problem is about, when
	// Entry is true.
	Index uint64 `json:"index"`
	// Entry is true when the problem is about one entry.
	Entry bool `json:"entry"`
	// Where names the part of the bundle at fault when Entry is false:
	// "key", "checkpoint", "bundle" or "sample".
	Where string `json:"where,omitempty"`
	// Problem says what failed.
	Problem string `json:"problem"`
}

// String returns the problem as one line: "index N: problem" or "where:
// problem".
func (p BundleProblem) String() string {
	if p.Entry {
		return fmt.Sprintf("index %d: %s", p.Index, p.Problem)
	}
	return p.Where + ": " + p.Problem
}

// BundleReport is what VerifyBundle found.
type BundleReport struct {
	// OK is true when every check held.
	OK bool
	// KeyName is the name of the verifier key checked against.
	KeyName string
	// SignatureOK is true when the checkpoint's signature verified with
	// that key.
	SignatureOK bool
	// Checkpoint is the checkpoint's content, verified when SignatureOK
	// (otherwise as read, when it parses at all).
	Checkpoint Checkpoint
	// CheckpointParsed is true when the checkpoint's text parsed, so
	// the proofs could be checked against its root.
	CheckpointParsed bool
	// Entries is the number of entries in the bundle.
	Entries int
	// Proved is the number of entries whose leaf hash recomputed from the
	// leaf and whose inclusion proof held against the checkpoint's root,
	// and (when BundleOptions.CheckEntry was given) that passed it.
	Proved int
	// Redacted is the number of redacted entries among Proved: only their
	// leaf hash is proved, since the leaf is gone.
	Redacted int
	// SampleChecked is true when the sample was recomputed from
	// BundleOptions.Matches.
	SampleChecked bool
	// Problems lists every failed check, bundle-level ones first, then
	// each entry's in bundle order.
	Problems []BundleProblem
}

func (r *BundleReport) fail(where, format string, args ...any) {
	r.Problems = append(r.Problems, BundleProblem{Where: where, Problem: fmt.Sprintf(format, args...)})
}

func (r *BundleReport) failEntry(index uint64, format string, args ...any) {
	r.Problems = append(r.Problems, BundleProblem{Index: index, Entry: true, Problem: fmt.Sprintf(format, args...)})
}

// VerifyBundle checks a bundle against the log's verifier key, which the
// caller got from a source it trusts (not from the bundle): the
// checkpoint's signature and origin; that the bundle's own key is that
// key; that the entries are in ascending index order, each below the
// checkpoint's size, as many as the sample asks for; and for each entry,
// that its leaf is canonical JSON of this log, that SHA-256(0x00 || leaf)
// is its leaf hash, and that its inclusion proof leads to the checkpoint's
// root. It never stops at the first failure: every problem is reported,
// with the entry it is about. When the signature does not verify, the
// proofs are still checked against the checkpoint as written, so the
// report says all that is wrong. It does no I/O.
func VerifyBundle(b *Bundle, verifierKey string, opts BundleOptions) *BundleReport {
	r := &BundleReport{Entries: len(b.Entries)}
	verifierKey = strings.TrimSpace(verifierKey)
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		r.fail("key", "%q is not a note verifier key: %v", verifierKey, err)
	} else {
		r.KeyName = v.Name()
		if b.VerifierKey != verifierKey {
			r.fail("key", "the bundle names verifier key %q, not the key given (%s)", b.VerifierKey, verifierKey)
		}
	}

	// The checkpoint: its signature with the trusted key, then its text.
	if v != nil {
		cp, _, err := OpenCheckpoint([]byte(b.Checkpoint), v)
		if err == nil {
			r.Checkpoint, r.CheckpointParsed, r.SignatureOK = cp, true, true
		} else {
			r.fail("checkpoint", "not signed by the key given (%s): %v", v.Name(), err)
		}
	}
	if !r.CheckpointParsed {
		text, _, _ := strings.Cut(b.Checkpoint, "\n\n")
		if cp, err := ParseCheckpoint([]byte(text + "\n")); err == nil {
			r.Checkpoint, r.CheckpointParsed = cp, true
		} else {
			r.fail("checkpoint", "the checkpoint's text does not parse (%v), so no proof can be checked", err)
		}
	}
	size := r.Checkpoint.Size
	if r.CheckpointParsed {
		if !strings.HasSuffix(r.Checkpoint.Origin, "/"+b.Log) {
			r.fail("checkpoint", "origin %q is not that of log %q", r.Checkpoint.Origin, b.Log)
		}
		if b.Matches > size {
			r.fail("bundle", "%d matches claimed in a tree of %d entries", b.Matches, size)
		}
	}
	want := min(uint64(b.Sample.Size), b.Matches)
	if uint64(len(b.Entries)) != want {
		r.fail("bundle", "%d entries, but a sample of %d from %d matches holds %d", len(b.Entries), b.Sample.Size, b.Matches, want)
	}

	for i, e := range b.Entries {
		if i > 0 && e.Index <= b.Entries[i-1].Index {
			r.failEntry(e.Index, "out of order or repeated: it follows index %d", b.Entries[i-1].Index)
		}
		if r.verifyEntry(b, e, size, opts.CheckEntry) {
			r.Proved++
			if e.Redacted {
				r.Redacted++
			}
		}
	}

	if opts.Matches != nil {
		r.checkSample(b, opts.Matches, size)
	}
	r.OK = len(r.Problems) == 0 && r.SignatureOK
	return r
}

// verifyEntry checks one entry and reports whether all of it held.
func (r *BundleReport) verifyEntry(b *Bundle, e BundleEntry, size uint64, check func(uint64, []byte) error) bool {
	ok := true
	if r.CheckpointParsed && e.Index >= size {
		r.failEntry(e.Index, "beyond the checkpoint's tree of %d entries", size)
		ok = false
	}
	claimed, err := ParseHash(e.LeafHash)
	if err != nil {
		r.failEntry(e.Index, "leaf_hash: %v", err)
		return false
	}
	hashes, err := DecodeHashes(e.InclusionProof)
	if err != nil {
		r.failEntry(e.Index, "inclusion_proof: %v", err)
		ok = false
	}
	proves := func(h Hash) bool {
		return hashes != nil && r.CheckpointParsed && e.Index < size && VerifyInclusion(e.Index, size, h, hashes, r.Checkpoint.Root) == nil
	}

	if e.Redacted {
		if hashes != nil && r.CheckpointParsed && e.Index < size && !proves(claimed) {
			r.failEntry(e.Index, "the inclusion proof does not lead from leaf_hash to the checkpoint's root (proof or checkpoint altered)")
			ok = false
		}
		return ok && r.CheckpointParsed
	}

	leaf, err := decodeLeaf(e.Leaf)
	if err != nil {
		r.failEntry(e.Index, "leaf: %v", err)
		return false
	}
	got := LeafHash(leaf)
	proofChecked := hashes != nil && r.CheckpointParsed && e.Index < size
	switch {
	case got != claimed:
		ok = false
		if !proofChecked || proves(claimed) {
			r.failEntry(e.Index, "the entry does not hash to its leaf_hash: the entry was altered")
		} else {
			r.failEntry(e.Index, "the entry does not hash to its leaf_hash, and the inclusion proof holds for neither: entry and proof do not belong together")
		}
	case proofChecked && !proves(got):
		ok = false
		r.failEntry(e.Index, "the inclusion proof does not lead from the entry's leaf hash to the checkpoint's root (proof or checkpoint altered, or the entry belongs at another index)")
	}
	if msg := checkLeaf(leaf, b.Log); msg != "" {
		r.failEntry(e.Index, "entry: %s", msg)
		ok = false
	} else if check != nil {
		if err := check(e.Index, leaf); err != nil {
			r.failEntry(e.Index, "entry: %v", err)
			ok = false
		}
	}
	return ok && r.CheckpointParsed
}

// decodeLeaf decodes an entry's standard base64 leaf, which must be
// canonical (no line breaks, no spare bits) and at most MaxBundleLeaf bytes.
func decodeLeaf(s string) ([]byte, error) {
	leaf, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(leaf) != s {
		return nil, errors.New("not canonical standard base64")
	}
	if len(leaf) == 0 || len(leaf) > MaxBundleLeaf {
		return nil, fmt.Errorf("%d bytes, want 1–%d", len(leaf), MaxBundleLeaf)
	}
	return leaf, nil
}

// checkLeaf checks what this package can about a leaf without the
// ledger's entry model: it is a JSON object in RFC 8785 canonical form,
// of entry format v 1 and of the bundle's log. It returns "" when all
// holds, or what does not.
func checkLeaf(leaf []byte, logID string) string {
	if !json.Valid(leaf) {
		return "the leaf is not JSON"
	}
	var head struct {
		V   *int    `json:"v"`
		Log *string `json:"log"`
	}
	if err := json.Unmarshal(leaf, &head); err != nil {
		return "the leaf is not a JSON object"
	}
	canon, err := jcs.Transform(leaf)
	if err != nil || !bytes.Equal(canon, leaf) {
		return "the leaf is not in RFC 8785 canonical form"
	}
	if head.V == nil || *head.V != 1 {
		return "the entry's v is not 1"
	}
	if head.Log == nil || *head.Log != logID {
		got := "none"
		if head.Log != nil {
			got = fmt.Sprintf("%q", *head.Log)
		}
		return fmt.Sprintf("the entry belongs to log %s, not %q", got, logID)
	}
	return ""
}

// checkSample recomputes the sample from the full match list and reports
// every index the bundle holds that the seed does not choose, and every
// one it chooses that the bundle lacks.
func (r *BundleReport) checkSample(b *Bundle, matches []uint64, size uint64) {
	r.SampleChecked = true
	below := make([]uint64, 0, len(matches))
	seen := make(map[uint64]bool, len(matches))
	for _, m := range matches {
		if (!r.CheckpointParsed || m < size) && !seen[m] {
			seen[m] = true
			below = append(below, m)
		}
	}
	if uint64(len(below)) != b.Matches {
		r.fail("sample", "the bundle claims %d matches, the list given has %d below the checkpoint's size", b.Matches, len(below))
	}
	chosen := SampleIndexes(b.Sample.Seed, b.Sample.Size, below)
	in := make(map[uint64]bool, len(b.Entries))
	for _, e := range b.Entries {
		in[e.Index] = true
	}
	want := make(map[uint64]bool, len(chosen))
	for _, c := range chosen {
		want[c] = true
		if !in[c] {
			r.fail("sample", "the seed chooses index %d, which the bundle lacks", c)
		}
	}
	for _, e := range b.Entries {
		if !want[e.Index] {
			r.Problems = append(r.Problems, BundleProblem{Index: e.Index, Entry: true,
				Problem: "not chosen by the seed from the matches given (a match swapped in for another, or not a match)"})
		}
	}
}
