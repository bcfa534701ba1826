package proofs

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// MaxOriginLen bounds the origin line of a checkpoint.
const MaxOriginLen = 256

// ErrBadCheckpoint is returned, wrapped, for a checkpoint that does not parse or
// whose signature does not verify.
var ErrBadCheckpoint = errors.New("bad checkpoint")

// Checkpoint is the signed statement of a log's state: a C2SP tlog-checkpoint
// with one extension line, "chain <base64 chain hash>", that commits to the head
// of the log's hash chain (chain_hash[Size-1], or 32 zero bytes when Size is 0).
type Checkpoint struct {
	// Origin names the log: "<server origin>/<log id>". It is also the name of
	// the log's note key.
	Origin string
	// Size is the number of entries the checkpoint covers.
	Size uint64
	// Root is the RFC 6962 root hash of the first Size entries.
	Root Hash
	// Chain is the hash chain head after the first Size entries.
	Chain Hash
}

// Body returns the checkpoint's note text: origin, size, root and the chain
// extension line, each ending in a newline.
func (c Checkpoint) Body() []byte {
	var b bytes.Buffer
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatUint(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Root[:]))
	b.WriteByte('\n')
	b.WriteString("chain ")
	b.WriteString(base64.StdEncoding.EncodeToString(c.Chain[:]))
	b.WriteByte('\n')
	return b.Bytes()
}

// ParseCheckpoint parses a checkpoint note's text (not the signatures). It is
// strict: the origin must be a single non-empty line, the size a canonical
// decimal, the root a 32-byte base64 hash, and exactly one extension line,
// "chain <hash>", must follow. Other extension lines are rejected, since
// auditledger never writes them.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	var c Checkpoint
	s := string(body)
	if !strings.HasSuffix(s, "\n") {
		return c, fmt.Errorf("%w: text does not end in a newline", ErrBadCheckpoint)
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) != 4 {
		return c, fmt.Errorf("%w: %d lines, want 4 (origin, size, root, chain)", ErrBadCheckpoint, len(lines))
	}
	c.Origin = lines[0]
	if c.Origin == "" || len(c.Origin) > MaxOriginLen || strings.ContainsAny(c.Origin, " \t\r") {
		return c, fmt.Errorf("%w: bad origin %q", ErrBadCheckpoint, c.Origin)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return c, fmt.Errorf("%w: bad size %q", ErrBadCheckpoint, lines[1])
	}
	c.Size = size
	if c.Root, err = ParseHash(lines[2]); err != nil {
		return c, fmt.Errorf("%w: bad root: %v", ErrBadCheckpoint, err)
	}
	chain, ok := strings.CutPrefix(lines[3], "chain ")
	if !ok {
		return c, fmt.Errorf("%w: line 4 is %q, want a chain line", ErrBadCheckpoint, lines[3])
	}
	if c.Chain, err = ParseHash(chain); err != nil {
		return c, fmt.Errorf("%w: bad chain hash: %v", ErrBadCheckpoint, err)
	}
	return c, nil
}

// SignCheckpoint signs the checkpoint as a C2SP signed note. The signer's name
// must be the checkpoint's origin.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("couldn't sign checkpoint: key name %q is not the origin %q", s.Name(), c.Origin)
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Body())}, s)
	if err != nil {
		return nil, fmt.Errorf("couldn't sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint note with the log's verifier and
// parses it. Signatures by other keys (witness cosignatures) are allowed and
// left in the returned note's UnverifiedSigs. The origin must equal the
// verifier's name.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, *note.Note, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: %v", ErrBadCheckpoint, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, nil, fmt.Errorf("%w: origin %q is not the key's name %q", ErrBadCheckpoint, c.Origin, v.Name())
	}
	return c, n, nil
}

// GenerateKey makes a new Ed25519 note key pair named after the origin: the
// signer key (keep it secret) and the verifier key (publish it).
func GenerateKey(origin string) (signerKey, verifierKey string, err error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("couldn't generate a key for %q: %w", origin, err)
	}
	return skey, vkey, nil
}

// VerifierKeyFromSigner derives the note verifier key ("name+hash+key") from a
// note signer key ("PRIVATE+KEY+name+hash+key").
func VerifierKeyFromSigner(skey string) (string, error) {
	const prefix = "PRIVATE+KEY+"
	rest, ok := strings.CutPrefix(skey, prefix)
	if !ok {
		return "", fmt.Errorf("couldn't parse signer key: no %q prefix", prefix)
	}
	parts := strings.SplitN(rest, "+", 3)
	if len(parts) != 3 {
		return "", errors.New("couldn't parse signer key: want name+hash+key")
	}
	name := parts[0]
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("couldn't parse signer key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", fmt.Errorf("couldn't make verifier key: %w", err)
	}
	return vkey, nil
}
