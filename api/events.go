package api

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/auditledger/auditledger/ledger"
)

// Limits of GET …/events.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// eventsParams are the query parameters GET …/events takes besides the
// filters (ledger.QueryKeys).
var eventsParams = map[string]bool{"q": true, "limit": true, "cursor": true, "order": true, "format": true, "bom": true}

// events is GET /v1/logs/{log}/events.
func (s *Server) events(c *gin.Context) { s.listEvents(c, c.Param("log"), nil) }

// auditEvents is GET /audit: the same on the key's own log (an operator
// key: default, or ?log=).
func (s *Server) auditEvents(c *gin.Context) {
	if logID, ok := ownLog(c); ok {
		s.listEvents(c, logID, map[string]bool{"log": true})
	}
}

// cursor is the opaque position of the next page: where the scan goes on,
// and in which order. It stays right while appends continue: an ascending
// scan reaches the new entries in later pages, a descending one never sees
// them.
type cursor struct {
	desc bool
	next uint64
}

func (cu cursor) String() string {
	o := "a"
	if cu.desc {
		o = "d"
	}
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + o + ":" + strconv.FormatUint(cu.next, 10)))
}

func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	parts := strings.Split(string(b), ":")
	if err != nil || len(parts) != 3 || parts[0] != "v1" || (parts[1] != "a" && parts[1] != "d") {
		return cursor{}, badRequest("cursor", "cursor is not one this server gave out")
	}
	n, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return cursor{}, badRequest("cursor", "cursor is not one this server gave out")
	}
	return cursor{desc: parts[1] == "d", next: n}, nil
}

// eventsRequest is a parsed GET …/events.
type eventsRequest struct {
	query  *ledger.Query
	desc   bool
	limit  int
	cursor *cursor
	format string
	bom    bool
}

func parseEventsRequest(c *gin.Context, extra map[string]bool) (*eventsRequest, error) {
	r := &eventsRequest{desc: true, limit: defaultPageSize, format: "json"}
	params := map[string]string{}
	for name, vals := range c.Request.URL.Query() {
		switch {
		case eventsParams[name] || extra[name]:
		case isQueryKey(name):
			params[name] = vals[len(vals)-1]
		default:
			return nil, badRequest(name, "unknown parameter "+strconv.Quote(name))
		}
	}
	q, err := ledger.QueryFromParams(c.Query("q"), params, time.Now())
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
	r.query = q
	switch c.DefaultQuery("order", "desc") {
	case "desc":
	case "asc":
		r.desc = false
	default:
		return nil, badRequest("order", "order must be asc or desc")
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return nil, badRequest("limit", fmt.Sprintf("limit must be 1–%d", maxPageSize))
		}
		r.limit = n
	}
	if v := c.Query("cursor"); v != "" {
		cu, err := parseCursor(v)
		if err != nil {
			return nil, err
		}
		if cu.desc != r.desc {
			return nil, badRequest("cursor", "the cursor belongs to the other order")
		}
		r.cursor = &cu
	}
	switch r.format = c.DefaultQuery("format", "json"); r.format {
	case "json", "ndjson", "csv":
	default:
		return nil, badRequest("format", "format must be json, ndjson or csv")
	}
	switch c.DefaultQuery("bom", "false") {
	case "true":
		r.bom = true
	case "false":
	default:
		return nil, badRequest("bom", "bom must be true or false")
	}
	return r, nil
}

func isQueryKey(name string) bool {
	for _, k := range ledger.QueryKeys {
		if k == name {
			return true
		}
	}
	return false
}

func (s *Server) listEvents(c *gin.Context, logID string, extra map[string]bool) {
	req, err := parseEventsRequest(c, extra)
	if err != nil {
		fail(c, err)
		return
	}
	if _, err := s.l.Log(logID); err != nil {
		fail(c, err)
		return
	}
	if req.format != "json" {
		s.export(c, logID, req)
		return
	}
	opts := ledger.ScanOptions{Desc: req.desc, From: ^uint64(0)}
	if !req.desc {
		opts.From = 0
	}
	if req.cursor != nil {
		opts.From = req.cursor.next
	}
	var buf bytes.Buffer
	buf.WriteString(`{"events":[`)
	n := 0
	var next *cursor
	stats, err := s.l.Search(c.Request.Context(), logID, req.query, opts, func(rec *ledger.Record) (bool, error) {
		if n == req.limit {
			// One match past the page: there is a next page, and it starts here.
			next = &cursor{desc: req.desc, next: rec.Index}
			return false, nil
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		renderEntry(&buf, rec)
		n++
		return true, nil
	})
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("X-Search-Plan", stats.Plan)
	buf.WriteString(`],"next_cursor":`)
	if next != nil {
		buf.WriteString(strconv.Quote(next.String()))
	} else {
		buf.WriteString("null")
	}
	buf.WriteString("}")
	c.Data(http.StatusOK, "application/json; charset=utf-8", buf.Bytes())
}

// export streams the whole match set as NDJSON or CSV, newest first unless
// order=asc was asked (order defaults to desc), in constant memory. It shows
// the log as it was when it started, and is recorded in the log afterwards.
func (s *Server) export(c *gin.Context, logID string, req *eventsRequest) {
	size, err := s.l.Size(logID)
	if err != nil {
		fail(c, err)
		return
	}
	w := bufio.NewWriterSize(c.Writer, 64<<10)
	var cw *ledger.CSVWriter
	if req.format == "csv" {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%d.csv"`, logID, size))
		cw = ledger.NewCSVWriter(w, req.bom)
	} else {
		c.Header("Content-Type", "application/x-ndjson")
	}
	c.Status(http.StatusOK)
	rows := 0
	var line bytes.Buffer
	opts := ledger.ScanOptions{Desc: req.desc, Bound: size, From: ^uint64(0), Transient: true}
	if !req.desc {
		opts.From = 0
	}
	_, err = s.l.Search(c.Request.Context(), logID, req.query, opts, func(rec *ledger.Record) (bool, error) {
		if cw != nil {
			ok, err := cw.WriteRecord(rec)
			if !ok && err == nil {
				// Damaged: verify reports it; an export has no cell for it.
				s.cfg.Logger.Warn("export skips an entry that does not parse", "log", logID, "index", rec.Index)
				return true, nil
			}
			rows++
			return true, err
		}
		rows++
		line.Reset()
		renderEntry(&line, rec)
		line.WriteByte('\n')
		_, err := w.Write(line.Bytes())
		return true, err
	})
	if err == nil && cw != nil {
		err = cw.Flush()
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		// The status is sent; all that is left is to cut the stream short.
		s.cfg.Logger.Warn("export cut short", "log", logID, "rows", rows, "err", err)
		return
	}
	if _, err := s.audit(c, logID, "export:"+req.format, &ledger.Target{Type: "log", ID: logID},
		map[string]any{"query": req.query.String(), "rows": rows, "size": size}); err != nil {
		s.cfg.Logger.Error("couldn't record the export", "log", logID, "err", err)
	}
}
