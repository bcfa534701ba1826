package cli_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// bin is the auditledger binary TestMain builds once.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "auditledger-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(gomod)) == 0 {
		fmt.Fprintf(os.Stderr, "go env GOMOD: %v\n", err)
		return 1
	}
	bin = filepath.Join(tmp, "auditledger")
	build := exec.Command("go", "build", "-o", bin, "./cmd/auditledger")
	build.Dir = filepath.Dir(string(bytes.TrimSpace(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/auditledger: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

const adminToken = "cli-test-admin-token-0123456789"

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs the binary to completion with args, in a clean environment.
func run(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("auditledger %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// wantCode runs the binary and wants exit code code.
func wantCode(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := run(t, args...)
	if r.code != code {
		t.Fatalf("auditledger %s: want exit %d, got %s", strings.Join(args, " "), code, r)
	}
	return r
}

// cleanEnv is the environment without AUDITLEDGER_* variables, so that a
// developer's settings never leak into the test.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUDITLEDGER_") {
			env = append(env, kv)
		}
	}
	return env
}

// stop sends SIGTERM and returns the exit code.
func (s *server) stop() int {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		s.t.Fatalf("server did not stop within 40s of SIGTERM:\n%s", s.log())
	}
	return s.code
}

// get does an authenticated GET and wants a 200.
func (s *server) get(path string) []byte {
	s.t.Helper()
	return s.getWith(path, adminToken)
}

// getPublic is an unauthenticated GET that wants a 200.
func (s *server) getPublic(path string) []byte {
	s.t.Helper()
	return s.getWith(path, "")
}

// getWith does a GET with token as the bearer token (none if it is empty)
// and wants a 200.
func (s *server) getWith(path, token string) []byte {
	s.t.Helper()
	code, b := s.do("GET", path, token)
	if code != http.StatusOK {
		s.t.Fatalf("GET %s: %d %s", path, code, b)
	}
	return b
}

// do sends a request with token as the bearer token (none if it is empty)
// and returns the status and body.
func (s *server) do(method, path, token string) (int, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// waitCheckpoint waits until the default log's checkpoint covers size.
func (s *server) waitCheckpoint(size uint64) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var lo struct {
			Checkpoint string `json:"checkpoint"`
		}
		if err := json.Unmarshal(s.get("/v1/logs/default"), &lo); err != nil {
			s.t.Fatal(err)
		}
		body, _, _ := strings.Cut(lo.Checkpoint, "\n\n")
		if c, err := proofs.ParseCheckpoint([]byte(body + "\n")); err == nil && c.Size >= size {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no checkpoint covers %d entries: %q", size, lo.Checkpoint)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cliEvent(i int) map[string]any {
	return map[string]any{
		"category": "user", "action": "user:invite",
		"actor":   map[string]any{"type": "user", "id": fmt.Sprintf("u%d", i), "email": "ann@example.com"},
		"target":  map[string]any{"type": "user", "id": fmt.Sprintf("t%d", i)},
		"ip":      "192.0.2.7",
		"details": map[string]any{"n": i, "note": "from the cli test"},
	}
}

type ack struct {
	Index    uint64 `json:"index"`
	LeafHash string `json:"leaf_hash"`
}

// eventsFile writes the events ev(0) … ev(n-1) as NDJSON, one a line, to a
// new file and returns its path.
func eventsFile(t *testing.T, n int, ev func(int) map[string]any) string {
	t.Helper()
	var ndjson bytes.Buffer
	for i := range n {
		b, _ := json.Marshal(ev(i))
		ndjson.Write(b)
		ndjson.WriteString("\n")
	}
	evFile := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(evFile, ndjson.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return evFile
}

// TestEndToEnd drives the binary as an operator would: serve, append,
// checkpoint, proof, keys; then SIGTERM under load, offline verify, and
// offline verify of a tampered copy.
func TestEndToEnd(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dir)
	url := s.url
	client := []string{"--url", url, "--token", adminToken}

	// append: a file of NDJSON events (with a blank line), one output line
	// per stored entry, in order.
	const n = 25
	var ndjson bytes.Buffer
	for i := range n {
		b, _ := json.Marshal(cliEvent(i))
		ndjson.Write(b)
		ndjson.WriteString("\n")
		if i == 10 {
			ndjson.WriteString("\n")
		}
	}
	evFile := filepath.Join(t.TempDir(), "events.ndjson")
	if err := os.WriteFile(evFile, ndjson.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r := wantCode(t, 0, append([]string{"append"}, append(client, evFile)...)...)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != n {
		t.Fatalf("append printed %d lines, want %d:\n%s", len(lines), n, r)
	}
	var acks []ack
	for i, l := range lines {
		var a ack
		if err := json.Unmarshal([]byte(l), &a); err != nil || a.Index != uint64(i) || a.LeafHash == "" {
			t.Fatalf("append line %d: %q (%v)", i, l, err)
		}
		acks = append(acks, a)
	}
	s.waitCheckpoint(n)

	vkey := strings.TrimSpace(string(s.get("/v1/logs/default/key")))
	keyFile := filepath.Join(t.TempDir(), "default.vkey")
	if err := os.WriteFile(keyFile, []byte(vkey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, wrongKey, err := proofs.GenerateKey("auditledger.local/default") // same name, another key
	if err != nil {
		t.Fatal(err)
	}
	_, otherNameKey, err := proofs.GenerateKey("auditledger.local/other")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("checkpoint", func(t *testing.T) {
		r := wantCode(t, 0, "checkpoint", "--url", url, "--key", vkey)
		if !strings.HasPrefix(r.stdout, "auditledger.local/default\n") || !strings.Contains(r.stderr, "checkpoint ok") {
			t.Fatalf("checkpoint: %s", r)
		}
		wantCode(t, 0, "checkpoint", "--url", url, "--key", "@"+keyFile)
		wantCode(t, 1, "checkpoint", "--url", url, "--key", wrongKey)
		wantCode(t, 1, "checkpoint", "--url", url, "--key", otherNameKey)
		wantCode(t, 2, "checkpoint", "--url", url)
		wantCode(t, 2, "checkpoint", "--url", url, "--key", "not-a-key")
	})

	t.Run("proof", func(t *testing.T) {
		for _, idx := range []string{"0", "7", fmt.Sprint(n - 1)} {
			r := wantCode(t, 0, append([]string{"proof", "--index", idx, "--key", vkey}, client...)...)
			if !strings.Contains(r.stdout, "included") || !strings.Contains(r.stdout, "entry "+idx+" ") {
				t.Fatalf("proof --index %s: %s", idx, r)
			}
		}
		r := wantCode(t, 0, append([]string{"proof", "--leaf-hash", acks[12].LeafHash, "--key", "@" + keyFile}, client...)...)
		if !strings.Contains(r.stdout, "included") || !strings.Contains(r.stdout, "entry 12 ") {
			t.Fatalf("proof --leaf-hash: %s", r)
		}
		wantCode(t, 1, append([]string{"proof", "--index", "7", "--key", wrongKey}, client...)...)
		wantCode(t, 1, append([]string{"proof", "--index", "7", "--key", otherNameKey}, client...)...)
		wantCode(t, 2, append([]string{"proof", "--index", "7"}, client...)...)
		wantCode(t, 2, append([]string{"proof", "--key", vkey}, client...)...)
		wantCode(t, 2, append([]string{"proof", "--index", "7", "--leaf-hash", acks[7].LeafHash, "--key", vkey}, client...)...)
		wantCode(t, 2, append([]string{"proof", "--index", "x", "--key", vkey}, client...)...)
		wantCode(t, 2, append([]string{"proof", "--index", "7", "--key", vkey}, "--url", url)...) // no token: 401
		wantCode(t, 2, append([]string{"proof", "--index", "999", "--key", vkey}, client...)...)
	})

	t.Run("keys", func(t *testing.T) {
		r := wantCode(t, 0, "keys", "create", "--url", url, "--token", adminToken, "--name", "loader", "--role", "ingest", "--log", "default")
		var k struct{ ID, Token string }
		if err := json.Unmarshal([]byte(r.stdout), &k); err != nil || k.Token == "" {
			t.Fatalf("keys create: %s", r)
		}
		r = wantCode(t, 0, "keys", "list", "--url", url, "--token", adminToken)
		if !strings.Contains(r.stdout, k.ID) || !strings.Contains(r.stdout, "loader") || strings.Contains(r.stdout, k.Token) {
			t.Fatalf("keys list: %s", r)
		}
		wantCode(t, 2, "keys", "list", "--url", url, "--token", k.Token) // an ingest key may not
		wantCode(t, 0, "keys", "revoke", "--url", url, "--token", adminToken, k.ID)
		wantCode(t, 2, "append", "--url", url, "--token", k.Token, evFile)
	})

	t.Run("append errors", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.ndjson")
		os.WriteFile(bad, []byte(`{"category":"nope","action":"x","actor":{"type":"user","id":"u"}}`+"\n"), 0o600)
		r := wantCode(t, 2, append([]string{"append"}, append(client, bad)...)...)
		if !strings.Contains(r.stderr, "category") {
			t.Errorf("append of a bad event does not name the field: %s", r)
		}
		wantCode(t, 2, append([]string{"append"}, append(client, filepath.Join(t.TempDir(), "missing.ndjson"))...)...)
	})

	// Every entry so far is the 25 appended plus the audit entries of the
	// key create and revoke.
	base := uint64(n + 2)
	s.waitCheckpoint(base)

	// SIGTERM under load: several clients post batches; every 201 is
	// recorded, and must survive.
	var (
		mu    sync.Mutex
		acked = map[uint64]string{}
		wg    sync.WaitGroup
		stop  = make(chan struct{})
		posts int
	)
	hc := &http.Client{Timeout: 20 * time.Second}
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				batch := make([]map[string]any, 10)
				for j := range batch {
					batch[j] = cliEvent(100000*c + 100*i + j)
				}
				body, _ := json.Marshal(batch)
				req, _ := http.NewRequest("POST", url+"/v1/logs/default/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+adminToken)
				resp, err := hc.Do(req)
				if err != nil {
					return // the server is gone
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					if resp.StatusCode == http.StatusServiceUnavailable {
						continue
					}
					t.Errorf("client %d: %d %s", c, resp.StatusCode, b)
					return
				}
				var out struct{ Entries []ack }
				if err := json.Unmarshal(b, &out); err != nil || len(out.Entries) != len(batch) {
					t.Errorf("client %d: 201 with %q (%v)", c, b, err)
					return
				}
				mu.Lock()
				posts++
				for _, e := range out.Entries {
					if _, dup := acked[e.Index]; dup {
						t.Errorf("index %d acknowledged twice", e.Index)
					}
					acked[e.Index] = e.LeafHash
				}
				mu.Unlock()
			}
		}()
	}
	// SIGTERM once the load runs: some batches acknowledged. (A sleep of
	// 400 ms was the wait before; idle machines acknowledge 80 to 700
	// batches in it, but a stalled one may not have answered the first.)
	for deadline := time.Now().Add(time.Minute); !t.Failed() && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := posts
		mu.Unlock()
		if n >= 20 {
			break
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited %d under load, before SIGTERM:\n%s", s.code, s.log())
		default:
		}
	}
	mu.Lock()
	during := posts
	mu.Unlock()
	if code := s.stop(); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0:\n%s", code, s.log())
	}
	close(stop)
	wg.Wait()
	if during == 0 {
		t.Fatal("no append was acknowledged before SIGTERM; the load did not run")
	}
	t.Logf("%d batches acknowledged (%d before SIGTERM), %d entries", posts, during, len(acked))
	if !strings.Contains(s.log(), "msg=stopped") {
		t.Errorf("serve did not log a clean stop:\n%s", s.log())
	}

	// Offline verify of the stopped server's data.
	r = wantCode(t, 0, "verify", "--data", dir)
	if !strings.Contains(r.stdout, "log default: ok") {
		t.Fatalf("verify: %s", r)
	}
	var maxIdx uint64
	for idx := range acked {
		maxIdx = max(maxIdx, idx)
	}
	func() {
		l, err := ledger.Open(context.Background(), ledger.Config{Dir: dir, ReadOnly: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		for i, a := range acks {
			acked[uint64(i)] = a.LeafHash
		}
		for idx, lh := range acked {
			rec, err := l.Read("default", idx)
			if err != nil {
				t.Fatalf("acknowledged entry %d is gone: %v", idx, err)
			}
			if got := proofs.EncodeHash(rec.LeafHash); got != lh || proofs.EncodeHash(proofs.LeafHash(rec.Leaf)) != lh {
				t.Fatalf("entry %d: acknowledged leaf_hash %s, stored %s", idx, lh, got)
			}
		}
		// The final checkpoint covers every acknowledged entry.
		sc, err := l.Checkpoint("default")
		if err != nil {
			t.Fatal(err)
		}
		if sc.Size <= maxIdx {
			t.Fatalf("the last checkpoint (size %d) does not cover acknowledged entry %d", sc.Size, maxIdx)
		}
	}()

	// A restarted server serves and proves the last acknowledged entry.
	t.Run("restart", func(t *testing.T) {
		s2 := startServer(t, dir)
		wantCode(t, 0, "proof", "--url", s2.url, "--token", adminToken, "--index", fmt.Sprint(maxIdx), "--key", vkey)
		if code := s2.stop(); code != 0 {
			t.Errorf("second serve exited %d", code)
		}
	})

	// Tamper with one payload in a copy of the data directory.
	copyDir := filepath.Join(t.TempDir(), "tampered")
	copyTree(t, dir, copyDir)
	const victim = 11
	func() {
		l, err := ledger.Open(context.Background(), ledger.Config{Dir: copyDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}()
		// L <log#:4> E <index:8> p; the default log is number 1.
		key := []byte{'L'}
		key = binary.BigEndian.AppendUint32(key, 1)
		key = append(key, 'E')
		key = binary.BigEndian.AppendUint64(key, victim)
		key = append(key, 'p')
		v, closer, err := l.DB().Get(key)
		if err != nil {
			t.Fatalf("no payload at the key of entry %d: %v", victim, err)
		}
		orig := string(v)
		closer.Close()
		if !strings.Contains(orig, `"id":"u11"`) {
			t.Fatalf("payload of entry %d is %s", victim, orig)
		}
		forged := strings.Replace(orig, `"id":"u11"`, `"id":"u12"`, 1)
		if err := l.DB().Set(key, []byte(forged), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}()
	r = wantCode(t, 1, "verify", "--data", copyDir)
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^index %d: `, victim)).MatchString(r.stdout) {
		t.Fatalf("verify of the tampered copy names no `index %d:` line: %s", victim, r)
	}
	if regexp.MustCompile(`(?m)^index (\d+): `).FindAllString(r.stdout, -1)[0] != fmt.Sprintf("index %d: ", victim) {
		t.Errorf("verify's first problem is not at the tampered index: %s", r)
	}
	// The original is untouched.
	wantCode(t, 0, "verify", "--data", dir)
}

func TestUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"verify missing dir", []string{"verify", "--data", missing}},
		{"verify unknown flag", []string{"verify", "--bogus"}},
		{"verify flag without value", []string{"verify", "--data"}},
		{"unknown command", []string{"frobnicate"}},
		{"unknown command with flags", []string{"frobnicate", "--data", "x"}},
		{"serve bad log level", []string{"serve", "--data", filepath.Join(t.TempDir(), "d"), "--log-level", "loud"}},
		{"serve bad address", []string{"serve", "--data", filepath.Join(t.TempDir(), "d"), "--addr", "256.0.0.1:99999"}},
		{"keys revoke without id", []string{"keys", "revoke"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, 2, tc.args...)
		})
	}
	// An offline, read-only check writes nothing, not even the directory
	// it was wrongly pointed at.
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("verify --data %s created the directory (stat: %v)", missing, err)
	}
}

// copyTree copies a directory tree of regular files.
func copyTree(t *testing.T, from, to string) {
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
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestQueryExportAnnotate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dir)
	defer s.stop()
	client := []string{"--url", s.url, "--token", adminToken}
	evFile := eventsFile(t, 12, cliEvent)
	wantCode(t, 0, append([]string{"append"}, append(client, evFile)...)...)

	// query: not a terminal here, so JSON.
	r := wantCode(t, 0, append(append([]string{"query"}, client...), "--limit", "5", "--order", "asc")...)
	var page struct {
		Events     []map[string]any `json:"events"`
		NextCursor *string          `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Events) != 5 || page.NextCursor == nil {
		t.Fatalf("query page: %v\n%s", err, r)
	}
	if page.Events[0]["index"] != float64(0) {
		t.Fatalf("first entry %v", page.Events[0])
	}
	wantCode(t, 2, append(append([]string{"query"}, client...), "colour:red")...)

	// export: CSV into a file, every entry, header first.
	out := filepath.Join(t.TempDir(), "all.csv")
	wantCode(t, 0, append(append([]string{"export"}, client...), "--order", "asc", "-o", out)...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(b)), "\r\n")
	if len(rows) != 13 || !strings.HasPrefix(rows[0], "index,received_at,time,") {
		t.Fatalf("export: %d rows:\n%s", len(rows), b)
	}

	// annotate: a new entry that refers to the old one.
	r = wantCode(t, 0, append(append([]string{"annotate"}, client...), "3", "checked with the ticket")...)
	var ann struct {
		Index uint64 `json:"index"`
		Ref   uint64 `json:"ref"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ann); err != nil || ann.Ref != 3 || ann.Index < 12 {
		t.Fatalf("annotate: %v\n%s", err, r)
	}
	var entry struct {
		Annotations []map[string]any `json:"annotations"`
	}
	if err := json.Unmarshal(s.get("/v1/logs/default/events/3"), &entry); err != nil || len(entry.Annotations) != 1 {
		t.Fatalf("entry 3 annotations: %v %v", entry.Annotations, err)
	}
	wantCode(t, 2, append(append([]string{"annotate"}, client...), "999", "nope")...)
}
