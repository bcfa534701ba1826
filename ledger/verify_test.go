package ledger

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/proofs"
)

// The tamper fixture: log "audited" holds tamperSize entries (two full tiles
// and a partial one) with a checkpoint at each of tamperCheckpoints; log
// "bystander" holds a few entries, and tampering with "audited" must not
// touch its report.
const tamperSize = 600

var tamperCheckpoints = []uint64{0, 1, 100, 256, 300, 500, 600}

type tamperFixture struct {
	fs       vfs.FS
	num      uint32        // log number of "audited"
	verifier note.Verifier // the key of "audited"
	signer   note.Signer
	meta     *pebble.DB // the open ledger's meta store, where checkpoints are
}

func tamperConfig(fs vfs.FS, readOnly bool) Config {
	return Config{
		Dir:                "/data",
		FS:                 fs,
		CheckpointInterval: time.Millisecond,
		ReadOnly:           readOnly,
		Logger:             slog.New(slog.DiscardHandler),
	}
}

// tamperBase is the fixture built once; each test tampers with a copy.
var tamperBase struct {
	mu sync.Mutex // guards fx
	fx *tamperFixture
}

// newTamperFixture returns a fresh copy of the fixture store.
func newTamperFixture(t *testing.T) *tamperFixture {
	t.Helper()
	tamperBase.mu.Lock()
	defer tamperBase.mu.Unlock()
	if tamperBase.fx == nil {
		tamperBase.fx = buildTamperFixture(t)
	}
	fx := *tamperBase.fx
	// A crash clone that keeps all unsynced data is an exact copy.
	fx.fs = tamperBase.fx.fs.(*vfs.MemFS).CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 2))})
	return &fx
}

func buildTamperFixture(t *testing.T) *tamperFixture {
	t.Helper()
	ctx := context.Background()
	fx := &tamperFixture{fs: vfs.NewCrashableMem()}
	l, err := Open(ctx, tamperConfig(fx.fs, false))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	info, err := l.CreateLog(ctx, "audited", LogSettings{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateLog(ctx, "bystander", LogSettings{}); err != nil {
		t.Fatal(err)
	}
	size := uint64(0)
	for _, cp := range tamperCheckpoints[1:] {
		evs := make([]Event, cp-size)
		for i := range evs {
			evs[i] = testEvent(int(size) + i)
		}
		if _, err := l.Append(ctx, "audited", evs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		size = cp
		sc, err := l.WaitCheckpoint(ctx, "audited", size)
		if err != nil {
			t.Fatal(err)
		}
		if sc.Size != size {
			t.Fatalf("checkpoint at %d, want %d", sc.Size, size)
		}
	}
	if _, err := l.Append(ctx, "bystander", []Event{testEvent(1), testEvent(2), testEvent(3)}, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	lg, err := l.handle("audited")
	if err != nil {
		t.Fatal(err)
	}
	fx.num = lg.num
	if fx.verifier, err = note.NewVerifier(info.VerifierKey); err != nil {
		t.Fatal(err)
	}
	skey, err := readFile(fx.fs, "/data/keys/audited.key")
	if err != nil {
		t.Fatal(err)
	}
	if fx.signer, err = note.NewSigner(strings.TrimSpace(string(skey))); err != nil {
		t.Fatal(err)
	}
	return fx
}

func mustGet(t *testing.T, db *pebble.DB, key []byte) []byte {
	t.Helper()
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("get %x: %v", key, err)
	}
	defer closer.Close()
	return slices.Clone(v)
}

func mustSet(t *testing.T, db *pebble.DB, key, val []byte) {
	t.Helper()
	if err := db.Set(key, val, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func mustDelete(t *testing.T, db *pebble.DB, key []byte) {
	t.Helper()
	if _, closer, err := db.Get(key); err != nil {
		t.Fatalf("deleting %x, which is not there: %v", key, err)
	} else {
		closer.Close()
	}
	if err := db.Delete(key, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func (fx *tamperFixture) entryKey(index uint64, kind byte) []byte {
	return entryKey(nil, fx.num, index, kind)
}

// flip flips one bit of the value at key, at offset off.
func (fx *tamperFixture) flip(t *testing.T, db *pebble.DB, key []byte, off int) {
	t.Helper()
	v := mustGet(t, db, key)
	v[off] ^= 0x01
	mustSet(t, db, key, v)
}

// recordAt returns the key of the hash run that holds entry i's record, and
// the record's offset in it.
func (fx *tamperFixture) recordAt(t *testing.T, db *pebble.DB, i uint64) ([]byte, int) {
	t.Helper()
	for j := i; j <= i|(proofs.TileWidth-1); j++ {
		v, closer, err := db.Get(fx.entryKey(j, kindHashes))
		if err != nil {
			continue
		}
		n := uint64(len(v) / hashRecordLen)
		closer.Close()
		if j-i >= n {
			t.Fatalf("entry %d: the run at %d holds %d records", i, j, n)
		}
		return fx.entryKey(j, kindHashes), int(n-1-(j-i)) * hashRecordLen
	}
	t.Fatalf("entry %d: no hash run in its tile", i)
	return nil, 0
}

// flipRecord flips one bit of entry i's hash record, at offset off in it.
func (fx *tamperFixture) flipRecord(t *testing.T, db *pebble.DB, i uint64, off int) {
	t.Helper()
	key, at := fx.recordAt(t, db, i)
	fx.flip(t, db, key, at+off)
}

// swapRecords swaps the hash records of entries a and b.
func (fx *tamperFixture) swapRecords(t *testing.T, db *pebble.DB, a, b uint64) {
	t.Helper()
	ka, oa := fx.recordAt(t, db, a)
	kb, ob := fx.recordAt(t, db, b)
	va := mustGet(t, db, ka)
	vb := va
	if !bytes.Equal(ka, kb) {
		vb = mustGet(t, db, kb)
	}
	ra := slices.Clone(va[oa : oa+hashRecordLen])
	copy(va[oa:], vb[ob:ob+hashRecordLen])
	copy(vb[ob:], ra)
	mustSet(t, db, ka, va)
	mustSet(t, db, kb, vb)
}

// deleteEntry deletes every key of entry i: its payload, and its hash run
// and tiles when it is the last entry of them. Its record stays in a run that
// also holds others.
func (fx *tamperFixture) deleteEntry(t *testing.T, db *pebble.DB, i uint64) {
	t.Helper()
	if err := db.DeleteRange(fx.entryKey(i, 0), fx.entryKey(i+1, 0), pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// swapValues swaps the values of two keys.
func swapValues(t *testing.T, db *pebble.DB, a, b []byte) {
	t.Helper()
	va, vb := mustGet(t, db, a), mustGet(t, db, b)
	mustSet(t, db, a, vb)
	mustSet(t, db, b, va)
}

// checkpoint returns the stored checkpoint at size, opened with the log's key.
func (fx *tamperFixture) checkpoint(t *testing.T, size uint64) proofs.Checkpoint {
	t.Helper()
	c, _, err := proofs.OpenCheckpoint(mustGet(t, fx.meta, checkpointKey(fx.num, size)), fx.verifier)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// resign stores, at size, the checkpoint change makes of the one stored
// there, signed with the log's own key: a lie the key holder tells.
func (fx *tamperFixture) resign(t *testing.T, size uint64, change func(*proofs.Checkpoint)) {
	t.Helper()
	c := fx.checkpoint(t, size)
	change(&c)
	msg, err := proofs.SignCheckpoint(c, fx.signer)
	if err != nil {
		t.Fatal(err)
	}
	mustSet(t, fx.meta, checkpointKey(fx.num, size), msg)
}

// breakSignature flips a bit of the signature (not the key id) of the
// checkpoint stored at size.
func (fx *tamperFixture) breakSignature(t *testing.T, size uint64) {
	t.Helper()
	msg := mustGet(t, fx.meta, checkpointKey(fx.num, size))
	i := bytes.LastIndex(msg, []byte("\n— "))
	line := strings.TrimSuffix(string(msg[i+1:]), "\n")
	fields := strings.Fields(line)
	sig, err := base64.StdEncoding.DecodeString(fields[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[4+10] ^= 0x01 // past the 4-byte key id
	fields[2] = base64.StdEncoding.EncodeToString(sig)
	out := append(slices.Clone(msg[:i+1]), strings.Join(fields, " ")+"\n"...)
	if _, _, err := proofs.OpenCheckpoint(out, fx.verifier); err == nil {
		t.Fatal("the checkpoint still verifies")
	}
	mustSet(t, fx.meta, checkpointKey(fx.num, size), out)
}

// rollBack deletes every record of the entries from index on, leaving the
// checkpoints, as a store that ended at from would be: the hash run that
// held entry from-1 and later ones is cut after from-1.
func (fx *tamperFixture) rollBack(t *testing.T, db *pebble.DB, from uint64) {
	t.Helper()
	var run []byte
	if from > 0 {
		key, off := fx.recordAt(t, db, from-1)
		run = mustGet(t, db, key)[:off+hashRecordLen]
	}
	if err := db.DeleteRange(entryKey(nil, fx.num, from, 0), entriesEnd(fx.num), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if run != nil {
		mustSet(t, db, fx.entryKey(from-1, kindHashes), run)
	}
}

// tamperCase is one kind of tampering and where Verify must find it.
type tamperCase struct {
	name   string
	tamper func(t *testing.T, fx *tamperFixture, db *pebble.DB)
	// want are indexes at which Verify must report a problem; the first
	// problem it reports (the lowest index) must be want[0].
	want []uint64
	// text, when set, must appear in the problem at want[0].
	text string
}

var tamperCases = []tamperCase{
	{
		name: "payload_byte_flipped",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flip(t, db, fx.entryKey(123, kindPayload), 40)
		},
		want: []uint64{123},
		text: "payload",
	},
	{
		name: "entry_missing",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.deleteEntry(t, db, 400)
		},
		want: []uint64{400},
		text: "missing",
	},
	{
		name: "first_entry_missing",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.deleteEntry(t, db, 0)
		},
		want: []uint64{0},
		text: "missing",
	},
	{
		name: "entries_swapped",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.swapRecords(t, db, 200, 210)
			swapValues(t, db, fx.entryKey(200, kindPayload), fx.entryKey(210, kindPayload))
		},
		want: []uint64{200, 210},
	},
	{
		name: "payloads_swapped",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			swapValues(t, db, fx.entryKey(200, kindPayload), fx.entryKey(210, kindPayload))
		},
		want: []uint64{200, 210},
		text: "payload",
	},
	{
		name: "tail_rolled_back",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.rollBack(t, db, 550)
		},
		want: []uint64{550},
		text: "rolled back",
	},
	{
		// Past a checkpoint and a full tile's record (E511t0).
		name: "tail_rolled_back_past_tile",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.rollBack(t, db, 450)
		},
		want: []uint64{450},
		text: "rolled back",
	},
	{
		name: "checkpoint_signature_broken",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.breakSignature(t, 256)
		},
		want: []uint64{255},
		text: "checkpoint at size 256",
	},
	{
		name: "checkpoint_text_changed",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			msg := mustGet(t, fx.meta, checkpointKey(fx.num, 300))
			i := bytes.Index(msg, []byte("\n300\n"))
			msg[i+1] = '4' // the size line now says 400
			mustSet(t, fx.meta, checkpointKey(fx.num, 300), msg)
		},
		want: []uint64{299},
		text: "checkpoint at size 300",
	},
	{
		name: "checkpoint_root_wrong",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.resign(t, 300, func(c *proofs.Checkpoint) { c.Root[7] ^= 0x80 })
		},
		want: []uint64{299},
		text: "root",
	},
	{
		name: "checkpoint_chain_wrong",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.resign(t, 100, func(c *proofs.Checkpoint) { c.Chain[0] ^= 0x80 })
		},
		want: []uint64{99},
		text: "chain",
	},
	{
		name: "latest_checkpoint_root_wrong",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.resign(t, tamperSize, func(c *proofs.Checkpoint) { c.Root[31] ^= 0x01 })
		},
		want: []uint64{tamperSize - 1},
		text: "root",
	},
	{
		name: "empty_checkpoint_root_wrong",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.resign(t, 0, func(c *proofs.Checkpoint) { c.Root[0] ^= 0x01 })
		},
		want: []uint64{0},
		text: "root",
	},
	{
		// Hash 10 of tile 0/1 (stored under E511t0) covers entry 256+10.
		name: "tile_modified",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flip(t, db, tileKey(fx.num, 0, 1), 10*proofs.HashSize+3)
		},
		want: []uint64{266},
		text: "tile 0/1",
	},
	{
		name: "tile_truncated",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			v := mustGet(t, db, tileKey(fx.num, 0, 1))
			mustSet(t, db, tileKey(fx.num, 0, 1), v[:100])
		},
		want: []uint64{256},
		text: "tile 0/1",
	},
	{
		name: "tile_emptied",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			mustSet(t, db, tileKey(fx.num, 0, 1), []byte{})
		},
		want: []uint64{256},
		text: "tile 0/1",
	},
	{
		name: "tile_missing",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			mustDelete(t, db, tileKey(fx.num, 0, 0))
		},
		want: []uint64{0},
		text: "tile 0/0",
	},
	{
		name: "chain_hash_flipped",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flipRecord(t, db, 150, proofs.HashSize+5)
		},
		want: []uint64{150},
		text: "chain",
	},
	{
		name: "last_chain_hash_flipped",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flipRecord(t, db, tamperSize-1, proofs.HashSize)
		},
		want: []uint64{tamperSize - 1},
		text: "chain",
	},
	{
		name: "leaf_hash_flipped",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flipRecord(t, db, 150, 5)
		},
		want: []uint64{150},
	},
	{
		name: "received_at_changed",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flipRecord(t, db, 200, hashRecordLen-1)
		},
		want: []uint64{200},
		text: "received_at",
	},
	{
		// The run of entries 1–99 cut to 40 bytes: none of its records
		// can be read.
		name: "hash_run_truncated",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			key, _ := fx.recordAt(t, db, 77)
			mustSet(t, db, key, mustGet(t, db, key)[:40])
		},
		want: []uint64{1, 77, 99},
		text: "malformed",
	},
	{
		// The run of entries 1–99 without its first record: it now says
		// it holds entries 2–99, and entry 1 has no record.
		name: "hash_run_shortened",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			key, _ := fx.recordAt(t, db, 77)
			mustSet(t, db, key, mustGet(t, db, key)[hashRecordLen:])
		},
		want: []uint64{1, 2, 99},
		text: "hash record is missing",
	},
	{
		// A run that would cross the start of tile 1.
		name: "hash_run_across_tiles",
		tamper: func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			key, _ := fx.recordAt(t, db, 256)
			v := mustGet(t, db, key)
			mustSet(t, db, key, append(slices.Clone(v[:hashRecordLen]), v...))
		},
		want: []uint64{256},
		text: "malformed",
	},
}

// checkFound checks that a report finds the tampering where tc says.
func checkFound(t *testing.T, rep *VerifyReport, tc tamperCase) {
	t.Helper()
	if rep.OK {
		t.Fatalf("verify found nothing: %+v", rep)
	}
	if len(rep.Problems) == 0 {
		t.Fatal("not OK, but no problems")
	}
	first := rep.Problems[0]
	for _, p := range rep.Problems {
		if p.Index < first.Index {
			first = p
		}
	}
	if first.Index != tc.want[0] {
		t.Errorf("first problem at %d, want %d: %+v", first.Index, tc.want[0], rep.Problems)
	}
	for _, w := range tc.want {
		i := slices.IndexFunc(rep.Problems, func(p Problem) bool { return p.Index == w })
		if i < 0 {
			t.Errorf("no problem at index %d: %+v", w, rep.Problems)
			continue
		}
		if w == tc.want[0] && tc.text != "" &&
			!slices.ContainsFunc(rep.Problems, func(p Problem) bool { return p.Index == w && strings.Contains(p.Problem, tc.text) }) {
			t.Errorf("no problem at %d says %q: %+v", w, tc.text, rep.Problems)
		}
	}
}

// checkClean checks that a log's report finds nothing.
func checkClean(t *testing.T, l *Ledger, id string, size uint64) {
	t.Helper()
	rep, err := l.Verify(context.Background(), id, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Problems) != 0 || rep.Size != size {
		t.Fatalf("log %s: %+v", id, rep)
	}
}

// TestVerifyUntouched: a log nobody touched verifies, read-only and live, and
// every stored checkpoint is checked.
func TestVerifyUntouched(t *testing.T) {
	fx := newTamperFixture(t)
	for _, readOnly := range []bool{true, false} {
		l, err := Open(context.Background(), tamperConfig(fx.fs, readOnly))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := l.Verify(context.Background(), "audited", VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK || len(rep.Problems) != 0 || rep.Size != tamperSize || rep.Checkpoints != len(tamperCheckpoints) {
			t.Fatalf("read-only %v: %+v", readOnly, rep)
		}
		c, _, err := proofs.OpenCheckpoint(mustGet(t, l.MetaDB(), checkpointKey(fx.num, tamperSize)), fx.verifier)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Root != c.Root || rep.ChainHead != c.Chain {
			t.Fatalf("read-only %v: verify root %x chain %x, checkpoint %x %x", readOnly, rep.Root, rep.ChainHead, c.Root, c.Chain)
		}
		checkClean(t, l, "bystander", 3)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTamperVerify tampers with the stored bytes of a log through Pebble, one
// kind of tampering per subtest, and checks that Verify finds it at the right
// index: on the live ledger that was tampered with, and after reopening the
// store read-only, as `auditledger verify` does.
func TestTamperVerify(t *testing.T) {
	ctx := context.Background()
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			fx := newTamperFixture(t)
			l, err := Open(ctx, tamperConfig(fx.fs, false))
			if err != nil {
				t.Fatal(err)
			}
			fx.meta = l.MetaDB()
			tc.tamper(t, fx, l.DB())
			t.Run("live", func(t *testing.T) {
				rep, err := l.Verify(ctx, "audited", VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkFound(t, rep, tc)
				checkClean(t, l, "bystander", 3)
			})
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			t.Run("read-only", func(t *testing.T) {
				l, err := Open(ctx, tamperConfig(fx.fs, true))
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				rep, err := l.Verify(ctx, "audited", VerifyOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkFound(t, rep, tc)
				checkClean(t, l, "bystander", 3)
			})
		})
	}
}

// TestTamperOpenRefuses: Open (not read-only) checks the recovered tree
// against the last signed checkpoint and refuses a store that does not
// extend it, rather than sign a fork; read-only Open still lets verify run.
func TestTamperOpenRefuses(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, fx *tamperFixture, db *pebble.DB)
	}{
		{"checkpoint_root_wrong", func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.resign(t, tamperSize, func(c *proofs.Checkpoint) { c.Root[0] ^= 0x01 })
		}},
		{"checkpoint_chain_wrong", func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.resign(t, tamperSize, func(c *proofs.Checkpoint) { c.Chain[0] ^= 0x01 })
		}},
		{"checkpoint_signature_broken", func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.breakSignature(t, tamperSize)
		}},
		{"tail_rolled_back", func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.rollBack(t, db, tamperSize-1)
		}},
		{"tail_rolled_back_past_tile", func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.rollBack(t, db, 450)
		}},
		{"tile_modified", func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flip(t, db, tileKey(fx.num, 0, 1), 3)
		}},
		{"last_leaf_hash_flipped", func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flipRecord(t, db, tamperSize-1, 0)
		}},
		{"last_chain_hash_flipped", func(t *testing.T, fx *tamperFixture, db *pebble.DB) {
			fx.flipRecord(t, db, tamperSize-1, proofs.HashSize)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newTamperFixture(t)
			l, err := Open(ctx, tamperConfig(fx.fs, false))
			if err != nil {
				t.Fatal(err)
			}
			fx.meta = l.MetaDB()
			tc.tamper(t, fx, l.DB())
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if l, err := Open(ctx, tamperConfig(fx.fs, false)); err == nil {
				l.Close()
				t.Fatal("Open accepted a store that does not extend its last signed checkpoint")
			} else {
				t.Logf("Open: %v", err)
			}
			l, err = Open(ctx, tamperConfig(fx.fs, true))
			if err != nil {
				t.Fatalf("read-only open: %v", err)
			}
			defer l.Close()
			rep, err := l.Verify(ctx, "audited", VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK {
				t.Fatalf("verify found nothing: %+v", rep)
			}
		})
	}
	t.Run("untouched", func(t *testing.T) {
		fx := newTamperFixture(t)
		l, err := Open(ctx, tamperConfig(fx.fs, false))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		checkClean(t, l, "audited", tamperSize)
	})
}

// TestVerifyBesideAppends runs Verify again and again while other goroutines
// append: it reads one snapshot, so it finds nothing wrong with a log that
// only grows.
func TestVerifyBesideAppends(t *testing.T) {
	ctx := context.Background()
	l, err := Open(ctx, tamperConfig(vfs.NewMem(), false))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appends := 300
	if testing.Short() {
		appends = 100
	}
	var (
		running atomic.Int32
		wg      sync.WaitGroup
	)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		running.Add(1)
		go func() {
			defer wg.Done()
			defer running.Add(-1)
			for i := 0; i < appends; i++ {
				if _, err := l.Append(ctx, DefaultLogID, []Event{testEvent(i), testEvent(i + 1)}, AppendOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var bad []string
	rounds := 0
	for ; running.Load() > 0 || rounds < 5; rounds++ {
		rep, err := l.Verify(ctx, DefaultLogID, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK {
			bad = append(bad, fmt.Sprintf("size %d: %+v", rep.Size, rep.Problems))
		}
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d of %d verifies beside appends found problems in an untouched log; first: %s", len(bad), rounds, bad[0])
	}
	checkClean(t, l, DefaultLogID, uint64(8*appends))
}
