package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// walFaultEnv names the data directory in which the child process of
// TestWALFailureStopsTheProcess appends until its WAL fails.
const walFaultEnv = "AUDITLEDGER_TEST_WAL_FAULT_DIR"

// TestWALFailureStopsTheProcess: a write or sync of the main store's WAL
// that fails is fatal. Pebble's commit pipeline cannot go on after it, so
// the process stops (Pebble's Logger.Fatalf, which panics) rather than
// answering. A child process appends, acknowledges what it committed, and
// then meets a failing WAL; after it dies, every acknowledged entry is in
// the store, the log verifies, and appends go on from where it ends.
func TestWALFailureStopsTheProcess(t *testing.T) {
	if dir := os.Getenv(walFaultEnv); dir != "" {
		walFaultChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestWALFailureStopsTheProcess$", "-test.count", "1")
	cmd.Env = append(os.Environ(), walFaultEnv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err == nil {
		t.Fatalf("the child survived a failing WAL:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "pebble: fatal commit error") {
		t.Fatalf("the child died (%v) without Pebble's fatal commit error:\n%s", err, out.String())
	}
	var acked uint64
	if i := strings.Index(out.String(), "acknowledged "); i < 0 {
		t.Fatalf("the child acknowledged nothing:\n%s", out.String())
	} else if _, err := fmt.Sscan(out.String()[i+len("acknowledged "):], &acked); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	l := openTest(t, dir)
	defer l.Close()
	size, err := l.Size(DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	// The failed commit was never acknowledged; whether it reached the
	// disk is the disk's to say, but all or none of it did.
	if size != acked && size != acked+2 {
		t.Fatalf("size %d after the restart, want %d (or %d)", size, acked, acked+2)
	}
	for i := uint64(0); i < acked; i++ {
		if r, err := l.Read(DefaultLogID, i); err != nil || r.Redacted() {
			t.Fatalf("acknowledged entry %d: %v", i, err)
		}
	}
	verifyOK(t, l, DefaultLogID)
	res, err := l.Append(ctx, DefaultLogID, []Event{testEvent(1)}, AppendOptions{})
	if err != nil || res[0].Index != size {
		t.Fatalf("append after the restart: %+v, %v; want index %d", res, err, size)
	}
	verifyOK(t, l, DefaultLogID)
}

// walFaultChild is the child of TestWALFailureStopsTheProcess: it appends in
// dir, prints what was acknowledged, makes the WAL fail, and appends again,
// which must not return.
func walFaultChild(dir string) {
	walFault := &errorfs.Toggle{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.Contains(op.Path, "/db/") && strings.HasSuffix(op.Path, ".log") &&
			(op.Kind == errorfs.OpFileWrite || op.Kind == errorfs.OpFileSync || op.Kind == errorfs.OpFileSyncData) {
			return errorfs.ErrInjected
		}
		return nil
	})}
	ctx := context.Background()
	l, err := Open(ctx, Config{Dir: dir, FS: errorfs.Wrap(vfs.Default, walFault), CheckpointInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	acked := 0
	for _, n := range []int{1, 300, 1024, 7} {
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = testEvent(acked + i)
		}
		if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
		acked += n
	}
	fmt.Printf("acknowledged %d\n", acked)
	walFault.On()
	_, err = l.Append(ctx, DefaultLogID, []Event{testEvent(0), testEvent(1)}, AppendOptions{})
	fmt.Println("the append with a failing WAL returned:", err)
	os.Exit(0)
}

// TestCommitErrorFailsTheRoundBehind: while one round commits, the
// sequencer prepares the next against the tree state the first would leave.
// When the first commit returns an error, neither round may reach the store
// and both rounds' callers get ErrFailed, as does every later append; after
// a restart the log holds what was committed before, verifies, and goes on.
// (The injected error stores nothing; an error after the WAL write is
// TestWALFailureStopsTheProcess's case.)
func TestCommitErrorFailsTheRoundBehind(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l := openTest(t, dir)
	if _, err := l.Append(ctx, DefaultLogID, []Event{testEvent(0), testEvent(1)}, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	commits := 0
	l.testCommit = func(*pebble.Batch) error {
		commits++ // the committer goroutine only
		if commits == 1 {
			close(entered)
			<-release
		}
		return errors.New("injected commit error")
	}
	// The sequencer reports each round it has prepared, before it hands it
	// over; the second is the one prepared while the first commits.
	prepared := make(chan *round, 2)
	l.testHandOff = func(rd *round) {
		select {
		case prepared <- rd:
		default: // none is prepared after the failure; never block the sequencer
		}
	}
	appendAsync := func(from, n int) chan error {
		done := make(chan error, 1)
		go func() {
			evs := make([]Event, n)
			for i := range evs {
				evs[i] = testEvent(from + i)
			}
			_, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{})
			done <- err
		}()
		return done
	}
	first := appendAsync(2, 1)
	<-prepared
	<-entered
	second := appendAsync(3, 2)
	rd := <-prepared
	close(release) // first, so that a failure below leaves no goroutine stuck
	if rd.batch == nil || rd.entries != 2 {
		t.Fatalf("the round behind: batch %v, %d entries; want it prepared with 2", rd.batch != nil, rd.entries)
	}
	for name, done := range map[string]chan error{"the failing round": first, "the round behind it": second} {
		if err := <-done; !errors.Is(err, ErrFailed) {
			t.Errorf("%s: %v, want ErrFailed", name, err)
		}
	}
	if commits != 1 {
		t.Errorf("%d commits tried, want 1: the round behind the failure must not commit", commits)
	}
	if _, err := l.Append(ctx, DefaultLogID, []Event{testEvent(5)}, AppendOptions{}); !errors.Is(err, ErrFailed) {
		t.Errorf("append after the failure: %v, want ErrFailed", err)
	}
	if size, _ := l.Size(DefaultLogID); size != 2 {
		t.Errorf("published size %d after the failure, want 2", size)
	}
	// Nothing else is written either, until the restart.
	_, _, keyErr := l.CreateKey(ctx, "after", RoleAuditor, DefaultLogID)
	_, revokeErr := l.RevokeKey(ctx, "nosuchkey")
	_, logErr := l.CreateLog(ctx, "after", LogSettings{})
	_, setErr := l.UpdateSettings(ctx, DefaultLogID, LogSettings{RetentionDays: 7})
	_, witErr := l.UpdateWitnesses(ctx, DefaultLogID, WitnessSettings{})
	for name, err := range map[string]error{"CreateKey": keyErr, "RevokeKey": revokeErr, "CreateLog": logErr,
		"UpdateSettings": setErr, "UpdateWitnesses": witErr, "EnsureOperatorToken": l.EnsureOperatorToken(ctx, "a-token-of-16-characters")} {
		if !errors.Is(err, ErrFailed) {
			t.Errorf("%s after the failure: %v, want ErrFailed", name, err)
		}
	}
	if _, err := l.Read(DefaultLogID, 1); err != nil {
		t.Errorf("read after the failure: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = openTest(t, dir)
	defer l.Close()
	if size, _ := l.Size(DefaultLogID); size != 2 {
		t.Fatalf("size %d after the restart, want 2", size)
	}
	verifyOK(t, l, DefaultLogID)
	if _, err := l.Log("after"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the log created after the failure: %v, want ErrNotFound", err)
	}
	if info, err := l.Log(DefaultLogID); err != nil || info.Settings.RetentionDays != 0 {
		t.Errorf("the default log's settings after the restart: %+v, %v; want those before the failure", info, err)
	}
	res, err := l.Append(ctx, DefaultLogID, []Event{testEvent(2)}, AppendOptions{})
	if err != nil || res[0].Index != 2 {
		t.Fatalf("append after the restart: %+v, %v; want index 2", res, err)
	}
	verifyOK(t, l, DefaultLogID)
}
