package cli

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"
)

func annotateCommand() *cli.Command {
	return &cli.Command{
		Name:      "annotate",
		Usage:     "add an annotation to an entry (entries are never edited: the note is a new entry)",
		ArgsUsage: "INDEX TEXT",
		Flags:     clientFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return cli.Exit("give the entry's index and the annotation text", ExitUsage)
			}
			idx, err := strconv.ParseUint(c.Args().Get(0), 10, 64)
			if err != nil {
				return cli.Exit("the index must be a non-negative integer", ExitUsage)
			}
			body, _ := json.Marshal(map[string]string{"text": c.Args().Get(1)})
			b, err := newClient(c).do(c.Context, "POST", fmt.Sprintf("/v1/logs/%s/events/%d/annotations", c.String("log"), idx), body, nil)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			fmt.Fprintln(c.App.Writer, string(b))
			return nil
		},
	}
}
