package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/auditledger/auditledger/proofs"
)

func (s *Server) checkpoint(c *gin.Context) {
	sc, err := s.l.Checkpoint(c.Param("log"))
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", sc.Note)
}

func (s *Server) checkpointAt(c *gin.Context) {
	size, err := parseUint(c.Param("size"), "size")
	if err != nil {
		fail(c, err)
		return
	}
	sc, err := s.l.CheckpointAt(c.Param("log"), size)
	if err != nil {
		fail(c, err)
		return
	}
	// The log's signed note never changes, but witnesses' cosignatures are
	// added to it as they arrive, so a cache must ask again.
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", sc.Note)
}

func (s *Server) verifierKey(c *gin.Context) {
	info, err := s.l.Log(c.Param("log"))
	if err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(info.VerifierKey+"\n"))
}

func (s *Server) consistency(c *gin.Context) {
	from, err := parseUint(c.Query("from"), "from")
	if err != nil {
		fail(c, err)
		return
	}
	to, err := parseUint(c.Query("to"), "to")
	if err != nil {
		fail(c, err)
		return
	}
	p, err := s.l.ConsistencyProof(c.Param("log"), from, to)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"from": from, "to": to, "hashes": proofs.EncodeHashes(p)})
}

// parseUint parses a required non-negative decimal parameter.
func parseUint(s, field string) (uint64, error) {
	if s == "" {
		return 0, badRequest(field, field+" is required")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badRequest(field, field+" must be a non-negative integer")
	}
	return v, nil
}
