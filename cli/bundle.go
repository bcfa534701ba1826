package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/auditledger/auditledger/proofs"
)

func bundleCommand() *cli.Command {
	return &cli.Command{
		Name:      "bundle",
		Usage:     "fetch an auditor bundle: a reproducible sample of a query's matches with their proofs, checkable offline with verify-bundle",
		ArgsUsage: "[QUERY]",
		Description: "The server draws the sample with --seed (a random one when not given; the bundle records it,\n" +
			"so the same seed and query draw the same entries again) and proves every entry against its\n" +
			"latest checkpoint. The bundle is recorded in the log as a bundle:create audit entry.\n" +
			"Exits 0 with the bundle written, 2 on a usage or network error or a bundle that does not parse.",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "q", Usage: `query, e.g. "category:role since:90d"`},
			&cli.IntFlag{Name: "sample", Value: 100, Usage: fmt.Sprintf("entries to sample (1–%d)", proofs.MaxBundleEntries)},
			&cli.StringFlag{Name: "seed", Usage: "sample seed (letters, digits, . _ -); default: a random one"},
			&cli.StringFlag{Name: "o", Usage: "output file (default: stdout)"},
		),
		Action: func(c *cli.Context) error {
			q := c.String("q")
			if c.NArg() > 0 {
				q = strings.TrimSpace(q + " " + strings.Join(c.Args().Slice(), " "))
			}
			v := url.Values{"q": {q}, "sample": {strconv.Itoa(c.Int("sample"))}}
			if s := c.String("seed"); s != "" {
				if err := proofs.CheckSeed(s); err != nil {
					return cli.Exit("--seed: "+err.Error(), ExitUsage)
				}
				v.Set("seed", s)
			}
			cl := newClient(c)
			cl.http = &http.Client{} // no overall timeout: sampling a large log scans it
			body, err := cl.do(c.Context, "GET", "/v1/logs/"+c.String("log")+"/bundle?"+v.Encode(), nil, nil)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			b, err := proofs.ParseBundle(body)
			if err != nil {
				return cli.Exit("the server's answer is not a whole bundle: "+err.Error(), ExitUsage)
			}
			out := c.String("o")
			if out == "" || out == "-" {
				if _, err := c.App.Writer.Write(body); err != nil {
					return cli.Exit(err.Error(), ExitUsage)
				}
			} else if err := os.WriteFile(out, body, 0o644); err != nil {
				return cli.Exit(fmt.Sprintf("couldn't write the bundle: %v", err), ExitUsage)
			}
			size := "?"
			text, _, _ := strings.Cut(b.Checkpoint, "\n\n")
			if cp, err := proofs.ParseCheckpoint([]byte(text + "\n")); err == nil {
				size = strconv.FormatUint(cp.Size, 10)
			}
			fmt.Fprintf(c.App.ErrWriter, "bundle of log %s: %d entries sampled from %d matches of %q below checkpoint size %s, seed %s\n",
				b.Log, len(b.Entries), b.Matches, b.Query, size, b.Sample.Seed)
			return nil
		},
	}
}
