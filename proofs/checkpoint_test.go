package proofs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditledger/auditledger/proofs"
	"golang.org/x/mod/sumdb/note"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const testOrigin = "auditledger.example/default"

// seedReader yields a fixed stream, so that keys made from it, and the Ed25519
// signatures they make, are the same on every run.
type seedReader byte

func (s seedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s) + byte(i)
	}
	return len(p), nil
}

// testKey is a note key pair, made deterministically from seed.
type testKey struct {
	skey, vkey string
	signer     note.Signer
	verifier   note.Verifier
}

func newTestKey(tb testing.TB, name string, seed byte) testKey {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(seedReader(seed), name)
	if err != nil {
		tb.Fatalf("note.GenerateKey(%q): %v", name, err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return testKey{skey: skey, vkey: vkey, signer: s, verifier: v}
}

// testCheckpoint is a fixed checkpoint of a log of 1,234,567 entries.
func testCheckpoint() proofs.Checkpoint {
	return proofs.Checkpoint{
		Origin: testOrigin,
		Size:   1234567,
		Root:   sha256.Sum256([]byte("root")),
		Chain:  sha256.Sum256([]byte("chain")),
	}
}

// emptyCheckpoint is the checkpoint of an empty log, as SPEC §3 has it.
func emptyCheckpoint() proofs.Checkpoint {
	return proofs.Checkpoint{Origin: testOrigin, Size: 0, Root: proofs.EmptyRoot}
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// specBody writes a checkpoint body the way SPEC §3 spells it out.
func specBody(origin string, size uint64, root, chain proofs.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\nchain %s\n", origin, size,
		base64.StdEncoding.EncodeToString(root[:]), base64.StdEncoding.EncodeToString(chain[:]))
}

func TestCheckpointBody(t *testing.T) {
	for _, tc := range []struct {
		name   string
		c      proofs.Checkpoint
		golden string
	}{
		{"full", testCheckpoint(), "checkpoint.body"},
		{"empty log", emptyCheckpoint(), "checkpoint-empty.body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.c.Body()
			if want := specBody(tc.c.Origin, tc.c.Size, tc.c.Root, tc.c.Chain); string(body) != want {
				t.Errorf("Body =\n%s\nwant\n%s", body, want)
			}
			checkGolden(t, tc.golden, body)
			got, err := proofs.ParseCheckpoint(body)
			if err != nil || got != tc.c {
				t.Errorf("ParseCheckpoint(Body) = %+v, %v; want %+v", got, err, tc.c)
			}
		})
	}
}

// TestEmptyCheckpoint checks the empty log's checkpoint: size 0, the root
// SHA-256 of the empty string, a chain line of 32 zero bytes.
func TestEmptyCheckpoint(t *testing.T) {
	want := testOrigin + "\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nchain AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	c := emptyCheckpoint()
	if got := string(c.Body()); got != want {
		t.Errorf("Body =\n%s\nwant\n%s", got, want)
	}
	if sha256.Sum256(nil) != c.Root {
		t.Errorf("empty root is not SHA-256(\"\")")
	}
	key := newTestKey(t, testOrigin, 1)
	msg, err := proofs.SignCheckpoint(c, key.signer)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := proofs.OpenCheckpoint(msg, key.verifier)
	if err != nil || got != c {
		t.Errorf("OpenCheckpoint = %+v, %v; want %+v", got, err, c)
	}
}

func TestSignCheckpoint(t *testing.T) {
	key := newTestKey(t, testOrigin, 1)
	checkGolden(t, "checkpoint.vkey", []byte(key.vkey+"\n"))
	for _, tc := range []struct {
		name   string
		c      proofs.Checkpoint
		golden string
	}{
		{"full", testCheckpoint(), "checkpoint.note"},
		{"empty log", emptyCheckpoint(), "checkpoint-empty.note"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := proofs.SignCheckpoint(tc.c, key.signer)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, msg)

			// The note package, on its own, opens it.
			n, err := note.Open(msg, note.VerifierList(key.verifier))
			if err != nil {
				t.Fatalf("note.Open: %v", err)
			}
			if n.Text != string(tc.c.Body()) {
				t.Errorf("note text %q, want the body %q", n.Text, tc.c.Body())
			}
			if len(n.Sigs) != 1 || n.Sigs[0].Name != testOrigin || n.Sigs[0].Hash != key.verifier.KeyHash() {
				t.Errorf("note signatures %+v, want one by %q", n.Sigs, testOrigin)
			}
			// The signature line is "— <origin> <base64(key id || signature)>".
			sigLine := "\n— " + testOrigin + " "
			if !bytes.Contains(msg, []byte(sigLine)) || !bytes.HasPrefix(msg, tc.c.Body()) {
				t.Errorf("signed note %q lacks the body or the line %q", msg, sigLine)
			}

			got, gotNote, err := proofs.OpenCheckpoint(msg, key.verifier)
			if err != nil || got != tc.c {
				t.Errorf("OpenCheckpoint = %+v, %v; want %+v", got, err, tc.c)
			}
			if gotNote == nil || gotNote.Text != n.Text {
				t.Errorf("OpenCheckpoint note = %+v", gotNote)
			}
		})
	}

	other := newTestKey(t, "other.example/default", 2)
	if _, err := proofs.SignCheckpoint(testCheckpoint(), other.signer); err == nil {
		t.Error("SignCheckpoint with a key named after another origin succeeded")
	}
}

// cosign appends a cosignature line by signer to a signed note, as a witness
// does: it signs the same text and adds its own signature line.
func cosign(t *testing.T, msg []byte, text string, signer note.Signer) []byte {
	t.Helper()
	w, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		t.Fatal(err)
	}
	line := w[len(text)+1:] // after the text and the blank line
	return append(bytes.Clone(msg), line...)
}

func TestOpenCheckpointCosigned(t *testing.T) {
	key := newTestKey(t, testOrigin, 1)
	witness := newTestKey(t, "witness.example/w1", 3)
	witness2 := newTestKey(t, "witness.example/w2", 4)
	c := testCheckpoint()
	text := string(c.Body())
	msg, err := proofs.SignCheckpoint(c, key.signer)
	if err != nil {
		t.Fatal(err)
	}
	both, err := note.Sign(&note.Note{Text: text}, witness.signer, key.signer)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		msg       []byte
		witnesses []string
	}{
		{"one cosignature appended", cosign(t, msg, text, witness.signer), []string{"witness.example/w1"}},
		{"two cosignatures appended", cosign(t, cosign(t, msg, text, witness.signer), text, witness2.signer), []string{"witness.example/w1", "witness.example/w2"}},
		{"cosignature before the log's", both, []string{"witness.example/w1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n, err := proofs.OpenCheckpoint(tc.msg, key.verifier)
			if err != nil || got != c {
				t.Fatalf("OpenCheckpoint = %+v, %v", got, err)
			}
			if len(n.Sigs) != 1 || n.Sigs[0].Name != testOrigin {
				t.Errorf("verified signatures %+v, want the log's only", n.Sigs)
			}
			var names []string
			for _, s := range n.UnverifiedSigs {
				names = append(names, s.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.witnesses, ",") {
				t.Errorf("unverified signatures %q, want %q", names, tc.witnesses)
			}
			// A witness's verifier on its own opens it as well, with note.
			if _, err := note.Open(tc.msg, note.VerifierList(witness.verifier)); err != nil {
				t.Errorf("note.Open with the witness's key: %v", err)
			}
		})
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	key := newTestKey(t, testOrigin, 1)
	sameName := newTestKey(t, testOrigin, 9) // another key under the log's name
	witness := newTestKey(t, "witness.example/w1", 3)
	otherOrigin := newTestKey(t, "other.example/default", 2)
	c := testCheckpoint()
	body := string(c.Body())
	root := proofs.EncodeHash(c.Root)
	chain := proofs.EncodeHash(c.Chain)

	// signText signs any text with the log's key, bypassing SignCheckpoint,
	// so that malformed bodies carry a good signature.
	signText := func(text string, signers ...note.Signer) []byte {
		t.Helper()
		if len(signers) == 0 {
			signers = []note.Signer{key.signer}
		}
		msg, err := note.Sign(&note.Note{Text: text}, signers...)
		if err != nil {
			t.Fatalf("note.Sign(%q): %v", text, err)
		}
		return msg
	}
	good := signText(body)
	// Flip the last letter of the root inside the signed note, keeping it base64.
	altered := bytes.Replace(good, []byte(root), []byte(root[:40]+"AAA="), 1)
	lines := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	size := "1234567"

	for _, tc := range []struct {
		name     string
		msg      []byte
		verifier note.Verifier
	}{
		{"wrong key", good, sameName.verifier},
		{"another log's key", good, otherOrigin.verifier},
		{"only a witness signed", signText(body, witness.signer), key.verifier},
		{"signed by another key under the log's name", signText(body, sameName.signer), key.verifier},
		{"origin is not the key's name", signText(lines("other.example/default", size, root, "chain "+chain), key.signer), key.verifier},
		{"origin of another log, signed by it", signText(lines("other.example/default", size, root, "chain "+chain), otherOrigin.signer), key.verifier},
		{"altered root", altered, key.verifier},
		{"altered size", bytes.Replace(good, []byte("\n1234567\n"), []byte("\n1234568\n"), 1), key.verifier},
		{"signature cut off", good[:len(good)-10], key.verifier},
		{"no signature", []byte(body + "\n"), key.verifier},
		{"empty", nil, key.verifier},
		{"extra line after chain", signText(body + "extra\n"), key.verifier},
		{"second chain line", signText(body + "chain " + chain + "\n"), key.verifier},
		{"missing chain line", signText(lines(testOrigin, size, root)), key.verifier},
		{"missing size", signText(lines(testOrigin, root, "chain "+chain)), key.verifier},
		{"chain before root", signText(lines(testOrigin, size, "chain "+chain, root)), key.verifier},
		{"size with a leading zero", signText(lines(testOrigin, "0"+size, root, "chain "+chain)), key.verifier},
		{"size with a plus", signText(lines(testOrigin, "+"+size, root, "chain "+chain)), key.verifier},
		{"negative size", signText(lines(testOrigin, "-1", root, "chain "+chain)), key.verifier},
		{"size past 64 bits", signText(lines(testOrigin, "18446744073709551616", root, "chain "+chain)), key.verifier},
		{"size in hex", signText(lines(testOrigin, "0x12d687", root, "chain "+chain)), key.verifier},
		{"size with a trailing space", signText(lines(testOrigin, size+" ", root, "chain "+chain)), key.verifier},
		{"empty size", signText(lines(testOrigin, "", root, "chain "+chain)), key.verifier},
		{"root of 31 bytes", signText(lines(testOrigin, size, base64.StdEncoding.EncodeToString(c.Root[:31]), "chain "+chain)), key.verifier},
		{"root in hex", signText(lines(testOrigin, size, fmt.Sprintf("%x", c.Root), "chain "+chain)), key.verifier},
		{"root unpadded", signText(lines(testOrigin, size, strings.TrimSuffix(root, "="), "chain "+chain)), key.verifier},
		{"root base64 with non-zero padding bits", signText(lines(testOrigin, size, nonCanonical(root), "chain "+chain)), key.verifier},
		{"chain base64 with non-zero padding bits", signText(lines(testOrigin, size, root, "chain "+nonCanonical(chain))), key.verifier},
		{"chain line without a space", signText(lines(testOrigin, size, root, "chain"+chain)), key.verifier},
		{"chain line with two spaces", signText(lines(testOrigin, size, root, "chain  "+chain)), key.verifier},
		{"chain line capitalised", signText(lines(testOrigin, size, root, "Chain "+chain)), key.verifier},
		{"chain hash of 33 bytes", signText(lines(testOrigin, size, root, "chain "+base64.StdEncoding.EncodeToString(append(c.Chain[:], 0)))), key.verifier},
		{"blank line inside", signText(lines(testOrigin, size, root, "", "chain "+chain)), key.verifier},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, n, err := proofs.OpenCheckpoint(tc.msg, tc.verifier)
			if !errors.Is(err, proofs.ErrBadCheckpoint) {
				t.Errorf("OpenCheckpoint = %+v, %v; want ErrBadCheckpoint", got, err)
			}
			if err != nil && (got != proofs.Checkpoint{} || n != nil) {
				t.Errorf("OpenCheckpoint returned %+v, %v with its error", got, n)
			}
		})
	}
}

// nonCanonical returns another base64 spelling of the same 32 bytes: a
// 32-byte value's last character before "=" carries two unused bits, which
// base64.StdEncoding ignores unless it is Strict.
func nonCanonical(b64 string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(alphabet, b64[42])
	return b64[:42] + string(alphabet[i|1]) + "="
}

func TestParseCheckpoint(t *testing.T) {
	c := testCheckpoint()
	root, chain := proofs.EncodeHash(c.Root), proofs.EncodeHash(c.Chain)
	body := func(origin, size string) string {
		return origin + "\n" + size + "\n" + root + "\nchain " + chain + "\n"
	}
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"canonical", body(testOrigin, "1234567"), true},
		{"size zero", body(testOrigin, "0"), true},
		{"largest size", body(testOrigin, "18446744073709551615"), true},
		{"origin of 256 bytes", body(strings.Repeat("o", proofs.MaxOriginLen), "1"), true},
		{"origin of 257 bytes", body(strings.Repeat("o", proofs.MaxOriginLen+1), "1"), false},
		{"empty origin", body("", "1"), false},
		{"origin with a space", body("a b", "1"), false},
		{"origin with a tab", body("a\tb", "1"), false},
		{"origin with a CR", body("a\r", "1"), false},
		{"no final newline", strings.TrimSuffix(body(testOrigin, "1"), "\n"), false},
		{"two final newlines", body(testOrigin, "1") + "\n", false},
		{"CRLF line ends", strings.ReplaceAll(body(testOrigin, "1"), "\n", "\r\n"), false},
		{"CR inside the root", testOrigin + "\n1\n" + root[:10] + "\r" + root[10:] + "\nchain " + chain + "\n", false},
		{"root with non-zero padding bits", testOrigin + "\n1\n" + nonCanonical(root) + "\nchain " + chain + "\n", false},
		{"only three lines", testOrigin + "\n1\n" + root + "\n", false},
		{"empty", "", false},
		{"just a newline", "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := proofs.ParseCheckpoint([]byte(tc.in))
			if tc.ok {
				if err != nil {
					t.Fatalf("ParseCheckpoint: %v", err)
				}
				if string(got.Body()) != tc.in {
					t.Errorf("Body(ParseCheckpoint(x)) = %q, want x = %q", got.Body(), tc.in)
				}
				return
			}
			if !errors.Is(err, proofs.ErrBadCheckpoint) {
				t.Errorf("ParseCheckpoint = %+v, %v; want ErrBadCheckpoint", got, err)
			}
		})
	}
}

func TestVerifierKeyFromSigner(t *testing.T) {
	for _, name := range []string{testOrigin, "a", "example.com/log-with-dashes", "ü.example/default"} {
		t.Run(name, func(t *testing.T) {
			for seed := range byte(3) {
				k := newTestKey(t, name, seed)
				got, err := proofs.VerifierKeyFromSigner(k.skey)
				if err != nil || got != k.vkey {
					t.Errorf("VerifierKeyFromSigner = %q, %v; want note.GenerateKey's %q", got, err, k.vkey)
				}
			}
		})
	}

	skey, vkey, err := proofs.GenerateKey(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := proofs.VerifierKeyFromSigner(skey); err != nil || got != vkey {
		t.Errorf("VerifierKeyFromSigner(GenerateKey) = %q, %v; want %q", got, err, vkey)
	}
	s, err := note.NewSigner(skey)
	if err != nil || s.Name() != testOrigin {
		t.Fatalf("note.NewSigner(GenerateKey's signer key): %v", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil || v.Name() != testOrigin || v.KeyHash() != s.KeyHash() {
		t.Fatalf("note.NewVerifier(GenerateKey's verifier key): %v", err)
	}
	msg, err := proofs.SignCheckpoint(testCheckpoint(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := proofs.OpenCheckpoint(msg, v); err != nil {
		t.Errorf("a checkpoint signed with a generated key does not open: %v", err)
	}
	if skey2, _, _ := proofs.GenerateKey(testOrigin); skey2 == skey {
		t.Error("GenerateKey made the same key twice")
	}

	k := newTestKey(t, testOrigin, 1)
	rest := strings.TrimPrefix(k.skey, "PRIVATE+KEY+")
	parts := strings.SplitN(rest, "+", 3)
	raw, _ := base64.StdEncoding.DecodeString(parts[2])
	withAlg := func(alg byte) string {
		b := append([]byte{alg}, raw[1:]...)
		return "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(b)
	}
	for _, tc := range []struct {
		name string
		skey string
	}{
		{"empty", ""},
		{"a verifier key", k.vkey},
		{"no prefix", rest},
		{"lowercase prefix", "private+key+" + rest},
		{"no key", "PRIVATE+KEY+" + parts[0] + "+" + parts[1]},
		{"key not base64", "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+!!!!"},
		{"short seed", "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(raw[:20])},
		{"long seed", "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append(raw, 0))},
		{"another algorithm", withAlg(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := proofs.VerifierKeyFromSigner(tc.skey); err == nil {
				t.Errorf("VerifierKeyFromSigner(%q) = %q, want an error", tc.skey, got)
			}
		})
	}
}
