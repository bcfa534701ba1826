package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func keysCommand() *cli.Command {
	base := []cli.Flag{
		&cli.StringFlag{Name: "url", Value: "http://" + DefaultAddr, EnvVars: envs("URL"), Usage: "server base URL"},
		&cli.StringFlag{Name: "token", EnvVars: envs("TOKEN"), Usage: "an operator or admin token"},
	}
	return &cli.Command{
		Name:  "keys",
		Usage: "create, list and revoke API keys on a server",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create a key; its token is printed once",
				Flags: append(base,
					&cli.StringFlag{Name: "name", Required: true, Usage: "a name for the key"},
					&cli.StringFlag{Name: "role", Required: true, Usage: "operator, admin, auditor or ingest"},
					&cli.StringFlag{Name: "log", Usage: "the log the key is for (not for operator keys)"},
				),
				Action: func(c *cli.Context) error {
					body, _ := json.Marshal(map[string]string{"name": c.String("name"), "role": c.String("role"), "log": c.String("log")})
					b, err := newClient(c).do(c.Context, "POST", "/v1/keys", body, nil)
					if err != nil {
						return cli.Exit(err.Error(), ExitUsage)
					}
					fmt.Fprintln(c.App.Writer, string(b))
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list keys",
				Flags: base,
				Action: func(c *cli.Context) error {
					var resp struct {
						Keys []struct {
							ID, Name, Role, Log, Created string
							Revoked                      bool
						} `json:"keys"`
					}
					if err := newClient(c).getJSON(c.Context, "/v1/keys", &resp); err != nil {
						return cli.Exit(err.Error(), ExitUsage)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tNAME\tROLE\tLOG\tCREATED\tREVOKED")
					for _, k := range resp.Keys {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", k.ID, k.Name, k.Role, k.Log, k.Created, k.Revoked)
					}
					return tw.Flush()
				},
			},
			{
				Name:      "revoke",
				Usage:     "revoke a key; it stops working at once",
				ArgsUsage: "ID",
				Flags:     base,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return cli.Exit("give the key id", ExitUsage)
					}
					b, err := newClient(c).do(c.Context, "DELETE", "/v1/keys/"+c.Args().First(), nil, nil)
					if err != nil {
						return cli.Exit(err.Error(), ExitUsage)
					}
					fmt.Fprintln(c.App.Writer, string(b))
					return nil
				},
			},
		},
	}
}
