package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// logJSON is the log object of GET /v1/logs/{log}.
type logJSON struct {
	ID            string `json:"id"`
	Origin        string `json:"origin"`
	VerifierKey   string `json:"verifier_key"`
	Size          uint64 `json:"size"`
	Checkpoint    string `json:"checkpoint"`
	RetentionDays int    `json:"retention_days"`
	Verbose       bool   `json:"verbose"`
	// Witnesses, WitnessQuorum and WitnessedSize: SPEC §6 (witness.go).
	Witnesses     []witnessJSON `json:"witnesses"`
	WitnessQuorum int           `json:"witness_quorum"`
	WitnessedSize uint64        `json:"witnessed_size"`
}

func (s *Server) logObject(info *ledger.LogInfo) logJSON {
	out := logJSON{ID: info.ID, Origin: info.Origin, VerifierKey: info.VerifierKey, Size: info.Size,
		RetentionDays: info.Settings.RetentionDays, Verbose: info.Settings.Verbose}
	if sc, err := s.l.Checkpoint(info.ID); err == nil {
		out.Checkpoint = string(sc.Note)
	}
	out.Witnesses, out.WitnessQuorum = witnessObjects(info.Witnesses.List), info.Witnesses.EffectiveQuorum()
	out.WitnessedSize, _ = s.l.WitnessedSize(info.ID)
	return out
}

func (s *Server) logInfo(c *gin.Context) {
	info, err := s.l.Log(c.Param("log"))
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s.logObject(info))
}

// renderEntry writes the entry object: the stored canonical JSON with index,
// leaf_hash and chain_hash added, or the redacted form.
func renderEntry(buf *bytes.Buffer, r *ledger.Record) {
	tail := `"chain_hash":"` + proofs.EncodeHash(r.ChainHash) + `","index":` + strconv.FormatUint(r.Index, 10) +
		`,"leaf_hash":"` + proofs.EncodeHash(r.LeafHash) + `"`
	if r.Redacted() {
		buf.WriteString("{" + tail + `,"redacted":true}`)
		return
	}
	buf.Write(r.Leaf[:len(r.Leaf)-1])
	buf.WriteString("," + tail + "}")
}

func (s *Server) entry(c *gin.Context) {
	logID := c.Param("log")
	idx, err := parseUint(c.Param("index"), "index")
	if err != nil {
		fail(c, err)
		return
	}
	r, err := s.l.Read(logID, idx)
	if err != nil {
		fail(c, err)
		return
	}
	anns, err := s.l.Annotations(logID, idx)
	if err != nil {
		fail(c, err)
		return
	}
	var buf bytes.Buffer
	renderEntry(&buf, r)
	b := buf.Bytes()
	buf2 := bytes.NewBuffer(make([]byte, 0, len(b)+64))
	buf2.Write(b[:len(b)-1])
	buf2.WriteString(`,"annotations":[`)
	for i, a := range anns {
		ar, err := s.l.Read(logID, a)
		if err != nil {
			fail(c, err)
			return
		}
		if i > 0 {
			buf2.WriteByte(',')
		}
		renderEntry(buf2, ar)
	}
	buf2.WriteString("]}")
	c.Data(http.StatusOK, "application/json; charset=utf-8", buf2.Bytes())
}

func (s *Server) inclusion(c *gin.Context) {
	logID := c.Param("log")
	var idx uint64
	var err error
	switch {
	case c.Query("index") != "" && c.Query("leaf_hash") != "":
		fail(c, badRequest("index", "give index or leaf_hash, not both"))
		return
	case c.Query("leaf_hash") != "":
		h, herr := proofs.ParseHash(c.Query("leaf_hash"))
		if herr != nil {
			fail(c, badRequest("leaf_hash", herr.Error()))
			return
		}
		if idx, err = s.l.IndexOf(logID, h); err != nil {
			fail(c, err)
			return
		}
	default:
		if idx, err = parseUint(c.Query("index"), "index"); err != nil {
			fail(c, err)
			return
		}
	}
	var sc *ledger.SignedCheckpoint
	var size uint64
	if ts := c.Query("tree_size"); ts != "" {
		if size, err = parseUint(ts, "tree_size"); err != nil {
			fail(c, err)
			return
		}
	} else {
		if sc, err = s.l.Checkpoint(logID); err != nil {
			fail(c, err)
			return
		}
		size = sc.Size
	}
	cur, err := s.l.Size(logID)
	if err != nil {
		fail(c, err)
		return
	}
	if idx >= cur {
		fail(c, newError(http.StatusNotFound, "not_found", "no entry at index "+strconv.FormatUint(idx, 10)))
		return
	}
	if idx >= size || size > cur {
		if sc != nil {
			fail(c, newError(http.StatusNotFound, "not_yet_checkpointed", "the entry is not covered by a checkpoint yet; retry in a second or pass tree_size"))
			return
		}
		fail(c, badRequest("tree_size", "tree_size must satisfy index < tree_size ≤ "+strconv.FormatUint(cur, 10)))
		return
	}
	p, err := s.l.InclusionProof(logID, idx, size)
	if err != nil {
		fail(c, err)
		return
	}
	lh, err := s.l.LeafHash(logID, idx)
	if err != nil {
		fail(c, err)
		return
	}
	out := gin.H{"index": idx, "tree_size": size, "leaf_hash": proofs.EncodeHash(lh), "hashes": proofs.EncodeHashes(p)}
	if sc != nil {
		out["checkpoint"] = string(sc.Note)
	}
	c.JSON(http.StatusOK, out)
}

type verifyJSON struct {
	OK        bool             `json:"ok"`
	Size      uint64           `json:"size"`
	Root      string           `json:"root"`
	ChainHead string           `json:"chain_head"`
	Problems  []ledger.Problem `json:"problems"`
	// MoreProblems counts the problems found past the first 1,000.
	MoreProblems int `json:"more_problems,omitempty"`
	// Redacted counts the entries whose payload retention deleted.
	Redacted uint64 `json:"redacted,omitempty"`
}

func (s *Server) runVerify(c *gin.Context, logID string) {
	rep, err := s.l.Verify(c.Request.Context(), logID, ledger.VerifyOptions{})
	if err != nil {
		fail(c, err)
		return
	}
	out := verifyJSON{OK: rep.OK, Size: rep.Size, Root: proofs.EncodeHash(rep.Root), ChainHead: proofs.EncodeHash(rep.ChainHead), Problems: rep.Problems,
		MoreProblems: rep.MoreProblems, Redacted: rep.Redacted}
	if out.Problems == nil {
		out.Problems = []ledger.Problem{}
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) verify(c *gin.Context) { s.runVerify(c, c.Param("log")) }

// auditVerify is GET /audit/verify: verify on the key's own log (an operator
// key: default, or ?log=).
func (s *Server) auditVerify(c *gin.Context) {
	if logID, ok := ownLog(c); ok {
		s.runVerify(c, logID)
	}
}

func marshalDetails(m map[string]any) (json.RawMessage, error) {
	return json.Marshal(m)
}
