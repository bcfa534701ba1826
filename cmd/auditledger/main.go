// Command auditledger is the tamper-evident audit ledger: server, client and
// offline verifier in one binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/auditledger/auditledger/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := cli.NewApp(os.Stdout, os.Stderr)
	code := cli.Run(app, ctx, os.Args)
	stop()
	os.Exit(code)
}
