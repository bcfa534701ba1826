package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/auditledger/auditledger/api"
	"github.com/auditledger/auditledger/ledger"
)

// DefaultDataDir is where serve keeps its data when --data is not given.
const DefaultDataDir = "auditledger-data"

// DefaultAddr is where serve listens when --addr is not given.
const DefaultAddr = "127.0.0.1:8080"

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the ledger server",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Value: DefaultDataDir, EnvVars: envs("DATA"), Usage: "data directory (Pebble store and log keys)"},
			&cli.StringFlag{Name: "addr", Value: DefaultAddr, EnvVars: envs("ADDR"), Usage: "listen address HOST:PORT"},
			&cli.StringFlag{Name: "origin", Value: ledger.DefaultOrigin, EnvVars: envs("ORIGIN"), Usage: "server origin; a log's checkpoint origin is ORIGIN/LOG"},
			&cli.DurationFlag{Name: "checkpoint-interval", Value: ledger.DefaultCheckpointInterval, EnvVars: envs("CHECKPOINT_INTERVAL"), Usage: "least time between two checkpoints of a log"},
			&cli.Int64Flag{Name: "max-body", Value: api.DefaultMaxBody, EnvVars: envs("MAX_BODY"), Usage: "largest request body in bytes"},
			&cli.IntFlag{Name: "max-pending", Value: ledger.DefaultMaxPending, EnvVars: envs("MAX_PENDING"), Usage: "events accepted but not yet committed before appends get 503"},
			&cli.BoolFlag{Name: "demo", EnvVars: envs("DEMO"), Usage: "fill an empty default log with 90 days of demo events"},
			&cli.StringFlag{Name: "admin-token", EnvVars: envs("ADMIN_TOKEN"), Usage: "make sure an operator key with this token exists"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: envs("LOG_LEVEL"), Usage: "debug, info, warn or error"},
		},
		Action: func(c *cli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return cli.Exit("bad --log-level: "+err.Error(), ExitUsage)
			}
			logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
			return serve(c.Context, logger, serveConfig{
				Ledger: ledger.Config{
					Dir:                c.String("data"),
					Origin:             c.String("origin"),
					CheckpointInterval: c.Duration("checkpoint-interval"),
					MaxPending:         c.Int("max-pending"),
					Logger:             logger,
				},
				Addr:       c.String("addr"),
				MaxBody:    c.Int64("max-body"),
				Demo:       c.Bool("demo"),
				AdminToken: c.String("admin-token"),
			})
		},
	}
}

type serveConfig struct {
	Ledger     ledger.Config
	Addr       string
	MaxBody    int64
	Demo       bool
	AdminToken string
}

// serve runs the server until ctx is done, then shuts down in order: stop
// taking connections, let in-flight requests (and their commits) finish,
// then close the ledger, which commits what it accepted and publishes a
// final checkpoint for each log that grew.
func serve(ctx context.Context, logger *slog.Logger, cfg serveConfig) error {
	l, err := ledger.Open(ctx, cfg.Ledger)
	if err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	defer l.Close()
	if cfg.AdminToken != "" {
		if err := l.EnsureOperatorToken(ctx, cfg.AdminToken); err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
	}
	if cfg.Demo {
		if err := loadDemo(ctx, logger, l); err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
	}
	srv, err := api.New(ctx, api.Config{Ledger: l, MaxBody: cfg.MaxBody, Logger: logger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return cli.Exit(fmt.Sprintf("couldn't listen on %s: %v", cfg.Addr, err), ExitUsage)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", ln.Addr().String(), "data", cfg.Ledger.Dir)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("shutdown", "err", err)
	}
	if err := l.Close(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

var _ = os.Stderr
