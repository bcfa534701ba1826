package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/proofs"
)

func checkpointCommand() *cli.Command {
	return &cli.Command{
		Name:  "checkpoint",
		Usage: "fetch a log's latest checkpoint and verify its signature",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "key", EnvVars: envs("KEY"), Usage: "the log's verifier key (name+hash+key), or @FILE; required"},
		),
		Action: func(c *cli.Context) error {
			v, err := loadVerifier(c.String("key"))
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			cl := newClient(c)
			cp, msg, err := fetchCheckpoint(c.Context, cl, c.String("log"), v)
			if err != nil {
				return err
			}
			fmt.Fprint(c.App.Writer, string(msg))
			fmt.Fprintf(c.App.ErrWriter, "checkpoint ok: %s, size %d, signed by %s\n", cp.Origin, cp.Size, v.Name())
			return nil
		},
	}
}

// loadVerifier parses a verifier key given inline or as @FILE.
func loadVerifier(s string) (note.Verifier, error) {
	if s == "" {
		return nil, fmt.Errorf("--key is required: the log's verifier key (GET /v1/logs/LOG/key)")
	}
	if f, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("couldn't read key file: %w", err)
		}
		s = string(b)
	}
	v, err := note.NewVerifier(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("bad verifier key: %w", err)
	}
	return v, nil
}

// fetchCheckpoint gets a log's latest checkpoint and verifies it. A bad
// signature exits 1.
func fetchCheckpoint(ctx context.Context, cl *client, logID string, v note.Verifier) (proofs.Checkpoint, []byte, error) {
	msg, err := cl.do(ctx, "GET", "/v1/logs/"+logID+"/checkpoint", nil, nil)
	if err != nil {
		return proofs.Checkpoint{}, nil, cli.Exit(err.Error(), ExitUsage)
	}
	cp, _, err := proofs.OpenCheckpoint(msg, v)
	if err != nil {
		return proofs.Checkpoint{}, nil, cli.Exit("checkpoint does not verify: "+err.Error(), ExitFound)
	}
	return cp, msg, nil
}
