package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/auditledger/auditledger/witness"
)

func monitorCommand() *cli.Command {
	return &cli.Command{
		Name:  "monitor",
		Usage: "follow a log's checkpoints, alarm on a bad signature, rollback or fork; optionally serve as its witness",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "url", Value: "http://" + DefaultAddr, EnvVars: envs("URL"), Usage: "server base URL"},
			&cli.StringFlag{Name: "log", Value: "default", EnvVars: envs("LOG"), Usage: "log id"},
			&cli.StringFlag{Name: "key", EnvVars: envs("KEY"), Usage: "the log's verifier key (name+hash+key), or @FILE; required"},
			&cli.StringFlag{Name: "state", EnvVars: envs("STATE"), Usage: "state directory: the last verified checkpoint; required"},
			&cli.DurationFlag{Name: "interval", Value: witness.DefaultInterval, EnvVars: envs("INTERVAL"), Usage: "time between two checks"},
			&cli.BoolFlag{Name: "once", EnvVars: envs("ONCE"), Usage: "check once and exit"},
			&cli.StringFlag{Name: "alert-url", EnvVars: envs("ALERT_URL"), Usage: "POST the alarm JSON here before exiting 3"},
			&cli.BoolFlag{Name: "witness", EnvVars: envs("MONITOR_WITNESS"), Usage: "also serve C2SP tlog-witness add-checkpoint, cosigning what is verified"},
			&cli.StringFlag{Name: "listen", EnvVars: envs("LISTEN"), Usage: "with --witness: listen address HOST:PORT"},
			&cli.StringFlag{Name: "witness-key", EnvVars: envs("WITNESS_KEY"), Usage: "with --witness: file holding the witness's note signer key (its name is the witness's name)"},
			&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: envs("LOG_LEVEL"), Usage: "debug, info, warn or error"},
		},
		Action: runMonitor,
	}
}

// runMonitor exits 0 on SIGTERM (or after one good --once check), 3 after an
// alarm, 2 on a usage error; network errors are retried, and with --once
// they exit 2.
func runMonitor(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit("usage: monitor takes no arguments", ExitUsage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return cli.Exit("bad --log-level: "+err.Error(), ExitUsage)
	}
	logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	v, err := loadVerifier(c.String("key"))
	if err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	if c.String("state") == "" {
		return cli.Exit("--state is required: a directory for the last verified checkpoint", ExitUsage)
	}
	if c.Duration("interval") <= 0 {
		return cli.Exit("--interval must be positive", ExitUsage)
	}
	if c.Bool("witness") && c.Bool("once") {
		return cli.Exit("--witness serves until stopped; it does not go with --once", ExitUsage)
	}
	if c.Bool("witness") && (c.String("listen") == "" || c.String("witness-key") == "") {
		return cli.Exit("--witness needs --listen and --witness-key", ExitUsage)
	}
	st, err := witness.OpenState(c.String("state"), v)
	if err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	m, err := witness.NewMonitor(witness.MonitorConfig{
		URL: c.String("url"), Log: c.String("log"), Verifier: v, State: st,
		Interval: c.Duration("interval"), AlertURL: c.String("alert-url"), Logger: logger,
	})
	if err != nil {
		return cli.Exit(err.Error(), ExitUsage)
	}
	ctx := c.Context
	if c.Bool("once") {
		// Network errors and 5xx answers are retried a few times, then exit 2.
		var alarm *witness.Alarm
		for try := 1; ; try++ {
			err := m.Check(ctx)
			if errors.As(err, &alarm) {
				m.Alert(ctx, alarm)
				return cli.Exit(alarm.Error(), ExitAlarm)
			}
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil // SIGTERM
			}
			if try == 3 {
				return cli.Exit(err.Error(), ExitUsage)
			}
			logger.Warn("check failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(c.Duration("interval")):
			}
		}
		cur, _ := st.Latest()
		logger.Info("checkpoint verified", "log", c.String("log"), "size", cur.Size)
		return nil
	}
	if c.Bool("witness") {
		stop, err := startWitness(ctx, c, logger, m, st)
		if err != nil {
			return cli.Exit(err.Error(), ExitUsage)
		}
		defer stop()
	}
	if err := m.Run(ctx); err != nil {
		return cli.Exit(err.Error(), ExitAlarm)
	}
	return nil
}

// startWitness serves add-checkpoint on --listen and returns a function that
// stops it.
func startWitness(ctx context.Context, c *cli.Context, logger *slog.Logger, m *witness.Monitor, st *witness.State) (func(), error) {
	skey, err := os.ReadFile(c.String("witness-key"))
	if err != nil {
		return nil, errors.New("couldn't read --witness-key: " + err.Error())
	}
	signer, vkey, err := witness.NewCosigner(strings.TrimSpace(string(skey)))
	if err != nil {
		return nil, err
	}
	logVerifier, err := loadVerifier(c.String("key"))
	if err != nil {
		return nil, err
	}
	srv, err := witness.NewServer(witness.ServerConfig{Log: logVerifier, Signer: signer, State: st, Alarm: m.Raise, Logger: logger})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return nil, errors.New("couldn't listen on " + c.String("listen") + ": " + err.Error())
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go hs.Serve(ln) //nolint:errcheck // ends with Shutdown
	logger.Info("witness listening", "addr", ln.Addr().String(), "name", signer.Name(), "cosignature_key", vkey)
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx) //nolint:errcheck // best effort at exit
	}, nil
}
