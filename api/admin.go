package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// decodeStrict decodes a JSON body into v, refusing unknown fields and
// trailing data.
func decodeStrict(c *gin.Context, max int64, v any) error {
	body, err := readBody(c, max)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		if asType(err, &ute) {
			return badRequest(ute.Field, "field "+ute.Field+" has the wrong type")
		}
		return badRequest("", "request body is not valid JSON for this route: "+err.Error())
	}
	if dec.More() {
		return badRequest("", "request body has data after the JSON object")
	}
	return nil
}

func asType(err error, target **json.UnmarshalTypeError) bool {
	e, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = e
	}
	return ok
}

type createLogRequest struct {
	ID            string `json:"id"`
	RetentionDays *int   `json:"retention_days"`
	Verbose       *bool  `json:"verbose"`
}

func (s *Server) createLog(c *gin.Context) {
	var req createLogRequest
	if err := decodeStrict(c, 1<<16, &req); err != nil {
		fail(c, err)
		return
	}
	if err := ledger.CheckLogID(req.ID); err != nil {
		fail(c, badRequest("id", err.Error()))
		return
	}
	var st ledger.LogSettings
	if req.RetentionDays != nil {
		st.RetentionDays = *req.RetentionDays
	}
	if req.Verbose != nil {
		st.Verbose = *req.Verbose
	}
	info, err := s.l.CreateLog(c.Request.Context(), req.ID, st)
	if err != nil {
		fail(c, err)
		return
	}
	if _, err := s.audit(c, req.ID, "log:create", &ledger.Target{Type: "log", ID: req.ID},
		map[string]any{"retention_days": st.RetentionDays, "verbose": st.Verbose}); err != nil {
		fail(c, err)
		return
	}
	info, _ = s.l.Log(info.ID)
	c.JSON(http.StatusCreated, s.logObject(info))
}

func (s *Server) listLogs(c *gin.Context) {
	out := []logJSON{}
	for _, info := range s.l.Logs() {
		out = append(out, s.logObject(info))
	}
	c.JSON(http.StatusOK, gin.H{"logs": out})
}

type patchLogRequest struct {
	RetentionDays *int              `json:"retention_days"`
	Verbose       *bool             `json:"verbose"`
	Witnesses     *[]ledger.Witness `json:"witnesses"`
	WitnessQuorum *int              `json:"witness_quorum"`
}

func (s *Server) patchLog(c *gin.Context) {
	logID := c.Param("log")
	var req patchLogRequest
	if err := decodeStrict(c, 1<<16, &req); err != nil {
		fail(c, err)
		return
	}
	info, err := s.l.Log(logID)
	if err != nil {
		fail(c, err)
		return
	}
	st := info.Settings
	changed := map[string]any{}
	if req.RetentionDays != nil {
		if *req.RetentionDays < 0 {
			fail(c, badRequest("retention_days", "retention_days must be ≥ 0"))
			return
		}
		changed["retention_days_from"], changed["retention_days_to"] = st.RetentionDays, *req.RetentionDays
		st.RetentionDays = *req.RetentionDays
	}
	if req.Verbose != nil {
		changed["verbose_from"], changed["verbose_to"] = st.Verbose, *req.Verbose
		st.Verbose = *req.Verbose
	}
	ws, wchanged, err := patchWitnesses(info.Witnesses, req.Witnesses, req.WitnessQuorum)
	if err != nil {
		fail(c, err)
		return
	}
	if wchanged {
		changed["witnesses_from"], changed["witnesses_to"] = witnessObjects(info.Witnesses.List), witnessObjects(ws.List)
		changed["witness_quorum_from"], changed["witness_quorum_to"] = info.Witnesses.EffectiveQuorum(), ws.EffectiveQuorum()
	}
	if len(changed) > 0 {
		if st != info.Settings {
			if _, err := s.l.UpdateSettings(c.Request.Context(), logID, st); err != nil {
				fail(c, err)
				return
			}
		}
		if wchanged {
			if _, err := s.l.UpdateWitnesses(c.Request.Context(), logID, ws); err != nil {
				fail(c, err)
				return
			}
		}
		if _, err := s.audit(c, logID, "settings:update", &ledger.Target{Type: "log", ID: logID}, changed); err != nil {
			fail(c, err)
			return
		}
	}
	info, _ = s.l.Log(logID)
	c.JSON(http.StatusOK, s.logObject(info))
}

type keyJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Log     string `json:"log,omitempty"`
	Created string `json:"created"`
	Revoked bool   `json:"revoked,omitempty"`
	Token   string `json:"token,omitempty"`
}

func keyObject(k *ledger.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, Role: string(k.Role), Log: k.Log, Created: k.Created.Format(time.RFC3339), Revoked: k.Revoked}
}

type createKeyRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	Log  string `json:"log"`
}

// createKey is POST /v1/keys: an admin makes keys for its own log (not
// operator keys); an operator makes any key.
func (s *Server) createKey(c *gin.Context) {
	caller := callerKey(c)
	if caller.Role != ledger.RoleOperator && caller.Role != ledger.RoleAdmin {
		fail(c, forbiddenRole(caller, "create keys"))
		return
	}
	var req createKeyRequest
	if err := decodeStrict(c, 1<<16, &req); err != nil {
		fail(c, err)
		return
	}
	role := ledger.Role(req.Role)
	if !role.Valid() {
		fail(c, badRequest("role", "role must be operator, admin, auditor or ingest"))
		return
	}
	if req.Name == "" {
		fail(c, badRequest("name", "name is required"))
		return
	}
	switch caller.Role {
	case ledger.RoleOperator:
	case ledger.RoleAdmin:
		if role == ledger.RoleOperator || req.Log != caller.Log {
			fail(c, newError(http.StatusForbidden, "forbidden", "an admin key creates keys for its own log only"))
			return
		}
	default:
		fail(c, forbiddenRole(caller, "create keys"))
		return
	}
	if role != ledger.RoleOperator && req.Log == "" {
		fail(c, badRequest("log", "log is required for a "+req.Role+" key"))
		return
	}
	k, token, err := s.l.CreateKey(c.Request.Context(), req.Name, role, req.Log)
	if err != nil {
		fail(c, err)
		return
	}
	auditLog := k.Log
	if auditLog == "" {
		auditLog = ledger.DefaultLogID
	}
	if _, err := s.audit(c, auditLog, "api_key:create", &ledger.Target{Type: "api_key", ID: k.ID, Name: k.Name},
		map[string]any{"role": string(k.Role)}); err != nil {
		fail(c, err)
		return
	}
	out := keyObject(k)
	out.Token = token
	c.JSON(http.StatusCreated, out)
}

func (s *Server) listKeys(c *gin.Context) {
	caller := callerKey(c)
	var logID string
	switch caller.Role {
	case ledger.RoleOperator:
		logID = c.Query("log")
	case ledger.RoleAdmin:
		logID = caller.Log
	default:
		fail(c, forbiddenRole(caller, "list keys"))
		return
	}
	keys, err := s.l.Keys(logID)
	if err != nil {
		fail(c, err)
		return
	}
	out := []keyJSON{}
	for _, k := range keys {
		out = append(out, keyObject(k))
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

func (s *Server) revokeKey(c *gin.Context) {
	caller := callerKey(c)
	if caller.Role != ledger.RoleOperator && caller.Role != ledger.RoleAdmin {
		fail(c, forbiddenRole(caller, "revoke keys"))
		return
	}
	k, err := s.l.Key(c.Param("id"))
	if err != nil {
		fail(c, err)
		return
	}
	if caller.Role == ledger.RoleAdmin && (k.Log != caller.Log || k.Role == ledger.RoleOperator) {
		fail(c, newError(http.StatusNotFound, "not_found", "no such key"))
		return
	}
	if k.Revoked {
		// Already revoked: nothing changes, so nothing is recorded.
		c.JSON(http.StatusOK, keyObject(k))
		return
	}
	if k, err = s.l.RevokeKey(c.Request.Context(), k.ID); err != nil {
		fail(c, err)
		return
	}
	auditLog := k.Log
	if auditLog == "" {
		auditLog = ledger.DefaultLogID
	}
	if _, err := s.audit(c, auditLog, "api_key:revoke", &ledger.Target{Type: "api_key", ID: k.ID, Name: k.Name}, nil); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, keyObject(k))
}

type annotateRequest struct {
	Text string `json:"text"`
}

func (s *Server) annotate(c *gin.Context) {
	logID := c.Param("log")
	idx, err := parseUint(c.Param("index"), "index")
	if err != nil {
		fail(c, err)
		return
	}
	var req annotateRequest
	if err := decodeStrict(c, 1<<16, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Text == "" || len(req.Text) > 8192 {
		fail(c, badRequest("text", "text must be 1–8192 bytes"))
		return
	}
	if _, err := s.l.Read(logID, idx); err != nil {
		fail(c, err)
		return
	}
	ev := ledger.Event{Category: "audit", Action: "annotation:add", Actor: actorOf(callerKey(c)), Ref: &idx, IP: clientIP(c)}
	d, _ := json.Marshal(map[string]string{"text": req.Text})
	ev.Details = d
	res, err := s.l.Append(c.Request.Context(), logID, []ledger.Event{ev}, ledger.AppendOptions{Internal: true})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"index": res[0].Index, "ref": idx, "leaf_hash": proofs.EncodeHash(res[0].LeafHash)})
}
