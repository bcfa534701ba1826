package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func queryFlags() []cli.Flag {
	return append(clientFlags(),
		&cli.StringFlag{Name: "q", Usage: `query, e.g. "category:role since:7d -actor:svc*"`},
		&cli.StringFlag{Name: "order", Value: "desc", Usage: "desc (newest first) or asc"},
	)
}

func queryCommand() *cli.Command {
	return &cli.Command{
		Name:      "query",
		Usage:     "search a log's entries (SPEC query syntax); a table on a terminal, JSON otherwise",
		ArgsUsage: "[QUERY]",
		Flags: append(queryFlags(),
			&cli.IntFlag{Name: "limit", Value: 100, Usage: "entries per page (at most 1000)"},
			&cli.StringFlag{Name: "cursor", Usage: "the next_cursor of a previous page"},
			&cli.BoolFlag{Name: "json", Usage: "print the JSON page even on a terminal"},
		),
		Action: func(c *cli.Context) error {
			q := c.String("q")
			if c.NArg() > 0 {
				q = strings.TrimSpace(q + " " + strings.Join(c.Args().Slice(), " "))
			}
			v := url.Values{"q": {q}, "order": {c.String("order")}, "limit": {fmt.Sprint(c.Int("limit"))}}
			if cu := c.String("cursor"); cu != "" {
				v.Set("cursor", cu)
			}
			b, err := newClient(c).do(c.Context, "GET", "/v1/logs/"+c.String("log")+"/events?"+v.Encode(), nil, nil)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			if c.Bool("json") || !isTerminal(c.App.Writer) {
				fmt.Fprintln(c.App.Writer, string(b))
				return nil
			}
			var page struct {
				Events []struct {
					Index    uint64 `json:"index"`
					Time     string `json:"time"`
					Category string `json:"category"`
					Action   string `json:"action"`
					Actor    struct{ ID, Name, Email string }
					Target   *struct{ ID, Name string }
					IP       string `json:"ip"`
					Result   string `json:"result"`
					Redacted bool   `json:"redacted"`
				} `json:"events"`
				NextCursor *string `json:"next_cursor"`
			}
			if err := json.Unmarshal(b, &page); err != nil {
				return cli.Exit("couldn't parse the answer: "+err.Error(), ExitUsage)
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "INDEX\tTIME\tACTION\tACTOR\tTARGET\tIP\tRESULT")
			for _, e := range page.Events {
				if e.Redacted {
					fmt.Fprintf(tw, "%d\t(redacted)\t\t\t\t\t\n", e.Index)
					continue
				}
				actor := firstOf(e.Actor.Email, e.Actor.Name, e.Actor.ID)
				target := ""
				if e.Target != nil {
					target = firstOf(e.Target.Name, e.Target.ID)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Index, e.Time, e.Action, actor, target, e.IP, e.Result)
			}
			tw.Flush()
			if page.NextCursor != nil {
				fmt.Fprintf(c.App.ErrWriter, "more: --cursor %s\n", *page.NextCursor)
			}
			return nil
		},
	}
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "export every matching entry as CSV or NDJSON (the export is recorded in the log)",
		ArgsUsage: "[QUERY]",
		Flags: append(queryFlags(),
			&cli.StringFlag{Name: "format", Value: "csv", Usage: "csv or ndjson"},
			&cli.BoolFlag{Name: "bom", Usage: "start the CSV with a UTF-8 BOM, for Excel"},
			&cli.StringFlag{Name: "o", Usage: "output file (default: stdout)"},
		),
		Action: func(c *cli.Context) error {
			q := c.String("q")
			if c.NArg() > 0 {
				q = strings.TrimSpace(q + " " + strings.Join(c.Args().Slice(), " "))
			}
			v := url.Values{"q": {q}, "order": {c.String("order")}, "format": {c.String("format")}, "bom": {fmt.Sprint(c.Bool("bom"))}}
			return streamTo(c, "/v1/logs/"+c.String("log")+"/events?"+v.Encode(), c.String("o"))
		},
	}
}
