package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// appendChunk is how many events one request carries (SPEC: at most 10,000).
const appendChunk = 1000

func appendCommand() *cli.Command {
	return &cli.Command{
		Name:      "append",
		Usage:     "append events to a log on a server, from a JSON or NDJSON file or stdin",
		ArgsUsage: "[FILE|-]",
		Description: "FILE holds one JSON event, a JSON array of events, or one event per line (NDJSON).\n" +
			"Events are sent in requests of up to 1,000; each line of output is one stored entry.",
		Flags: append(clientFlags(),
			&cli.BoolFlag{Name: "wait", Usage: "wait until a signed checkpoint covers the entries"},
		),
		Action: func(c *cli.Context) error {
			var in io.Reader = os.Stdin
			if f := c.Args().First(); f != "" && f != "-" {
				fh, err := os.Open(f)
				if err != nil {
					return cli.Exit(err.Error(), ExitUsage)
				}
				defer fh.Close()
				in = fh
			}
			events, err := readEvents(in)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			cl := newClient(c)
			path := "/v1/logs/" + c.String("log") + "/events"
			if c.Bool("wait") {
				path += "?wait=checkpoint"
			}
			for start := 0; start < len(events); start += appendChunk {
				end := min(start+appendChunk, len(events))
				body, _ := json.Marshal(events[start:end])
				b, err := cl.do(c.Context, "POST", path, body, nil)
				if err != nil {
					return cli.Exit(fmt.Sprintf("events %d–%d: %v", start, end-1, err), ExitUsage)
				}
				var resp struct {
					Entries []json.RawMessage `json:"entries"`
				}
				if err := json.Unmarshal(b, &resp); err != nil {
					return cli.Exit("couldn't parse the answer: "+err.Error(), ExitUsage)
				}
				for _, e := range resp.Entries {
					fmt.Fprintln(c.App.Writer, string(e))
				}
			}
			return nil
		},
	}
}

// readEvents reads one JSON event, a JSON array, or NDJSON.
func readEvents(r io.Reader) ([]json.RawMessage, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("couldn't read events: %w", err)
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fmt.Errorf("no events given")
	}
	if data[0] == '[' {
		var evs []json.RawMessage
		if err := json.Unmarshal(data, &evs); err != nil {
			return nil, fmt.Errorf("couldn't parse the JSON array: %w", err)
		}
		return evs, nil
	}
	var evs []json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		if !json.Valid(l) {
			// Perhaps one pretty-printed event over many lines.
			if json.Valid(data) {
				return []json.RawMessage{data}, nil
			}
			return nil, fmt.Errorf("line %d is not a JSON event", line)
		}
		evs = append(evs, append(json.RawMessage(nil), l...))
	}
	return evs, sc.Err()
}
