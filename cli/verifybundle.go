package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/ledger"
	"github.com/auditledger/auditledger/proofs"
)

func verifyBundleCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify-bundle",
		Usage:     "check an auditor bundle offline: the checkpoint's signature, every leaf hash from its entry, every inclusion proof",
		ArgsUsage: "FILE",
		Description: "Checks the checkpoint's signature with --key (the log's verifier key from a source you trust,\n" +
			"inline or @FILE), recomputes each entry's leaf hash from its bytes, checks each inclusion proof\n" +
			"against the signed root, parses each entry as the ledger does and matches it against the\n" +
			"bundle's query. With --matches (the match list, one index a line, or an NDJSON export of the\n" +
			"same query) it also recomputes the sample from the seed. Prints what it checked and one line\n" +
			"per problem; exits 0 when all holds, 1 when anything fails, 2 on a usage or I/O error.\n" +
			"Flags may also follow FILE.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "key", EnvVars: envs("KEY"), Usage: "the log's verifier key (name+hash+key), or @FILE; required"},
			&cli.StringFlag{Name: "matches", Usage: "file of the query's matches (indexes, or NDJSON with \"index\"), to recompute the sample"},
		},
		Action: func(c *cli.Context) error {
			file, key, matchesFile, err := verifyBundleArgs(c)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			key, err = loadKey(key)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			var opts proofs.BundleOptions
			if matchesFile != "" {
				if opts.Matches, err = readMatches(matchesFile); err != nil {
					return cli.Exit(err.Error(), ExitUsage)
				}
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return cli.Exit(fmt.Sprintf("couldn't read the bundle: %v", err), ExitUsage)
			}
			out := c.App.Writer
			b, err := proofs.ParseBundle(data)
			if err != nil {
				fmt.Fprintf(out, "bundle %s: %v\nFAILED: not a bundle this tool can check\n", file, err)
				return cli.Exit("", ExitFound)
			}
			// The query the sample was drawn from, to check each entry
			// against; its times are absolute, so any now will do.
			created, _ := time.Parse(time.RFC3339Nano, b.CreatedAt)
			query, qerr := ledger.ParseQuery(b.Query, created)
			opts.CheckEntry = func(_ uint64, leaf []byte) error {
				en, err := ledger.ParseEntry(leaf)
				if err != nil {
					return err
				}
				if query != nil && !query.Match(en) {
					return fmt.Errorf("does not match the bundle's query %q", b.Query)
				}
				return nil
			}
			r := proofs.VerifyBundle(b, key, opts)
			if qerr != nil {
				r.Problems = append([]proofs.BundleProblem{{Where: "bundle", Problem: "query does not parse: " + qerr.Error()}}, r.Problems...)
				r.OK = false
			}
			printBundleReport(out, file, b, r)
			if !r.OK {
				return cli.Exit("", ExitFound)
			}
			return nil
		},
	}
}

// verifyBundleArgs returns the bundle file and the flags, which may come
// before FILE (as urfave/cli parses them) or after it (as the SPEC writes
// `verify-bundle FILE --key VKEY`).
func verifyBundleArgs(c *cli.Context) (file, key, matches string, err error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return "", "", "", fmt.Errorf("give the bundle file")
	}
	fs := flag.NewFlagSet("verify-bundle", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	k := fs.String("key", c.String("key"), "")
	m := fs.String("matches", c.String("matches"), "")
	if err := fs.Parse(args[1:]); err != nil {
		return "", "", "", fmt.Errorf("usage: %v", err)
	}
	if fs.NArg() > 0 {
		return "", "", "", fmt.Errorf("give one bundle file, not %d arguments", 1+fs.NArg())
	}
	return args[0], *k, *m, nil
}

// loadKey returns a verifier key given inline or as @FILE, checked.
func loadKey(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("--key is required: the log's verifier key (GET /v1/logs/LOG/key)")
	}
	if f, ok := strings.CutPrefix(s, "@"); ok {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("couldn't read key file: %w", err)
		}
		s = string(b)
	}
	s = strings.TrimSpace(s)
	if _, err := note.NewVerifier(s); err != nil {
		return "", fmt.Errorf("bad verifier key: %w", err)
	}
	return s, nil
}

// readMatches reads a match list: one index a line, or NDJSON objects with
// an "index" member (an events export); blank lines are skipped.
func readMatches(path string) ([]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't read the matches: %w", err)
	}
	defer f.Close()
	out := []uint64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var idx uint64
		if line[0] == '{' {
			var e struct {
				Index *uint64 `json:"index"`
			}
			if err := json.Unmarshal(line, &e); err != nil || e.Index == nil {
				return nil, fmt.Errorf("matches line %d: not an object with an index", n)
			}
			idx = *e.Index
		} else if idx, err = strconv.ParseUint(string(line), 10, 64); err != nil {
			return nil, fmt.Errorf("matches line %d: %q is not an index", n, line)
		}
		out = append(out, idx)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read the matches: %w", err)
	}
	return out, nil
}

// printBundleReport prints what was checked, each problem on its own line,
// and the verdict.
func printBundleReport(w io.Writer, file string, b *proofs.Bundle, r *proofs.BundleReport) {
	fmt.Fprintf(w, "bundle:     %s: log %s, made %s\n", file, b.Log, b.CreatedAt)
	fmt.Fprintf(w, "query:      %q, %d matches below the checkpoint\n", b.Query, b.Matches)
	fmt.Fprintf(w, "sample:     %d entries of %d asked, seed %s (%s)", len(b.Entries), b.Sample.Size, b.Sample.Seed, b.Sample.Algorithm)
	if r.SampleChecked {
		fmt.Fprint(w, ", recomputed from the matches given")
	}
	fmt.Fprintln(w)
	if r.CheckpointParsed {
		fmt.Fprintf(w, "checkpoint: %s, size %d, root %s\n", r.Checkpoint.Origin, r.Checkpoint.Size, proofs.EncodeHash(r.Checkpoint.Root))
	} else {
		fmt.Fprintln(w, "checkpoint: does not parse")
	}
	if r.SignatureOK {
		fmt.Fprintf(w, "signature:  ok, by %s (the key given)\n", r.KeyName)
	} else {
		fmt.Fprintf(w, "signature:  FAILED: not by the key given (%s)\n", r.KeyName)
	}
	fmt.Fprintf(w, "entries:    %d of %d hold: leaf hash recomputed from the entry, inclusion proof against the checkpoint's root, entry parsed and matched against the query",
		r.Proved, r.Entries)
	if r.Redacted > 0 {
		fmt.Fprintf(w, " (%d redacted by retention: only the leaf hash is proved)", r.Redacted)
	}
	fmt.Fprintln(w)
	for _, p := range r.Problems {
		fmt.Fprintln(w, p.String())
	}
	if r.OK {
		fmt.Fprintln(w, "ok: every check holds")
	} else {
		fmt.Fprintf(w, "FAILED: %d problems\n", len(r.Problems))
	}
}
