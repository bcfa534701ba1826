// Command tessera-peer appends leaves to a Tessera POSIX log, as a library
// (tessera.NewAppender with storage/posix), for `auditledger bench ingest
// --peer`. It lives in its own module so that auditledger does not depend on
// Tessera. The protocol with the bench (flags in, one JSON object out) is
// described in bench/peer.go of the main module and in README.md here.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// result is what the peer prints; it matches bench.PeerResult.
type result struct {
	Entries      int     `json:"entries"`
	Seconds      float64 `json:"seconds"`
	Rate         float64 `json:"rate"`
	Size         uint64  `json:"size"`
	Adders       int     `json:"adders"`
	BatchMaxSize int     `json:"batch_max_size"`
	BatchMaxAge  string  `json:"batch_max_age"`
	Tessera      string  `json:"tessera"`
}

func main() {
	dir := flag.String("dir", "", "directory of the new POSIX log (must not hold a log)")
	leavesPath := flag.String("leaves", "", "file of leaves: each a 4-byte big-endian length, then the bytes")
	n := flag.Int("n", 0, "leaves to add (cycling through the file)")
	adders := flag.Int("adders", 256, "goroutines each calling Add and awaiting its index")
	batch := flag.Int("batch", 0, "WithBatching max size (with tessera.DefaultBatchMaxAge); 0: Tessera's defaults")
	maxTime := flag.Duration("max-time", 0, "stop starting new Adds after this long (0: never); the result counts the Adds done")
	listen := flag.String("listen", "", "serve Tessera's HTTP example (POST /add) on this address instead, until stdin closes")
	flag.Parse()
	var err error
	if *listen != "" {
		err = serve(*dir, *listen)
	} else {
		err = run(*dir, *leavesPath, *n, *adders, *batch, *maxTime)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tessera-peer:", err)
		os.Exit(1)
	}
}

func run(dir, leavesPath string, n, adders, batch int, maxTime time.Duration) error {
	if dir == "" || leavesPath == "" || n <= 0 || adders <= 0 || batch < 0 {
		return errors.New("need -dir, -leaves, -n > 0, -adders > 0 and -batch ≥ 0")
	}
	leaves, err := readLeaves(leavesPath)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	signer, err := newSigner()
	if err != nil {
		return err
	}
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return fmt.Errorf("couldn't create the POSIX storage: %w", err)
	}
	opts := tessera.NewAppendOptions().WithCheckpointSigner(signer).
		// Enough room for every adder: pushback is not what is measured.
		WithPushback(uint(max(adders*2, tessera.DefaultPushbackMaxOutstanding))).
		// A checkpoint a second, like auditledger and Tessera's conformance
		// server; with the default 10 s, shutdown waits up to 10 s for the
		// checkpoint that covers the last entries (outside the timing).
		WithCheckpointInterval(time.Second)
	size, age := tessera.DefaultBatchMaxSize, tessera.DefaultBatchMaxAge
	if batch > 0 {
		size = batch
		opts = opts.WithBatching(uint(size), age)
	}
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		return fmt.Errorf("couldn't create the appender: %w", err)
	}

	var next, added atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for range adders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				if maxTime > 0 && time.Since(start) > maxTime {
					return
				}
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				leaf := leaves[i%int64(len(leaves))]
				for {
					_, err := appender.Add(ctx, tessera.NewEntry(leaf))()
					if errors.Is(err, tessera.ErrPushback) {
						time.Sleep(time.Millisecond)
						continue
					}
					if err != nil {
						failed.CompareAndSwap(nil, &err)
					} else {
						added.Add(1)
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if p := failed.Load(); p != nil {
		return fmt.Errorf("couldn't add: %w", *p)
	}
	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	defer scancel()
	if err := shutdown(sctx); err != nil {
		return fmt.Errorf("couldn't shut down: %w", err)
	}
	integrated, err := reader.IntegratedSize(ctx)
	if err != nil {
		return fmt.Errorf("couldn't read the log size: %w", err)
	}
	done := int(added.Load())
	return json.NewEncoder(os.Stdout).Encode(result{
		Entries: done, Seconds: took.Seconds(), Rate: float64(done) / took.Seconds(), Size: integrated,
		Adders: adders, BatchMaxSize: size, BatchMaxAge: age.String(), Tessera: tesseraVersion(),
	})
}

// serve runs the HTTP personality of Tessera's conformance server (its
// "HTTP example", cmd/conformance/posix): POST /add adds the body as one
// entry and answers its index once the POSIX storage has resolved it, with
// the options that example uses: batches of up to 256 entries or 1 s,
// checkpoints every second. It prints {"listen": ADDR} once it listens,
// serves until stdin closes, then shuts down and prints {"size": N}.
func serve(dir, listen string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signer, err := newSigner()
	if err != nil {
		return err
	}
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		return fmt.Errorf("couldn't create the POSIX storage: %w", err)
	}
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(time.Second).
		WithCheckpointRepublishInterval(time.Minute).
		WithBatching(256, time.Second))
	if err != nil {
		return fmt.Errorf("couldn't create the appender: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		idx, err := appender.Add(r.Context(), tessera.NewEntry(b))()
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, err.Error())
			return
		}
		_, _ = fmt.Fprintf(w, "%d", idx.Index)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("couldn't listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	if err := json.NewEncoder(os.Stdout).Encode(map[string]string{"listen": ln.Addr().String()}); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("couldn't stop serving: %w", err)
	}
	if err := shutdown(sctx); err != nil {
		return fmt.Errorf("couldn't shut down: %w", err)
	}
	size, err := reader.IntegratedSize(ctx)
	if err != nil {
		return fmt.Errorf("couldn't read the log size: %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]uint64{"size": size})
}

func newSigner() (note.Signer, error) {
	skey, _, err := note.GenerateKey(rand.Reader, "bench.tessera.example")
	if err != nil {
		return nil, fmt.Errorf("couldn't make a key: %w", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("couldn't make a signer: %w", err)
	}
	return signer, nil
}

func readLeaves(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("couldn't open the leaves: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var leaves [][]byte
	for {
		var n uint32
		if err := binary.Read(r, binary.BigEndian, &n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("couldn't read the leaves: %w", err)
		}
		leaf := make([]byte, n)
		if _, err := io.ReadFull(r, leaf); err != nil {
			return nil, fmt.Errorf("couldn't read the leaves: %w", err)
		}
		leaves = append(leaves, leaf)
	}
	if len(leaves) == 0 {
		return nil, errors.New("the leaves file is empty")
	}
	return leaves, nil
}

func tesseraVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/transparency-dev/tessera" {
				return d.Version
			}
		}
	}
	return "unknown"
}
