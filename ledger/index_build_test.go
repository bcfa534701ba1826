package ledger

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// indexFieldList is one way's reading of an entry for the indexer: each
// (field, value) in the order given, and the query time.
type indexFieldList struct {
	values []string // "f=value", %q-quoted
	qt     int64
}

func builtIndexFields(ev *Event, ra int64) indexFieldList {
	var got indexFieldList
	got.qt = eachIndexField(appendIndexFields(nil, ev, ra), func(f byte, v []byte) {
		got.values = append(got.values, fmt.Sprintf("%c=%q", f, v))
	})
	return got
}

// indexWriterState runs indexWriter.add on one entry, at an index that
// is not the first of its posting block, and returns what it gathered.
func indexWriterState(t testing.TB, leaf, fields []byte) *indexWriter {
	t.Helper()
	w := &indexWriter{values: map[string]*valuePostings{}, zones: map[uint64]zone{}}
	if err := w.add(postingBlock+3, hashRecord{}, leaf, fields); err != nil {
		t.Fatal(err)
	}
	return w
}

// checkBuildFields builds ev's leaf as request.build does, with received_at
// ra, and wants what appendIndexFields carries for it to be exactly what
// the indexer reads from that leaf: leafIndexFields' sequence when it
// takes the leaf, ParseStoredEntry + IndexValues' values (in order, once
// each) always, the same query time, and the same state of an
// indexWriter. It reports whether ev had a leaf.
func checkBuildFields(t testing.TB, ev Event, ra int64) bool {
	t.Helper()
	en := Entry{V: EntryVersion, Log: "fuzz", ReceivedAt: time.Unix(0, ra).UTC(), Event: ev}
	leaf, err := en.AppendLeaf(nil)
	if err != nil {
		return false
	}
	fields := appendIndexFields(nil, &ev, ra)
	got := builtIndexFields(&ev, ra)

	var scratch []byte
	var fast indexFieldList
	qt, ok := leafIndexFields(leaf, &scratch, func(f byte, v []byte) {
		fast.values = append(fast.values, fmt.Sprintf("%c=%q", f, v))
	})
	if ok {
		fast.qt = qt
		if !reflect.DeepEqual(got, fast) {
			t.Fatalf("leaf %s:\nbuilt %v, time %d\nleaf  %v, time %d", leaf, got.values, got.qt, fast.values, fast.qt)
		}
	}

	stored, err := ParseStoredEntry(leaf)
	if err != nil {
		t.Fatalf("ParseStoredEntry refuses the leaf of an event that built: %v\n%s", err, leaf)
	}
	var slow indexFieldList
	for _, iv := range stored.IndexValues() {
		f, ok := indexFields[iv.Field]
		if !ok || iv.Field == "result" && iv.Value == "success" {
			continue
		}
		slow.values = append(slow.values, fmt.Sprintf("%c=%q", f, iv.Value))
	}
	slow.qt = entryQueryTime(stored).UnixNano()
	// IndexValues gives each value once; the build, like leafIndexFields,
	// may give an actor's value twice (addValue adds it once).
	var once []string
	for _, v := range got.values {
		if !slices.Contains(once, v) {
			once = append(once, v)
		}
	}
	if !slices.Equal(once, slow.values) || got.qt != slow.qt {
		t.Fatalf("leaf %s:\nbuilt  %v, time %d\nparsed %v, time %d", leaf, once, got.qt, slow.values, slow.qt)
	}

	// The index itself: the writer's postings and zones, either way.
	a, b := indexWriterState(t, leaf, fields), indexWriterState(t, leaf, nil)
	if !reflect.DeepEqual(a.values, b.values) || !reflect.DeepEqual(a.zones, b.zones) {
		t.Fatalf("leaf %s: the writer gathers\nfrom the build %v %v\nfrom the leaf  %v %v", leaf, a.values, a.zones, b.values, b.zones)
	}
	return true
}

// TestBuildIndexFieldsGenerated checks appendIndexFields against the
// leaf's on every event the CSV and index tests use (their generators,
// the golden rows, the query tests' entries and random entries).
func TestBuildIndexFieldsGenerated(t *testing.T) {
	n, valid := 0, 0
	leaves := csvLeaves(t)
	for _, leaf := range leaves {
		// Some random entries are not valid events (csvLeafEntry): they
		// are checked as they are, and as Validate leaves them.
		en, err := ParseStoredEntry(leaf)
		if err != nil {
			t.Fatal(err)
		}
		if checkBuildFields(t, en.Event, en.ReceivedAt.UnixNano()) {
			n++
		}
		if ev := en.Event; ev.Validate(true) == nil && checkBuildFields(t, ev, en.ReceivedAt.UnixNano()) {
			valid++
		}
	}
	if n != len(leaves) || valid < 1000 {
		t.Fatalf("%d of %d events built, %d once validated", n, len(leaves), valid)
	}
	for i, ev := range buildFieldEvents() {
		if !checkBuildFields(t, ev, int64(i)*1e9+7) {
			t.Fatalf("event %d has no leaf: %s", i, dumpEvent(ev))
		}
	}
}

// buildFieldEvents are events at the edges of the index fields: unicode
// and mixed-case emails, escapes, values past maxIndexValue, equal
// values, annotations, read-only events, times the int64 nanoseconds
// cannot hold.
func buildFieldEvents() []Event {
	long := strings.Repeat("x", maxIndexValue)
	far := time.Date(100, 2, 3, 4, 5, 6, 7, time.UTC) // before 1678: UnixNano wraps
	late := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	tz := time.Date(2026, 1, 1, 0, 0, 0, 120000000, time.FixedZone("", 5*3600))
	ref := uint64(3)
	var evs []Event
	for i, email := range []string{
		"Zoë@Example.COM", "ÅSA@EXAMPLE.SE", "İSTANBUL@x.tr", "ǅ@x", "ΣΑΣ@x", "Ⱥ@x", "K@x" /* Kelvin sign */, "ANN@example.com",
		"a\"b\\c@x", "tab\t@x", "nul\x00@x", "\u2028@x", "😀@X", "",
	} {
		ev := testEvent(i)
		ev.Actor.Email = email
		evs = append(evs, ev)
	}
	add := func(f func(ev *Event)) {
		ev := testEvent(len(evs))
		f(&ev)
		if err := ev.Validate(true); err != nil {
			panic(err)
		}
		evs = append(evs, ev)
	}
	add(func(ev *Event) { ev.Actor.Name = "Dave\x00Zero \"q\" \\ \n\r\t\b\f \x01\x1f é \u2028" })
	add(func(ev *Event) { ev.Actor.ID, ev.Actor.Name = long+"1", long+"2" }) // one cut value
	add(func(ev *Event) {
		ev.Actor.ID, ev.Actor.Name, ev.Actor.Email = "ann@example.com", "ann@example.com", "ANN@example.com"
	})
	add(func(ev *Event) {
		ev.Target = &Target{Type: "user", ID: strings.Repeat("é", 500), Name: long + "\x00" + long}
	})
	add(func(ev *Event) { ev.Action = "a:b:c"; ev.Category = "security" })
	add(func(ev *Event) { ev.Action = "login"; ev.Category = "login"; ev.Target = nil; ev.IP = "" })
	add(func(ev *Event) { ev.Action = "user:user"; ev.Category = "user" })
	add(func(ev *Event) { ev.Result = "failure"; ev.ReadOnly = true; ev.IP = "::ffff:10.0.0.9" })
	add(func(ev *Event) { ev.Result = "success"; ev.IP = "2001:DB8::1" })
	add(func(ev *Event) { ev.Time = &far })
	add(func(ev *Event) { ev.Time = &late })
	add(func(ev *Event) { ev.Time = &tz })
	add(func(ev *Event) {
		ev.Category, ev.Action, ev.Ref, ev.Details = "audit", "annotation:add", &ref, []byte(`{"text":"typo"}`)
	})
	add(func(ev *Event) { ev.Actor.Name = "ann"; ev.Actor.Email = "ann" })
	return evs
}

// FuzzBuildIndexFields builds events the new way and compares with the
// indexer's reading of their leaves (checkBuildFields). The input is an
// event body (ParseEvents) or a stored leaf (ParseEntry), seeded from the
// event parser's and the leaf reader's corpora.
func FuzzBuildIndexFields(f *testing.F) {
	for _, s := range []string{
		evBody(),
		`[` + evBody() + `,` + evBody("result", `"failure"`, "read_only", `true`) + `]`,
		evBody("target", `{"type":"user","id":"u_2","name":"B\u00f6b"}`, "time", `"2024-05-01T14:03:07.120+02:00"`,
			"ip", `"::ffff:192.0.2.1"`, "user_agent", `"curl/8"`, "read_only", `true`),
		evBody("actor", `{"type":"api_key","id":"k","name":"\"\\\/\b\f\n\r\t\u0000","email":"É@X.org","api_key_id":"k_1"}`),
		evBody("actor", `{"type":"user","id":"u","email":"İ\u212a\u01c5@EXAMPLE.com"}`),
		evBody("action", `"a:b:c"`, "time", `"0000-01-01T00:00:00-23:59"`),
		evBody("time", `"9999-12-31t23:59:59.999999999z"`),
		evBody("ip", `"2001:DB8::1"`),
		evBody("category", `"audit"`, "action", `"annotation:add"`, "ref", `1`),
	} {
		f.Add([]byte(s), int64(1714560000123456789))
	}
	for i, leaf := range csvLeaves(f)[:200] {
		f.Add(leaf, int64(i)*1e9)
	}
	f.Fuzz(func(t *testing.T, body []byte, ra int64) {
		events, _, err := ParseEvents(body)
		if err != nil {
			en, err := ParseEntry(body)
			if err != nil {
				return
			}
			events = []Event{en.Event}
		}
		for _, ev := range events {
			checkBuildFields(t, ev, ra)
		}
	})
}

// FuzzBuildIndexFieldsEvent is FuzzBuildIndexFields over the fields of an
// event directly, which reaches unicode and odd strings sooner. An event
// that fails Validate is checked too when it still has a leaf that
// ParseStoredEntry reads (Append never builds one: it validates, or its
// caller has).
func FuzzBuildIndexFieldsEvent(f *testing.F) {
	f.Add("role", "role:assign", "u_1", "Ana <a&b>", "Ann@Example.com", "t1", "Bob", "10.0.0.1", int64(1714560000), int64(120000000), int16(120), int64(1714560000123456789), true, false, uint64(0))
	f.Add("user", "a:b:c", "\x00\x1f\"\\", "\u2028\u2029", "ΣΑΣ@Ⱥ.İ", "", "", "2001:DB8::1", int64(-62135596800), int64(999999999), int16(-1439), int64(0), false, true, uint64(MaxRef))
	f.Add("login", "login", "x", "Zoë", "é", "t", "\xff", "::ffff:1.2.3.4", int64(253402300799), int64(0), int16(0), int64(-1), true, true, uint64(3))
	f.Fuzz(func(t *testing.T, category, action, id, name, email, tid, tname, ip string, sec, nsec int64, offsetMin int16, ra int64, failed, readOnly bool, ref uint64) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("", int(offsetMin)*60))
		ev := Event{
			Category: category, Action: action,
			Actor: &Actor{Type: "user", ID: id, Name: name, Email: email},
			IP:    ip, ReadOnly: readOnly,
		}
		if sec%3 != 0 {
			ev.Time = &tm
		}
		if tid != "" || tname != "" {
			ev.Target = &Target{Type: "user", ID: tid, Name: tname}
		}
		if failed {
			ev.Result = "failure"
		}
		if ref != 0 {
			ev.Ref = &ref
		}
		if valid := ev; valid.Validate(true) == nil {
			checkBuildFields(t, valid, ra)
		}
		en := Entry{V: EntryVersion, Log: "fuzz", ReceivedAt: time.Unix(0, ra).UTC(), Event: ev}
		if leaf, err := en.Leaf(); err == nil {
			if _, err := ParseStoredEntry(leaf); err == nil {
				checkBuildFields(t, ev, ra)
			}
		}
	})
}

// TestAppendLowerIsToLower holds appendLowerField to strings.ToLower, on
// valid and invalid UTF-8.
func TestAppendLowerIsToLower(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []string{"", "ABC", "Zoë", "İ", "\u212a", "ǅ", "Ⱥ", "ΣΑΣ", "\xff", "a\xc3", "\xed\xa0\x80", "\uFFFD"}
	for range 2000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			switch r.IntN(3) {
			case 0:
				b[i] = byte('A' + r.IntN(26))
			default:
				b[i] = byte(r.Uint32())
			}
		}
		cases = append(cases, string(b), string([]rune{rune(r.IntN(0x3000)), rune(r.IntN(0x11000))}))
	}
	for _, s := range cases {
		if s == "" {
			continue // not a field
		}
		want := appendIndexField([]byte("p"), 'u', strings.ToLower(s))
		if got := appendLowerField([]byte("p"), 'u', s); string(got) != string(want) {
			t.Fatalf("%q: appendLowerField %q; strings.ToLower %q", s, got, want)
		}
	}
}

// TestIndexFromBuildEqualsRebuild appends a varied log, lets the indexer
// index it from the hand-off (with the fields the appending caller
// computed, request.buildFields), then resets the log's indexes and lets
// it rebuild them from the stored leaves: the index store must hold the
// same keys and values, byte for byte, and searches answer the same, both
// as a brute-force match over every entry.
func TestIndexFromBuildEqualsRebuild(t *testing.T) {
	defer func(b uint64) { postingBlock = b }(postingBlock)
	postingBlock = 512 // ~8,800 entries over 18 posting blocks
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	lg, err := l.handle(DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(21, 22))
	appendAll := func(evs []Event, internal bool) {
		t.Helper()
		if _, err := l.Append(ctx, DefaultLogID, evs, AppendOptions{Internal: internal}); err != nil {
			t.Fatal(err)
		}
	}
	setVerbose := func(v bool) {
		t.Helper()
		if _, err := l.UpdateSettings(ctx, DefaultLogID, LogSettings{Verbose: v}); err != nil {
			t.Fatal(err)
		}
	}
	// Read-only events stored (verbose) and skipped (not): the skipped
	// ones leave no entry, and the indexes stay contiguous.
	for round, verbose := range []bool{true, false, true} {
		setVerbose(verbose)
		evs := buildFieldEvents()
		for i := range 3000 { // over two chunkMin: built in two chunks
			ev := searchEvent(r, i)
			switch i % 7 {
			case 0:
				ev.Actor.Email = []string{"Zoë@Example.COM", "İSTANBUL@x.tr", "ÅSA@EXAMPLE.SE", "Ann@Example.com"}[r.IntN(4)]
			case 1:
				ev.Actor.Name = strings.Repeat("long", 40) + fmt.Sprint(i%3) // cut to one value
			case 2:
				ev.Actor.Name = "esc \"q\" \\ \n\t\x01 \u2028"
			}
			evs = append(evs, ev)
		}
		for len(evs) > 0 {
			n := min(len(evs), []int{1, 7, 3000, 200}[r.IntN(4)])
			appendAll(evs[:n], true)
			evs = evs[n:]
		}
		// Annotations of the round's entries.
		size, err := l.Size(DefaultLogID)
		if err != nil {
			t.Fatal(err)
		}
		var notes []Event
		for i := range 5 {
			ref := uint64(r.Int64N(int64(size)))
			ev := testEvent(i)
			ev.Category, ev.Action, ev.Ref = "audit", "annotation:add", &ref
			ev.Details = []byte(fmt.Sprintf(`{"round":%d,"text":"note"}`, round))
			notes = append(notes, ev)
		}
		appendAll(notes, true)
	}
	size, taken := indexedFromHandOff(t, l, lg)
	fromBuild := indexStoreContents(t, l)
	queries := []string{
		"actor:zoë@example.com", "actor:istanbul@x.tr", "actor:i̇stanbul@x.tr", "actor:ann@example.com", "actor:\"ann lee\"",
		"actor:long*", "actor:\"esc \\\"q\\\" \\\\ \n\t\x01 \u2028\"", "action:assign", "action:user:*", "category:audit",
		"result:failure", "read_only:true", "target:t3", "ip:2001:db8::1", "ip:10.0.0.1", "actor:rare*",
		"since:2026-01-01T00:00:00Z until:2026-01-02T00:00:00Z", "until:1990-01-01T00:00:00Z", "category:user read_only:true",
	}
	answers := func() [][]uint64 {
		all := allEntries(t, l)
		var out [][]uint64
		for _, qs := range queries {
			q, err := ParseQuery(qs, time.Now())
			if err != nil {
				t.Fatalf("%s: %v", qs, err)
			}
			got, stats := search(t, l, q, ScanOptions{})
			if want := bruteSearch(all, q, ScanOptions{}); !slices.Equal(got, want) {
				t.Fatalf("%s (plan %s): got %d %v…, want %d %v…", qs, stats.Plan, len(got), head(got), len(want), head(want))
			}
			out = append(out, got)
		}
		return out
	}
	before := answers()

	// Rebuild from the store: the indexer is idle (no append is under
	// way), and the reset clears the hand-off too. The open block is in
	// memory both times; the sealed blocks must be byte for byte the same.
	wantRebuildEqual(t, l, lg, fromBuild)
	lg.fresh.mu.Lock()
	if lg.fresh.taken != taken {
		t.Fatalf("the rebuild took %d entries from the hand-off", lg.fresh.taken-taken)
	}
	lg.fresh.mu.Unlock()
	if after := answers(); !reflect.DeepEqual(before, after) {
		t.Fatalf("searches differ after the rebuild")
	}
	// Enough of every kind of key to mean something.
	kinds := map[byte]int{}
	for k := range fromBuild {
		kinds[k[0]]++
	}
	for _, k := range []byte{indexPostings, indexCounts, indexZones, indexHashes, indexMark} {
		if kinds[k] == 0 {
			t.Fatalf("no %c keys: %v", k, kinds)
		}
	}
	if size < 8000 || kinds[indexZones] < 8 || kinds[indexPostings] < 100 {
		t.Fatalf("size %d, keys %v", size, kinds)
	}
}

// TestIndexFromHandOffWithoutFields: entries whose fields the appending
// caller did not compute (testNoFields; a panic in buildFields does the
// same) are still indexed from the hand-off, from their leaves, and the
// index is byte for byte the one a rebuild from the store makes.
func TestIndexFromHandOffWithoutFields(t *testing.T) {
	defer func(b uint64) { postingBlock = b }(postingBlock)
	postingBlock = 512
	testNoFields = true
	defer func() { testNoFields = false }()
	ctx := context.Background()
	l := openTest(t, t.TempDir())
	defer l.Close()
	lg, err := l.handle(DefaultLogID)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(23, 24))
	evs := buildFieldEvents()
	for i := range 2000 {
		evs = append(evs, searchEvent(r, i))
	}
	for len(evs) > 0 {
		n := min(len(evs), []int{1, 9, 700}[r.IntN(3)])
		if _, err := l.Append(ctx, DefaultLogID, evs[:n], AppendOptions{Internal: true}); err != nil {
			t.Fatal(err)
		}
		evs = evs[n:]
	}
	indexedFromHandOff(t, l, lg)
	fromHandOff := indexStoreContents(t, l)
	all := allEntries(t, l)
	for _, qs := range []string{"action:assign", "category:user", "target:t3", "ip:10.0.0.1", "result:failure", "actor:rare*"} {
		q, err := ParseQuery(qs, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		got, stats := search(t, l, q, ScanOptions{})
		if want := bruteSearch(all, q, ScanOptions{}); !slices.Equal(got, want) || len(want) == 0 && qs != "result:failure" {
			t.Fatalf("%s (plan %s): got %d %v…, want %d %v…", qs, stats.Plan, len(got), head(got), len(want), head(want))
		}
	}
	wantRebuildEqual(t, l, lg, fromHandOff)
	if len(fromHandOff) < 100 {
		t.Fatalf("only %d index keys", len(fromHandOff))
	}
}

// indexedFromHandOff waits until lg is indexed and wants every entry to
// have come from the hand-off; it returns the log's size and how many
// entries the hand-off gave.
func indexedFromHandOff(t *testing.T, l *Ledger, lg *logHandle) (size, taken uint64) {
	t.Helper()
	size, err := l.Size(lg.id)
	if err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, l, lg.id)
	lg.fresh.mu.Lock()
	taken = lg.fresh.taken
	lg.fresh.mu.Unlock()
	if taken != size {
		t.Fatalf("the indexer took %d of %d entries from the hand-off", taken, size)
	}
	return size, taken
}

// indexStoreContents reads every key and value of the index store, merge
// operands merged.
// sortedRecords returns a sorted copy of a buffer of size-byte records.
func sortedRecords(v []byte, size int) []byte {
	recs := make([]string, 0, len(v)/size)
	for i := 0; i+size <= len(v); i += size {
		recs = append(recs, string(v[i:i+size]))
	}
	slices.Sort(recs)
	return []byte(strings.Join(recs, ""))
}

func indexStoreContents(t *testing.T, l *Ledger) map[string]string {
	t.Helper()
	iter, err := l.index.NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer iter.Close()
	out := map[string]string{}
	for iter.First(); iter.Valid(); iter.Next() {
		v := iter.Value()
		if k := iter.Key(); len(k) > 0 && k[0] == indexHashes {
			// A leaf-hash bucket holds a run per indexer batch, in the
			// order the batches fell: compare its records as a set.
			v = sortedRecords(v, hashRecordSize)
		}
		out[string(iter.Key())] = string(v)
	}
	if err := iter.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkIndexFields compares what the indexer spends on an entry's
// fields: decoding the build's list, or reading the leaf.
func BenchmarkIndexFields(b *testing.B) {
	ev := benchEvent(7)
	if err := ev.Validate(false); err != nil {
		b.Fatal(err)
	}
	ra := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC).UnixNano()
	en := Entry{V: EntryVersion, Log: DefaultLogID, ReceivedAt: time.Unix(0, ra).UTC(), Event: ev}
	leaf, err := en.Leaf()
	if err != nil {
		b.Fatal(err)
	}
	var sink int64
	fn := func(f byte, v []byte) { sink += int64(f) + int64(len(v)) }
	b.Run("way=build", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf = appendIndexFields(buf[:0], &ev, ra)
		}
	})
	b.Run("way=decode", func(b *testing.B) {
		fields := appendIndexFields(nil, &ev, ra)
		b.ReportAllocs()
		for b.Loop() {
			sink += eachIndexField(fields, fn)
		}
	})
	b.Run("way=leaf", func(b *testing.B) {
		var scratch []byte
		b.ReportAllocs()
		for b.Loop() {
			qt, _ := leafIndexFields(leaf, &scratch, fn)
			sink += qt
		}
	})
	if sink == math.MinInt64 {
		b.Log(sink)
	}
}

// BenchmarkBuild times request.build (leaves and leaf hashes) of one call
// of benchEvents, in the caller's goroutine: the part of an append that a
// single caller waits for before the commit. BenchmarkBuildFields times
// what the caller does next, while its entries are committed: the indexer's
// fields (request.buildFields).
func BenchmarkBuild(b *testing.B)       { benchmarkBuild(b, false) }
func BenchmarkBuildFields(b *testing.B) { benchmarkBuild(b, true) }

func benchmarkBuild(b *testing.B, fields bool) {
	for _, n := range []int{1024} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			evs := benchEvents(n)
			for i := range evs {
				if err := evs[i].Validate(false); err != nil {
					b.Fatal(err)
				}
			}
			lg := &logHandle{id: DefaultLogID}
			b.SetBytes(meanLeafBytes(b) * int64(n))
			r := &request{lg: lg, events: evs, receivedAt: 1767323045678901234}
			r.build(true)
			b.ReportAllocs()
			for b.Loop() {
				if fields {
					r.fields = &builtFields{done: make(chan struct{})}
					r.buildFields()
					continue
				}
				r := &request{lg: lg, events: evs, receivedAt: 1767323045678901234}
				r.build(true)
				if r.buildErr != nil {
					b.Fatal(r.buildErr)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}

// BenchmarkIndexWriter times the indexer's own work on one posting block
// of fresh entries (as the hand-off gives them, fields from the build)
// with a distinct target each, as BenchmarkAppend's events have: the
// postings, counts, zones and leaf-hash records gathered (add-ns/entry) and
// written into a batch (finish-ns/entry), which is not committed (Pebble's
// memtable inserts are not counted).
func BenchmarkIndexWriter(b *testing.B) {
	l := openBenchLedger(b)
	defer l.Close()
	lg, err := l.handle(DefaultLogID)
	if err != nil {
		b.Fatal(err)
	}
	n := int(postingBlock) // a sealed block's worth
	evs := benchEvents(n)
	ra := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	fields := make([][]byte, n)
	recs := make([]hashRecord, n)
	for i := range evs {
		if err := evs[i].Validate(false); err != nil {
			b.Fatal(err)
		}
		fields[i] = appendIndexFields(nil, &evs[i], ra)
		recs[i].leafHash = sha256.Sum256(fields[i])
	}
	leaf := []byte("{}") // not read: the fields are given
	bt := l.index.NewBatch()
	defer bt.Close()
	b.ReportAllocs()
	var adding, finishing time.Duration
	hint := 0 // as the open block keeps it: the last writer's count
	for b.Loop() {
		bt.Reset()
		start := time.Now()
		w := l.newIndexWriter(lg, hint)
		for i := range n {
			if err := w.add(uint64(i), recs[i], leaf, fields[i]); err != nil {
				b.Fatal(err)
			}
		}
		added := time.Now()
		if err := w.finish(bt, nil); err != nil {
			b.Fatal(err)
		}
		adding += added.Sub(start)
		finishing += time.Since(added)
		hint = len(w.values)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	b.ReportMetric(float64(adding.Nanoseconds())/float64(b.N*n), "add-ns/entry")
	b.ReportMetric(float64(finishing.Nanoseconds())/float64(b.N*n), "finish-ns/entry")
}
