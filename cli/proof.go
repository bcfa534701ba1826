package cli

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/gowebpki/jcs"
	"github.com/urfave/cli/v2"

	"github.com/auditledger/auditledger/proofs"
)

func proofCommand() *cli.Command {
	return &cli.Command{
		Name:  "proof",
		Usage: "fetch an entry's inclusion proof and its checkpoint, and verify both locally",
		Description: "Checks the checkpoint's signature with --key, recomputes the leaf hash from the entry\n" +
			"the server returns, and checks the inclusion proof against the checkpoint's root.\n" +
			"Exits 0 when all holds, 1 when anything fails to verify, 2 on a usage or network error.",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "key", EnvVars: envs("KEY"), Usage: "the log's verifier key (name+hash+key), or @FILE; required"},
			&cli.StringFlag{Name: "index", Usage: "entry index"},
			&cli.StringFlag{Name: "leaf-hash", Usage: "entry leaf hash (base64), instead of --index"},
		),
		Action: func(c *cli.Context) error {
			v, err := loadVerifier(c.String("key"))
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			q := url.Values{}
			switch {
			case c.String("index") != "" && c.String("leaf-hash") == "":
				if _, err := strconv.ParseUint(c.String("index"), 10, 64); err != nil {
					return cli.Exit("--index must be a non-negative integer", ExitUsage)
				}
				q.Set("index", c.String("index"))
			case c.String("leaf-hash") != "" && c.String("index") == "":
				q.Set("leaf_hash", c.String("leaf-hash"))
			default:
				return cli.Exit("give exactly one of --index and --leaf-hash", ExitUsage)
			}
			cl := newClient(c)
			logID := c.String("log")
			var resp struct {
				Index      uint64   `json:"index"`
				TreeSize   uint64   `json:"tree_size"`
				LeafHash   string   `json:"leaf_hash"`
				Hashes     []string `json:"hashes"`
				Checkpoint string   `json:"checkpoint"`
			}
			if err := cl.getJSON(c.Context, "/v1/logs/"+logID+"/proofs/inclusion?"+q.Encode(), &resp); err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			cp, _, err := proofs.OpenCheckpoint([]byte(resp.Checkpoint), v)
			if err != nil {
				return cli.Exit("checkpoint does not verify: "+err.Error(), ExitFound)
			}
			if cp.Size != resp.TreeSize {
				return cli.Exit(fmt.Sprintf("proof is for tree size %d but the checkpoint is %d", resp.TreeSize, cp.Size), ExitFound)
			}
			// Recompute the leaf hash from the entry itself rather than trust the server's.
			entry, err := cl.do(c.Context, "GET", "/v1/logs/"+logID+"/events/"+strconv.FormatUint(resp.Index, 10), nil, nil)
			if err != nil {
				return cli.Exit(err.Error(), ExitUsage)
			}
			leaf, err := leafOf(entry)
			if err != nil {
				return cli.Exit(err.Error(), ExitFound)
			}
			lh := proofs.LeafHash(leaf)
			if proofs.EncodeHash(lh) != resp.LeafHash {
				return cli.Exit("the entry does not hash to the proof's leaf hash", ExitFound)
			}
			hashes, err := proofs.DecodeHashes(resp.Hashes)
			if err != nil {
				return cli.Exit(err.Error(), ExitFound)
			}
			if err := proofs.VerifyInclusion(resp.Index, cp.Size, lh, hashes, cp.Root); err != nil {
				return cli.Exit(fmt.Sprintf("inclusion proof of entry %d in tree %d does not verify", resp.Index, cp.Size), ExitFound)
			}
			fmt.Fprintf(c.App.Writer, "entry %d is included in %s at size %d (checkpoint signed by %s)\nleaf hash %s\n",
				resp.Index, cp.Origin, cp.Size, v.Name(), resp.LeafHash)
			return nil
		},
	}
}

// leafOf rebuilds an entry's leaf from the API's entry object: drop the fields
// the server adds when serving (index, leaf_hash, chain_hash, annotations)
// and take the RFC 8785 canonical form of the rest.
func leafOf(entryJSON []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(entryJSON, &m); err != nil {
		return nil, fmt.Errorf("couldn't parse the entry: %w", err)
	}
	if _, ok := m["redacted"]; ok {
		return nil, fmt.Errorf("the entry's payload was removed by retention; only its hashes remain")
	}
	for _, k := range []string{"index", "leaf_hash", "chain_hash", "annotations"} {
		delete(m, k)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return jcs.Transform(b)
}
