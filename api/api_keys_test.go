package api_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

type keyObject struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Log     string `json:"log"`
	Created string `json:"created"`
	Revoked bool   `json:"revoked"`
	Token   string `json:"token"`
}

func TestKeys(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	made := map[string]keyObject{}
	for _, tc := range []struct {
		name     string
		caller   string
		body     map[string]any
		auditLog string
	}{
		{"operator makes an ingest key", "op", map[string]any{"name": "svc", "role": "ingest", "log": "default"}, "default"},
		{"operator makes an operator key", "op", map[string]any{"name": "op2", "role": "operator"}, "default"},
		{"operator makes an admin for other", "op", map[string]any{"name": "adm", "role": "admin", "log": "other"}, "other"},
		{"admin makes an auditor", "admin", map[string]any{"name": "aud", "role": "auditor", "log": "default"}, "default"},
		{"admin makes an admin", "admin", map[string]any{"name": "adm2", "role": "admin", "log": "default"}, "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do("POST", "/v1/keys", h.tok[tc.caller], tc.body)
			want(t, r, http.StatusCreated)
			var k keyObject
			decodeStrict(t, r, &k)
			wantLog, _ := tc.body["log"].(string)
			if k.ID == "" || k.Name != tc.body["name"] || k.Role != tc.body["role"] || k.Log != wantLog || k.Revoked || k.Token == "" {
				t.Fatalf("created key %s", r)
			}
			if _, err := time.Parse(time.RFC3339, k.Created); err != nil {
				t.Errorf("created %q: %v", k.Created, err)
			}
			e := h.checkAudit(tc.auditLog, "api_key:create", h.key[tc.caller].ID)
			if tg, _ := e["target"].(map[string]any); tg["type"] != "api_key" || tg["id"] != k.ID {
				t.Errorf("api_key:create target %v, want the new key %s", e["target"], k.ID)
			}
			if strings.Contains(fmt.Sprint(e), k.Token) {
				t.Error("the audit entry holds the token")
			}
			made[tc.body["name"].(string)] = k
		})
	}
	// The new tokens work, each within its role.
	h.ingest("default", made["svc"].Token, event(0))
	want(t, h.do("GET", "/v1/logs", made["op2"].Token, nil), http.StatusOK)
	want(t, h.do("PATCH", "/v1/logs/other", made["adm"].Token, map[string]any{}), http.StatusOK)
	want(t, h.do("GET", "/v1/logs/default/events/0", made["aud"].Token, nil), http.StatusOK)
	checkErr(t, h.do("POST", "/v1/logs/default/events", made["aud"].Token, event(1)), http.StatusForbidden, "forbidden", "", noPos)

	t.Run("list", func(t *testing.T) {
		for _, tc := range []struct {
			caller string
			query  string
			want   []string
		}{
			{"op", "", []string{"op", "admin", "auditor", "ingest", "ingest2", "admin-other", "auditor-other", "ingest-other", "svc", "op2", "adm", "aud", "adm2"}},
			{"op", "?log=other", []string{"admin-other", "auditor-other", "ingest-other", "adm"}},
			{"admin", "", []string{"admin", "auditor", "ingest", "ingest2", "svc", "aud", "adm2"}},
			{"admin", "?log=other", []string{"admin", "auditor", "ingest", "ingest2", "svc", "aud", "adm2"}},
			{"admin-other", "", []string{"admin-other", "auditor-other", "ingest-other", "adm"}},
		} {
			r := h.do("GET", "/v1/keys"+tc.query, h.tok[tc.caller], nil)
			want(t, r, http.StatusOK)
			var list struct {
				Keys []keyObject `json:"keys"`
			}
			decodeStrict(t, r, &list)
			var names []string
			for _, k := range list.Keys {
				names = append(names, k.Name)
				if k.Token != "" {
					t.Errorf("GET /v1/keys shows key %s's token", k.Name)
				}
			}
			for _, k := range made {
				if bytes.Contains(r.body, []byte(k.Token)) || bytes.Contains(r.body, []byte(strings.SplitN(k.Token, "_", 3)[2])) {
					t.Errorf("GET /v1/keys holds the secret of %s", k.Name)
				}
			}
			if bytes.Contains(r.body, []byte("secret")) {
				t.Errorf("GET /v1/keys shows secret hashes: %s", r.body)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("%s GET /v1/keys%s: %v, want %v", tc.caller, tc.query, names, tc.want)
			}
		}
	})

	t.Run("revoke", func(t *testing.T) {
		for _, tc := range []struct {
			name, caller, victim, log string
		}{
			{"operator revokes", "op", "svc", "default"},
			{"admin revokes in its log", "admin", "aud", "default"},
			{"operator revokes an operator", "op", "op2", "default"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok := made[tc.victim].Token
				if r := h.do("GET", "/v1/logs/default/events/0", tok, nil); r.status == http.StatusUnauthorized {
					t.Fatalf("the key is dead before it was revoked: %s", r)
				}
				r := h.do("DELETE", "/v1/keys/"+made[tc.victim].ID, h.tok[tc.caller], nil)
				want(t, r, http.StatusOK)
				var k keyObject
				decodeStrict(t, r, &k)
				if !k.Revoked || k.ID != made[tc.victim].ID || k.Token != "" {
					t.Fatalf("revoke answered %s", r)
				}
				e := h.checkAudit(tc.log, "api_key:revoke", h.key[tc.caller].ID)
				if tg, _ := e["target"].(map[string]any); tg["id"] != k.ID {
					t.Errorf("api_key:revoke target %v", e["target"])
				}
				// Dead at once, on every route.
				for _, p := range []struct{ method, path string }{
					{"GET", "/v1/logs/default/events/0"}, {"POST", "/v1/logs/default/events"}, {"GET", "/v1/keys"}, {"GET", "/audit/verify"},
				} {
					checkErr(t, h.do(p.method, p.path, tok, event(2)), http.StatusUnauthorized, "unauthenticated", "", noPos)
				}
				r = h.do("GET", "/v1/keys", h.tok["op"], nil)
				var list struct {
					Keys []keyObject `json:"keys"`
				}
				decodeStrict(t, r, &list)
				for _, lk := range list.Keys {
					if lk.ID == k.ID && !lk.Revoked {
						t.Error("GET /v1/keys shows the revoked key as live")
					}
				}
			})
		}
	})

	before, beforeOther := h.size("default"), h.size("other")
	for _, tc := range []struct {
		name   string
		caller string
		method string
		path   string
		body   any
		status int
		code   string
		field  string
	}{
		{"bad role", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "root", "log": "default"}, 400, "invalid_argument", "role"},
		{"no name", "op", "POST", "/v1/keys", map[string]any{"role": "ingest", "log": "default"}, 400, "invalid_argument", "name"},
		{"no log", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "ingest"}, 400, "invalid_argument", "log"},
		{"operator key with a log", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "operator", "log": "default"}, 400, "invalid_argument", ""},
		{"unknown log", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "ingest", "log": "nope"}, 404, "not_found", ""},
		{"unknown field", "op", "POST", "/v1/keys", map[string]any{"name": "x", "role": "ingest", "log": "default", "token": "mine"}, 400, "invalid_argument", ""},
		{"wrong type", "op", "POST", "/v1/keys", map[string]any{"name": 1, "role": "ingest", "log": "default"}, 400, "invalid_argument", "name"},
		{"admin makes an operator", "admin", "POST", "/v1/keys", map[string]any{"name": "x", "role": "operator"}, 403, "forbidden", ""},
		{"admin makes a key for another log", "admin", "POST", "/v1/keys", map[string]any{"name": "x", "role": "ingest", "log": "other"}, 403, "forbidden", ""},
		{"revoke unknown key", "op", "DELETE", "/v1/keys/0123456789abcdef", nil, 404, "not_found", ""},
		{"admin revokes another log's key", "admin", "DELETE", "/v1/keys/" + h.key["ingest-other"].ID, nil, 404, "not_found", ""},
		{"admin revokes an operator key", "admin", "DELETE", "/v1/keys/" + h.key["op"].ID, nil, 404, "not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, h.do(tc.method, tc.path, h.tok[tc.caller], tc.body), tc.status, tc.code, tc.field, noPos)
		})
	}
	if h.size("default") != before || h.size("other") != beforeOther {
		t.Fatalf("refused key requests wrote audit entries: default %d→%d, other %d→%d", before, h.size("default"), beforeOther, h.size("other"))
	}
	// The keys refused above still work.
	want(t, h.do("GET", "/v1/logs/other", h.tok["auditor-other"], nil), http.StatusOK)
	want(t, h.do("GET", "/v1/logs", h.tok["op"], nil), http.StatusOK)
	h.checkLog("default")
	h.checkLog("other")
}

// TestAuth holds the role rules on every authenticated route: no token and
// a bad token are 401, a key without the right is 403, and none of it
// changes anything.
func TestAuth(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	h.ingest("default", h.tok["ingest"], events(0, 2))
	h.ingest("other", h.tok["ingest-other"], events(0, 2))
	h.waitCheckpoint("default", 2)
	sizes := func() [2]uint64 { return [2]uint64{h.size("default"), h.size("other")} }
	before := sizes()
	nkeys := len(h.do("GET", "/v1/keys", h.tok["op"], nil).body)

	ingestKey := map[string]any{"name": "x", "role": "ingest", "log": "default"}
	for _, tc := range []struct {
		route     string
		method    string
		path      string
		body      any
		forbidden []string // each must get a 403
		allowed   []string // each must get past auth (neither 401 nor 403)
	}{
		{"create log", "POST", "/v1/logs", map[string]any{"id": "zz"}, []string{"admin", "auditor", "ingest", "admin-other"}, nil},
		{"list logs", "GET", "/v1/logs", nil, []string{"admin", "auditor", "ingest"}, []string{"op"}},
		{"create key", "POST", "/v1/keys", ingestKey, []string{"auditor", "ingest", "admin-other", "auditor-other", "ingest-other"}, nil},
		{"create operator key", "POST", "/v1/keys", map[string]any{"name": "x", "role": "operator"}, []string{"admin", "auditor", "ingest"}, nil},
		{"list keys", "GET", "/v1/keys", nil, []string{"auditor", "ingest", "auditor-other"}, []string{"op", "admin", "admin-other"}},
		{"revoke key", "DELETE", "/v1/keys/" + h.key["ingest2"].ID, nil, []string{"auditor", "ingest", "ingest2"}, nil},
		{"audit verify", "GET", "/audit/verify", nil, []string{"ingest", "ingest-other"}, []string{"op", "admin", "auditor"}},
		{"append", "POST", "/v1/logs/default/events", events(10, 1), []string{"auditor", "admin-other", "auditor-other", "ingest-other"}, nil},
		{"log object", "GET", "/v1/logs/default", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"patch log", "PATCH", "/v1/logs/default", map[string]any{"verbose": true}, []string{"auditor", "ingest", "admin-other"}, nil},
		{"events", "GET", "/v1/logs/default/events", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"audit events", "GET", "/audit?since=1h", nil, []string{"ingest", "ingest-other"}, []string{"op", "admin", "auditor"}},
		{"entry", "GET", "/v1/logs/default/events/0", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"annotate", "POST", "/v1/logs/default/events/0/annotations", map[string]any{"text": "x"}, []string{"auditor", "ingest", "admin-other"}, nil},
		{"inclusion", "GET", "/v1/logs/default/proofs/inclusion?index=0", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"verify", "GET", "/v1/logs/default/verify", nil, []string{"ingest", "admin-other", "auditor-other"}, []string{"op", "admin", "auditor"}},
		{"other log's entry", "GET", "/v1/logs/other/events/0", nil, []string{"admin", "auditor", "ingest"}, []string{"admin-other", "auditor-other"}},
		{"append to other log", "POST", "/v1/logs/other/events", events(10, 1), []string{"admin", "ingest", "auditor-other"}, nil},
		{"unknown log", "GET", "/v1/logs/nope", nil, []string{"admin", "auditor"}, nil},
	} {
		t.Run(tc.route, func(t *testing.T) {
			for _, a := range []struct{ name, token, www string }{
				{"no token", "", `Bearer realm="auditledger"`},
				{"bad token", "alk_0123456789abcdef_notthesecret", `Bearer realm="auditledger", error="invalid_token"`},
				{"made-up token", "not-a-token-at-all", `Bearer realm="auditledger", error="invalid_token"`},
				{"another key's secret", "alk_" + h.key["admin"].ID + "_" + strings.SplitN(h.tok["ingest"], "_", 3)[2], `Bearer realm="auditledger", error="invalid_token"`},
				{"basic auth", "raw:Basic b3A6b3A=", `Bearer realm="auditledger"`},
				{"bearer without token", "raw:Bearer ", `Bearer realm="auditledger"`},
				{"token without Bearer", "raw:" + h.tok["op"], `Bearer realm="auditledger"`},
			} {
				r := h.do(tc.method, tc.path, a.token, tc.body)
				checkErr(t, r, http.StatusUnauthorized, "unauthenticated", "", noPos)
				if got := r.hdr.Get("WWW-Authenticate"); got != a.www {
					t.Errorf("%s: WWW-Authenticate %q, want %q", a.name, got, a.www)
				}
			}
			for _, who := range tc.forbidden {
				r := h.do(tc.method, tc.path, h.tok[who], tc.body)
				if r.status != http.StatusForbidden {
					t.Errorf("%s: %s, want 403", who, r)
					continue
				}
				checkErr(t, r, http.StatusForbidden, "forbidden", "", noPos)
			}
			for _, who := range tc.allowed {
				if r := h.do(tc.method, tc.path, h.tok[who], tc.body); r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("%s: %s, want it let through", who, r)
				}
			}
		})
	}
	if got := sizes(); got != before {
		t.Fatalf("refused requests changed the logs: sizes %v → %v", before, got)
	}
	if n := len(h.do("GET", "/v1/keys", h.tok["op"], nil).body); n != nkeys {
		t.Fatal("refused requests changed the keys")
	}
	checkErr(t, h.do("GET", "/v1/logs/zz", h.tok["op"], nil), http.StatusNotFound, "not_found", "", noPos)
	// The ingest2 key survived every refused revoke.
	h.ingest("default", h.tok["ingest2"], event(20))
}
