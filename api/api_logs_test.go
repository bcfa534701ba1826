package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestLogObject(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 4))
	h.waitCheckpoint("default", 4)
	for _, who := range []string{"op", "admin", "auditor"} {
		t.Run(who, func(t *testing.T) {
			r := h.do("GET", "/v1/logs/default", h.tok[who], nil)
			want(t, r, http.StatusOK)
			var lo logObject
			decodeStrict(t, r, &lo)
			key := h.do("GET", "/v1/logs/default/key", "", nil)
			if lo.ID != "default" || lo.Origin != "auditledger.local/default" || lo.VerifierKey != strings.TrimSpace(string(key.body)) ||
				lo.Size != 4 || lo.RetentionDays != 0 || lo.Verbose {
				t.Fatalf("log object %s", r)
			}
			v, err := note.NewVerifier(lo.VerifierKey)
			if err != nil {
				t.Fatal(err)
			}
			if c := openNote(t, []byte(lo.Checkpoint), v); c.size != 4 {
				t.Fatalf("log object checkpoint size %d, want 4", c.size)
			}
		})
	}
	checkErr(t, h.do("GET", "/v1/logs/nope", h.tok["op"], nil), http.StatusNotFound, "not_found", "", noPos)

	r := h.do("GET", "/v1/logs", h.tok["op"], nil)
	want(t, r, http.StatusOK)
	var list struct {
		Logs []logObject `json:"logs"`
	}
	decodeStrict(t, r, &list)
	if len(list.Logs) != 2 || list.Logs[0].ID != "default" || list.Logs[1].ID != "other" {
		t.Fatalf("GET /v1/logs: %s", r)
	}
}

func TestCreateLog(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	op := h.tok["op"]
	r := h.do("POST", "/v1/logs", op, map[string]any{"id": "acme-1", "retention_days": 30, "verbose": true})
	want(t, r, http.StatusCreated)
	var lo logObject
	decodeStrict(t, r, &lo)
	if lo.ID != "acme-1" || lo.Origin != "auditledger.local/acme-1" || lo.RetentionDays != 30 || !lo.Verbose {
		t.Fatalf("created log %s", r)
	}
	def := h.verifier("default")
	v := h.verifier("acme-1")
	if lo.VerifierKey == "" || strings.TrimSpace(string(h.do("GET", "/v1/logs/acme-1/key", "", nil).body)) != lo.VerifierKey {
		t.Fatalf("verifier_key %q is not the served key", lo.VerifierKey)
	}
	if v.Name() == def.Name() || v.KeyHash() == def.KeyHash() {
		t.Fatalf("the new log's key %s+%08x is the default log's", v.Name(), v.KeyHash())
	}
	other := h.verifier("other")
	if v.KeyHash() == other.KeyHash() {
		t.Fatal("two logs share a key")
	}
	// The new log's checkpoints are signed by its own key, never the default's.
	c, msg := h.waitCheckpoint("acme-1", 0)
	if _, err := note.Open(msg, note.VerifierList(def)); err == nil {
		t.Fatal("the new log's checkpoint verifies with the default log's key")
	}
	_ = c
	// Its first entry is the audit entry of its creation, by the operator.
	e := h.checkAudit("acme-1", "log:create", h.key["op"].ID)
	if tg, _ := e["target"].(map[string]any); tg["id"] != "acme-1" {
		t.Errorf("log:create target %v", e["target"])
	}
	h.ingest("acme-1", op, events(0, 3))
	h.checkLog("acme-1")
	// A key for the new log works on it.
	r = h.do("POST", "/v1/keys", op, map[string]any{"name": "acme ingest", "role": "ingest", "log": "acme-1"})
	want(t, r, http.StatusCreated)
	var k keyObject
	decodeStrict(t, r, &k)
	h.ingest("acme-1", k.Token, event(9))

	r = h.do("POST", "/v1/logs", op, map[string]any{"id": "plain"})
	want(t, r, http.StatusCreated)
	decodeStrict(t, r, &lo)
	if lo.RetentionDays != 0 || lo.Verbose {
		t.Fatalf("defaults: %s", r)
	}

	before := h.size("default")
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"taken id", map[string]any{"id": "acme-1"}, 409, "exists", ""},
		{"default is taken", map[string]any{"id": "default"}, 409, "exists", ""},
		{"bad id", map[string]any{"id": "Acme_1"}, 400, "invalid_argument", "id"},
		{"id starts with dash", map[string]any{"id": "-acme"}, 400, "invalid_argument", "id"},
		{"id too long", map[string]any{"id": strings.Repeat("a", 64)}, 400, "invalid_argument", "id"},
		{"no id", map[string]any{}, 400, "invalid_argument", "id"},
		{"negative retention", map[string]any{"id": "neg", "retention_days": -1}, 400, "invalid_argument", ""},
		{"unknown field", map[string]any{"id": "unk", "colour": "red"}, 400, "invalid_argument", ""},
		{"wrong type", map[string]any{"id": "wt", "verbose": "yes"}, 400, "invalid_argument", "verbose"},
		{"not JSON", "id=x", 400, "invalid_argument", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do("POST", "/v1/logs", op, tc.body), tc.status, tc.code, tc.field, noPos)
		})
	}
	for _, id := range []string{"neg", "unk", "wt"} {
		checkErr(t, h.do("GET", "/v1/logs/"+id+"/key", "", nil), http.StatusNotFound, "not_found", "", noPos)
	}
	if h.size("default") != before {
		t.Fatal("refused log creations wrote audit entries")
	}
}

func TestPatchLog(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	for _, tc := range []struct {
		name    string
		token   string
		logID   string
		body    any
		retDays int
		verbose bool
		audit   map[string]any // the audit entry's details; nil for none
	}{
		{"verbose on", "admin", "default", map[string]any{"verbose": true}, 0, true,
			map[string]any{"verbose_from": false, "verbose_to": true}},
		{"retention", "admin", "default", map[string]any{"retention_days": 90}, 90, true,
			map[string]any{"retention_days_from": float64(0), "retention_days_to": float64(90)}},
		{"both by operator", "op", "default", map[string]any{"retention_days": 7, "verbose": false}, 7, false,
			map[string]any{"retention_days_from": float64(90), "retention_days_to": float64(7), "verbose_from": true, "verbose_to": false}},
		{"nothing", "admin", "default", map[string]any{}, 7, false, nil},
		{"other log by its admin", "admin-other", "other", map[string]any{"verbose": true}, 0, true,
			map[string]any{"verbose_from": false, "verbose_to": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := h.size(tc.logID)
			r := h.do("PATCH", "/v1/logs/"+tc.logID, h.tok[tc.token], tc.body)
			want(t, r, http.StatusOK)
			var lo logObject
			decodeStrict(t, r, &lo)
			if lo.ID != tc.logID || lo.RetentionDays != tc.retDays || lo.Verbose != tc.verbose {
				t.Fatalf("PATCH answered %s", r)
			}
			r = h.do("GET", "/v1/logs/"+tc.logID, h.tok["op"], nil)
			decodeStrict(t, r, &lo)
			if lo.RetentionDays != tc.retDays || lo.Verbose != tc.verbose {
				t.Fatalf("GET after PATCH: %s", r)
			}
			if tc.audit == nil {
				if h.size(tc.logID) != before {
					t.Fatal("a PATCH that changed nothing wrote an audit entry")
				}
				return
			}
			if h.size(tc.logID) != before+1 {
				t.Fatalf("PATCH wrote %d entries, want 1", h.size(tc.logID)-before)
			}
			e := h.checkAudit(tc.logID, "settings:update", h.key[tc.token].ID)
			got, _ := json.Marshal(e["details"])
			w, _ := json.Marshal(tc.audit)
			if !bytes.Equal(got, w) {
				t.Errorf("settings:update details %s, want %s", got, w)
			}
		})
	}
	h.checkLog("default")
	h.checkLog("other")

	before := h.size("default")
	for _, tc := range []struct {
		name   string
		logID  string
		body   any
		status int
		code   string
		field  string
	}{
		{"negative retention", "default", map[string]any{"retention_days": -1}, 400, "invalid_argument", "retention_days"},
		{"unknown field", "default", map[string]any{"id": "x"}, 400, "invalid_argument", ""},
		{"wrong type", "default", map[string]any{"verbose": 1}, 400, "invalid_argument", "verbose"},
		{"not JSON", "default", "verbose", 400, "invalid_argument", ""},
		{"trailing data", "default", `{"verbose":true} {}`, 400, "invalid_argument", ""},
		{"unknown log", "nope", map[string]any{"verbose": true}, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do("PATCH", "/v1/logs/"+tc.logID, h.tok["op"], tc.body), tc.status, tc.code, tc.field, noPos)
		})
	}
	if h.size("default") != before {
		t.Fatal("refused PATCHes wrote audit entries")
	}
}
