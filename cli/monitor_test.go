package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/proofs"
)

// appendEvents appends n events to the default log and waits for a
// checkpoint that covers them; it returns the log's size.
func appendEvents(t *testing.T, s *server, from, n int) uint64 {
	t.Helper()
	evs := make([]map[string]any, n)
	for i := range evs {
		evs[i] = cliEvent(from + i)
	}
	body, _ := json.Marshal(evs)
	req, _ := http.NewRequest("POST", s.url+"/v1/logs/default/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("append: %d %s", resp.StatusCode, b)
	}
	var out struct {
		Entries []ack `json:"entries"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	size := out.Entries[len(out.Entries)-1].Index + 1
	s.waitCheckpoint(size)
	return size
}

// logObject is the part of GET /v1/logs/default these tests read.
type logObject struct {
	Size          uint64 `json:"size"`
	Checkpoint    string `json:"checkpoint"`
	WitnessedSize uint64 `json:"witnessed_size"`
	WitnessQuorum int    `json:"witness_quorum"`
	Witnesses     []struct {
		Name, URL, Key string
	} `json:"witnesses"`
}

func (s *server) logObject() logObject {
	s.t.Helper()
	var lo logObject
	if err := json.Unmarshal(s.get("/v1/logs/default"), &lo); err != nil {
		s.t.Fatal(err)
	}
	return lo
}

// alerts is a test alert endpoint on 127.0.0.1 that keeps what it gets.
type alerts struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []map[string]string
}

func newAlerts(t *testing.T) *alerts {
	a := &alerts{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]string
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&m) != nil {
			http.Error(w, "bad alert", http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.got = append(a.got, m)
		a.mu.Unlock()
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *alerts) take() []map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.got
	a.got = nil
	return out
}

// wantAlert checks that exactly one alert of kind came, with the right log
// and both notes.
func (a *alerts) wantAlert(t *testing.T, kind string) map[string]string {
	t.Helper()
	got := a.take()
	if len(got) != 1 || got[0]["kind"] != kind || got[0]["log"] == "" || got[0]["new"] == "" || got[0]["detail"] == "" {
		t.Fatalf("want one %s alert, got %v", kind, got)
	}
	if kind != "bad_signature" && got[0]["old"] == "" {
		t.Fatalf("the %s alert lacks the old checkpoint: %v", kind, got[0])
	}
	return got[0]
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestMonitor: the monitor trusts the first checkpoint, follows the log
// through consistency proofs, and exits 3 with an alert on a fork (a copy of
// the data directory grown another way, signed with the same key), a
// rollback (an older copy) and a bad signature; network errors exit 2 with
// --once and never 3; SIGTERM exits 0.
func TestMonitor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, sp := serveWith(t, dir)
	appendEvents(t, s, 0, 4)
	key := strings.TrimSpace(string(s.get("/v1/logs/default/key")))
	state := t.TempDir()
	al := newAlerts(t)
	v, err := note.NewVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	mon := func(url string, extra ...string) []string {
		return append([]string{"monitor", "--url", url, "--key", key, "--state", state, "--alert-url", al.srv.URL, "--once"}, extra...)
	}

	// First sight: trusted and saved; then followed.
	wantCode(t, 0, mon(s.url)...)
	if _, err := os.Stat(filepath.Join(state, "checkpoint")); err != nil {
		t.Fatalf("no state written: %v", err)
	}
	size := appendEvents(t, s, 4, 3)
	wantCode(t, 0, mon(s.url)...)
	if got := savedSize(t, state, v); got != size {
		t.Fatalf("state holds size %d, want %d", got, size)
	}

	// Copies: old (for a rollback) and fork (for a fork).
	if code := sp.term(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, sp.log())
	}
	oldDir, forkDir := filepath.Join(t.TempDir(), "old"), filepath.Join(t.TempDir(), "fork")
	copyTree(t, dir, oldDir)
	copyTree(t, dir, forkDir)
	s, _ = serveWith(t, dir)
	appendEvents(t, s, 100, 2)
	wantCode(t, 0, mon(s.url)...)
	stateSize := savedSize(t, state, v)
	if len(al.take()) != 0 {
		t.Fatal("alerts while all was well")
	}

	// Fork: same key, another history, larger.
	f, fp := serveWith(t, forkDir)
	appendEvents(t, f, 200, 5)
	if f.logObject().Size <= stateSize {
		t.Fatalf("the fork is not larger than the state")
	}
	r := wantCode(t, 3, mon(f.url)...)
	al.wantAlert(t, "fork")
	if !strings.Contains(r.stderr, "fork") {
		t.Errorf("no fork in the monitor's output:\n%s", r.stderr)
	}
	// Fork at the same size as the state: other entries up to that size.
	fp.term()
	sameDir := filepath.Join(t.TempDir(), "same")
	copyTree(t, oldDir, sameDir)
	f, fp = serveWith(t, sameDir)
	appendEvents(t, f, 300, int(stateSize-f.logObject().Size))
	wantCode(t, 3, mon(f.url)...)
	al.wantAlert(t, "fork")
	fp.term()

	// Rollback: the older copy serves a smaller tree.
	o, op := serveWith(t, oldDir)
	wantCode(t, 3, mon(o.url)...)
	al.wantAlert(t, "rollback")
	op.term()

	// Bad signature: a key of the same name that did not sign the log.
	_, otherKey, err := note.GenerateKey(rand.Reader, v.Name())
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, 3, "monitor", "--url", s.url, "--key", otherKey, "--state", t.TempDir(), "--alert-url", al.srv.URL, "--once")
	al.wantAlert(t, "bad_signature")

	// The state still holds the real log, which still checks out.
	wantCode(t, 0, mon(s.url)...)

	// Network errors: never 3. --once gives up with 2; a running monitor
	// retries until SIGTERM, then exits 0.
	dead := "http://" + freeAddr(t)
	wantCode(t, 2, mon(dead)...)
	p := startProc(t, "monitor", "--url", dead, "--key", key, "--state", state, "--interval", "20ms")
	p.waitLine(regexp.MustCompile(`check failed; will retry`))
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("monitor exited %d on SIGTERM, want 0:\n%s", code, p.log())
	}
	if len(al.take()) != 0 {
		t.Fatal("alerts on network errors")
	}

	// Usage errors.
	for _, args := range [][]string{
		{"monitor", "--url", s.url, "--state", state},
		{"monitor", "--url", s.url, "--key", key},
		{"monitor", "--url", s.url, "--key", key, "--state", state, "--witness"},
		{"monitor", "--url", s.url, "--key", key, "--state", state, "--bogus"},
		{"monitor", "--url", "ftp://x", "--key", key, "--state", state},
	} {
		wantCode(t, 2, args...)
	}
}

var witnessListenRe = regexp.MustCompile(`msg="witness listening" addr=(\S+) name=(\S+) cosignature_key=(\S+)`)

// TestMonitorWitness: `monitor --witness` serves C2SP tlog-witness; a server
// started with `--witness` pushes to it and serves its cosignatures; a fork
// pushed to it is refused, and the monitor alarms.
func TestMonitorWitness(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	// The real log keeps its address across restarts, so the monitor polls
	// it throughout.
	addr := []string{"--addr", freeAddr(t)}
	s, sp := serveWith(t, dir, addr...)
	appendEvents(t, s, 0, 3)
	key := strings.TrimSpace(string(s.get("/v1/logs/default/key")))
	skey, _, err := note.GenerateKey(rand.Reader, "monitor.witness.test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "witness.key")
	if err := os.WriteFile(keyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	al := newAlerts(t)
	m := startProc(t, "monitor", "--url", s.url, "--key", key, "--state", t.TempDir(), "--interval", "50ms",
		"--alert-url", al.srv.URL, "--witness", "--listen", "127.0.0.1:0", "--witness-key", keyFile)
	lm := m.waitLine(witnessListenRe)
	wURL, wName, wKey := "http://"+lm[1], lm[2], lm[3]
	if wName != "monitor.witness.test" {
		t.Fatalf("witness name %q", wName)
	}

	// The server, restarted with --witness, stores the witness (a
	// settings:update audit entry) and pushes to it.
	sp.term()
	flag := "default=" + wURL + "=" + wKey
	s, sp = serveWith(t, dir, append(addr, "--witness", flag)...)
	lo := s.logObject()
	if len(lo.Witnesses) != 1 || lo.Witnesses[0].Name != wName || lo.WitnessQuorum != 1 {
		t.Fatalf("log object witnesses: %+v", lo)
	}
	if n := s.settingsUpdates(); n != 1 {
		t.Fatalf("%d settings:update entries after serve --witness, want 1", n)
	}
	size := appendEvents(t, s, 10, 2)
	waitWitnessed(t, s, size)
	checkNoteCosigned(t, s.getPublic("/v1/logs/default/checkpoint"), key, wKey)

	// Restarted with the same flag: nothing changes, nothing is recorded.
	before := s.logObject().Size
	sp.term()
	s, sp = serveWith(t, dir, append(addr, "--witness", flag)...)
	if lo := s.logObject(); lo.Size != before || lo.WitnessedSize < size {
		t.Fatalf("after restart (size was %d): %+v", before, lo)
	}
	if n := s.settingsUpdates(); n != 1 {
		t.Fatalf("%d settings:update entries after a restart with the same flag, want 1", n)
	}

	// A fork pushed to the witness is refused, and the monitor alarms.
	sp.term()
	forkDir := filepath.Join(t.TempDir(), "fork")
	copyTree(t, dir, forkDir)
	s, _ = serveWith(t, dir, append(addr, "--witness", flag)...)
	good := appendEvents(t, s, 20, 2)
	waitWitnessed(t, s, good)
	f, fp := serveWith(t, forkDir, "--witness", flag)
	appendEvents(t, f, 30, 5)
	if code := m.wait(); code != 3 {
		t.Fatalf("monitor exited %d, want 3:\n%s", code, m.log())
	}
	if a := al.wantAlert(t, "fork"); !strings.Contains(a["detail"], "signed by the log comes with no valid consistency proof") {
		t.Fatalf("the alarm did not come from the witness endpoint: %v", a)
	}
	if lo := f.logObject(); lo.WitnessedSize >= lo.Size {
		t.Fatalf("the fork got witnessed: %+v", lo)
	}
	cp := f.getPublic("/v1/logs/default/checkpoint")
	if bytes.Count(cp, []byte("\n— ")) != 1 {
		t.Fatalf("the fork's checkpoint carries a cosignature:\n%s", cp)
	}
	fp.waitLine(regexp.MustCompile(`push failed`))
}

// settingsUpdates counts the default log's settings:update audit entries by
// the system actor.
func (s *server) settingsUpdates() int {
	s.t.Helper()
	var out struct {
		Events []struct {
			Actor struct{ Type, ID string } `json:"actor"`
		} `json:"events"`
	}
	if err := json.Unmarshal(s.get("/v1/logs/default/events?action=settings:update"), &out); err != nil {
		s.t.Fatal(err)
	}
	for _, e := range out.Events {
		if e.Actor.Type != "system" || e.Actor.ID != "serve" {
			s.t.Fatalf("settings:update by %+v, want the system actor", e.Actor)
		}
	}
	return len(out.Events)
}

// waitWitnessed waits until the log object's witnessed_size reaches size.
func waitWitnessed(t *testing.T, s *server, size uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lo := s.logObject()
		if lo.WitnessedSize >= size {
			checkNoteCosignedAny(t, []byte(lo.Checkpoint))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("witnessed_size stays %d, want %d", lo.WitnessedSize, size)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkNoteCosigned opens a note with the log's key and the witness's
// cosignature key (formats' verifier); both must have signed.
func checkNoteCosigned(t *testing.T, msg []byte, logKey, witnessKey string) {
	t.Helper()
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := fnote.NewVerifierForCosignatureV1(witnessKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(lv, wv))
	if err != nil || len(n.Sigs) != 2 {
		t.Fatalf("note does not carry both signatures (%v):\n%s", err, msg)
	}
}

// checkNoteCosignedAny checks that a note has at least two signature lines.
func checkNoteCosignedAny(t *testing.T, msg []byte) {
	t.Helper()
	if bytes.Count(msg, []byte("\n— ")) < 2 {
		t.Fatalf("the log object's checkpoint carries no cosignature:\n%s", msg)
	}
}

// savedSize is the size of the checkpoint in a monitor's state directory.
func savedSize(t *testing.T, state string, v note.Verifier) uint64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := proofs.OpenCheckpoint(b, v)
	if err != nil {
		t.Fatalf("the state does not verify: %v", err)
	}
	return c.Size
}
