// Package api is auditledger's HTTP API (SPEC §4) on Gin: routes, request and
// response types, the bearer-token auth middleware and the mapping of ledger
// errors to statuses.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditledger/auditledger/ledger"
)

// Defaults for Config fields left zero.
const (
	// DefaultMaxBody is the largest request body accepted (SPEC §2: 32 MiB).
	DefaultMaxBody = 32 << 20
	// DefaultWaitTimeout bounds how long ?wait=checkpoint waits.
	DefaultWaitTimeout = 30 * time.Second
)

// Config configures a Server.
type Config struct {
	// Ledger is the open store the API serves. Required.
	Ledger *ledger.Ledger
	// MaxBody is the largest request body, in bytes.
	MaxBody int64
	// WaitTimeout bounds ?wait=checkpoint.
	WaitTimeout time.Duration
	// Logger receives access and error logs; nil means slog.Default().
	Logger *slog.Logger
	// Collectors are registered on /metrics beside the server's own (the
	// witness pusher's counters).
	Collectors []prometheus.Collector
}

// Server serves the API. It is an http.Handler.
type Server struct {
	cfg     Config
	l       *ledger.Ledger
	engine  *gin.Engine
	metrics *metrics
}

// New builds the API's routes.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("api: no ledger")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = DefaultWaitTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{cfg: cfg, l: cfg.Ledger, engine: gin.New()}
	s.metrics = newMetrics(s.l, cfg.Collectors...)
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

func (s *Server) routes() {
	e := s.engine
	e.HandleMethodNotAllowed = true
	e.Use(s.recover, s.observe)
	e.NoRoute(func(c *gin.Context) { fail(c, newError(http.StatusNotFound, "not_found", "no such route")) })
	e.NoMethod(func(c *gin.Context) {
		fail(c, newError(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route"))
	})

	// Public: what witnesses and monitors need.
	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.metrics.handler())
	pub := e.Group("/v1/logs/:log")
	pub.GET("/checkpoint", s.checkpoint)
	pub.GET("/checkpoints/:size", s.checkpointAt)
	pub.GET("/key", s.verifierKey)
	pub.GET("/proofs/consistency", s.consistency)
	pub.GET("/tile/*path", s.tile)

	auth := e.Group("/", s.authenticate)
	auth.POST("/v1/logs", require(ledger.RoleOperator), s.createLog)
	auth.GET("/v1/logs", require(ledger.RoleOperator), s.listLogs)
	auth.POST("/v1/keys", s.createKey)
	auth.GET("/v1/keys", s.listKeys)
	auth.DELETE("/v1/keys/:id", s.revokeKey)
	auth.GET("/audit/verify", s.auditVerify)
	auth.GET("/audit", s.auditEvents)

	lg := auth.Group("/v1/logs/:log")
	lg.POST("/events", require(ledger.RoleIngest), s.ingest)
	lg.GET("", require(ledger.RoleAuditor), s.logInfo)
	lg.PATCH("", require(ledger.RoleAdmin), s.patchLog)
	lg.GET("/events", require(ledger.RoleAuditor), s.events)
	lg.GET("/events/:index", require(ledger.RoleAuditor), s.entry)
	lg.POST("/events/:index/annotations", require(ledger.RoleAdmin), s.annotate)
	lg.GET("/proofs/inclusion", require(ledger.RoleAuditor), s.inclusion)
	lg.GET("/verify", require(ledger.RoleAuditor), s.verify)
	lg.GET("/bundle", require(ledger.RoleAuditor), s.bundle)
}

// recover turns a panic in a handler into a 500 error object, never a stack
// trace on the wire.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.cfg.Logger.Error("handler panic", "route", c.FullPath(), "panic", fmt.Sprint(r))
			fail(c, newError(http.StatusInternalServerError, "internal", "internal error"))
		}
	}()
	c.Next()
}

func (s *Server) healthz(c *gin.Context) {
	if err := s.l.Healthy(); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// audit appends a server-written audit entry for a state change made through
// the API, with the calling key as actor.
func (s *Server) audit(c *gin.Context, logID, action string, target *ledger.Target, details map[string]any) (uint64, error) {
	ev := ledger.Event{Category: "audit", Action: action, Actor: actorOf(callerKey(c)), Target: target, IP: clientIP(c)}
	if ua := c.GetHeader("User-Agent"); ua != "" && len(ua) <= 512 {
		ev.UserAgent = ua
	}
	if details != nil {
		b, err := marshalDetails(details)
		if err != nil {
			return 0, err
		}
		ev.Details = b
	}
	res, err := s.l.Append(c.Request.Context(), logID, []ledger.Event{ev}, ledger.AppendOptions{Internal: true})
	if err != nil {
		return 0, fmt.Errorf("couldn't record the %s audit entry: %w", action, err)
	}
	return res[0].Index, nil
}

func clientIP(c *gin.Context) string {
	ip := c.RemoteIP()
	if ip == "" {
		return ""
	}
	return ip
}
