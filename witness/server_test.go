package witness_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
	"github.com/auditledger/auditledger/witness"
)

// TestServer drives witness.Server (the `monitor --witness` endpoint) with
// checkpoints of a real ledger, through every answer C2SP tlog-witness
// defines, and checks its cosignatures with formats' verifier.
func TestServer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := ledger.Open(ctx, ledger.Config{Dir: dir, CheckpointInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, _ := l.Log(ledger.DefaultLogID)
	lv, err := note.NewVerifier(info.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	skey, _, err := note.GenerateKey(rand.Reader, "w.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, ckey, err := witness.NewCosigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := fnote.NewVerifierForCosignatureV1(ckey)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	st, err := witness.OpenState(stateDir, lv)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var alarms []*witness.Alarm
	srv, err := witness.NewServer(witness.ServerConfig{Log: lv, Signer: signer, State: st, Logger: quiet,
		Alarm: func(a *witness.Alarm) { mu.Lock(); alarms = append(alarms, a); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()

	post := func(body string) (int, string, string) {
		t.Helper()
		resp, err := http.Post(hs.URL+"/add-checkpoint", "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	grow := func(n int) *ledger.SignedCheckpoint {
		t.Helper()
		evs := make([]ledger.Event, n)
		for i := range evs {
			evs[i] = ledger.Event{Category: "login", Action: "login", Actor: &ledger.Actor{Type: "user", ID: fmt.Sprint(i)}}
		}
		res, err := l.Append(ctx, ledger.DefaultLogID, evs, ledger.AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sc, err := l.WaitCheckpoint(ctx, ledger.DefaultLogID, res[len(res)-1].Index+1)
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	request := func(old uint64, proof [][]byte, msg []byte) string {
		var b strings.Builder
		fmt.Fprintf(&b, "old %d\n", old)
		for _, h := range proofs.EncodeHashes(proof) {
			b.WriteString(h + "\n")
		}
		b.WriteString("\n")
		b.Write(msg)
		return b.String()
	}
	accepted := func(what string, status int, body string, sc *ledger.SignedCheckpoint) {
		t.Helper()
		if status != http.StatusOK {
			t.Fatalf("%s: %d %s", what, status, body)
		}
		n, err := note.Open(append(append([]byte(nil), sc.LogSigned()...), body...), note.VerifierList(lv, wv))
		if err != nil || len(n.Sigs) != 2 {
			t.Fatalf("%s: the answer %q is not a valid cosignature: %v", what, body, err)
		}
	}
	refused := func(what string, status, want int) {
		t.Helper()
		if status != want {
			t.Fatalf("%s: %d, want %d", what, status, want)
		}
	}

	cp0, err := l.Checkpoint(ledger.DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	// Malformed requests.
	for _, body := range []string{"", "old x\n\n", "new 0\n\n", "old 0\nnot-base64\n\n" + string(cp0.LogSigned()), "old 0\n" + string(cp0.LogSigned())} {
		s, _, _ := post(body)
		refused(fmt.Sprintf("malformed %q", body), s, http.StatusBadRequest)
	}
	// Another log, and this log's origin under another key.
	otherSkey, otherVkey, _ := note.GenerateKey(rand.Reader, "other.test/log")
	otherSigner, _ := note.NewSigner(otherSkey)
	otherVerifier, _ := note.NewVerifier(otherVkey)
	other, _ := proofs.SignCheckpoint(proofs.Checkpoint{Origin: "other.test/log", Root: proofs.EmptyRoot}, otherSigner)
	s, _, _ := post(request(0, nil, other))
	refused("another origin", s, http.StatusNotFound)
	impS, _, _ := note.GenerateKey(rand.Reader, info.Origin)
	imp, _ := note.NewSigner(impS)
	forged, _ := proofs.SignCheckpoint(proofs.Checkpoint{Origin: info.Origin, Root: proofs.EmptyRoot}, imp)
	s, _, _ = post(request(0, nil, forged))
	refused("another key", s, http.StatusForbidden)

	// A wrong old size: 409 with ours (0), as text/x.tlog.size.
	s, _, _ = post(request(3, nil, cp0.LogSigned()))
	refused("old beyond the checkpoint", s, http.StatusBadRequest)
	cp5 := grow(5)
	s, ct, body := post(request(2, nil, cp5.LogSigned()))
	if s != http.StatusConflict || ct != witness.SizeContentType || body != "0\n" {
		t.Fatalf("stale old: %d %q %q", s, ct, body)
	}
	// First sight, from 0: accepted with no proof, refused with one.
	s, _, _ = post(request(0, [][]byte{make([]byte, 32)}, cp5.LogSigned()))
	refused("a proof from 0", s, http.StatusUnprocessableEntity)
	s, _, body = post(request(0, nil, cp5.LogSigned()))
	accepted("first", s, body, cp5)
	// The same again (a fresh cosignature); cosignatures on the note are ignored.
	s, _, body = post(request(cp5.Size, nil, append(append([]byte(nil), cp5.LogSigned()...), body...)))
	accepted("again", s, body, cp5)

	// Growth with a consistency proof; a flipped proof is refused and alarms.
	cp9 := grow(4)
	p, err := l.ConsistencyProof(ledger.DefaultLogID, cp5.Size, cp9.Size)
	if err != nil {
		t.Fatal(err)
	}
	bad := make([][]byte, len(p))
	for i := range p {
		bad[i] = append([]byte(nil), p[i]...)
	}
	bad[0][0] ^= 1
	s, _, _ = post(request(cp5.Size, bad, cp9.LogSigned()))
	refused("a flipped proof", s, http.StatusUnprocessableEntity)
	s, _, body = post(request(cp5.Size, p, cp9.LogSigned()))
	accepted("grown", s, body, cp9)

	// A fork at the same size, signed with the log's own key: refused, alarm.
	s, _, _ = post(request(cp9.Size, nil, forkedNote(t, dir, info.Origin, cp9.Size)))
	refused("same-size fork", s, http.StatusUnprocessableEntity)

	mu.Lock()
	if len(alarms) != 2 || alarms[0].Kind != witness.KindFork || alarms[1].Kind != witness.KindFork || alarms[1].Log != info.Origin {
		t.Fatalf("alarms %+v, want two forks", alarms)
	}
	mu.Unlock()

	// The state is on disk: a reopened state holds the last accepted one.
	st2, err := witness.OpenState(stateDir, lv)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := st2.Latest(); cur == nil || cur.Size != cp9.Size || cur.Root != cp9.Root {
		t.Fatalf("reopened state %+v, want size %d", cur, cp9.Size)
	}
	// A state of another log does not open.
	if _, err := witness.OpenState(stateDir, otherVerifier); err == nil {
		t.Fatal("a state opened with another log's key")
	}
}

// FuzzParseAddCheckpoint: the request parser never panics, and what it
// accepts has a canonical old size and 32-byte proof hashes.
func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 0\n\nlog\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— log AAAA\n"))
	f.Add([]byte("old 12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\nx"))
	f.Add([]byte("old 01\n\n"))
	f.Add([]byte("old 1\nAAAA\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		old, proof, msg, err := witness.ParseAddCheckpoint(body)
		if err != nil {
			return
		}
		if !strings.HasPrefix(string(body), fmt.Sprintf("old %d\n", old)) {
			t.Fatalf("old %d is not the body's first line", old)
		}
		for _, h := range proof {
			if len(h) != 32 {
				t.Fatalf("a proof hash of %d bytes", len(h))
			}
		}
		if len(msg) > len(body) {
			t.Fatal("the note is longer than the body")
		}
	})
}
