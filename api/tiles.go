package api

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

// Cache-Control values of the tile routes (SPEC §6).
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheNone      = "no-cache"
)

// tile serves the C2SP tlog-tiles resources below the log prefix (SPEC §6):
// GET …/tile/{L}/{N}[.p/{W}] and GET …/tile/entries/{N}[.p/{W}]. One route
// takes both, as "tile/*path", and tells them apart here.
func (s *Server) tile(c *gin.Context) {
	// Whatever the answer, a client must not keep an error or a partial
	// tile: only full tiles and bundles are immutable.
	c.Header("Cache-Control", cacheNone)
	logID := c.Param("log")
	p := strings.TrimPrefix(c.Param("path"), "/")
	var (
		data  []byte
		width int
		kind  string
		err   error
	)
	if rest, ok := strings.CutPrefix(p, "entries/"); ok {
		kind = "entries"
		var index uint64
		if index, width, err = parseTileIndex(rest); err == nil {
			data, err = s.l.EntryBundle(logID, index, width)
		}
	} else {
		kind = "hash"
		lvl, rest, _ := strings.Cut(p, "/")
		var level uint8
		var index uint64
		if level, err = parseTileLevel(lvl); err == nil {
			if index, width, err = parseTileIndex(rest); err == nil {
				data, err = s.l.HashTile(logID, level, index, width)
			}
		}
	}
	if errors.Is(err, ledger.ErrRedacted) {
		err = newError(http.StatusGone, "redacted",
			"this entry bundle holds an entry whose payload retention removed; its hashes are still in the hash tiles")
	}
	if err != nil {
		fail(c, err)
		return
	}
	shape := "partial"
	if width == proofs.TileWidth {
		shape = "full"
		c.Header("Cache-Control", cacheImmutable)
	}
	s.metrics.tiles.WithLabelValues(kind, shape).Inc()
	s.metrics.tileBytes.WithLabelValues(kind).Add(float64(len(data)))
	if kind == "entries" {
		// C2SP: bundles SHOULD be compressed at the HTTP layer. Hashes do
		// not compress, so hash tiles never are.
		c.Header("Vary", "Accept-Encoding")
		if acceptsGzip(c.GetHeader("Accept-Encoding")) {
			if z, err := gzipBytes(data); err == nil {
				c.Header("Content-Encoding", "gzip")
				data = z
			}
		}
	}
	c.Data(http.StatusOK, "application/octet-stream", data)
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: named
// (or "*") without q=0.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(strings.ToLower(params), " ", ""), "q=")
		if !ok {
			return true
		}
		if v, err := strconv.ParseFloat(q, 64); err == nil && v > 0 {
			return true
		}
		return false
	}
	return false
}

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level: no error
	return w
}}

// gzipBytes compresses b with gzip at its fastest level.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b) / 4)
	w := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("couldn't compress: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("couldn't compress: %w", err)
	}
	return buf.Bytes(), nil
}

// parseTileLevel parses a tile level: a decimal 0…63 without leading zeroes.
func parseTileLevel(s string) (uint8, error) {
	v, err := strconv.ParseUint(s, 10, 8)
	if err != nil || v > ledger.MaxTileLevel || strconv.FormatUint(v, 10) != s {
		return 0, badRequest("level", "the tile level must be a decimal 0…63 without leading zeroes")
	}
	return uint8(v), nil
}

// parseTileIndex parses "x001/x234/067[.p/W]" and names the part at fault.
func parseTileIndex(s string) (uint64, int, error) {
	index, width, err := proofs.ParseTileIndex(s)
	if err == nil {
		return index, width, nil
	}
	n, _, partial := strings.Cut(s, ".p/")
	if _, _, nerr := proofs.ParseTileIndex(n); nerr == nil && partial {
		return 0, 0, badRequest("width", "a partial tile's width must be a decimal 1…255 without leading zeroes")
	}
	return 0, 0, badRequest("index", "the tile index must be 3-digit path elements, all but the last starting with x, as x001/x234/067")
}

// tileMetrics are the collectors of the tile routes.
type tileMetrics struct {
	tiles     *prometheus.CounterVec
	tileBytes *prometheus.CounterVec
}

func newTileMetrics(reg *prometheus.Registry) tileMetrics {
	m := tileMetrics{
		tiles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditledger_tiles_served_total", Help: "Hash tiles and entry bundles served, by kind (hash, entries) and shape (full, partial).",
		}, []string{"kind", "shape"}),
		tileBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditledger_tile_bytes_served_total", Help: "Bytes of hash tiles and entry bundles served, by kind.",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.tiles, m.tileBytes)
	return m
}
