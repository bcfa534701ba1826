package cli_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/proofs"
)

// bundleEvent is a role change for odd i and a login for even i.
func bundleEvent(i int) map[string]any {
	ev := map[string]any{
		"category": "login", "action": "login",
		"actor": map[string]any{"type": "user", "id": fmt.Sprintf("u%d", i%4)},
		"ip":    "198.51.100.4",
	}
	if i%2 == 1 {
		ev["category"], ev["action"] = "role", "role:assign"
		ev["target"] = map[string]any{"type": "user", "id": fmt.Sprintf("t%d", i)}
		ev["details"] = map[string]any{"role_from": "member", "role_to": "admin"}
	}
	return ev
}

// editBundle reads a bundle file, lets edit change it, and writes the
// result to a new file, whose path it returns.
func editBundle(t *testing.T, path string, edit func(b *proofs.Bundle)) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proofs.ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	edit(b)
	out, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "edited.json")
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBundleCommands drives `bundle` and `verify-bundle` end to end against
// a real server: a bundle verifies, offline, with the summary saying what
// was checked; each kind of tampering exits 1 with a line naming the
// entry; usage errors exit 2.
func TestBundleCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dir)
	defer s.stop()
	client := []string{"--url", s.url, "--token", adminToken}

	const n = 60
	evFile := eventsFile(t, n, bundleEvent)
	wantCode(t, 0, append([]string{"append"}, append(client, evFile)...)...)
	s.waitCheckpoint(n)
	vkey := strings.TrimSpace(string(s.get("/v1/logs/default/key")))
	keyFile := filepath.Join(t.TempDir(), "default.vkey")
	if err := os.WriteFile(keyFile, []byte(vkey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// bundle: into a file, a summary on stderr.
	good := filepath.Join(t.TempDir(), "bundle.json")
	r := wantCode(t, 0, append(append([]string{"bundle"}, client...), "-q", "category:role", "--sample", "8", "--seed", "q4-audit", "-o", good)...)
	if !strings.Contains(r.stderr, "8 entries sampled from 30 matches") || !strings.Contains(r.stderr, "seed q4-audit") {
		t.Fatalf("bundle summary: %s", r)
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proofs.ParseBundle(data)
	if err != nil || len(b.Entries) != 8 {
		t.Fatalf("bundle file: %v, %d entries", err, len(b.Entries))
	}
	// The bundle was recorded in the log, after what it shows.
	var last struct {
		Category, Action string
		Details          map[string]any
	}
	if err := json.Unmarshal(s.get(fmt.Sprintf("/v1/logs/default/events/%d", n)), &last); err != nil ||
		last.Action != "bundle:create" || last.Details["seed"] != "q4-audit" || last.Details["tree_size"] != float64(n) {
		t.Fatalf("entry %d after the bundle: %+v (%v)", n, last, err)
	}

	// The same query and seed, to stdout, with the query as arguments: the same sample.
	r = wantCode(t, 0, append(append([]string{"bundle"}, client...), "--sample", "8", "--seed", "q4-audit", "category:role")...)
	b2, err := proofs.ParseBundle([]byte(r.stdout))
	if err != nil {
		t.Fatalf("bundle to stdout: %v\n%s", err, r)
	}
	for i := range b.Entries {
		if b.Entries[i].Index != b2.Entries[i].Index {
			t.Fatalf("same seed, entry %d: index %d then %d", i, b.Entries[i].Index, b2.Entries[i].Index)
		}
	}

	// verify-bundle: flags after FILE (as SPEC writes it) or before, key
	// inline or @FILE.
	for _, args := range [][]string{
		{"verify-bundle", good, "--key", vkey},
		{"verify-bundle", "--key", "@" + keyFile, good},
		{"verify-bundle", good, "--key=@" + keyFile},
	} {
		r := wantCode(t, 0, args...)
		for _, want := range []string{
			"signature:  ok, by auditledger.local/default",
			fmt.Sprintf("checkpoint: auditledger.local/default, size %d, root ", n),
			"entries:    8 of 8 hold: leaf hash recomputed from the entry, inclusion proof",
			"sample:     8 entries of 8 asked, seed q4-audit (sha256-rank-v1)",
			"ok: every check holds",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("%v: the summary lacks %q:\n%s", args, want, r)
			}
		}
	}

	// --matches: the sample recomputed from an NDJSON export of the query.
	matches := filepath.Join(t.TempDir(), "matches.ndjson")
	wantCode(t, 0, append(append([]string{"export"}, client...), "--format", "ndjson", "--order", "asc", "-q", "category:role", "-o", matches)...)
	r = wantCode(t, 0, "verify-bundle", good, "--key", vkey, "--matches", matches)
	if !strings.Contains(r.stdout, "recomputed from the matches given") {
		t.Fatalf("--matches: %s", r)
	}
	// A match list that leaves one sampled entry out: that entry is blamed.
	short := filepath.Join(t.TempDir(), "short.txt")
	var lines []string
	for i := 1; i < n; i += 2 {
		if uint64(i) != b.Entries[3].Index {
			lines = append(lines, fmt.Sprint(i))
		}
	}
	os.WriteFile(short, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	r = wantCode(t, 1, "verify-bundle", good, "--key", vkey, "--matches", short)
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^index %d: not chosen by the seed`, b.Entries[3].Index)).MatchString(r.stdout) {
		t.Fatalf("--matches without a sampled entry: %s", r)
	}

	_, wrongKey, err := proofs.GenerateKey("auditledger.local/default") // same name, another key
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, _, err := proofs.GenerateKey("auditledger.local/default")
	if err != nil {
		t.Fatal(err)
	}
	var first struct{ Category string }
	if err := json.Unmarshal(s.get("/v1/logs/default/events/0"), &first); err != nil || first.Category != "login" {
		t.Fatalf("entry 0 is not a login: %+v", first) // a non-match of category:role, swapped in below
	}
	idx := func(i int) uint64 { return b.Entries[i].Index }

	for _, tc := range []struct {
		name string
		file func() string
		key  string
		want []string // each a line of stdout, as a regexp
	}{
		{"entry field changed", func() string {
			return editBundle(t, good, func(b *proofs.Bundle) {
				leaf, _ := base64.StdEncoding.DecodeString(b.Entries[2].Leaf)
				leaf = bytes.Replace(leaf, []byte(`"role_to":"admin"`), []byte(`"role_to":"owner"`), 1)
				b.Entries[2].Leaf = base64.StdEncoding.EncodeToString(leaf)
			})
		}, vkey, []string{fmt.Sprintf(`^index %d: the entry does not hash to its leaf_hash: the entry was altered$`, idx(2))}},
		{"proof byte flipped", func() string {
			return editBundle(t, good, func(b *proofs.Bundle) {
				h, _ := base64.StdEncoding.DecodeString(b.Entries[5].InclusionProof[1])
				h[7] ^= 0x10
				b.Entries[5].InclusionProof[1] = base64.StdEncoding.EncodeToString(h)
			})
		}, vkey, []string{fmt.Sprintf(`^index %d: the inclusion proof does not lead from the entry's leaf hash to the checkpoint's root`, idx(5))}},
		{"checkpoint from another key", func() string {
			return editBundle(t, good, func(b *proofs.Bundle) {
				text, _, _ := strings.Cut(b.Checkpoint, "\n\n")
				cp, err := proofs.ParseCheckpoint([]byte(text + "\n"))
				if err != nil {
					t.Fatal(err)
				}
				signer, err := note.NewSigner(otherSigner)
				if err != nil {
					t.Fatal(err)
				}
				msg, err := proofs.SignCheckpoint(cp, signer)
				if err != nil {
					t.Fatal(err)
				}
				b.Checkpoint = string(msg)
			})
		}, vkey, []string{`^signature:  FAILED`, `^checkpoint: not signed by the key given \(auditledger.local/default\)`}},
		{"checked with another key", func() string { return good }, wrongKey,
			[]string{`^signature:  FAILED`, `^key: the bundle names verifier key`, `^checkpoint: not signed by the key given`}},
		{"entry swapped for another", func() string {
			return editBundle(t, good, func(b *proofs.Bundle) {
				b.Entries[1].Leaf, b.Entries[6].Leaf = b.Entries[6].Leaf, b.Entries[1].Leaf
				b.Entries[1].LeafHash, b.Entries[6].LeafHash = b.Entries[6].LeafHash, b.Entries[1].LeafHash
			})
		}, vkey, []string{fmt.Sprintf(`^index %d: the inclusion proof does not lead`, idx(1)), fmt.Sprintf(`^index %d: the inclusion proof does not lead`, idx(6))}},
		{"entry swapped for a non-match", func() string {
			// Entry 0 (a login), whole and genuine, in place of a role change.
			var p struct {
				Hashes []string `json:"hashes"`
			}
			if err := json.Unmarshal(s.get(fmt.Sprintf("/v1/logs/default/proofs/inclusion?index=0&tree_size=%d", n)), &p); err != nil {
				t.Fatal(err)
			}
			leaf := s.get("/v1/logs/default/events/0")
			var m map[string]json.RawMessage
			json.Unmarshal(leaf, &m)
			var lh string
			json.Unmarshal(m["leaf_hash"], &lh)
			return editBundle(t, good, func(b *proofs.Bundle) {
				raw := rawLeaf(t, leaf)
				b.Entries[0] = proofs.BundleEntry{Index: 0, LeafHash: lh, Leaf: base64.StdEncoding.EncodeToString(raw), InclusionProof: p.Hashes}
			})
		}, vkey, []string{`^index 0: entry: does not match the bundle's query "category:role"$`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := wantCode(t, 1, "verify-bundle", tc.file(), "--key", tc.key)
			for _, w := range tc.want {
				if !regexp.MustCompile("(?m)" + w).MatchString(r.stdout) {
					t.Errorf("no line matches %q:\n%s", w, r.stdout)
				}
			}
			if !regexp.MustCompile(`(?m)^FAILED: \d+ problems$`).MatchString(r.stdout) {
				t.Errorf("no FAILED verdict:\n%s", r.stdout)
			}
		})
	}

	// The Python check of docs/bundle.md, run as written: an independent
	// implementation of the note signature, leaf hash, RFC 9162 proof and
	// sample checks agrees with verify-bundle.
	t.Run("docs python check", func(t *testing.T) {
		script := docsPython(t)
		if err := exec.Command("python3", "-c", "import cryptography").Run(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("python3 with the cryptography package is missing in CI (.ci/run installs it): %v", err)
			}
			t.Skipf("python3 with the cryptography package is not installed (%v); the documented check is not run", err)
		}
		all := filepath.Join(t.TempDir(), "all.txt")
		var list []string
		for i := 1; i < n; i += 2 {
			list = append(list, fmt.Sprint(i))
		}
		os.WriteFile(all, []byte(strings.Join(list, "\n")+"\n"), 0o600)
		py := func(args ...string) (string, int) {
			cmd := exec.Command("python3", append([]string{script}, args...)...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				t.Fatalf("python3: %v", err)
			}
			return string(out), cmd.ProcessState.ExitCode()
		}
		if out, code := py(good, vkey, all); code != 0 || !strings.Contains(out, "ok: 8 entries proved against auditledger.local/default") {
			t.Fatalf("the documented check fails a good bundle: exit %d\n%s", code, out)
		}
		tampered := editBundle(t, good, func(b *proofs.Bundle) {
			h, _ := base64.StdEncoding.DecodeString(b.Entries[4].InclusionProof[0])
			h[0] ^= 1
			b.Entries[4].InclusionProof[0] = base64.StdEncoding.EncodeToString(h)
		})
		if out, code := py(tampered, vkey); code != 1 || !strings.Contains(out, fmt.Sprintf("index %d: the inclusion proof does not lead", idx(4))) {
			t.Fatalf("the documented check passes a flipped proof byte: exit %d\n%s", code, out)
		}
		if out, code := py(good, wrongKey); code != 1 || !strings.Contains(out, "checkpoint: not signed by") {
			t.Fatalf("the documented check passes another key: exit %d\n%s", code, out)
		}
		if out, code := py(good, vkey, short); code != 1 || !strings.Contains(out, "sample:") {
			t.Fatalf("the documented check passes a wrong match list: exit %d\n%s", code, out)
		}
	})

	t.Run("not a bundle", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "junk.json")
		os.WriteFile(p, []byte(strings.Replace(string(data), `"matches":`, `"extra":1,"matches":`, 1)), 0o600)
		r := wantCode(t, 1, "verify-bundle", p, "--key", vkey)
		if !strings.Contains(r.stdout, `member "extra"`) && !strings.Contains(r.stdout, `unknown field "extra"`) {
			t.Errorf("no reason given: %s", r)
		}
		truncated := filepath.Join(t.TempDir(), "cut.json")
		os.WriteFile(truncated, data[:len(data)/2], 0o600)
		wantCode(t, 1, "verify-bundle", truncated, "--key", vkey)
	})

	t.Run("usage errors", func(t *testing.T) {
		wantCode(t, 2, "verify-bundle", good)                                            // no key
		wantCode(t, 2, "verify-bundle", good, "--key", "not-a-key")                      // bad key
		wantCode(t, 2, "verify-bundle", "--key", vkey)                                   // no file
		wantCode(t, 2, "verify-bundle", good, good, "--key", vkey)                       // two files
		wantCode(t, 2, "verify-bundle", filepath.Join(t.TempDir(), "no"), "--key", vkey) // missing file
		wantCode(t, 2, "verify-bundle", good, "--key", vkey, "--matches", filepath.Join(t.TempDir(), "no"))
		wantCode(t, 2, "verify-bundle", good, "--key", vkey, "--bogus")
		r := wantCode(t, 2, append(append([]string{"bundle"}, client...), "--sample", "0")...)
		if !strings.Contains(r.stderr, "sample") {
			t.Errorf("bundle --sample 0 does not name the parameter: %s", r)
		}
		wantCode(t, 2, append(append([]string{"bundle"}, client...), "--seed", "a b")...)
		wantCode(t, 2, append(append([]string{"bundle"}, client...), "colour:red")...)
		wantCode(t, 2, "bundle", "--url", s.url) // no token: 401
	})
}

// rawLeaf is the leaf of an entry as the API serves it: the stored bytes,
// which are the served object without the members the server adds.
func rawLeaf(t *testing.T, served []byte) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(served, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"index", "leaf_hash", "chain_hash", "annotations"} {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := jcs.Transform(b)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// docsPython writes the Python check of docs/bundle.md (the python block
// after the "check_bundle.py" marker) to a file and returns its path.
func docsPython(t *testing.T) string {
	t.Helper()
	md, err := os.ReadFile(filepath.Join("..", "docs", "bundle.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(md), "<!-- check_bundle.py -->\n```python\n")
	code, _, ok2 := strings.Cut(rest, "\n```\n")
	if !ok || !ok2 {
		t.Fatal("docs/bundle.md has no python block after the check_bundle.py marker")
	}
	p := filepath.Join(t.TempDir(), "check_bundle.py")
	if err := os.WriteFile(p, []byte(code+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
