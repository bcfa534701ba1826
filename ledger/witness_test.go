package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// testWitnessKey is a witness key pair: the cosignature signer and its
// type 0x04 verifier key, plus the plain Ed25519 verifier key.
type testWitnessKey struct {
	name   string
	signer note.Signer
	vkey   string // type 0x04
	plain  string // type 0x01
}

func newWitnessKey(t *testing.T, name string) testWitnessKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	ckey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return testWitnessKey{name: name, signer: s, vkey: ckey, plain: vkey}
}

func (k testWitnessKey) witness() Witness {
	return Witness{Name: k.name, URL: "https://" + k.name + "/w", Key: k.vkey}
}

// cosign returns k's cosignature line on the checkpoint sc.
func (k testWitnessKey) cosign(t *testing.T, sc *SignedCheckpoint) []byte {
	t.Helper()
	text := sc.Checkpoint.Body()
	signed, err := note.Sign(&note.Note{Text: string(text)}, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed[len(text)+1:]
}

func TestParseWitnessKey(t *testing.T) {
	k := newWitnessKey(t, "w.test")
	if v, err := ParseWitnessKey(k.vkey); err != nil || v.Name() != "w.test" {
		t.Fatalf("ParseWitnessKey(%q) = %v, %v", k.vkey, v, err)
	}
	parts := strings.SplitN(k.vkey, "+", 3)
	for _, bad := range []string{
		k.plain,                             // type 0x01: a signer key, not a cosignature key
		parts[0] + "+00000000+" + parts[2],  // wrong key hash
		parts[0] + "+" + parts[1] + "+AAAA", // short key
		parts[0] + "+" + parts[1],           // no key
		"",                                  // nothing
		parts[0] + "+" + parts[1] + "+!" + parts[2][1:], // not base64
	} {
		if _, err := ParseWitnessKey(bad); err == nil {
			t.Errorf("ParseWitnessKey(%q) accepted", bad)
		}
	}
}

func TestCheckWitnesses(t *testing.T) {
	a, b := newWitnessKey(t, "a.test"), newWitnessKey(t, "b.test")
	wa, wb := a.witness(), b.witness()
	renamed := wa
	renamed.Name = "c.test"
	for _, tc := range []struct {
		name   string
		ws     []Witness
		quorum int
		field  string // "" when valid
	}{
		{"none", nil, 0, ""},
		{"none quorum 1", nil, 1, ""},
		{"none quorum 2", nil, 2, "witness_quorum"},
		{"one default quorum", []Witness{wa}, 0, ""},
		{"two quorum 2", []Witness{wa, wb}, 2, ""},
		{"quorum too big", []Witness{wa, wb}, 3, "witness_quorum"},
		{"negative quorum", []Witness{wa}, -1, "witness_quorum"},
		{"twice", []Witness{wa, wa}, 1, "witnesses[1].name"},
		{"renamed", []Witness{wb, renamed}, 1, "witnesses[1].name"},
		{"plain key", []Witness{{Name: "a.test", URL: wa.URL, Key: a.plain}}, 1, "witnesses[0].key"},
		{"no url", []Witness{{Name: "a.test", Key: a.vkey}}, 1, "witnesses[0].url"},
		{"url with query", []Witness{{Name: "a.test", URL: "http://x/?a=b", Key: a.vkey}}, 1, "witnesses[0].url"},
		{"no name", []Witness{{URL: wa.URL, Key: a.vkey}}, 1, "witnesses[0].name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckWitnesses(tc.ws, tc.quorum)
			var ve *ValidationError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field):
				t.Fatalf("got %v, want a ValidationError on %s", err, tc.field)
			}
		})
	}
}

func TestMergeWitnesses(t *testing.T) {
	a, b := newWitnessKey(t, "a.test").witness(), newWitnessKey(t, "b.test").witness()
	a2 := a
	a2.URL = "https://elsewhere/w"
	got := MergeWitnesses([]Witness{a, b}, []Witness{a2, newWitnessKey(t, "c.test").witness()})
	if len(got) != 3 || got[0] != a2 || got[1] != b || got[2].Name != "c.test" {
		t.Fatalf("merged %+v", got)
	}
}

// TestCosignatures: AddCosignatures keeps only valid cosignatures by the
// log's witnesses on a published checkpoint; the notes served carry them;
// witnessed_size follows the quorum; all of it survives a restart.
func TestCosignatures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTest(t, dir)
	a, b, stranger := newWitnessKey(t, "a.test"), newWitnessKey(t, "b.test"), newWitnessKey(t, "x.test")
	if _, err := l.UpdateWitnesses(ctx, DefaultLogID, WitnessSettings{List: []Witness{a.witness(), b.witness()}, Quorum: 3}); err == nil {
		t.Fatal("quorum 3 of 2 accepted")
	}
	if _, err := l.UpdateWitnesses(ctx, DefaultLogID, WitnessSettings{List: []Witness{a.witness(), b.witness()}, Quorum: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, DefaultLogID, []Event{testEvent(0), testEvent(1)}, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	sc, err := l.WaitCheckpoint(ctx, DefaultLogID, 2)
	if err != nil {
		t.Fatal(err)
	}
	older, err := l.CheckpointAt(DefaultLogID, 0)
	if err != nil {
		t.Fatal(err)
	}

	// Refused: a stranger, a cosignature of another checkpoint, a bad
	// line, a size never published.
	for _, tc := range []struct {
		name    string
		size    uint64
		witness string
		lines   []byte
		want    error
	}{
		{"unknown witness", sc.Size, stranger.name, stranger.cosign(t, sc), ErrNotFound},
		{"stranger's line under a's name", sc.Size, a.name, bytes.Replace(stranger.cosign(t, sc), []byte(stranger.name), []byte(a.name), 1), ErrBadCosignature},
		{"other checkpoint", sc.Size, a.name, a.cosign(t, older), ErrBadCosignature},
		{"b's line for a", sc.Size, a.name, b.cosign(t, sc), ErrBadCosignature},
		{"garbage", sc.Size, a.name, []byte("— a.test AAAA\n"), ErrBadCosignature},
		{"empty", sc.Size, a.name, nil, ErrBadCosignature},
		{"not published", sc.Size + 1, a.name, a.cosign(t, sc), ErrNotFound},
	} {
		if err := l.AddCosignatures(DefaultLogID, tc.size, tc.witness, tc.lines); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if got, _ := l.Checkpoint(DefaultLogID); !bytes.Equal(got.Note, sc.Note) {
		t.Fatalf("a refused cosignature shows in the note:\n%s", got.Note)
	}

	// a cosigns: in the notes, not yet witnessed at quorum 2.
	if err := l.AddCosignatures(DefaultLogID, sc.Size, a.name, a.cosign(t, sc)); err != nil {
		t.Fatal(err)
	}
	checkNote := func(l *Ledger, size uint64, ks ...testWitnessKey) {
		t.Helper()
		lg, _ := l.handle(DefaultLogID)
		vs := []note.Verifier{lg.verifier}
		for _, k := range ks {
			v, _ := ParseWitnessKey(k.vkey)
			vs = append(vs, v)
		}
		for _, get := range []func() (*SignedCheckpoint, error){
			func() (*SignedCheckpoint, error) { return l.Checkpoint(DefaultLogID) },
			func() (*SignedCheckpoint, error) { return l.CheckpointAt(DefaultLogID, size) },
			func() (*SignedCheckpoint, error) { return l.WaitCheckpoint(ctx, DefaultLogID, size) },
		} {
			got, err := get()
			if err != nil {
				t.Fatal(err)
			}
			n, err := note.Open(got.Note, note.VerifierList(vs...))
			if err != nil || len(n.Sigs) != len(vs) || len(n.UnverifiedSigs) != 0 {
				t.Fatalf("note (%v) does not carry exactly the log's and %d cosignatures:\n%s", err, len(ks), got.Note)
			}
			if !bytes.Equal(got.LogSigned(), sc.Note) {
				t.Fatalf("LogSigned:\n%s\nwant\n%s", got.LogSigned(), sc.Note)
			}
		}
	}
	checkNote(l, sc.Size, a)
	if ws, _ := l.WitnessedSize(DefaultLogID); ws != 0 {
		t.Fatalf("witnessed size %d with one of two cosignatures", ws)
	}
	// a again (a fresh timestamp) replaces its line; b makes the quorum.
	if err := l.AddCosignatures(DefaultLogID, sc.Size, a.name, a.cosign(t, sc)); err != nil {
		t.Fatal(err)
	}
	if err := l.AddCosignatures(DefaultLogID, sc.Size, b.name, append(stranger.cosign(t, sc), b.cosign(t, sc)...)); err != nil {
		t.Fatal(err)
	}
	checkNote(l, sc.Size, a, b)
	if ws, _ := l.WitnessedSize(DefaultLogID); ws != sc.Size {
		t.Fatalf("witnessed size %d, want %d", ws, sc.Size)
	}
	sts, _ := l.WitnessStatuses(DefaultLogID)
	if len(sts) != 2 || sts[0].CosignedSize != sc.Size || !sts[1].Cosigned {
		t.Fatalf("statuses %+v", sts)
	}
	checkLog(t, l, DefaultLogID)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: settings, cosignatures and witnessed size are back.
	l = openTest(t, dir)
	defer l.Close()
	info, _ := l.Log(DefaultLogID)
	if len(info.Witnesses.List) != 2 || info.Witnesses.Quorum != 2 {
		t.Fatalf("witness settings after restart: %+v", info.Witnesses)
	}
	checkNote(l, sc.Size, a, b)
	if ws, _ := l.WitnessedSize(DefaultLogID); ws != sc.Size {
		t.Fatalf("witnessed size after restart %d, want %d", ws, sc.Size)
	}
	// Other settings changes keep the witnesses.
	if _, err := l.UpdateSettings(ctx, DefaultLogID, LogSettings{Verbose: true}); err != nil {
		t.Fatal(err)
	}
	// Dropping b: quorum 1 of [a] still counts the size a cosigned.
	if _, err := l.UpdateWitnesses(ctx, DefaultLogID, WitnessSettings{List: []Witness{a.witness()}}); err != nil {
		t.Fatal(err)
	}
	if ws, _ := l.WitnessedSize(DefaultLogID); ws != sc.Size {
		t.Fatalf("witnessed size with a alone %d, want %d", ws, sc.Size)
	}
	if err := l.AddCosignatures(DefaultLogID, sc.Size, b.name, b.cosign(t, sc)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a removed witness's cosignature: %v", err)
	}
	l.Close()
	l = openTest(t, dir)
	defer l.Close()
	if info, _ := l.Log(DefaultLogID); len(info.Witnesses.List) != 1 || !info.Settings.Verbose || info.Witnesses.EffectiveQuorum() != 1 {
		t.Fatalf("after restart: %+v", info)
	}
}

// TestWitnessChanges: the pusher's channel is closed by each witness change
// and each new log.
func TestWitnessChanges(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	ch := l.WitnessChanges()
	select {
	case <-ch:
		t.Fatal("closed before any change")
	default:
	}
	if _, err := l.UpdateWitnesses(ctx, DefaultLogID, WitnessSettings{List: []Witness{newWitnessKey(t, "a.test").witness()}}); err != nil {
		t.Fatal(err)
	}
	<-ch
	ch = l.WitnessChanges()
	if _, err := l.CreateLog(ctx, "other", LogSettings{}); err != nil {
		t.Fatal(err)
	}
	<-ch
}
