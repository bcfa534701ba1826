package ledger

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditledger/auditledger/proofs"
)

// TestRetention: entries are appended over ten days; with retention_days 3
// the retainer deletes the payloads of those received more than 3 days ago
// and no others. They read as redacted, every proof still verifies, and
// Verify counts them as redacted, not missing. A payload deleted above the
// mark, or a redacted entry newer than the mark's cutoff, is still a
// problem. The mark survives a restart, and a longer retention later does
// not bring anything back.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(start.UnixNano())
	cfg := Config{Dir: dir, CheckpointInterval: 10 * time.Millisecond,
		Now: func() time.Time { return time.Unix(0, now.Load()) }}
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendDays(t, l, &now, start, 10, 100) // day d: entries 100d … 100d+99
	// Nothing is deleted while retention_days is 0.
	if n := l.retainAll(); n != 0 {
		t.Fatalf("retention deleted %d payloads with retention_days 0", n)
	}

	// Day 10, noon: the cutoff is day 7, noon, so the entries of days 0–7
	// go and those of days 8 and 9 stay.
	now.Store(start.Add(10*24*time.Hour + 12*time.Hour).UnixNano())
	if _, err := l.UpdateSettings(ctx, DefaultLogID, LogSettings{RetentionDays: 3}); err != nil {
		t.Fatal(err)
	}
	// The retainer applies it at once (its next hourly pass is far off).
	const kept = 800 // the mark: entries below it are redacted
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := l.Read(DefaultLogID, kept-1)
		if err != nil {
			t.Fatal(err)
		}
		if r.Redacted() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the retainer did not delete the payload of entry 799 within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkRetained(t, l, kept, 1000)

	// A payload deleted above the mark is missing, not redacted.
	lg, err := l.handle(DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DB().Delete(entryKey(nil, lg.num, 900, kindPayload), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	rep, err := l.Verify(ctx, DefaultLogID, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Problems) != 1 || rep.Problems[0].Index != 900 || rep.Problems[0].Problem != "payload is missing" {
		t.Fatalf("verify after deleting payload 900 above the mark: %+v", rep)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// A mark moved past an entry newer than its cutoff is found. (Put it
	// back afterwards, with 900's payload, from a copy of the leaf.)
	l, err = Open(ctx, Config{Dir: dir, CheckpointInterval: 10 * time.Millisecond, Now: cfg.Now})
	if err != nil {
		t.Fatal(err)
	}
	ret, err := readRetention(l.DB(), lg.num)
	if err != nil || ret.mark != kept {
		t.Fatalf("the retention mark after a restart: %+v, %v; want mark %d", ret, err, kept)
	}
	forged := retention{mark: 901, cutoff: ret.cutoff}
	if err := l.DB().Set(retentionKey(lg.num), forged.encode(), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	for i := uint64(kept); i < 900; i++ {
		if err := l.DB().Delete(entryKey(nil, lg.num, i, kindPayload), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = l.Verify(ctx, DefaultLogID, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Problems) != 101 || rep.Problems[0].Index != kept ||
		!strings.Contains(rep.Problems[0].Problem, "received after the retention cutoff") {
		t.Fatalf("verify with the mark moved past entries newer than its cutoff: %d problems, first %+v", len(rep.Problems), rep.Problems)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionLonger: a longer retention_days later deletes nothing more
// and brings nothing back; the mark keeps its cutoff; new entries are kept.
func TestRetentionLonger(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now atomic.Int64
	now.Store(start.UnixNano())
	l, err := Open(ctx, Config{Dir: t.TempDir(), CheckpointInterval: 10 * time.Millisecond,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	appendDays(t, l, &now, start, 4, 50)
	now.Store(start.Add(4 * 24 * time.Hour).UnixNano())
	if _, err := l.UpdateSettings(ctx, DefaultLogID, LogSettings{RetentionDays: 2}); err != nil {
		t.Fatal(err)
	}
	// Days 0 and 1 are over 2 days old at day 4 (day 2 is exactly 2: kept).
	// The retainer, woken by the change, deletes them.
	lg, _ := l.handle(DefaultLogID)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ret, err := readRetention(l.DB(), lg.num)
		if err != nil {
			t.Fatal(err)
		}
		if ret.mark >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention mark %+v after 30s, want 100", ret)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := l.retainAll(); n != 0 {
		t.Fatalf("a second pass deleted %d more payloads", n)
	}
	first, _ := readRetention(l.DB(), lg.num)
	if first.mark != 100 {
		t.Fatalf("retention mark %+v, want 100", first)
	}
	if _, err := l.UpdateSettings(ctx, DefaultLogID, LogSettings{RetentionDays: 30}); err != nil {
		t.Fatal(err)
	}
	now.Store(start.Add(5 * 24 * time.Hour).UnixNano())
	if _, err := l.Append(ctx, DefaultLogID, []Event{testEvent(999)}, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := l.retainAll(); n != 0 {
		t.Fatalf("a longer retention deleted %d payloads", n)
	}
	if got, _ := readRetention(l.DB(), lg.num); got != first {
		t.Fatalf("the mark changed with a longer retention: %+v, was %+v", got, first)
	}
	checkRetained(t, l, 100, 201)
}

// checkRetained wants entries below mark redacted and the rest whole, every
// inclusion proof at the latest checkpoint verifying with
// golang.org/x/mod/sumdb/tlog from the stored leaf hashes, and Verify to
// count mark entries redacted and find nothing wrong.
func checkRetained(t *testing.T, l *Ledger, mark, size uint64) {
	t.Helper()
	info, err := l.Log(DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size {
		t.Fatalf("log size %d, want %d", info.Size, size)
	}
	for i := uint64(0); i < size; i++ {
		r, err := l.Read(DefaultLogID, i)
		if err != nil {
			t.Fatal(err)
		}
		if r.Redacted() != (i < mark) {
			t.Fatalf("entry %d: redacted %v, want %v", i, r.Redacted(), i < mark)
		}
		p, err := l.InclusionProof(DefaultLogID, i, size)
		if err != nil {
			t.Fatal(err)
		}
		tp := make(tlog.RecordProof, len(p))
		for k, h := range p {
			copy(tp[k][:], h)
		}
		if err := tlog.CheckRecord(tp, int64(size), tlog.Hash(info.Root), int64(i), tlog.Hash(r.LeafHash)); err != nil {
			t.Fatalf("inclusion of redacted=%v entry %d: %v", r.Redacted(), i, err)
		}
	}
	rep := verifyOK(t, l, DefaultLogID)
	if rep.Redacted != mark {
		t.Fatalf("verify counted %d redacted entries, want %d", rep.Redacted, mark)
	}
	if size >= proofs.TileWidth && mark > 0 {
		if _, err := l.EntryBundle(DefaultLogID, 0, proofs.TileWidth); !errors.Is(err, ErrRedacted) {
			t.Fatalf("the first entry bundle: %v, want ErrRedacted", err)
		}
	}
}

// appendDays appends perDay entries to the default log on each of days
// days from start, setting the clock now to each day's midnight.
func appendDays(t *testing.T, l *Ledger, now *atomic.Int64, start time.Time, days, perDay int) {
	t.Helper()
	for d := 0; d < days; d++ {
		now.Store(start.Add(time.Duration(d) * 24 * time.Hour).UnixNano())
		evs := make([]Event, perDay)
		for i := range evs {
			evs[i] = testEvent(perDay*d + i)
		}
		if _, err := l.Append(context.Background(), DefaultLogID, evs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
