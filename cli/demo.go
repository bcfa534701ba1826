package cli

import (
	"context"
	"log/slog"

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
