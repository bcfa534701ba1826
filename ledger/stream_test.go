package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestBuildFailsMidCall: the sequencer sequences a large call while its
// caller builds it (build, builtChunks). When a chunk after the first fails
// to build, which an event past the leaf size limit passed as Validated does,
// the round is undone and sequenced again without that call: the call fails
// whole, the calls beside it in the same rounds, on the same log and on
// another, are stored as answered, and the tree, the chain and every proof
// check out, before and after a restart. Stats.Redone shows the undo ran.
func TestBuildFailsMidCall(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	ctx := context.Background()
	if _, err := l.CreateLog(ctx, "other", LogSettings{}); err != nil {
		t.Fatal(err)
	}
	// Start the log at 200 entries, so that the failing calls complete
	// tiles that the undo must take back.
	if _, err := l.Append(ctx, DefaultLogID, manyEvents(0, 200), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	huge := json.RawMessage(`{"a":"` + strings.Repeat("x", MaxLeafSize) + `"}`)

	type call struct {
		log    string
		events []Event
		res    []Appended
	}
	var (
		mu   sync.Mutex
		good []call
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	// Good calls beside the failing ones, of 1 to 60 events, on both logs,
	// at most 40 from each goroutine (checkLog is quadratic).
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := DefaultLogID
				if (g+i)%3 == 0 {
					id = "other"
				}
				evs := manyEvents(g*1_000_000+i*1000, 1+(g*331+i*97)%60)
				res, err := l.Append(ctx, id, evs, AppendOptions{})
				if err != nil {
					t.Errorf("a good call of %d events: %v", len(evs), err)
					return
				}
				mu.Lock()
				good = append(good, call{log: id, events: evs, res: res})
				mu.Unlock()
			}
		}()
	}
	var tries int
	for tries = 0; tries < 300 && (tries < 20 || l.Stats().Redone.Load() < 3); tries++ {
		n := 300 + tries*37%3000
		bad := n - 1 - tries%(n/2) // in a later chunk, mostly
		evs := manyEvents(tries*10_000, n)
		evs[bad].Details = huge
		res, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{Validated: true})
		if !errors.Is(err, ErrTooLarge) || res != nil {
			t.Fatalf("a call of %d events with event %d too large: %v, %v", n, bad, len(res), err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("event %d:", bad)) {
			t.Errorf("the error names another event than %d: %v", bad, err)
		}
	}
	close(stop)
	wg.Wait()
	redone := l.Stats().Redone.Load()
	t.Logf("%d failing calls, %d rounds redone, %d good calls", tries, redone, len(good))
	if redone == 0 {
		t.Fatalf("no round was undone in %d failing calls: the test did not reach the undo", tries)
	}

	check := func(l *Ledger) {
		t.Helper()
		sizes := map[string]uint64{DefaultLogID: 200}
		for _, c := range good {
			for i, r := range c.res {
				if i > 0 && r.Index != c.res[i-1].Index+1 {
					t.Fatalf("a call's indexes are not contiguous: %d after %d", r.Index, c.res[i-1].Index)
				}
				got, err := l.Read(c.log, r.Index)
				if err != nil {
					t.Fatal(err)
				}
				en, err := got.Entry()
				if err != nil {
					t.Fatal(err)
				}
				if got.LeafHash != r.LeafHash || en.Target.ID != c.events[i].Target.ID {
					t.Fatalf("%s/%d: leaf hash %x target %q, answered %x for target %q", c.log, r.Index, got.LeafHash, en.Target.ID, r.LeafHash, c.events[i].Target.ID)
				}
			}
			sizes[c.log] += uint64(len(c.res))
		}
		for id, want := range sizes {
			if size, err := l.Size(id); err != nil || size != want {
				t.Fatalf("log %s: size %d (%v), want the %d entries answered", id, size, err, want)
			}
			checkLog(t, l, id)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	check(l)
	res, err := l.Append(ctx, DefaultLogID, manyEvents(-1, 300), AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good = append(good, call{log: DefaultLogID, events: manyEvents(-1, 300), res: res})
	check(l)
}

// manyEvents returns n test events whose target ids start at first.
func manyEvents(first, n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = testEvent(first + i)
	}
	return evs
}
