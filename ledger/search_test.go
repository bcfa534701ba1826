package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

var (
	searchCategories = []string{"login", "user", "role", "device", "api", "security"}
	searchActions    = []string{"login", "user:invite", "user:delete", "role:assign", "device:wipe", "api_key:create", "security:sso_disabled", "user:login"}
	searchNames      = []string{"Ann Lee", "Bob", "carol", "Dave\x00Zero", strings.Repeat("long", 40)}
	searchIPs        = []string{"10.0.0.1", "10.0.0.2", "10.1.2.3", "192.168.7.9", "2001:db8::1", "2001:db8::ff"}
	searchBase       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// searchEvent makes a random event from small vocabularies, so that random
// queries hit often, with a few rare actors and out-of-order times.
func searchEvent(r *rand.Rand, i int) Event {
	ev := Event{
		Category: searchCategories[r.IntN(len(searchCategories))],
		Action:   searchActions[r.IntN(len(searchActions))],
		Actor:    &Actor{Type: "user", ID: fmt.Sprintf("u%d", r.IntN(12))},
	}
	if r.IntN(200) == 0 {
		ev.Actor.ID = fmt.Sprintf("rare%d", r.IntN(3))
	}
	if r.IntN(2) == 0 {
		ev.Actor.Name = searchNames[r.IntN(len(searchNames))]
	}
	if r.IntN(2) == 0 {
		ev.Actor.Email = fmt.Sprintf("%s@Example.com", []string{"ann", "Bob", "carol"}[r.IntN(3)])
	}
	if r.IntN(3) > 0 {
		ev.Target = &Target{Type: "user", ID: fmt.Sprintf("t%d", r.IntN(20))}
		if r.IntN(2) == 0 {
			ev.Target.Name = searchNames[r.IntN(len(searchNames))]
		}
	}
	if r.IntN(4) > 0 {
		ev.IP = searchIPs[r.IntN(len(searchIPs))]
	}
	if r.IntN(5) == 0 {
		ev.Result = "failure"
	}
	ev.ReadOnly = r.IntN(10) == 0
	// Mostly in order, some far in the past (a backfill), some absent.
	switch r.IntN(10) {
	case 0:
		t := searchBase.Add(-time.Duration(r.IntN(1000)) * time.Hour)
		ev.Time = &t
	case 1, 2:
	default:
		t := searchBase.Add(time.Duration(i) * time.Minute)
		ev.Time = &t
	}
	return ev
}

// searchQuery makes a random query of one to three terms.
func searchQuery(r *rand.Rand, n int) string {
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	var terms []string
	for range 1 + r.IntN(3) {
		var t string
		switch r.IntN(11) {
		case 0:
			t = "category:" + pick(searchCategories)
		case 1:
			a := pick(searchActions)
			switch r.IntN(3) {
			case 0:
				t = "action:" + a
			case 1:
				t = "action:" + a[strings.LastIndexByte(a, ':')+1:]
			default:
				t = "action:" + a[:1+r.IntN(len(a))] + "*"
			}
		case 2:
			t = "actor:" + pick([]string{"u1", "u7", "rare0", "rare2", "ann@example.com", "BOB@example.com", "u*", "rare*", "carol"})
		case 3:
			t = "actor:" + fmt.Sprintf("%q", pick(searchNames))
		case 4:
			t = "target:" + pick([]string{"t3", "t1*", "Bob", "Ann*", "*"})
		case 5:
			t = "ip:" + pick([]string{"10.0.0.1", "10.0.0.0/24", "10.*", "2001:db8::/64", "2001:db8::1", "192.168.7.9/32"})
		case 6:
			t = "result:" + pick([]string{"failure", "success"})
		case 7:
			t = "read_only:" + pick([]string{"true", "false"})
		case 8:
			t = "since:" + searchBase.Add(time.Duration(r.IntN(n+200)-100)*time.Minute).Format(time.RFC3339)
		case 9:
			t = "until:" + searchBase.Add(time.Duration(r.IntN(n+200)-100)*time.Minute).Format(time.RFC3339)
		default:
			t = "category:" + pick(searchCategories)
		}
		if r.IntN(6) == 0 {
			t = "-" + t
		}
		terms = append(terms, t)
	}
	return strings.Join(terms, " ")
}

// allEntries reads every entry of the default log with ParseEntry.
func allEntries(t *testing.T, l *Ledger) []*Entry {
	t.Helper()
	return allEntriesOf(t, l, DefaultLogID)
}

// allEntriesOf parses every entry of log id, in index order.
func allEntriesOf(t *testing.T, l *Ledger, id string) []*Entry {
	t.Helper()
	var all []*Entry
	_, err := l.Scan(context.Background(), id, ScanOptions{}, func(r *Record) (bool, error) {
		en, err := ParseEntry(r.Leaf)
		all = append(all, en)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// bruteSearch is the reference: every entry matched in turn, over the
// range and in the order that opts ask for.
func bruteSearch(all []*Entry, q *Query, opts ScanOptions) []uint64 {
	bound := uint64(len(all))
	if opts.Bound != 0 && opts.Bound < bound {
		bound = opts.Bound
	}
	var got []uint64
	if opts.Desc {
		start := min(opts.From, bound-1)
		for i := int64(start); i >= 0; i-- {
			if q.Match(all[i]) {
				got = append(got, uint64(i))
			}
		}
		return got
	}
	for i := opts.From; i < bound; i++ {
		if q.Match(all[i]) {
			got = append(got, i)
		}
	}
	return got
}

func search(t *testing.T, l *Ledger, q *Query, opts ScanOptions) ([]uint64, SearchStats) {
	t.Helper()
	var got []uint64
	stats, err := l.Search(context.Background(), DefaultLogID, q, opts, func(r *Record) (bool, error) {
		got = append(got, r.Index)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got, stats
}

func TestSearchRandomAgainstBruteForce(t *testing.T) {
	t.Run("postingBlock=65536", testSearchRandom)
	// Many posting blocks (and zones that straddle them) with few entries.
	defer func(b uint64) { postingBlock = b }(postingBlock)
	postingBlock = 384
	t.Run("postingBlock=384", testSearchRandom)
}

func testSearchRandom(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(4, 2))
	l := openTest(t, t.TempDir())
	defer l.Close()
	const n = 6000
	var evs []Event
	for i := range n {
		evs = append(evs, searchEvent(r, i))
	}
	for i := 0; i < n; i += 500 {
		if _, err := l.Append(ctx, DefaultLogID, evs[i:i+500], AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitIndexed(t, l, DefaultLogID)
	lg, _ := l.handle(DefaultLogID)
	now := searchBase.Add(n * time.Minute)
	all := allEntries(t, l)

	usedIndex := 0
	for i := range 400 {
		qs := searchQuery(r, n)
		q, err := ParseQuery(qs, now)
		if err != nil {
			t.Fatalf("%s: %v", qs, err)
		}
		opts := ScanOptions{Desc: r.IntN(2) == 0, From: ^uint64(0), Transient: r.IntN(2) == 0}
		if !opts.Desc {
			opts.From = 0
		}
		if r.IntN(3) == 0 {
			opts.From = uint64(r.IntN(n))
		}
		if r.IntN(4) == 0 {
			opts.Bound = uint64(1 + r.IntN(n))
		}
		// Some searches see the indexer behind: the tail is scanned.
		mark := uint64(n)
		if i%3 == 1 {
			mark = uint64(r.IntN(n))
		}
		lg.indexed.Store(mark)
		want := bruteSearch(all, q, opts)
		got, stats := search(t, l, q, opts)
		if !slices.Equal(got, want) {
			t.Fatalf("query %q %+v (mark %d, plan %s): got %d entries %v…, want %d %v…",
				qs, opts, mark, stats.Plan, len(got), head(got), len(want), head(want))
		}
		if stats.Plan != "scan" {
			usedIndex++
		}
	}
	lg.indexed.Store(n)
	if usedIndex < 100 {
		t.Errorf("only %d of 400 random queries used an index", usedIndex)
	}
}

func head(s []uint64) []uint64 { return s[:min(len(s), 8)] }

// TestSearchReadsOnlyCandidates checks that an indexed query reads its
// candidates and not the whole log.
func TestSearchReadsOnlyCandidates(t *testing.T) {
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	const n = 5000
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = testEvent(i)
		tm := searchBase.Add(time.Duration(i) * time.Minute)
		evs[i].Time = &tm
	}
	evs[1234].Actor.ID = "needle"
	evs[4321].Actor.ID = "needle"
	evs[4000].Result = "failure"
	if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, l, DefaultLogID)
	now := searchBase.Add(n * time.Minute)
	for _, tc := range []struct {
		q        string
		want     []uint64
		examined int // at most
		plan     string
	}{
		{"actor:needle", []uint64{4321, 1234}, 2, "actor:needle (2)"},
		{"actor:needle result:failure", nil, 1, "result:failure (1) ∩ actor:needle (2)"},
		{"result:failure category:role", []uint64{4000}, 1, "result:failure (1); filter category:role"},
		{"since:" + searchBase.Add(4990*time.Minute).Format(time.RFC3339), []uint64{4999, 4998, 4997, 4996, 4995, 4994, 4993, 4992, 4991, 4990}, zoneBlock, "time zones"},
		{"actor:nobody", nil, 0, "actor:nobody (0)"},
		{"-actor:needle", nil, n, "scan"},
	} {
		t.Run(tc.q, func(t *testing.T) {
			q, err := ParseQuery(tc.q, now)
			if err != nil {
				t.Fatal(err)
			}
			got, stats := search(t, l, q, ScanOptions{Desc: true, From: ^uint64(0)})
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if stats.Examined > tc.examined {
				t.Errorf("examined %d entries, want at most %d (plan %s)", stats.Examined, tc.examined, stats.Plan)
			}
			if !strings.HasPrefix(stats.Plan, tc.plan) {
				t.Errorf("plan %q, want %q", stats.Plan, tc.plan)
			}
		})
	}
}

// TestIndexFormatRebuild checks that an index store of another format is
// emptied at open and rebuilt, and that searches stay exact meanwhile.
func TestIndexFormatRebuild(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTest(t, dir)
	evs := make([]Event, 300)
	for i := range evs {
		evs[i] = testEvent(i)
	}
	evs[77].Actor.ID = "needle"
	if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, l, DefaultLogID)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// An older store: another version, and a stale posting that must go.
	db, err := pebble.Open(filepath.Join(dir, "index"), &pebble.Options{DisableWAL: true, Merger: indexMerger, Logger: quietLogger{slog.Default()}})
	if err != nil {
		t.Fatal(err)
	}
	stale := postingKey(nil, 1, 0, 'u', "needle", true)
	if err := db.Merge(stale, binary.BigEndian.AppendUint16(nil, 5), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte{indexVersionK}, binary.BigEndian.AppendUint32(nil, 1), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	defer l.Close()
	q, _ := ParseQuery("actor:needle", time.Now())
	got, _ := search(t, l, q, ScanOptions{})
	if !slices.Equal(got, []uint64{77}) {
		t.Fatalf("before the rebuild: got %v", got)
	}
	if _, err := l.Append(ctx, DefaultLogID, evs[:1], AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, l, DefaultLogID)
	got, stats := search(t, l, q, ScanOptions{})
	if !slices.Equal(got, []uint64{77}) || stats.Examined != 1 {
		t.Fatalf("after the rebuild: got %v, examined %d (plan %s)", got, stats.Examined, stats.Plan)
	}
}

func TestParseEntryFieldsMatchesParseEntry(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 9))
	l := openTest(t, t.TempDir())
	defer l.Close()
	var evs []Event
	for i := range 500 {
		evs = append(evs, searchEvent(r, i))
	}
	evs[3].Details = []byte(`{"a":[1,{"b":"}\"]"}],"c":null,"d":"\u00e9\n"}`)
	evs[4].UserAgent = "Mozilla \"quoted\" \\ x"
	evs[5].Actor.Name = "tab\there \u2028 é"
	if _, err := l.Append(context.Background(), DefaultLogID, evs, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := l.Scan(context.Background(), DefaultLogID, ScanOptions{}, func(rec *Record) (bool, error) {
		checkEntryFields(t, rec.Leaf)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkEntryFields wants ParseStoredEntry to agree with ParseEntry on every
// field a query reads, for a leaf that ParseEntry accepts.
func checkEntryFields(t testing.TB, leaf []byte) {
	t.Helper()
	full, err := ParseEntry(leaf)
	if err != nil {
		return
	}
	fast, err := ParseStoredEntry(leaf)
	if err != nil {
		t.Fatalf("ParseStoredEntry(%s): %v", leaf, err)
	}
	a, err1 := json.Marshal(full)
	b, err2 := json.Marshal(fast)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		t.Fatalf("leaf %s:\nfast %s\nfull %s", leaf, b, a)
	}
}

func FuzzParseEntryFields(f *testing.F) {
	f.Add([]byte(`{"action":"login","actor":{"id":"a","type":"user"},"category":"login","log":"default","received_at":"2026-01-01T00:00:00Z","result":"success","time":"2026-01-01T00:00:00Z","v":1}`))
	f.Add([]byte(`{"action":"x","actor":{"id":"\u0000","type":"user"},"category":"user","details":{"a":[{}]},"log":"d","received_at":"2026-01-01T00:00:00Z","ref":12,"time":"2026-01-01T00:00:00Z","v":1}`))
	f.Add([]byte(`{"action":"x","actor":{"id":"a","type":"user"},"category":"user","details":{"b":1.0,"a":[2E3, "\u0041"]},"log":"d","received_at":"2026-01-01T00:00:00Z","time":"2026-01-01T00:00:00+02:00","v":1,"user_agent":"\u00e9"}`))
	f.Add([]byte(`{"v":1,"log":"d","received_at":"2026-01-01T00:00:00.000Z","category":"user","action":"x","actor":{"type":"user","id":"a"}}`))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		checkEntryFields(t, leaf)
	})
}

func BenchmarkParseEntryFields(b *testing.B) {
	en := benchEntry(b)
	leaf, err := en.Leaf()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(leaf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fastEntryFields(leaf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIndexStoreOfAnotherMerger checks that an index store written before
// the counts were merge operands (Pebble refuses to open it with another
// merger) is removed and rebuilt.
func TestIndexStoreOfAnotherMerger(t *testing.T) {
	dir := t.TempDir()
	db, err := pebble.Open(filepath.Join(dir, "index"), &pebble.Options{Logger: quietLogger{slog.Default()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("junk"), nil, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l := openTest(t, dir)
	defer l.Close()
	evs := []Event{testEvent(1), testEvent(2)}
	evs[1].Actor.ID = "needle"
	if _, err := l.Append(context.Background(), DefaultLogID, evs, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, l, DefaultLogID)
	q, _ := ParseQuery("actor:needle", time.Now())
	got, stats := search(t, l, q, ScanOptions{})
	if !slices.Equal(got, []uint64{1}) || stats.Examined != 1 {
		t.Fatalf("got %v, examined %d (plan %s)", got, stats.Examined, stats.Plan)
	}
}

// TestSearchExactPlans checks that a plan the indexes answer exactly
// passes its candidates on without parsing them (inside whole time zone
// blocks only), and that the answer still equals the brute force.
func TestSearchExactPlans(t *testing.T) {
	defer func(b uint64) { postingBlock = b }(postingBlock)
	postingBlock = 640
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	r := rand.New(rand.NewPCG(9, 9))
	const n = 5000
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = searchEvent(r, i)
		at := searchBase.Add(time.Duration(i) * time.Minute) // in order: tight zones
		evs[i].Time = &at
	}
	for i := 0; i < n; i += 1000 {
		if _, err := l.Append(ctx, DefaultLogID, evs[i:i+1000], AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitIndexed(t, l, DefaultLogID)
	all := allEntries(t, l)
	now := searchBase.Add(n * time.Minute)
	since := searchBase.Add(1500 * time.Minute).Format(time.RFC3339)
	until := searchBase.Add(4200 * time.Minute).Format(time.RFC3339)
	for _, c := range []struct {
		q        string
		allExact bool // every match passed on unparsed
		someOnly bool // some, not all (the edge blocks of a time bound are parsed)
	}{
		{q: "category:role", allExact: true},
		{q: "action:invite result:failure", allExact: true},
		{q: "category:login action:login", allExact: true},
		{q: "category:user since:" + since + " until:" + until, someOnly: true},
		{q: "since:" + since, someOnly: true},
		{q: "category:role actor:u1"},
		{q: "category:role -result:failure"},
		{q: "action:user:*"},
	} {
		q, err := ParseQuery(c.q, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, desc := range []bool{false, true} {
			opts := ScanOptions{Desc: desc}
			if desc {
				opts.From = ^uint64(0)
			}
			want := bruteSearch(all, q, opts)
			got, stats := search(t, l, q, opts)
			if !slices.Equal(got, want) {
				t.Fatalf("%q desc=%v (plan %s): got %d %v…, want %d %v…", c.q, desc, stats.Plan, len(got), head(got), len(want), head(want))
			}
			switch {
			case len(want) == 0:
				t.Fatalf("%q matches nothing: a useless case", c.q)
			case c.allExact && stats.Exact != len(want):
				t.Errorf("%q desc=%v (plan %s): %d of %d passed unparsed, want all", c.q, desc, stats.Plan, stats.Exact, len(want))
			case c.someOnly && (stats.Exact == 0 || stats.Exact >= len(want)):
				t.Errorf("%q desc=%v (plan %s): %d of %d passed unparsed, want some", c.q, desc, stats.Plan, stats.Exact, len(want))
			case !c.allExact && !c.someOnly && stats.Exact != 0:
				t.Errorf("%q desc=%v (plan %s): %d passed unparsed, want none", c.q, desc, stats.Plan, stats.Exact)
			}
		}
	}
}

// TestIndexBoundToItsLog replaces the main store under an index store built
// from another log of the same name (a restore from backup without the
// index): the index is rebuilt at open, and searches never trust postings
// of the other log's entries.
func TestIndexBoundToItsLog(t *testing.T) {
	ctx := context.Background()
	build := func(dir string, n int, category string) {
		l := openTest(t, dir)
		evs := make([]Event, n)
		for i := range evs {
			evs[i] = testEvent(i)
			if i%3 == 0 {
				evs[i].Category = category
			}
		}
		if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		waitIndexed(t, l, DefaultLogID)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		nA, nB int
	}{
		{"same size", 600, 600},
		{"smaller", 600, 400},
		{"larger", 400, 600},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := t.TempDir(), t.TempDir()
			build(a, c.nA, "user")
			build(b, c.nB, "device")
			// a's index store beside b's entries and keys.
			for _, sub := range []string{"db", "meta", "keys"} {
				if err := os.RemoveAll(filepath.Join(a, sub)); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(filepath.Join(b, sub), filepath.Join(a, sub)); err != nil {
					t.Fatal(err)
				}
			}
			l := openTest(t, a)
			defer l.Close()
			all := allEntries(t, l)
			for _, qs := range []string{"category:user", "category:device", "category:role"} {
				q, _ := ParseQuery(qs, time.Now())
				want := bruteSearch(all, q, ScanOptions{})
				got, stats := search(t, l, q, ScanOptions{})
				if !slices.Equal(got, want) {
					t.Fatalf("%s (plan %s): got %d %v…, want %d %v…", qs, stats.Plan, len(got), head(got), len(want), head(want))
				}
			}
			waitIndexed(t, l, DefaultLogID)
			if lg, _ := l.handle(DefaultLogID); lg.indexed.Load() != uint64(c.nB) {
				t.Fatalf("indexed %d of %d", lg.indexed.Load(), c.nB)
			}
			for _, qs := range []string{"category:user", "category:device", "category:role"} {
				q, _ := ParseQuery(qs, time.Now())
				want := bruteSearch(all, q, ScanOptions{})
				got, stats := search(t, l, q, ScanOptions{})
				if !slices.Equal(got, want) {
					t.Fatalf("%s after indexing (plan %s): got %d %v…, want %d %v…", qs, stats.Plan, len(got), head(got), len(want), head(want))
				}
			}
		})
	}
}

// TestIndexMergerAppendsInAgeOrder checks the posting lists' merge: however
// Pebble hands over the operands (newer or older than those it has), the
// result is them all, oldest first.
func TestIndexMergerAppendsInAgeOrder(t *testing.T) {
	ops := [][]byte{{0, 1}, {0, 2, 0, 3}, {}, {0, 4}, {0, 5, 0, 6, 0, 7}}
	want := bytes.Join(ops, nil)
	key := postingKey(nil, 1, 0, 'c', "role", true)
	for first := range ops {
		m, err := indexMerger.Merge(key, ops[first])
		if err != nil {
			t.Fatal(err)
		}
		for i := first + 1; i < len(ops); i++ {
			if err := m.MergeNewer(ops[i]); err != nil {
				t.Fatal(err)
			}
		}
		for i := first - 1; i >= 0; i-- {
			if err := m.MergeOlder(ops[i]); err != nil {
				t.Fatal(err)
			}
		}
		got, _, err := m.Finish(true)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("first operand %d: got %v, %v; want %v", first, got, err, want)
		}
	}
	// Counts add up, and their block bitmaps are ORed.
	m, _ := indexMerger.Merge(fieldKey(nil, indexCounts, 1, 'c', "role", true), setBlockBit(binary.BigEndian.AppendUint64(nil, 5), 3))
	m.MergeOlder(setBlockBit(binary.BigEndian.AppendUint64(nil, 7), 17))
	m.MergeNewer([]byte{1})                             // malformed: counts 0
	m.MergeNewer(binary.BigEndian.AppendUint64(nil, 0)) // no bitmap
	got, _, _ := m.Finish(true)
	n, blocks, ok := decodeCount(got)
	want = setBlockBit(setBlockBit(binary.BigEndian.AppendUint64(nil, 12), 3), 17)[8:]
	if !ok || n != 12 || !bytes.Equal(blocks, want) {
		t.Fatalf("count %d, blocks %08b; want 12, %08b", n, blocks, want)
	}
}
