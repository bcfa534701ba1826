package witness_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/witness"
)

// TestPushFailures: witnesses that hang past the timeout, answer 200 with
// no valid cosignature, or 409 without a size are counted as failures and
// retried, and none of them holds up appends or checkpoints.
func TestPushFailures(t *testing.T) {
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{Dir: t.TempDir(), CheckpointInterval: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	release := make(chan struct{})
	var hung atomic.Int64
	behaviours := map[string]http.HandlerFunc{
		"hangs.test": func(w http.ResponseWriter, r *http.Request) {
			hung.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		},
		"garbage.test": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "— garbage.test AAAA\n")
		},
		"nosize.test": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, "7\n")
		},
	}
	var list []ledger.Witness
	for name, h := range behaviours {
		srv := httptest.NewServer(h)
		defer srv.Close()
		_, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			t.Fatal(err)
		}
		ckey, err := fnote.VKeyToCosignatureV1(vkey)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, ledger.Witness{Name: name, URL: srv.URL, Key: ckey})
	}
	defer close(release)
	if _, err := l.UpdateWitnesses(ctx, ledger.DefaultLogID, ledger.WitnessSettings{List: list}); err != nil {
		t.Fatal(err)
	}
	p, err := witness.New(witness.Config{Ledger: l, Timeout: 50 * time.Millisecond, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Run(pctx) }()
	defer func() { cancel(); <-done }()

	// Appends and checkpoints go on while the witnesses fail.
	waitFor(t, "the hanging witness to be called", func() bool { return hung.Load() > 0 })
	for i := 0; i < 5; i++ {
		res, err := l.Append(ctx, ledger.DefaultLogID, []ledger.Event{{Category: "login", Action: "login", Actor: &ledger.Actor{Type: "user", ID: "u"}}}, ledger.AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.WaitCheckpoint(ctx, ledger.DefaultLogID, res[0].Index+1); err != nil {
			t.Fatal(err)
		}
	}
	for name := range behaviours {
		waitFor(t, "two failed pushes to "+name, func() bool { return p.Failures(ledger.DefaultLogID, name) >= 2 })
	}
	if ws, _ := l.WitnessedSize(ledger.DefaultLogID); ws != 0 {
		t.Fatalf("witnessed size %d with no valid cosignature", ws)
	}
	sc, _ := l.Checkpoint(ledger.DefaultLogID)
	if string(sc.Note) != string(sc.LogSigned()) {
		t.Fatalf("the note carries a cosignature:\n%s", sc.Note)
	}
}
