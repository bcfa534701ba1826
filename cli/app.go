// Package cli is the auditledger command line (urfave/cli/v2): one file per
// command, each binding its flags to the Config of the package that does the
// work.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes shared by the commands (SPEC §5).
const (
	// ExitOK means everything held.
	ExitOK = 0
	// ExitFound means a check found tampering or a failed proof.
	ExitFound = 1
	// ExitUsage means a usage or I/O error.
	ExitUsage = 2
	// ExitAlarm is the monitor's alarm.
	ExitAlarm = 3
)

// Version is the program version, set at build time with -ldflags.
var Version = "dev"

// NewApp builds the auditledger command line.
func NewApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "auditledger",
		Usage:     "a tamper-evident audit log with signed checkpoints and proofs",
		Version:   Version,
		Writer:    stdout,
		ErrWriter: stderr,
		Commands: []*cli.Command{
			serveCommand(),
			appendCommand(),
			proofCommand(),
			checkpointCommand(),
			verifyCommand(),
			queryCommand(),
			exportCommand(),
			annotateCommand(),
			keysCommand(),
			demoCommand(),
			bundleCommand(),
			verifyBundleCommand(),
			monitorCommand(),
			benchCommand(),
		},
		OnUsageError: func(c *cli.Context, err error, isSubcommand bool) error {
			return cli.Exit("usage: "+err.Error(), ExitUsage)
		},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(c.App.ErrWriter, "auditledger: unknown command %q; see `auditledger help`\n", name)
			cli.OsExiter(ExitUsage)
		},
		ExitErrHandler: func(c *cli.Context, err error) {},
	}
	bindEnv(app.Commands)
	return app
}

// Run runs the app until ctx is done and returns the process exit code.
func Run(app *cli.App, ctx context.Context, args []string) int {
	err := app.RunContext(ctx, args)
	if err == nil {
		return ExitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(app.ErrWriter, "auditledger:", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(app.ErrWriter, "auditledger:", err)
	return ExitUsage
}

// isTerminal reports whether w is a terminal, for progress bars.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func envs(name string) []string { return []string{"AUDITLEDGER_" + name} }

// bindEnv gives every flag of every command that has none the environment
// variable AUDITLEDGER_<FLAG NAME> (SPEC §5: every flag also reads one).
func bindEnv(cmds []*cli.Command) {
	for _, cmd := range cmds {
		for _, f := range cmd.Flags {
			env := "AUDITLEDGER_" + strings.ToUpper(strings.ReplaceAll(f.Names()[0], "-", "_"))
			switch f := f.(type) {
			case *cli.StringFlag:
				if len(f.EnvVars) == 0 {
					f.EnvVars = []string{env}
				}
			case *cli.BoolFlag:
				if len(f.EnvVars) == 0 {
					f.EnvVars = []string{env}
				}
			case *cli.IntFlag:
				if len(f.EnvVars) == 0 {
					f.EnvVars = []string{env}
				}
			case *cli.Int64Flag:
				if len(f.EnvVars) == 0 {
					f.EnvVars = []string{env}
				}
			case *cli.DurationFlag:
				if len(f.EnvVars) == 0 {
					f.EnvVars = []string{env}
				}
			case *cli.StringSliceFlag:
				if len(f.EnvVars) == 0 {
					f.EnvVars = []string{env}
				}
			default:
				panic(fmt.Sprintf("cli: flag %q of %q has a type bindEnv does not know", f.Names()[0], cmd.Name))
			}
		}
		bindEnv(cmd.Subcommands)
	}
}
