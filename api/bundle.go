package api

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// defaultBundleSample is the sample size of GET …/bundle without sample=.
const defaultBundleSample = 100

// bundleParams are the query parameters GET …/bundle takes besides the
// filters (ledger.QueryKeys).
var bundleParams = map[string]bool{"q": true, "sample": true, "seed": true}

// bundleRequest is a parsed GET …/bundle.
type bundleRequest struct {
	query  *ledger.Query
	sample int
	seed   string
}

func parseBundleRequest(c *gin.Context, now time.Time) (*bundleRequest, error) {
	params := map[string]string{}
	for name, vals := range c.Request.URL.Query() {
		switch {
		case bundleParams[name]:
		case isQueryKey(name):
			params[name] = vals[len(vals)-1]
		default:
			return nil, badRequest(name, "unknown parameter "+strconv.Quote(name))
		}
	}
	q, err := ledger.QueryFromParams(c.Query("q"), params, now)
	var qe *ledger.QueryError
	if errors.As(err, &qe) {
		field := "q"
		if qe.Pos < 0 {
			field, _, _ = strings.Cut(qe.Term, "=")
		}
		return nil, badRequest(field, qe.Error())
	}
	if err != nil {
		return nil, badRequest("q", err.Error())
	}
	r := &bundleRequest{query: q, sample: defaultBundleSample}
	if v := c.Query("sample"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > proofs.MaxBundleEntries {
			return nil, badRequest("sample", fmt.Sprintf("sample must be 1–%d", proofs.MaxBundleEntries))
		}
		r.sample = n
	}
	if r.seed = c.Query("seed"); r.seed == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("couldn't draw a seed: %w", err)
		}
		r.seed = hex.EncodeToString(b[:])
	} else if err := proofs.CheckSeed(r.seed); err != nil {
		return nil, badRequest("seed", err.Error())
	}
	return r, nil
}

// absoluteQuery returns q as a q string with its relative since and until
// (7d) written as the RFC 3339 times they were resolved to, so that it
// means the same to whoever reads it later.
func absoluteQuery(q *ledger.Query) string {
	abs := ledger.Query{Terms: make([]ledger.Term, len(q.Terms))}
	for i, t := range q.Terms {
		if t.Key == "since" || t.Key == "until" {
			t.Value = t.Time.UTC().Format(time.RFC3339Nano)
		}
		abs.Terms[i] = t
	}
	return abs.String()
}

// bundle is GET /v1/logs/{log}/bundle: an auditor bundle (proofs.Bundle,
// docs/bundle.md) of a sample of the query's matches, every proof against
// the latest checkpoint at the start. Like an export it shows the log as
// it was when it started (entries past that checkpoint are left out), and
// is recorded in the log afterwards, as a bundle:create audit entry.
//
// The sample is drawn in one scan of the matches, keeping the sample in
// O(sample) memory; then each sampled entry is read, proved and written
// out as it goes, so a bundle is never held whole. A failure after the
// first byte cuts the answer short, which no bundle reader accepts, and
// records nothing.
func (s *Server) bundle(c *gin.Context) {
	logID := c.Param("log")
	now := time.Now().UTC()
	req, err := parseBundleRequest(c, now)
	if err != nil {
		fail(c, err)
		return
	}
	info, err := s.l.Log(logID)
	if err != nil {
		fail(c, err)
		return
	}
	sc, err := s.l.Checkpoint(logID)
	if err != nil {
		fail(c, err)
		return
	}
	size := sc.Size
	sampler := proofs.NewSampler(req.seed, req.sample)
	var matches uint64
	if size > 0 { // Bound 0 would mean "the whole log"
		_, err = s.l.Search(c.Request.Context(), logID, req.query, ledger.ScanOptions{Bound: size}, func(rec *ledger.Record) (bool, error) {
			matches++
			sampler.Add(rec.Index)
			return true, nil
		})
		if err != nil {
			fail(c, err)
			return
		}
	}
	chosen := sampler.Indexes()

	head := &proofs.Bundle{
		Format: proofs.BundleFormat, Log: logID, CreatedAt: now.Format(time.RFC3339Nano),
		Checkpoint: string(sc.Note), VerifierKey: info.VerifierKey, Query: absoluteQuery(req.query),
		Matches: matches,
		Sample:  proofs.BundleSample{Algorithm: proofs.SampleAlgorithm, Seed: req.seed, Size: req.sample},
	}
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-bundle-%d.json"`, logID, size))
	c.Status(http.StatusOK)
	w := bufio.NewWriterSize(c.Writer, 64<<10)
	err = writeBundle(s.l, w, head, chosen, size)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		// The status is sent; all that is left is to cut the stream short.
		s.cfg.Logger.Warn("bundle cut short", "log", logID, "err", err)
		return
	}
	if _, err := s.audit(c, logID, "bundle:create", &ledger.Target{Type: "log", ID: logID}, map[string]any{
		"query": head.Query, "sample": req.sample, "seed": req.seed, "tree_size": size,
		"matches": matches, "entries": len(chosen),
	}); err != nil {
		s.cfg.Logger.Error("couldn't record the bundle", "log", logID, "err", err)
	}
}

// writeBundle writes the bundle head and, for each chosen index, the entry
// and its inclusion proof in the tree of the given size.
func writeBundle(l *ledger.Ledger, w *bufio.Writer, head *proofs.Bundle, chosen []uint64, size uint64) error {
	bw, err := proofs.NewBundleWriter(w, head)
	if err != nil {
		return err
	}
	for _, idx := range chosen {
		rec, err := l.Read(head.Log, idx)
		if err != nil {
			return err
		}
		p, err := l.InclusionProof(head.Log, idx, size)
		if err != nil {
			return err
		}
		e := proofs.BundleEntry{Index: idx, LeafHash: proofs.EncodeHash(rec.LeafHash), InclusionProof: proofs.EncodeHashes(p)}
		if rec.Redacted() {
			e.Redacted = true
		} else {
			e.Leaf = base64.StdEncoding.EncodeToString(rec.Leaf)
		}
		if err := bw.Entry(e); err != nil {
			return err
		}
	}
	return bw.Close()
}
