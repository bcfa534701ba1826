package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/auditledger/auditledger/api"
	"github.com/auditledger/auditledger/ledger"
)

// FuzzIngestBody posts arbitrary bodies to the ingest handler: it never
// answers 500 or panics (the handler's recover would turn a panic into a
// 500), it answers 201 only for a body ledger.ParseEvents accepts, and then
// with one answer per event, in order, with contiguous indexes; every other
// answer is a well-formed error object.
//
// Run it with
//
//	go test -run '^$' -fuzz FuzzIngestBody -fuzztime 60s -fuzzminimizetime 3s ./api/
//
// The short -fuzzminimizetime matters: the binary instruments Gin, Pebble
// and Prometheus too, so each minimisation step diffs a large coverage map,
// and the default 60 s of minimising stalls the fuzzer for most of a run.
func FuzzIngestBody(f *testing.F) {
	for _, s := range []string{
		`{"category":"login","action":"login","actor":{"type":"user","id":"u1"}}`,
		`[{"category":"login","action":"login","actor":{"type":"user","id":"u1"}},{"category":"user","action":"user:invite","actor":{"type":"user","id":"u2","email":"a@b.c"},"target":{"type":"user","id":"u3"}}]`,
		`{"category":"role","action":"role:assign","actor":{"type":"api_key","id":"k","api_key_id":"k"},"time":"2024-05-01T12:00:00.5+02:00","ip":"::ffff:10.0.0.1","user_agent":"curl/8","result":"failure","details":{"role_from":"member","role_to":"admin","n":1e3,"x":[1,2.50,{"y":null}]}}`,
		`{"category":"login","action":"login","actor":{"type":"user","id":"u1"},"read_only":true}`,
		`{"category":"login","action":"login","actor":{"type":"user","id":"\u00e9\ud83d\ude00"},"target":null,"details":null}`,
		`{"category":"audit","action":"annotation:add","actor":{"type":"user","id":"u1"},"ref":1}`,
		`{"category":"login","action":"login","actor":{"type":"user","id":"u1"},"category":"user"}`,
		`{"category":"login","action":"login","actor":{"type":"user","id":"u1"},"details":{"a":1,"a":2}}`,
		`{"category":"login","action":"login","actor":{"type":"user","id":"u1"},"ip":"fe80::1%eth0"}`,
		`{"category":"login","action":"login","actor":{"type":"user","id":"u1"},"time":"2024-13-01T00:00:00Z"}`,
		`{"category":"login","action":"login","actor":{"type":"user","id":"u1"}} trailing`,
		`[]`, `[`, `{`, `null`, `"x"`, `42`, ``, ` `, `[{}]`, `[1]`, `{"":1}`, "\xff",
		`{"category":"login","action":"login","actor":{"type":"user","id":"u1"},"details":{"deep":` + strings.Repeat(`[`, 200) + strings.Repeat(`]`, 200) + `}}`,
	} {
		f.Add([]byte(s))
	}

	ctx := context.Background()
	// In memory: each accepted body is a commit, and a real fsync per
	// input would make the fuzzer measure the disk.
	l, err := ledger.Open(ctx, ledger.Config{
		Dir: "/fuzz", FS: vfs.NewMem(), Logger: quiet,
		// No checkpoint signing in the background: its coverage would make
		// every input look new to the fuzzer.
		CheckpointInterval: time.Hour,
		// Fuzz workers each open one; keep their memory small.
		PebbleOptions: func(o *pebble.Options) { o.MemTableSize = 4 << 20 },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	_, tok, err := l.CreateKey(ctx, "fuzz", ledger.RoleIngest, "default")
	if err != nil {
		f.Fatal(err)
	}
	srv, err := api.New(ctx, api.Config{Ledger: l, MaxBody: 1 << 20, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/logs/default/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		start := time.Now()
		srv.ServeHTTP(rec, req)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%d bytes took %v", len(body), d)
		}

		evs, _, perr := ledger.ParseEvents(body)
		switch rec.Code {
		case http.StatusInternalServerError:
			t.Fatalf("500 for %q: %s", body, rec.Body)
		case http.StatusCreated:
			if perr != nil {
				t.Fatalf("201 for %q, which ParseEvents refuses: %v", body, perr)
			}
			var out struct {
				Entries []struct {
					Index   *uint64 `json:"index"`
					Skipped string  `json:"skipped"`
				} `json:"entries"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("201 body %q: %v", rec.Body, err)
			}
			if len(out.Entries) != len(evs) {
				t.Fatalf("%d answers for %d events", len(out.Entries), len(evs))
			}
			var prev *uint64
			for i, e := range out.Entries {
				switch {
				case e.Skipped == "read_only" && e.Index == nil && evs[i].ReadOnly:
				case e.Skipped == "" && e.Index != nil:
					if prev != nil && *e.Index != *prev+1 {
						t.Fatalf("indexes not contiguous: %s", rec.Body)
					}
					prev = e.Index
				default:
					t.Fatalf("answer %d: %s", i, rec.Body)
				}
			}
		default:
			if perr == nil && len(evs) > 0 && rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("%d for %q, which ParseEvents accepts: %s", rec.Code, body, rec.Body)
			}
			if !isErrorObject(rec.Body.Bytes()) {
				t.Fatalf("%d with a body that is not an error object: %q", rec.Code, rec.Body)
			}
		}
	})
}
