package cli_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestRevokedBootstrapTokenStaysRevoked: the key AUDITLEDGER_ADMIN_TOKEN
// made is revoked through the API; a restart with the same token set does
// not bring it back. The server starts, says so in its log, and the token
// gets 401.
func TestRevokedBootstrapTokenStaysRevoked(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	var keys struct {
		Keys []struct {
			ID      string `json:"id"`
			Role    string `json:"role"`
			Revoked bool   `json:"revoked"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(s.get("/v1/keys"), &keys); err != nil {
		t.Fatal(err)
	}
	boot := ""
	for _, k := range keys.Keys {
		if strings.HasPrefix(k.ID, "boot") && k.Role == "operator" {
			boot = k.ID
		}
	}
	if boot == "" {
		t.Fatalf("no bootstrap operator key among %+v", keys.Keys)
	}
	if code, body := s.do("DELETE", "/v1/keys/"+boot, adminToken); code != http.StatusOK {
		t.Fatalf("DELETE /v1/keys/%s: %d %s", boot, code, body)
	}
	if code, _ := s.do("GET", "/v1/logs", adminToken); code != http.StatusUnauthorized {
		t.Fatalf("the revoked token: %d, want 401", code)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, s.log())
	}

	s = startServer(t, dir) // the same token in AUDITLEDGER_ADMIN_TOKEN
	defer s.stop()
	// Logged before the "listening" line, which startServer waited for.
	if !regexp.MustCompile(`level=WARN .*admin token's key was revoked`).MatchString(s.log()) {
		t.Errorf("no warning about the revoked admin token:\n%s", s.log())
	}
	if code, body := s.do("GET", "/v1/logs", adminToken); code != http.StatusUnauthorized {
		t.Fatalf("the revoked token after a restart: %d %s, want 401", code, body)
	}
}
