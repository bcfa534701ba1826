package witness_test

// These tests push a real ledger's checkpoints to a real omniwitness
// (github.com/transparency-dev/witness/cmd/omniwitness, which .ci/run
// installs), on 127.0.0.1, and check its cosignatures with
// github.com/transparency-dev/formats' verifier.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"go/build"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/api"
	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
	"github.com/auditledger/auditledger/witness"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// omniwitnessBin finds the omniwitness binary: on PATH, else in
// $GOPATH/bin. Without it the test is skipped, unless $CI is set: then a
// missing binary fails.
func omniwitnessBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("omniwitness"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "omniwitness")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("omniwitness is not installed (CI is set): go install github.com/transparency-dev/witness/cmd/omniwitness@v0.0.0-20260720115447-2e1c6971d19e")
	}
	t.Skip("omniwitness is not installed; see .ci/run")
	return ""
}

// omni is one omniwitness process, restartable on the same port and database.
type omni struct {
	t        *testing.T
	bin      string
	dir      string
	addr     string
	name     string
	cosigKey string // the tlog-cosignature verifier key (type 0x04)
	cmd      *exec.Cmd
	done     chan struct{}
	mu       sync.Mutex
	out      bytes.Buffer
}

// startOmni configures an omniwitness for one log (origin and verifier key)
// and starts it.
func startOmni(t *testing.T, origin, logVKey string) *omni {
	t.Helper()
	o := &omni{t: t, bin: omniwitnessBin(t), dir: t.TempDir(), name: "omni.witness.test"}
	skey, vkey, err := note.GenerateKey(rand.Reader, o.name)
	if err != nil {
		t.Fatal(err)
	}
	if o.cosigKey, err = fnote.VKeyToCosignatureV1(vkey); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.dir, "witness.key"), []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := fmt.Sprintf("Logs:\n  - Origin: %q\n    PublicKey: %q\n    URL: \"http://127.0.0.1:1/unused\"\n", origin, logVKey)
	if err := os.WriteFile(filepath.Join(o.dir, "logs.yaml"), []byte(logs), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	ln.Close()
	o.start()
	t.Cleanup(o.kill)
	return o
}

func (o *omni) url() string { return "http://" + o.addr }

func (o *omni) start() {
	o.t.Helper()
	o.cmd = exec.Command(o.bin,
		"--listen", o.addr,
		"--metrics_listen", "",
		"--db_file", filepath.Join(o.dir, "witness.db"),
		"--private_key_path", filepath.Join(o.dir, "witness.key"),
		"--additional_logs", filepath.Join(o.dir, "logs.yaml"),
		"--logtostderr")
	o.cmd.Stdout, o.cmd.Stderr = o.writer(), o.writer()
	if err := o.cmd.Start(); err != nil {
		o.t.Fatal(err)
	}
	o.done = make(chan struct{})
	cmd, done := o.cmd, o.done
	go func() { cmd.Wait(); close(done) }()
	waitFor(o.t, "omniwitness listening on "+o.addr, func() bool {
		select {
		case <-done:
			o.t.Fatalf("omniwitness exited:\n%s", o.output())
		default:
		}
		c, err := net.Dial("tcp", o.addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

type lockedWriter struct{ o *omni }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	return w.o.out.Write(p)
}

func (o *omni) writer() io.Writer { return lockedWriter{o} }

func (o *omni) output() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out.String()
}

// kill stops the process (SIGKILL) and waits for it.
func (o *omni) kill() {
	if o.cmd == nil || o.cmd.Process == nil {
		return
	}
	select {
	case <-o.done:
	default:
		o.cmd.Process.Kill()
		<-o.done
	}
}

// waitFor polls cond until it holds; it fails the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// logRig is a ledger with the API on 127.0.0.1 and a running pusher.
type logRig struct {
	t      *testing.T
	l      *ledger.Ledger
	srv    *httptest.Server
	pusher *witness.Pusher
	stop   func()
	origin string
	vkey   string
}

func openRig(t *testing.T, dir string) *logRig {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.Open(ctx, ledger.Config{Dir: dir, CheckpointInterval: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p, err := witness.New(witness.Config{Ledger: l, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(ctx, api.Config{Ledger: l, Logger: quiet, Collectors: []prometheus.Collector{p}})
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.Log(ledger.DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	r := &logRig{t: t, l: l, srv: httptest.NewServer(s), pusher: p, origin: info.Origin, vkey: info.VerifierKey}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Run(pctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			r.srv.Close()
			if err := l.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// appendN appends n events and waits until a checkpoint covers them; it
// returns that checkpoint's size.
func (r *logRig) appendN(n int) uint64 {
	r.t.Helper()
	evs := make([]ledger.Event, n)
	for i := range evs {
		evs[i] = ledger.Event{Category: "login", Action: "login", Actor: &ledger.Actor{Type: "user", ID: fmt.Sprintf("u%d", i)}}
	}
	res, err := r.l.Append(context.Background(), ledger.DefaultLogID, evs, ledger.AppendOptions{})
	if err != nil {
		r.t.Fatalf("append: %v", err)
	}
	sc, err := r.l.WaitCheckpoint(context.Background(), ledger.DefaultLogID, res[len(res)-1].Index+1)
	if err != nil {
		r.t.Fatal(err)
	}
	return sc.Size
}

// served returns what GET /v1/logs/default<path> serves.
func (r *logRig) served(path string) []byte {
	r.t.Helper()
	return r.get("/v1/logs/default" + path)
}

func (r *logRig) get(path string) []byte {
	r.t.Helper()
	resp, err := http.Get(r.srv.URL + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// waitCosigned waits until the witness cosigned the latest checkpoint and it
// counts as witnessed, and returns that checkpoint's size.
func (r *logRig) waitCosigned(o *omni) uint64 {
	r.t.Helper()
	var size uint64
	waitFor(r.t, "the witness to cosign the latest checkpoint", func() bool {
		sc, err := r.l.Checkpoint(ledger.DefaultLogID)
		if err != nil {
			r.t.Fatal(err)
		}
		ws, _ := r.l.WitnessedSize(ledger.DefaultLogID)
		size = sc.Size
		return ws == sc.Size && ws > 0
	})
	return size
}

// checkCosigned checks that a served note verifies with the log's key and
// carries a valid cosignature by the witness, checked with formats'
// cosignature verifier.
func checkCosigned(t *testing.T, msg []byte, logVKey, cosigKey string, size uint64) {
	t.Helper()
	lv, err := note.NewVerifier(logVKey)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := fnote.NewVerifierForCosignatureV1(cosigKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(lv, wv))
	if err != nil {
		t.Fatalf("note does not open: %v\n%s", err, msg)
	}
	var haveLog, haveWit bool
	for _, s := range n.Sigs {
		haveLog = haveLog || s.Hash == lv.KeyHash()
		if s.Hash == wv.KeyHash() {
			haveWit = true
			if ts, err := fnote.CoSigV1Timestamp(s); err != nil || ts.IsZero() {
				t.Errorf("cosignature timestamp: %v %v", ts, err)
			}
		}
	}
	if !haveLog || !haveWit {
		t.Fatalf("note lacks a signature (log %v, witness %v):\n%s", haveLog, haveWit, msg)
	}
	c, err := proofs.ParseCheckpoint([]byte(n.Text))
	if err != nil || c.Size != size {
		t.Fatalf("note is for size %d (%v), want %d", c.Size, err, size)
	}
}

func TestOmniwitness(t *testing.T) {
	dir := t.TempDir()
	r := openRig(t, dir)
	o := startOmni(t, r.origin, r.vkey)
	ctx := context.Background()

	if _, err := r.l.UpdateWitnesses(ctx, ledger.DefaultLogID, ledger.WitnessSettings{
		List: []ledger.Witness{{Name: o.name, URL: o.url(), Key: o.cosigKey}}, Quorum: 1}); err != nil {
		t.Fatal(err)
	}

	// Appends are cosigned; the served notes carry the cosignature.
	r.appendN(5)
	size := r.waitCosigned(o)
	checkCosigned(t, r.served("/checkpoint"), r.vkey, o.cosigKey, size)
	checkCosigned(t, r.served(fmt.Sprintf("/checkpoints/%d", size)), r.vkey, o.cosigKey, size)

	// A witness restart (kill, start again on its database) is survived.
	o.kill()
	o.start()
	r.appendN(3)
	size = r.waitCosigned(o)
	checkCosigned(t, r.served("/checkpoint"), r.vkey, o.cosigKey, size)

	// An outage: appends and checkpoints go on while the witness is away;
	// the pushes fail (and are counted); once it is back, the log at rest is
	// cosigned.
	o.kill()
	before := r.pusher.Failures(ledger.DefaultLogID, o.name)
	for i := 0; i < 3; i++ {
		r.appendN(2)
	}
	waitFor(t, "a failed push to be counted", func() bool {
		return r.pusher.Failures(ledger.DefaultLogID, o.name) > before
	})
	if ws, _ := r.l.WitnessedSize(ledger.DefaultLogID); ws != size {
		t.Fatalf("witnessed size moved to %d while the witness was away (was %d)", ws, size)
	}
	metrics := string(r.get("/metrics"))
	if !strings.Contains(metrics, `auditledger_witness_lag_entries{log="default",witness="omni.witness.test"}`) ||
		!strings.Contains(metrics, `auditledger_witness_push_failures_total{log="default",witness="omni.witness.test"}`) {
		t.Errorf("metrics lack the witness lag or failures:\n%s", metrics)
	}
	o.start()
	size = r.waitCosigned(o)
	checkCosigned(t, r.served("/checkpoint"), r.vkey, o.cosigKey, size)
	t.Logf("after the outage: cosigned at size %d; %d failed pushes", size, r.pusher.Failures(ledger.DefaultLogID, o.name))

	// The log restarts: cosignatures, witness settings and the witnessed
	// size survive, and pushing picks up where it was.
	r.stop()
	r = openRig(t, dir)
	if ws, _ := r.l.WitnessedSize(ledger.DefaultLogID); ws < size {
		t.Fatalf("witnessed size after restart is %d, want ≥ %d", ws, size)
	}
	checkCosigned(t, r.served(fmt.Sprintf("/checkpoints/%d", size)), r.vkey, o.cosigKey, size)
	r.appendN(4)
	size = r.waitCosigned(o)
	checkCosigned(t, r.served("/checkpoint"), r.vkey, o.cosigKey, size)
	r.stop()

	// A fork: a copy of the data directory, signed with the same key,
	// grows another history. Its pusher is refused by omniwitness.
	forkDir := t.TempDir()
	copyDir(t, dir, forkDir)
	r = openRig(t, dir)
	f := openRig(t, forkDir)
	r.appendN(2)
	goodSize := r.waitCosigned(o)
	f.appendN(5) // a different history, larger
	waitFor(t, "the fork's pushes to be refused", func() bool {
		return f.pusher.Failures(ledger.DefaultLogID, o.name) > 0
	})
	sc, err := f.l.Checkpoint(ledger.DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fork at size %d refused %d times; the good log is witnessed at %d", sc.Size, f.pusher.Failures(ledger.DefaultLogID, o.name), goodSize)
	if bytes.Count(sc.Note, []byte("\n— ")) != 1 {
		t.Fatalf("the fork's checkpoint got a cosignature:\n%s", sc.Note)
	}
	// The same refusal by hand, with the same-size fork: 422.
	fork := forkedNote(t, forkDir, r.origin, goodSize)
	resp, err := http.Post(o.url()+"/add-checkpoint", "text/plain", strings.NewReader(fmt.Sprintf("old %d\n\n%s", goodSize, fork)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("omniwitness answered %d to a same-size fork, want 422", resp.StatusCode)
	}
	// The good log still gets cosigned.
	r.appendN(1)
	r.waitCosigned(o)
}

// forkedNote signs, with the log's key from dir, a checkpoint of the given
// size whose root no real history has.
func forkedNote(t *testing.T, dir, origin string, size uint64) []byte {
	t.Helper()
	skey, err := os.ReadFile(filepath.Join(dir, "keys", "default.key"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	c := proofs.Checkpoint{Origin: origin, Size: size}
	rand.Read(c.Root[:])
	rand.Read(c.Chain[:])
	msg, err := proofs.SignCheckpoint(c, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// copyDir copies a closed ledger's data directory.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
