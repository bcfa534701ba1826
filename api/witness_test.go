package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/witness"
)

// witnessObject is one witness in the log object.
type witnessObject struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Key  string `json:"key"`
}

// testWitness is a running witness.Server for one log on 127.0.0.1.
type testWitness struct {
	name string
	key  string // cosignature verifier key, type 0x04
	ed   string // the same key as a plain Ed25519 verifier key, type 0x01
	srv  *httptest.Server
}

func newTestWitness(t *testing.T, name string, logKey note.Verifier) *testWitness {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, ckey, err := witness.NewCosigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := fnote.VKeyToCosignatureV1(vkey); ckey != want {
		t.Fatalf("NewCosigner's key %q, formats says %q", ckey, want)
	}
	w := &testWitness{name: name, key: ckey, ed: vkey}
	if logKey != nil {
		st, err := witness.OpenState(t.TempDir(), logKey)
		if err != nil {
			t.Fatal(err)
		}
		s, err := witness.NewServer(witness.ServerConfig{Log: logKey, Signer: signer, State: st, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		w.srv = httptest.NewServer(s)
		t.Cleanup(w.srv.Close)
	}
	return w
}

func (w *testWitness) url() string {
	if w.srv == nil {
		return "http://127.0.0.1:9/" + w.name
	}
	return w.srv.URL
}

func (w *testWitness) object() map[string]string {
	return map[string]string{"name": w.name, "url": w.url(), "key": w.key}
}

// TestPatchWitnesses: PATCH /v1/logs/{log} sets witnesses and quorum, each
// change an audit entry; every bad value is a 400 naming its field and
// stores nothing.
func TestPatchWitnesses(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	a := newTestWitness(t, "a.witness.test", nil)
	b := newTestWitness(t, "b.witness.test", nil)

	before := h.size("default")
	renamed := a.object()
	renamed["name"] = "other.witness.test"
	plainKey := a.object()
	plainKey["key"] = a.ed
	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"plain Ed25519 key", map[string]any{"witnesses": []any{plainKey}}, "witnesses[0].key"},
		{"garbage key", map[string]any{"witnesses": []any{map[string]string{"name": "x", "url": "http://x", "key": "x+1+AAAA"}}}, "witnesses[0].key"},
		{"name is not the key's", map[string]any{"witnesses": []any{renamed}}, "witnesses[0].name"},
		{"no name", map[string]any{"witnesses": []any{map[string]string{"url": a.url(), "key": a.key}}}, "witnesses[0].name"},
		{"ftp url", map[string]any{"witnesses": []any{a.object(), map[string]string{"name": b.name, "url": "ftp://w", "key": b.key}}}, "witnesses[1].url"},
		{"relative url", map[string]any{"witnesses": []any{map[string]string{"name": a.name, "url": "/w", "key": a.key}}}, "witnesses[0].url"},
		{"twice", map[string]any{"witnesses": []any{a.object(), a.object()}}, "witnesses[1].name"},
		{"quorum 0", map[string]any{"witnesses": []any{a.object()}, "witness_quorum": 0}, "witness_quorum"},
		{"quorum beyond the list", map[string]any{"witnesses": []any{a.object(), b.object()}, "witness_quorum": 3}, "witness_quorum"},
		{"quorum without witnesses", map[string]any{"witness_quorum": 2}, "witness_quorum"},
		{"quorum of the wrong type", map[string]any{"witness_quorum": "1"}, "witness_quorum"},
		{"unknown witness field", map[string]any{"witnesses": []any{map[string]string{"name": a.name, "url": a.url(), "key": a.key, "x": "y"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do("PATCH", "/v1/logs/default", h.tok["admin"], tc.body), http.StatusBadRequest, "invalid_argument", tc.field, noPos)
		})
	}
	if h.size("default") != before {
		t.Fatal("refused PATCHes wrote audit entries")
	}
	for _, tok := range []string{"auditor", "ingest", "admin-other"} {
		r := h.do("PATCH", "/v1/logs/default", h.tok[tok], map[string]any{"witnesses": []any{a.object()}})
		if r.status != http.StatusForbidden {
			t.Fatalf("PATCH witnesses by %s: %s, want 403", tok, r)
		}
	}

	patch := func(body any, wantQuorum int, wantNames ...string) logObject {
		t.Helper()
		n := h.size("default")
		r := h.do("PATCH", "/v1/logs/default", h.tok["admin"], body)
		want(t, r, http.StatusOK)
		var lo logObject
		decodeStrict(t, r, &lo)
		var names []string
		for _, w := range lo.Witnesses {
			names = append(names, w.Name)
		}
		if lo.WitnessQuorum != wantQuorum || strings.Join(names, ",") != strings.Join(wantNames, ",") || lo.WitnessedSize != 0 {
			t.Fatalf("PATCH %v answered %s", body, r)
		}
		if h.size("default") != n+1 {
			t.Fatalf("PATCH %v wrote %d entries, want 1", body, h.size("default")-n)
		}
		e := h.checkAudit("default", "settings:update", h.key["admin"].ID)
		d, _ := json.Marshal(e["details"])
		if !bytes.Contains(d, []byte(`"witnesses_to"`)) || !bytes.Contains(d, []byte(`"witness_quorum_to"`)) {
			t.Fatalf("settings:update details %s lack the witness change", d)
		}
		return lo
	}
	patch(map[string]any{"witnesses": []any{a.object(), b.object()}, "witness_quorum": 2}, 2, a.name, b.name)
	// The list can't shrink below the kept quorum without lowering it.
	checkErr(t, h.do("PATCH", "/v1/logs/default", h.tok["admin"], map[string]any{"witnesses": []any{b.object()}}),
		http.StatusBadRequest, "invalid_argument", "witness_quorum", noPos)
	patch(map[string]any{"witness_quorum": 1}, 1, a.name, b.name)
	patch(map[string]any{"witnesses": []any{b.object()}}, 1, b.name)
	lo := patch(map[string]any{"witnesses": []any{}}, 1)
	if lo.Witnesses == nil {
		t.Fatal("witnesses is null, want []")
	}
	// The operator may set them too, on any log.
	r := h.do("PATCH", "/v1/logs/other", h.tok["op"], map[string]any{"witnesses": []any{a.object()}})
	want(t, r, http.StatusOK)
	h.checkLog("default")
}

// TestWitnessedNotes: with two witnesses (witness.Server on 127.0.0.1) and
// the pusher running, every served note carries both cosignatures,
// witnessed_size follows the quorum, and a witness that goes away shows as
// lag and keeps witnessed_size back until the quorum is lowered.
func TestWitnessedNotes(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	lv := h.verifier("default")
	a := newTestWitness(t, "a.witness.test", lv)
	b := newTestWitness(t, "b.witness.test", lv)
	p, err := witness.New(witness.Config{Ledger: h.l, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	want(t, h.do("PATCH", "/v1/logs/default", h.tok["admin"], map[string]any{"witnesses": []any{a.object(), b.object()}, "witness_quorum": 2}), http.StatusOK)
	h.ingest("default", h.tok["ingest"], events(0, 5))
	size := waitWitnessed(t, h, 2)

	av, _ := fnote.NewVerifierForCosignatureV1(a.key)
	bv, _ := fnote.NewVerifierForCosignatureV1(b.key)
	cosigned := func(what string, msg []byte, vs ...note.Verifier) {
		t.Helper()
		n, err := note.Open(msg, note.VerifierList(append([]note.Verifier{lv}, vs...)...))
		if err != nil || len(n.Sigs) != 1+len(vs) {
			t.Fatalf("%s: want the log's and %d cosignatures (%v):\n%s", what, len(vs), err, msg)
		}
		if !strings.HasPrefix(n.Text, "auditledger.local/default\n"+fmt.Sprint(size)+"\n") {
			t.Fatalf("%s: note is not for size %d:\n%s", what, size, msg)
		}
	}
	r := h.do("GET", "/v1/logs/default/checkpoint", "", nil)
	want(t, r, http.StatusOK)
	cosigned("/checkpoint", r.body, av, bv)
	r = h.do("GET", fmt.Sprintf("/v1/logs/default/checkpoints/%d", size), "", nil)
	want(t, r, http.StatusOK)
	cosigned("/checkpoints/N", r.body, av, bv)
	var lo logObject
	decodeStrict(t, h.do("GET", "/v1/logs/default", h.tok["auditor"], nil), &lo)
	cosigned("log object", []byte(lo.Checkpoint), av, bv)
	var inc struct {
		Checkpoint string `json:"checkpoint"`
	}
	r = h.do("GET", "/v1/logs/default/proofs/inclusion?index=0", h.tok["auditor"], nil)
	want(t, r, http.StatusOK)
	json.Unmarshal(r.body, &inc)
	cosigned("inclusion proof", []byte(inc.Checkpoint), av, bv)

	// Witness b goes away: a cosigns alone, witnessed_size stays back at
	// quorum 2, and b's lag shows in the metrics.
	b.srv.Close()
	h.ingest("default", h.tok["ingest"], events(5, 3))
	latest := waitCosignedBy(t, h, a.name)
	decodeStrict(t, h.do("GET", "/v1/logs/default", h.tok["auditor"], nil), &lo)
	if lo.WitnessedSize != size {
		t.Fatalf("witnessed_size %d with one of two witnesses, want %d", lo.WitnessedSize, size)
	}
	r = h.do("GET", "/v1/logs/default/checkpoint", "", nil)
	size = latest
	cosigned("/checkpoint with b away", r.body, av)
	r = h.do("GET", "/metrics", "", nil)
	lag := fmt.Sprintf(`auditledger_witness_lag_entries{log="default",witness="b.witness.test"} %d`, latest-lo.WitnessedSize)
	if !strings.Contains(string(r.body), lag) {
		t.Errorf("metrics lack %q:\n%s", lag, r.body)
	}
	for deadline := time.Now().Add(time.Minute); p.Failures("default", b.name) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no failed push to b counted")
		}
	}
	// Quorum 1: the latest checkpoint counts as witnessed at once.
	want(t, h.do("PATCH", "/v1/logs/default", h.tok["admin"], map[string]any{"witness_quorum": 1}), http.StatusOK)
	decodeStrict(t, h.do("GET", "/v1/logs/default", h.tok["auditor"], nil), &lo)
	if lo.WitnessedSize < latest {
		t.Fatalf("witnessed_size %d at quorum 1, want ≥ %d", lo.WitnessedSize, latest)
	}
}

// waitWitnessed waits until the latest checkpoint covers the whole log, is
// witnessed and carries n cosignatures, and returns its size.
func waitWitnessed(t *testing.T, h *harness, n int) uint64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var lo logObject
		decodeStrict(t, h.do("GET", "/v1/logs/default", h.tok["op"], nil), &lo)
		sc, err := h.l.Checkpoint("default")
		if err != nil {
			t.Fatal(err)
		}
		if lo.WitnessedSize == sc.Size && sc.Size == lo.Size && bytes.Count(sc.Note, []byte("\n— ")) == 1+n {
			return sc.Size
		}
		if time.Now().After(deadline) {
			t.Fatalf("not witnessed: %+v", lo)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCosignedBy waits until the named witness cosigned the latest
// checkpoint and returns its size.
func waitCosignedBy(t *testing.T, h *harness, name string) uint64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		sc, err := h.l.Checkpoint("default")
		if err != nil {
			t.Fatal(err)
		}
		sts, err := h.l.WitnessStatuses("default")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sts {
			if s.Name == name && s.Cosigned && s.CosignedSize == sc.Size && sc.Size == h.size("default") {
				return sc.Size
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never cosigned the latest checkpoint", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
