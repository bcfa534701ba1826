package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/urfave/cli/v2"

	"github.com/auditledger/auditledger/api"
	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/witness"
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
			&cli.IntFlag{Name: "index-memory", Value: ledger.DefaultIndexMemoryEntries, EnvVars: envs("INDEX_MEMORY"), Usage: "newest entries, over all logs, whose indexes are held in memory (~150 bytes each)"},
			&cli.BoolFlag{Name: "demo", EnvVars: envs("DEMO"), Usage: "fill an empty default log with 90 days of demo events"},
			&cli.StringFlag{Name: "admin-token", EnvVars: envs("ADMIN_TOKEN"), Usage: "make sure an operator key with this token exists"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: envs("LOG_LEVEL"), Usage: "debug, info, warn or error"},
			&cli.StringSliceFlag{Name: "witness", EnvVars: envs("WITNESS"), Usage: "LOG=URL=VKEY: a witness of LOG (repeat; merged with the stored list, a flag winning by name)"},
		},
		Action: func(c *cli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return cli.Exit("bad --log-level: "+err.Error(), ExitUsage)
			}
			logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
			witnesses, err := parseWitnessFlags(c.StringSlice("witness"))
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			return serve(c.Context, logger, serveConfig{
				Ledger: ledger.Config{
					Dir:                c.String("data"),
					Origin:             c.String("origin"),
					CheckpointInterval: c.Duration("checkpoint-interval"),
					MaxPending:         c.Int("max-pending"),
					IndexMemoryEntries: c.Int("index-memory"),
					Logger:             logger,
				},
				Addr:       c.String("addr"),
				MaxBody:    c.Int64("max-body"),
				Demo:       c.Bool("demo"),
				AdminToken: c.String("admin-token"),
				Witnesses:  witnesses,
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
	// Witnesses are the --witness flags by log.
	Witnesses map[string][]ledger.Witness
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
		switch err := l.EnsureOperatorToken(ctx, cfg.AdminToken); {
		case errors.Is(err, ledger.ErrRevokedToken):
			// Revoked stays revoked: the server starts without it.
			logger.Warn("the admin token's key was revoked and stays revoked; the token does not authenticate (set another token for a new operator key)", "err", err)
		case err != nil:
			return cli.Exit(err.Error(), ExitUsage)
		}
	}
	if cfg.Demo {
		if err := loadDemo(ctx, logger, l); err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
	}
	if err := applyWitnessFlags(ctx, l, cfg.Witnesses); err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	pusher, err := witness.New(witness.Config{Ledger: l, Logger: logger})
	if err != nil {
		return err
	}
	pctx, stopPush := context.WithCancel(ctx)
	pushDone := make(chan struct{})
	go func() { defer close(pushDone); pusher.Run(pctx) }()
	defer func() { stopPush(); <-pushDone }()
	srv, err := api.New(ctx, api.Config{Ledger: l, MaxBody: cfg.MaxBody, Logger: logger, Collectors: []prometheus.Collector{pusher}})
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
	// The pusher stops before the ledger closes; the final checkpoints are
	// pushed at the next start.
	stopPush()
	<-pushDone
	if err := l.Close(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

var _ = os.Stderr

// parseWitnessFlags parses --witness LOG=URL=VKEY values by log. The URL ends
// at the first '=' after LOG= (a witness URL has no query); the key's base64
// may end in '='.
func parseWitnessFlags(vals []string) (map[string][]ledger.Witness, error) {
	out := map[string][]ledger.Witness{}
	for _, v := range vals {
		logID, rest, ok1 := strings.Cut(v, "=")
		u, vkey, ok2 := strings.Cut(rest, "=")
		if !ok1 || !ok2 || logID == "" || u == "" || vkey == "" {
			return nil, fmt.Errorf("bad --witness %q: want LOG=URL=VKEY", v)
		}
		vkey = strings.TrimSpace(vkey)
		name, _, _ := strings.Cut(vkey, "+")
		out[logID] = ledger.MergeWitnesses(out[logID], []ledger.Witness{{Name: name, URL: u, Key: vkey}})
	}
	for logID, ws := range out {
		if err := ledger.CheckWitnesses(ws, 0); err != nil {
			return nil, fmt.Errorf("bad --witness for log %q: %w", logID, err)
		}
	}
	return out, nil
}

// applyWitnessFlags merges the --witness flags into each log's stored
// witnesses (a flag wins by name) and stores the result when it changed,
// recording a settings:update audit entry by the system actor.
func applyWitnessFlags(ctx context.Context, l *ledger.Ledger, flags map[string][]ledger.Witness) error {
	for logID, ws := range flags {
		info, err := l.Log(logID)
		if err != nil {
			return fmt.Errorf("--witness names log %q: %w", logID, err)
		}
		cur := info.Witnesses
		next := ledger.WitnessSettings{List: ledger.MergeWitnesses(cur.List, ws), Quorum: cur.Quorum}
		if slices.Equal(next.List, cur.List) {
			continue
		}
		if _, err := l.UpdateWitnesses(ctx, logID, next); err != nil {
			return fmt.Errorf("couldn't store the witnesses of log %q: %w", logID, err)
		}
		details, _ := json.Marshal(map[string]any{"witnesses_from": cur.List, "witnesses_to": next.List, "source": "serve --witness"})
		ev := ledger.Event{Category: "audit", Action: "settings:update", Actor: &ledger.Actor{Type: "system", ID: "serve"},
			Target: &ledger.Target{Type: "log", ID: logID}, Details: details}
		if _, err := l.Append(ctx, logID, []ledger.Event{ev}, ledger.AppendOptions{Internal: true}); err != nil {
			return fmt.Errorf("couldn't record the witness change of log %q: %w", logID, err)
		}
	}
	return nil
}
