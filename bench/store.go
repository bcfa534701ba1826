package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// storeBatch is the batch size a store is built with.
const storeBatch = 8192

// store is a log of a given size in a directory under Common.Dir, built once
// and reused by the proof, query, export and verify workloads.
type store struct {
	l    *ledger.Ledger
	dir  string
	size uint64 // the size built; the log may have grown since (export audit entries)
	// note says whether it was built (and how long it took) or reused.
	note string
}

// storeDir is where the store of size entries of the given seed lives.
func storeDir(c *Common, size uint64) string {
	return filepath.Join(c.Dir, fmt.Sprintf("store-%d-seed%d", size, c.Seed))
}

// openStore opens the store of size entries in Common.Dir, building it
// first when it is absent or incomplete (Append of storeBatch events per
// call, one caller). A store is complete once the file "complete" exists; a
// log that grew past size since (HTTP exports write an audit entry) is still
// used, with size as the tree size the workloads read.
func openStore(ctx context.Context, c *Common, size uint64) (*store, error) {
	dir := storeDir(c, size)
	if b, err := os.ReadFile(filepath.Join(dir, "complete")); err == nil {
		l, err := openLedger(ctx, dir)
		if err != nil {
			return nil, err
		}
		if got, err := l.Size(ledger.DefaultLogID); err == nil && got >= size {
			return &store{l: l, dir: dir, size: size, note: fmt.Sprintf("store %s reused (%s)", dir, strings.TrimSpace(string(b)))}, nil
		}
		l.Close()
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("couldn't remove the incomplete store %s: %w", dir, err)
	}
	l, err := openLedger(ctx, dir)
	if err != nil {
		return nil, err
	}
	stage := fmt.Sprintf("building a %d-entry store", size)
	start := time.Now()
	for done := uint64(0); done < size; {
		n := min(uint64(storeBatch), size-done)
		evs := Events(c.Seed, int(done), int(n))
		if _, err := l.Append(ctx, ledger.DefaultLogID, evs, ledger.AppendOptions{}); err != nil {
			l.Close()
			return nil, fmt.Errorf("couldn't build the store: %w", err)
		}
		done += n
		c.progress(stage, int64(done), int64(size))
	}
	took := time.Since(start)
	// A checkpoint at exactly size, for the proofs over HTTP.
	if _, err := l.WaitCheckpoint(ctx, ledger.DefaultLogID, size); err != nil {
		l.Close()
		return nil, fmt.Errorf("couldn't wait for the store's checkpoint: %w", err)
	}
	built := fmt.Sprintf("built in %s, %s entries/s, one caller, batch %d, %s",
		took.Round(100*time.Millisecond), FormatValue(float64(size)/took.Seconds()), storeBatch, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(built+"\n"), 0o644); err != nil {
		l.Close()
		return nil, fmt.Errorf("couldn't mark the store complete: %w", err)
	}
	c.Logger.Info("built a store", "dir", dir, "size", size, "took", took)
	return &store{l: l, dir: dir, size: size, note: fmt.Sprintf("store %s %s", dir, built)}, nil
}

// parseSize reads a size such as 1000, 1M or 10m.
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	switch {
	case strings.HasSuffix(s, "M"), strings.HasSuffix(s, "m"):
		mult, s = 1_000_000, s[:len(s)-1]
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult, s = 1_000, s[:len(s)-1]
	}
	n, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad size %q: want a positive number, optionally with k or M", s)
	}
	return n * mult, nil
}

// ParseSizes reads a comma-separated list of sizes such as "1M,10M".
func ParseSizes(s string) ([]uint64, error) {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := parseSize(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}
