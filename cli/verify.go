package cli

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check a stopped server's data offline: replay every entry, the chain, the tree and the checkpoints",
		Description: "Prints one `index N: problem` line per problem. Exits 0 when all holds,\n" +
			"1 when it finds tampering, 2 on a usage or I/O error.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data", Value: DefaultDataDir, EnvVars: envs("DATA"), Usage: "data directory"},
			&cli.StringSliceFlag{Name: "log", Usage: "log to verify (repeatable); default every log"},
		},
		Action: func(c *cli.Context) error {
			l, err := ledger.Open(c.Context, ledger.Config{Dir: c.String("data"), ReadOnly: true, BlockCacheBytes: ledger.VerifyBlockCacheBytes})
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			defer l.Close()
			ids := c.StringSlice("log")
			if len(ids) == 0 {
				for _, info := range l.Logs() {
					ids = append(ids, info.ID)
				}
			}
			out := c.App.Writer
			bad := false
			for _, id := range ids {
				var bar *progressbar.ProgressBar
				opts := ledger.VerifyOptions{}
				if isTerminal(c.App.ErrWriter) {
					bar = progressbar.NewOptions64(-1, progressbar.OptionSetWriter(c.App.ErrWriter),
						progressbar.OptionSetDescription("verify "+id), progressbar.OptionShowCount(),
						progressbar.OptionShowIts(), progressbar.OptionSetItsString("entries"),
						progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
					opts.Progress = func(done, total uint64) { bar.Set64(int64(done)) }
				}
				start := time.Now()
				rep, err := l.Verify(c.Context, id, opts)
				if bar != nil {
					bar.Finish()
				}
				if err != nil {
					return cli.Exit(fmt.Sprintf("log %s: %v", id, err), ExitUsage)
				}
				for _, p := range rep.Problems {
					fmt.Fprintf(out, "index %d: %s (log %s)\n", p.Index, p.Problem, id)
				}
				if rep.MoreProblems > 0 {
					fmt.Fprintf(out, "… and %d more problems (log %s)\n", rep.MoreProblems, id)
				}
				status := "ok"
				if !rep.OK {
					status, bad = "FAILED", true
				}
				redacted := ""
				if rep.Redacted > 0 {
					redacted = fmt.Sprintf(" (%d of them redacted by retention)", rep.Redacted)
				}
				fmt.Fprintf(out, "log %s: %s: %d entries%s, %d checkpoints, root %s, chain %s (%.1fs)\n",
					id, status, rep.Size, redacted, rep.Checkpoints, proofs.EncodeHash(rep.Root), proofs.EncodeHash(rep.ChainHead), time.Since(start).Seconds())
			}
			if bad {
				return cli.Exit("", ExitFound)
			}
			return nil
		},
	}
}
