package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// The tessera peer is a separate program in its own Go module
// (bench/peers/tessera), so that auditledger does not depend on Tessera.
// The bench talks to it through flags and one JSON object on stdout:
//
//	tessera-peer -dir D -leaves F -n N -adders A [-batch B] [-max-time T]
//
// appends the first N leaves of F (each a 4-byte big-endian length and the
// bytes, cycling if F holds fewer) to a new POSIX log in D, from A
// goroutines each calling Add and awaiting its index, with WithBatching(B,
// DefaultBatchMaxAge) or, when B is 0, Tessera's default batching; and
// prints a PeerResult. With -max-time it starts no new Add after T, so
// that slow settings (Tessera's default batching waits up to 250 ms for a
// batch to fill, a long time for one adder) end in bounded time; the result
// then counts fewer entries than N.

// PeerResult is what the tessera peer prints.
type PeerResult struct {
	// Entries is how many leaves were added and resolved to an index.
	Entries int `json:"entries"`
	// Seconds is the wall time from the first Add to the last index.
	Seconds float64 `json:"seconds"`
	// Rate is Entries / Seconds.
	Rate float64 `json:"rate"`
	// Size is the log's integrated size after shutdown.
	Size uint64 `json:"size"`
	// Adders, BatchMaxSize and BatchMaxAge are the settings used.
	Adders       int    `json:"adders"`
	BatchMaxSize int    `json:"batch_max_size"`
	BatchMaxAge  string `json:"batch_max_age"`
	// Tessera is the module version the peer was built with.
	Tessera string `json:"tessera"`
}

// writeLeaves writes leaves in the peer's format to a new file in dir.
func writeLeaves(dir string, leaves [][]byte) (string, error) {
	f, err := os.CreateTemp(dir, "leaves-*.bin")
	if err != nil {
		return "", fmt.Errorf("couldn't create the leaves file: %w", err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for _, leaf := range leaves {
		_ = binary.Write(w, binary.BigEndian, uint32(len(leaf)))
		_, _ = w.Write(leaf)
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("couldn't write the leaves file: %w", err)
	}
	return f.Name(), nil
}

// runPeer runs the tessera peer on a fresh log in dir and checks that the
// log holds exactly n entries afterwards.
func runPeer(ctx context.Context, bin, dir, leaves string, n, adders, batch int, maxTime time.Duration) (*PeerResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-dir", filepath.Join(dir, "log"), "-leaves", leaves,
		"-n", strconv.Itoa(n), "-adders", strconv.Itoa(adders), "-batch", strconv.Itoa(batch), "-max-time", maxTime.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("tessera peer: %w: %s", err, lastLines(stderr.Bytes(), 5))
	}
	var pr PeerResult
	if err := json.Unmarshal(stdout.Bytes(), &pr); err != nil {
		return nil, fmt.Errorf("couldn't read the tessera peer's answer %q: %w", stdout.Bytes(), err)
	}
	if pr.Entries > n || pr.Entries == 0 || pr.Size != uint64(pr.Entries) || (maxTime == 0 && pr.Entries != n) {
		return nil, fmt.Errorf("tessera peer: %w: %d asked, %d added, log size %d", errSize, n, pr.Entries, pr.Size)
	}
	return &pr, nil
}

func lastLines(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}

// runPeerHTTP runs the tessera peer as Tessera's HTTP example (-listen) on
// a fresh log in dir and posts leaves to it, one per request, from clients
// goroutines, until n are added or maxTime has passed. It checks that the
// log holds exactly the entries added, and returns their rate and every
// request's duration.
func runPeerHTTP(ctx context.Context, bin, dir string, leaves [][]byte, n, clients int, maxTime time.Duration) (float64, int, []time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-dir", filepath.Join(dir, "log"), "-listen", "127.0.0.1:0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, 0, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, nil, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, 0, nil, fmt.Errorf("couldn't start the tessera peer: %w", err)
	}
	defer func() {
		stdin.Close()
		_ = cmd.Wait()
	}()
	dec := json.NewDecoder(stdout)
	var hello struct {
		Listen string `json:"listen"`
	}
	if err := dec.Decode(&hello); err != nil {
		return 0, 0, nil, fmt.Errorf("tessera peer did not say where it listens: %w: %s", err, lastLines(stderr.Bytes(), 5))
	}
	srv := &server{base: "http://" + hello.Listen, client: newHTTPClient(clients)}
	defer srv.client.CloseIdleConnections()
	var added atomic.Int64
	start := time.Now()
	_, durs, err := drive(ctx, clients, n, func(ctx context.Context, i int) error {
		if time.Since(start) > maxTime {
			return nil
		}
		_, err := srv.do(ctx, http.MethodPost, "/add", leaves[i%len(leaves)], io.Discard)
		if err == nil {
			added.Add(1)
		}
		return err
	})
	took := time.Since(start)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("tessera peer over HTTP: %w", err)
	}
	stdin.Close()
	var bye struct {
		Size uint64 `json:"size"`
	}
	if err := dec.Decode(&bye); err != nil {
		return 0, 0, nil, fmt.Errorf("tessera peer did not report its size: %w: %s", err, lastLines(stderr.Bytes(), 5))
	}
	done := int(added.Load())
	if done == 0 || bye.Size != uint64(done) {
		return 0, 0, nil, fmt.Errorf("tessera peer over HTTP: %w: %d added, log size %d", errSize, done, bye.Size)
	}
	// Requests skipped after maxTime took no time; drop them.
	slices.Sort(durs)
	durs = durs[len(durs)-done:]
	return float64(done) / took.Seconds(), done, durs, nil
}
