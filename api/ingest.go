package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

type appendedJSON struct {
	Index          *uint64  `json:"index,omitempty"`
	LeafHash       string   `json:"leaf_hash,omitempty"`
	ReceivedAt     string   `json:"received_at,omitempty"`
	Skipped        string   `json:"skipped,omitempty"`
	InclusionProof []string `json:"inclusion_proof,omitempty"`
}

// ingest is POST /v1/logs/{log}/events: one event or an array, validated as a
// whole, answered 201 only after the durable commit.
func (s *Server) ingest(c *gin.Context) {
	logID := c.Param("log")
	body, err := readBody(c, s.cfg.MaxBody)
	if err != nil {
		fail(c, err)
		return
	}
	wait := c.Query("wait")
	if wait != "" && wait != "checkpoint" {
		fail(c, badRequest("wait", "wait must be \"checkpoint\""))
		return
	}
	events, _, err := ledger.ParseEvents(body)
	if err != nil {
		fail(c, err)
		return
	}
	opts := ledger.AppendOptions{Validated: true} // ParseEvents validated them
	if ik := c.GetHeader("Idempotency-Key"); ik != "" {
		if len(ik) > 255 {
			fail(c, badRequest("Idempotency-Key", "Idempotency-Key is longer than 255 bytes"))
			return
		}
		// Scoped to the API key here, and to the log by the ledger.
		opts.Idempotency = &ledger.Idempotency{Key: callerKey(c).ID + "\x00" + ik, BodyHash: sha256.Sum256(body)}
	}
	res, err := s.l.Append(c.Request.Context(), logID, events, opts)
	if errors.Is(err, ledger.ErrIdempotencyMismatch) {
		fail(c, newError(http.StatusUnprocessableEntity, "idempotency_mismatch", "this Idempotency-Key was used with another request body"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	if opts.Idempotency != nil && opts.Idempotency.Replayed && opts.Idempotency.Response != nil {
		c.Data(http.StatusCreated, "application/json; charset=utf-8", opts.Idempotency.Response)
		return
	}
	out := make([]appendedJSON, len(res))
	var maxIdx uint64
	stored := false
	for i, r := range res {
		if r.Skipped {
			out[i].Skipped = "read_only"
			continue
		}
		idx := r.Index
		out[i] = appendedJSON{Index: &idx, LeafHash: proofs.EncodeHash(r.LeafHash), ReceivedAt: r.ReceivedAt.Format(time.RFC3339Nano)}
		maxIdx, stored = idx, true
	}
	resp := gin.H{"entries": out}
	if wait == "checkpoint" && stored {
		ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.WaitTimeout)
		defer cancel()
		sc, err := s.l.WaitCheckpoint(ctx, logID, maxIdx+1)
		if err != nil {
			// The entries are committed: answer 201 so that no client retries
			// and stores them twice, and say the checkpoint is missing.
			resp["checkpoint_error"] = "no checkpoint covered the entries within " + s.cfg.WaitTimeout.String() + "; fetch proofs later"
			c.JSON(http.StatusCreated, resp)
			return
		}
		for i := range out {
			if out[i].Index == nil {
				continue
			}
			p, err := s.l.InclusionProof(logID, *out[i].Index, sc.Size)
			if err != nil {
				fail(c, err)
				return
			}
			out[i].InclusionProof = proofs.EncodeHashes(p)
		}
		resp["checkpoint"] = string(sc.Note)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		fail(c, err)
		return
	}
	if idem := opts.Idempotency; idem != nil && !idem.Replayed && wait == "checkpoint" {
		// The answer now depends on the checkpoint too: keep it for retries.
		if err := s.l.SaveIdempotentResponse(logID, idem.Key, b); err != nil {
			s.cfg.Logger.Warn("couldn't save the idempotent answer", "err", err)
		}
	}
	c.Data(http.StatusCreated, "application/json; charset=utf-8", b)
}

// readBody reads the whole body up to max bytes; past it, 413.
func readBody(c *gin.Context, max int64) ([]byte, error) {
	r := http.MaxBytesReader(c.Writer, c.Request.Body, max)
	b, err := io.ReadAll(r)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, newError(http.StatusRequestEntityTooLarge, "too_large", "request body is larger than the limit")
	}
	if err != nil {
		return nil, badRequest("", "couldn't read the request body")
	}
	return b, nil
}
