package cli

import (
	"io"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestEveryFlagReadsEnv: SPEC §5, every flag also reads an AUDITLEDGER_*
// environment variable.
func TestEveryFlagReadsEnv(t *testing.T) {
	app := NewApp(io.Discard, io.Discard)
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			for _, f := range cmd.Flags {
				help := f.String()
				if !strings.Contains(help, "$AUDITLEDGER_") {
					t.Errorf("%s %s: flag %q reads no AUDITLEDGER_* variable", path, cmd.Name, f.Names()[0])
				}
			}
			walk(path+" "+cmd.Name, cmd.Subcommands)
		}
	}
	walk("auditledger", app.Commands)
}
