package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/auditledger/auditledger/ledger"
)

const keyCtx = "auditledger.key"

// rank orders the roles: a key may do what its role and every lower one may.
var rank = map[ledger.Role]int{ledger.RoleIngest: 1, ledger.RoleAuditor: 2, ledger.RoleAdmin: 3, ledger.RoleOperator: 4}

// canDo reports whether a key of role have may act with role need. Ingest
// and auditor are disjoint: an ingest key cannot read, an auditor cannot append.
func canDo(have, need ledger.Role) bool {
	if have == need {
		return true
	}
	if have == ledger.RoleIngest || need == ledger.RoleOperator {
		return false
	}
	if have == ledger.RoleAuditor {
		return false
	}
	return rank[have] > rank[need]
}

// authenticate resolves the bearer token, or answers 401.
func (s *Server) authenticate(c *gin.Context) {
	h := c.GetHeader("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		c.Header("WWW-Authenticate", `Bearer realm="auditledger"`)
		fail(c, newError(http.StatusUnauthorized, "unauthenticated", "missing bearer token"))
		return
	}
	k, err := s.l.Authenticate(strings.TrimSpace(token))
	if errors.Is(err, ledger.ErrClosed) || errors.Is(err, ledger.ErrFailed) {
		fail(c, err)
		return
	}
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="auditledger", error="invalid_token"`)
		fail(c, newError(http.StatusUnauthorized, "unauthenticated", "invalid or revoked token"))
		return
	}
	c.Set(keyCtx, k)
}

// require answers 403 unless the key may act with role need on the log in the
// path (or on any log, for operator routes).
func require(need ledger.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		k := callerKey(c)
		if !canDo(k.Role, need) {
			fail(c, forbiddenRole(k, "do this"))
			return
		}
		if logID := c.Param("log"); logID != "" && k.Role != ledger.RoleOperator && k.Log != logID {
			fail(c, newError(http.StatusForbidden, "forbidden", "this key is scoped to another log"))
			return
		}
	}
}

// ownLog is the log of the /audit routes: the key's own (an operator key:
// default, or ?log=), for a key with auditor rights; otherwise it answers 403.
func ownLog(c *gin.Context) (string, bool) {
	k := callerKey(c)
	if !canDo(k.Role, ledger.RoleAuditor) {
		fail(c, forbiddenRole(k, "do this"))
		return "", false
	}
	if k.Role == ledger.RoleOperator {
		return c.DefaultQuery("log", ledger.DefaultLogID), true
	}
	return k.Log, true
}

// forbiddenRole is the 403 for a key whose role may not do what.
func forbiddenRole(k *ledger.APIKey, what string) *apiError {
	return newError(http.StatusForbidden, "forbidden", "this key's role ("+string(k.Role)+") may not "+what)
}

func callerKey(c *gin.Context) *ledger.APIKey {
	v, _ := c.Get(keyCtx)
	k, _ := v.(*ledger.APIKey)
	return k
}

// actorOf is the actor of the audit entries a key's actions write.
func actorOf(k *ledger.APIKey) *ledger.Actor {
	return &ledger.Actor{Type: "api_key", ID: k.ID, Name: k.Name, APIKeyID: k.ID}
}
