package proofs_test

// These tests open our checkpoints with github.com/transparency-dev/formats/log,
// an implementation we did not write.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/auditledger/auditledger/proofs"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

const formatsOrigin = "auditledger.example/default"

func formatsKey(t *testing.T, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func TestFormatsParseCheckpoint(t *testing.T) {
	signer, verifier := formatsKey(t, formatsOrigin)
	wSigner, wVerifier := formatsKey(t, "witness.example/w1")
	for _, tc := range []struct {
		name string
		c    proofs.Checkpoint
	}{
		{"empty log", proofs.Checkpoint{Origin: formatsOrigin, Root: proofs.EmptyRoot}},
		{"one entry", proofs.Checkpoint{Origin: formatsOrigin, Size: 1, Root: proofs.LeafHash([]byte("{}")), Chain: sha256.Sum256([]byte("c"))}},
		{"large", proofs.Checkpoint{Origin: formatsOrigin, Size: 1<<40 + 3, Root: sha256.Sum256([]byte("r")), Chain: sha256.Sum256([]byte("c"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := proofs.SignCheckpoint(tc.c, signer)
			if err != nil {
				t.Fatal(err)
			}
			cp, other, n, err := log.ParseCheckpoint(msg, formatsOrigin, verifier)
			if err != nil {
				t.Fatalf("log.ParseCheckpoint: %v", err)
			}
			if cp.Origin != tc.c.Origin || cp.Size != tc.c.Size || !bytes.Equal(cp.Hash, tc.c.Root[:]) {
				t.Errorf("log.ParseCheckpoint = %+v, want %+v", cp, tc.c)
			}
			if want := "chain " + proofs.EncodeHash(tc.c.Chain) + "\n"; string(other) != want {
				t.Errorf("extension lines %q, want %q", other, want)
			}
			if len(n.Sigs) != 1 || n.Sigs[0].Name != formatsOrigin {
				t.Errorf("signatures %+v", n.Sigs)
			}
			// formats' Marshal writes the same first three lines.
			if m := cp.Marshal(); !bytes.HasPrefix(tc.c.Body(), m) {
				t.Errorf("formats Marshal %q is not a prefix of Body %q", m, tc.c.Body())
			}

			// A witness cosigns; both sides still open it.
			cosigned, err := note.Sign(&note.Note{Text: string(tc.c.Body())}, signer, wSigner)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, n, err := log.ParseCheckpoint(cosigned, formatsOrigin, verifier, wVerifier); err != nil || len(n.Sigs) != 2 {
				t.Errorf("log.ParseCheckpoint(cosigned) = %v, %v", n, err)
			}
			if c, _, err := proofs.OpenCheckpoint(cosigned, verifier); err != nil || c != tc.c {
				t.Errorf("proofs.OpenCheckpoint(cosigned) = %+v, %v", c, err)
			}

			// formats refuses the wrong formatsOrigin, and the wrong key.
			if _, _, _, err := log.ParseCheckpoint(msg, "other.example/default", verifier); err == nil {
				t.Error("log.ParseCheckpoint accepted another origin")
			}
			if _, _, _, err := log.ParseCheckpoint(msg, formatsOrigin, wVerifier); err == nil {
				t.Error("log.ParseCheckpoint accepted a witness key as the log's")
			}
		})
	}
}
