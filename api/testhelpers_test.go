package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/api"
	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// quiet is the logger of every server under test.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// harness is one real server: a ledger on a fresh data directory under
// t.TempDir(), the API on a 127.0.0.1 listener, and a set of keys made
// directly in the ledger (so that setting up writes no audit entries).
type harness struct {
	t   *testing.T
	l   *ledger.Ledger
	srv *httptest.Server
	// tok and key are by name: op (operator); admin, auditor, ingest,
	// ingest2 (log default); admin-other, auditor-other, ingest-other (log
	// other).
	tok map[string]string
	key map[string]*ledger.APIKey
}

type harnessOpts struct {
	checkpointInterval time.Duration
	maxBody            int64
	waitTimeout        time.Duration
	blockCacheBytes    int64 // 0: the ledger's default
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	ctx := context.Background()
	if o.checkpointInterval == 0 {
		o.checkpointInterval = 20 * time.Millisecond
	}
	if o.maxBody == 0 {
		o.maxBody = 4 << 20
	}
	if o.waitTimeout == 0 {
		o.waitTimeout = 10 * time.Second
	}
	l, err := ledger.Open(ctx, ledger.Config{Dir: t.TempDir(), CheckpointInterval: o.checkpointInterval, Logger: quiet,
		BlockCacheBytes: o.blockCacheBytes})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, l: l, tok: map[string]string{}, key: map[string]*ledger.APIKey{}}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close ledger: %v", err)
		}
	})
	if _, err := l.CreateLog(ctx, "other", ledger.LogSettings{}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		name string
		role ledger.Role
		log  string
	}{
		{"op", ledger.RoleOperator, ""},
		{"admin", ledger.RoleAdmin, "default"},
		{"auditor", ledger.RoleAuditor, "default"},
		{"ingest", ledger.RoleIngest, "default"},
		{"ingest2", ledger.RoleIngest, "default"},
		{"admin-other", ledger.RoleAdmin, "other"},
		{"auditor-other", ledger.RoleAuditor, "other"},
		{"ingest-other", ledger.RoleIngest, "other"},
	} {
		key, tok, err := l.CreateKey(ctx, k.name, k.role, k.log)
		if err != nil {
			t.Fatal(err)
		}
		h.tok[k.name], h.key[k.name] = tok, key
	}
	s, err := api.New(ctx, api.Config{Ledger: l, MaxBody: o.maxBody, WaitTimeout: o.waitTimeout, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(s) // 127.0.0.1:0
	t.Cleanup(h.srv.Close)
	if !strings.HasPrefix(h.srv.URL, "http://127.0.0.1:") {
		t.Fatalf("server is not on a 127.0.0.1 listener: %s", h.srv.URL)
	}
	return h
}

// reply is one HTTP answer.
type reply struct {
	status int
	hdr    http.Header
	body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// do sends a request. token "" sends no Authorization header; a token
// starting with "raw:" sends the rest as the whole header value. body is
// nil, a []byte or string sent as is, or a value sent as JSON. hdr holds
// header name/value pairs.
func (h *harness) do(method, path, token string, body any, hdr ...string) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if raw, ok := strings.CutPrefix(token, "raw:"); ok {
		req.Header.Set("Authorization", raw)
	} else if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, hdr: resp.Header, body: b}
}

// decodeStrict decodes an answer's JSON into v, refusing fields v lacks.
func decodeStrict(t *testing.T, r reply, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("answer %s does not decode into %T: %v", r, v, err)
	}
}

// want checks an answer's status.
func want(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, bytes.TrimSpace(r.body))
	}
}

// apiErr is the SPEC §4 error object.
type apiErr struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	Field    string `json:"field"`
	Position *int   `json:"position"`
}

// noPos is the position of an error that must carry none.
const noPos = -1

// checkErr checks that r is an error answer of the SPEC's exact shape,
// {"error": {"code", "message", "field"?, "position"?}}, with this status,
// code (any, when empty), field (none, when empty) and position (none,
// when noPos).
func checkErr(t *testing.T, r reply, status int, code, field string, pos int) apiErr {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, bytes.TrimSpace(r.body))
	}
	if ct := r.hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q, want application/json", ct)
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &outer); err != nil {
		t.Fatalf("error body %q is not a JSON object: %v", r.body, err)
	}
	if len(outer) != 1 || outer["error"] == nil {
		t.Fatalf("error body %s: want exactly one member, \"error\"", r.body)
	}
	var e apiErr
	dec := json.NewDecoder(bytes.NewReader(outer["error"]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error object %s: %v", outer["error"], err)
	}
	if e.Code == "" || e.Message == "" {
		t.Errorf("error object %s: code and message must be non-empty", outer["error"])
	}
	if code != "" && e.Code != code {
		t.Errorf("error code %q, want %q (%s)", e.Code, code, e.Message)
	}
	if e.Field != field {
		t.Errorf("error field %q, want %q (%s)", e.Field, field, e.Message)
	}
	switch {
	case pos == noPos && e.Position != nil:
		t.Errorf("error position %d, want none (%s)", *e.Position, e.Message)
	case pos != noPos && (e.Position == nil || *e.Position != pos):
		t.Errorf("error position %v, want %d (%s)", e.Position, pos, e.Message)
	}
	return e
}

// isErrorObject reports whether body is an error answer's object,
// {"error": {"code", "message", …}}, with a non-empty code and message. It
// is the loose check for fuzz targets; checkErr is the exact one.
func isErrorObject(body []byte) bool {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	return json.Unmarshal(body, &e) == nil && e.Error.Code != "" && e.Error.Message != ""
}

// badQuery is a query string that a read route must refuse with 400
// invalid_argument naming field.
type badQuery struct{ name, query, field string }

// checkBadQueries asks for path?query with the auditor's token, one subtest
// a case, and wants each refused with 400 invalid_argument naming its field.
func (h *harness) checkBadQueries(t *testing.T, path string, cases []badQuery) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("GET", path+"?"+tc.query, h.tok["auditor"], nil)
			checkErr(t, r, http.StatusBadRequest, "invalid_argument", tc.field, noPos)
		})
	}
}

// event is a valid client event, different for each i.
func event(i int) map[string]any {
	return map[string]any{
		"category": "role",
		"action":   "role:assign",
		"actor":    map[string]any{"type": "user", "id": "u" + strconv.Itoa(i), "email": "ann@example.com"},
		"target":   map[string]any{"type": "user", "id": "t" + strconv.Itoa(i), "name": "Bob"},
		"ip":       "::ffff:10.0.0.1",
		"details":  map[string]any{"role_from": "member", "role_to": "admin", "n": i},
	}
}

func events(from, n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = event(from + i)
	}
	return out
}

// appended is one element of an ingest answer's entries.
type appended struct {
	Index          *uint64  `json:"index"`
	LeafHash       string   `json:"leaf_hash"`
	ReceivedAt     string   `json:"received_at"`
	Skipped        string   `json:"skipped"`
	InclusionProof []string `json:"inclusion_proof"`
}

type ingestReply struct {
	Entries    []appended `json:"entries"`
	Checkpoint string     `json:"checkpoint"`
}

// ingest posts body to a log's events with token and wants a 201.
func (h *harness) ingest(logID, token string, body any, hdr ...string) (ingestReply, reply) {
	h.t.Helper()
	r := h.do("POST", "/v1/logs/"+logID+"/events", token, body, hdr...)
	want(h.t, r, http.StatusCreated)
	var out ingestReply
	decodeStrict(h.t, r, &out)
	return out, r
}

// size is a log's committed size, read through the API.
func (h *harness) size(logID string) uint64 {
	h.t.Helper()
	r := h.do("GET", "/v1/logs/"+logID, h.tok["op"], nil)
	want(h.t, r, http.StatusOK)
	var lo logObject
	decodeStrict(h.t, r, &lo)
	return lo.Size
}

type logObject struct {
	ID            string `json:"id"`
	Origin        string `json:"origin"`
	VerifierKey   string `json:"verifier_key"`
	Size          uint64 `json:"size"`
	Checkpoint    string `json:"checkpoint"`
	RetentionDays int    `json:"retention_days"`
	Verbose       bool   `json:"verbose"`
	// SPEC §6 (witness_test.go).
	Witnesses     []witnessObject `json:"witnesses"`
	WitnessQuorum int             `json:"witness_quorum"`
	WitnessedSize uint64          `json:"witnessed_size"`
}

// verifier fetches a log's public note verifier key.
func (h *harness) verifier(logID string) note.Verifier {
	h.t.Helper()
	r := h.do("GET", "/v1/logs/"+logID+"/key", "", nil)
	want(h.t, r, http.StatusOK)
	if !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/plain") {
		h.t.Errorf("key Content-Type %q, want text/plain", r.hdr.Get("Content-Type"))
	}
	v, err := note.NewVerifier(strings.TrimSpace(string(r.body)))
	if err != nil {
		h.t.Fatalf("key %q: %v", r.body, err)
	}
	return v
}

// checkpoint is a checkpoint note, verified and parsed by this test's own
// code, not the proofs package.
type checkpoint struct {
	origin string
	size   uint64
	root   tlog.Hash
	chain  tlog.Hash
}

// openNote verifies a checkpoint note with v (golang.org/x/mod/sumdb/note)
// and parses its body as SPEC §3 writes it.
func openNote(t *testing.T, msg []byte, v note.Verifier) checkpoint {
	t.Helper()
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint note %q does not verify: %v", msg, err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != v.Name() {
		t.Fatalf("checkpoint note signatures %+v, want one by %s", n.Sigs, v.Name())
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 5 || lines[4] != "" || !strings.HasPrefix(lines[3], "chain ") {
		t.Fatalf("checkpoint body %q: want origin, size, root, chain lines", n.Text)
	}
	var c checkpoint
	c.origin = lines[0]
	if c.origin != v.Name() {
		t.Errorf("checkpoint origin %q, key name %q", c.origin, v.Name())
	}
	if c.size, err = strconv.ParseUint(lines[1], 10, 64); err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	c.root = decodeHash(t, lines[2])
	c.chain = decodeHash(t, strings.TrimPrefix(lines[3], "chain "))
	return c
}

func decodeHash(t *testing.T, s string) tlog.Hash {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("hash %q is not 32 bytes of standard base64 (%v)", s, err)
	}
	return tlog.Hash(b)
}

func decodeHashes(t *testing.T, ss []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(ss))
	for i, s := range ss {
		h := decodeHash(t, s)
		out[i] = h[:]
	}
	return out
}

// waitCheckpoint polls a log's public checkpoint until it covers at least
// size entries, and returns it verified, with the note.
func (h *harness) waitCheckpoint(logID string, size uint64) (checkpoint, []byte) {
	h.t.Helper()
	v := h.verifier(logID)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := h.do("GET", "/v1/logs/"+logID+"/checkpoint", "", nil)
		want(h.t, r, http.StatusOK)
		c := openNote(h.t, r.body, v)
		if c.size >= size {
			return c, r.body
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no checkpoint of log %s covers %d entries after 5s (latest: %d)", logID, size, c.size)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refTree is a reference Merkle tree built with golang.org/x/mod/sumdb/tlog,
// an implementation the project did not write.
type refTree struct {
	stored []tlog.Hash
	leaves []tlog.Hash
}

func (r *refTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(r.stored)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = r.stored[x]
	}
	return out, nil
}

func (r *refTree) add(t *testing.T, leaf []byte) tlog.Hash {
	t.Helper()
	hs, err := tlog.StoredHashes(int64(len(r.leaves)), leaf, r)
	if err != nil {
		t.Fatal(err)
	}
	r.stored = append(r.stored, hs...)
	lh := tlog.RecordHash(leaf)
	r.leaves = append(r.leaves, lh)
	return lh
}

// root is the RFC 6962 root of the first n leaves (SHA-256("") when empty;
// tlog answers zero there).
func (r *refTree) root(t *testing.T, n uint64) tlog.Hash {
	t.Helper()
	if n == 0 {
		return sha256.Sum256(nil)
	}
	th, err := tlog.TreeHash(int64(n), r)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// entryLeaf rebuilds the leaf from an entry object as the API serves it:
// drop what the server adds when serving and take the RFC 8785 form. It
// returns the leaf and the dropped members.
func entryLeaf(t *testing.T, body []byte) ([]byte, map[string]json.RawMessage) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("entry %s: %v", body, err)
	}
	extra := map[string]json.RawMessage{}
	for _, k := range []string{"index", "leaf_hash", "chain_hash", "annotations"} {
		if v, ok := m[k]; ok {
			extra[k] = v
			delete(m, k)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := jcs.Transform(b)
	if err != nil {
		t.Fatal(err)
	}
	return leaf, extra
}

// logView is what checkLog learnt about a log.
type logView struct {
	size    uint64
	tree    *refTree
	entries []map[string]any // each served entry, decoded
	leaves  [][]byte
	cp      checkpoint
}

// checkLog re-verifies a whole log through the API, after every step of a
// test: every entry as served is the stored leaf plus index, leaf_hash and
// chain_hash; the leaf hashes and the chain recompute; the tree built with
// sumdb/tlog has the root of the latest signed checkpoint (once one covers
// the log); every inclusion proof at the full size, and a consistency proof
// from every smaller size, check out with tlog; and GET verify says ok.
func (h *harness) checkLog(logID string) logView {
	h.t.Helper()
	t := h.t
	op := h.tok["op"]
	n := h.size(logID)
	view := logView{size: n, tree: &refTree{}}
	var chain [32]byte
	for i := uint64(0); i < n; i++ {
		r := h.do("GET", fmt.Sprintf("/v1/logs/%s/events/%d", logID, i), op, nil)
		want(t, r, http.StatusOK)
		leaf, extra := entryLeaf(t, r.body)
		rec, err := h.l.Read(logID, i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(leaf, rec.Leaf) {
			t.Fatalf("entry %d as served:\n%s\nis not the stored leaf plus index, leaf_hash, chain_hash:\n%s", i, r.body, rec.Leaf)
		}
		if string(extra["index"]) != strconv.FormatUint(i, 10) {
			t.Fatalf("entry %d: index %s", i, extra["index"])
		}
		if _, ok := extra["annotations"]; !ok {
			t.Fatalf("entry %d: no annotations list", i)
		}
		lh := view.tree.add(t, leaf)
		if proofs.LeafHash(leaf) != lh {
			t.Fatalf("entry %d: proofs.LeafHash disagrees with tlog.RecordHash", i)
		}
		var s string
		_ = json.Unmarshal(extra["leaf_hash"], &s)
		if decodeHash(t, s) != lh {
			t.Fatalf("entry %d: leaf_hash %s, recomputed %s", i, s, base64.StdEncoding.EncodeToString(lh[:]))
		}
		chain = sha256.Sum256(append(chain[:], lh[:]...))
		_ = json.Unmarshal(extra["chain_hash"], &s)
		if decodeHash(t, s) != chain {
			t.Fatalf("entry %d: chain_hash %s, recomputed %s", i, s, base64.StdEncoding.EncodeToString(chain[:]))
		}
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		view.entries = append(view.entries, m)
		view.leaves = append(view.leaves, leaf)
	}

	cp, _ := h.waitCheckpoint(logID, n)
	if cp.size != n {
		t.Fatalf("checkpoint size %d, log size %d", cp.size, n)
	}
	if root := view.tree.root(t, n); cp.root != root {
		t.Fatalf("checkpoint root %v, tlog root %v", cp.root, root)
	}
	if cp.chain != chain {
		t.Fatalf("checkpoint chain %v, recomputed %v", cp.chain, tlog.Hash(chain))
	}
	view.cp = cp

	th := view.tree.root(t, n)
	for i := uint64(0); i < n; i++ {
		r := h.do("GET", fmt.Sprintf("/v1/logs/%s/proofs/inclusion?index=%d&tree_size=%d", logID, i, n), op, nil)
		want(t, r, http.StatusOK)
		var p inclusionReply
		decodeStrict(t, r, &p)
		var rp tlog.RecordProof
		for _, x := range decodeHashes(t, p.Hashes) {
			rp = append(rp, tlog.Hash(x))
		}
		if err := tlog.CheckRecord(rp, int64(n), th, int64(i), view.tree.leaves[i]); err != nil {
			t.Fatalf("inclusion proof of %d in %d: tlog.CheckRecord: %v", i, n, err)
		}
	}
	for m := uint64(1); m < n; m++ {
		r := h.do("GET", fmt.Sprintf("/v1/logs/%s/proofs/consistency?from=%d&to=%d", logID, m, n), "", nil)
		want(t, r, http.StatusOK)
		var p consistencyReply
		decodeStrict(t, r, &p)
		var tp tlog.TreeProof
		for _, x := range decodeHashes(t, p.Hashes) {
			tp = append(tp, tlog.Hash(x))
		}
		if err := tlog.CheckTree(tp, int64(n), th, int64(m), view.tree.root(t, m)); err != nil {
			t.Fatalf("consistency proof %d→%d: tlog.CheckTree: %v", m, n, err)
		}
	}

	r := h.do("GET", "/v1/logs/"+logID+"/verify", op, nil)
	want(t, r, http.StatusOK)
	var vr verifyReply
	decodeStrict(t, r, &vr)
	if !vr.OK || vr.Size != n || len(vr.Problems) != 0 || vr.Problems == nil {
		t.Fatalf("verify: %s", r)
	}
	if decodeHash(t, vr.Root) != th || decodeHash(t, vr.ChainHead) != chain {
		t.Fatalf("verify root/chain_head %s/%s, recomputed %v/%v", vr.Root, vr.ChainHead, th, tlog.Hash(chain))
	}
	return view
}

type inclusionReply struct {
	Index      uint64   `json:"index"`
	TreeSize   uint64   `json:"tree_size"`
	LeafHash   string   `json:"leaf_hash"`
	Hashes     []string `json:"hashes"`
	Checkpoint string   `json:"checkpoint"`
}

type consistencyReply struct {
	From   uint64   `json:"from"`
	To     uint64   `json:"to"`
	Hashes []string `json:"hashes"`
}

type verifyReply struct {
	OK        bool             `json:"ok"`
	Size      uint64           `json:"size"`
	Root      string           `json:"root"`
	ChainHead string           `json:"chain_head"`
	Problems  []ledger.Problem `json:"problems"`
}

// lastEntry is the newest entry of a log, as served.
func (h *harness) lastEntry(logID string) (uint64, map[string]any) {
	h.t.Helper()
	n := h.size(logID)
	if n == 0 {
		h.t.Fatalf("log %s is empty", logID)
	}
	r := h.do("GET", fmt.Sprintf("/v1/logs/%s/events/%d", logID, n-1), h.tok["op"], nil)
	want(h.t, r, http.StatusOK)
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		h.t.Fatal(err)
	}
	return n - 1, m
}

// checkAudit checks that the newest entry of logID is a server-written
// audit entry for action, with the key keyID as actor, and returns it.
func (h *harness) checkAudit(logID, action, keyID string) map[string]any {
	h.t.Helper()
	_, e := h.lastEntry(logID)
	if e["category"] != "audit" || e["action"] != action {
		h.t.Fatalf("newest entry of %s is %v/%v, want audit/%s: %v", logID, e["category"], e["action"], action, e)
	}
	actor, _ := e["actor"].(map[string]any)
	if actor["type"] != "api_key" || actor["id"] != keyID || actor["api_key_id"] != keyID {
		h.t.Fatalf("audit entry %s: actor %v, want the calling key %s", action, actor, keyID)
	}
	if e["log"] != logID {
		h.t.Fatalf("audit entry %s: log %v, want %s", action, e["log"], logID)
	}
	return e
}

// flipEach calls check once for every byte of every hash with one bit of
// that byte flipped, and wants check to fail each time.
func flipEach(t *testing.T, hashes [][]byte, what string, check func([][]byte) error) {
	t.Helper()
	for i := range hashes {
		for j := range hashes[i] {
			mod := make([][]byte, len(hashes))
			for k := range hashes {
				mod[k] = slices.Clone(hashes[k])
			}
			mod[i][j] ^= 1
			if check(mod) == nil {
				t.Fatalf("%s: still verifies with byte %d of hash %d flipped", what, j, i)
			}
		}
	}
}
