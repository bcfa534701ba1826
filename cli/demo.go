package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"

	"github.com/auditledger/auditledger/demo"
	"github.com/auditledger/auditledger/ledger"
)

// loadDemo fills the default log with the demo history when it is empty.
func loadDemo(ctx context.Context, logger *slog.Logger, l *ledger.Ledger) error {
	size, err := l.Size(ledger.DefaultLogID)
	if err != nil {
		return err
	}
	if size > 0 {
		logger.Info("demo: the default log already has entries; leaving it alone", "size", size)
		return nil
	}
	events := demo.Generate(demo.Config{})
	for start := 0; start < len(events); start += 4096 {
		end := min(start+4096, len(events))
		if _, err := l.Append(ctx, ledger.DefaultLogID, events[start:end], ledger.AppendOptions{}); err != nil {
			return err
		}
	}
	logger.Info("demo: loaded 90 days of demo events into the default log", "events", len(events))
	return nil
}

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "write 90 days of realistic demo events, with planted patterns, to a server or as NDJSON",
		Description: "Without --url, prints the events as NDJSON on stdout. With --url, appends them to\n" +
			"the log (in batches of 1,000) and shows progress on a terminal. --planted lists the\n" +
			"patterns a weekly review should catch, with their event positions, on stderr.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "url", EnvVars: envs("URL"), Usage: "server base URL; empty: print NDJSON"},
			&cli.StringFlag{Name: "token", EnvVars: envs("TOKEN"), Usage: "an ingest (or higher) token"},
			&cli.StringFlag{Name: "log", Value: "default", EnvVars: envs("LOG"), Usage: "log id"},
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "random seed"},
			&cli.IntFlag{Name: "days", Value: 90, Usage: "days of history"},
			&cli.BoolFlag{Name: "planted", Usage: "list the planted patterns on stderr"},
		},
		Action: func(c *cli.Context) error {
			events, planted := demo.GenerateWithPlanted(demo.Config{Seed: c.Int64("seed"), Days: c.Int("days")})
			if c.Bool("planted") {
				for _, p := range planted {
					fmt.Fprintf(c.App.ErrWriter, "%s: %s (events %v)\n", p.Kind, p.Description, p.Positions)
				}
			}
			if c.String("url") == "" {
				w := bufio.NewWriter(c.App.Writer)
				for i := range events {
					b, err := json.Marshal(&events[i])
					if err != nil {
						return err
					}
					w.Write(b)
					w.WriteByte('\n')
				}
				return w.Flush()
			}
			cl := newClient(c)
			var bar *progressbar.ProgressBar
			if isTerminal(c.App.ErrWriter) {
				bar = progressbar.NewOptions(len(events), progressbar.OptionSetWriter(c.App.ErrWriter),
					progressbar.OptionSetDescription("demo"), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
					progressbar.OptionSetItsString("events"), progressbar.OptionClearOnFinish())
			}
			for start := 0; start < len(events); start += appendChunk {
				end := min(start+appendChunk, len(events))
				body, _ := json.Marshal(events[start:end])
				if _, err := cl.do(c.Context, "POST", "/v1/logs/"+c.String("log")+"/events", body, nil); err != nil {
					return cli.Exit(fmt.Sprintf("events %d–%d: %v", start, end-1, err), ExitUsage)
				}
				if bar != nil {
					bar.Set(end)
				}
			}
			if bar != nil {
				bar.Finish()
			}
			fmt.Fprintf(c.App.Writer, "appended %d demo events to %s\n", len(events), c.String("log"))
			return nil
		},
	}
}
