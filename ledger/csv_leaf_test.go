package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/auditledger/auditledger/proofs"
)

// checkCSVLeaf wants AppendCSVLeaf to append, after a prefix, exactly what
// AppendCSVEntry appends for ParseStoredEntry(leaf) when it reports true
// (and ParseStoredEntry to succeed then), and to leave dst as it was when
// it reports false. It returns what AppendCSVLeaf reported.
func checkCSVLeaf(t testing.TB, index uint64, h proofs.Hash, leaf []byte) bool {
	t.Helper()
	const prefix = "row before\r\n"
	for _, dst := range [][]byte{
		[]byte(prefix), // no room: AppendCSVLeaf grows it
		append(make([]byte, 0, 1<<17), prefix...), // room for any row
	} {
		got, ok := AppendCSVLeaf(dst, index, h, leaf)
		if !ok {
			if string(got) != prefix {
				t.Fatalf("AppendCSVLeaf(%q) = %q, false: dst changed", leaf, got)
			}
			return false
		}
		var en *Entry
		if leaf != nil {
			var err error
			if en, err = ParseStoredEntry(leaf); err != nil {
				t.Fatalf("AppendCSVLeaf took %q, which ParseStoredEntry rejects: %v", leaf, err)
			}
		}
		want := AppendCSVEntry([]byte(prefix), index, h, en)
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendCSVLeaf(%q):\n got %q\nwant %q", leaf, got, want)
		}
	}
	return true
}

// leafHashOf is the RFC 6962 leaf hash of leaf.
func leafHashOf(leaf []byte) proofs.Hash {
	return sha256.Sum256(append([]byte{0}, leaf...))
}

// csvLeafString makes a random string over the characters that escaping,
// quoting and the formula guard look at.
func csvLeafString(r *rand.Rand, n int) string {
	alphabet := []string{"a", "Z", "0", " ", ",", "\"", "\\", "/", "\r", "\n", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
		"'", "=", "+", "-", "@", "ë", "李", "🙂", "\u2028", "\u2029", "<", ">", "&", "{", "}", "[", "]", ":"}
	var b strings.Builder
	for range r.IntN(n + 1) {
		b.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

// csvLeafTime makes a random time: whole seconds, milliseconds,
// microseconds or nanoseconds, some in another zone, some at the ends of
// the years RFC 3339 writes.
func csvLeafTime(r *rand.Rand) time.Time {
	t := time.Unix(r.Int64N(4e9), 0)
	switch r.IntN(5) {
	case 1:
		t = t.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
	case 2:
		t = t.Add(time.Duration(r.IntN(1e6)) * time.Microsecond)
	case 3:
		t = t.Add(time.Duration(r.IntN(1e9)))
	case 4:
		t = []time.Time{
			time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			time.Date(2024, 2, 29, 12, 0, 0, 100, time.UTC),
			time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		}[r.IntN(4)]
	}
	if r.IntN(4) == 0 {
		t = t.In(time.FixedZone("", 3600*(r.IntN(25)-12)))
	}
	return t
}

// csvLeafEntry makes a random entry that Leaf writes: random strings in
// every free-text field, fields present or absent, details from
// encoding/json, and sometimes an annotation.
func csvLeafEntry(r *rand.Rand) *Entry {
	s := func(n int) string { return csvLeafString(r, n) }
	nonEmpty := func(n int) string {
		if v := s(n); v != "" {
			return v
		}
		return "x"
	}
	en := &Entry{V: EntryVersion, Log: "default", ReceivedAt: csvLeafTime(r), Event: Event{
		Category: nonEmpty(6),
		Action:   nonEmpty(6),
		Actor:    &Actor{Type: s(6), ID: s(8), Name: s(8), Email: s(8), APIKeyID: s(4)},
		IP:       s(4),
		Result:   s(4),
	}}
	if r.IntN(2) == 0 {
		en.UserAgent = s(20)
	}
	if r.IntN(3) > 0 {
		en.Target = &Target{Type: s(4), ID: s(6), Name: s(8)}
	}
	if r.IntN(3) > 0 {
		t := csvLeafTime(r)
		if r.IntN(20) == 0 {
			t = time.Time{}
		}
		en.Time = &t
	}
	en.ReadOnly = r.IntN(5) == 0
	switch r.IntN(4) {
	case 0:
	case 1:
		en.Details = json.RawMessage(`{}`)
	default:
		d, err := json.Marshal(map[string]any{
			s(4): s(10), "n": r.NormFloat64() * 1e6, "i": -r.IntN(100), "b": r.IntN(2) == 0, "z": nil,
			"l": []any{s(3), 1.5e-7, map[string]any{s(3): []any{}}},
		})
		if err != nil {
			panic(err)
		}
		en.Details = d
	}
	if r.IntN(10) == 0 {
		ref := r.Uint64N(1e15)
		en.Category, en.Action, en.Ref = "audit", "annotation:add", &ref
		en.Details, _ = json.Marshal(map[string]string{"text": s(30)})
	}
	return en
}

// csvLeaves returns the leaves of the events the ledger's other tests and
// benchmarks make, and of random entries (csvLeafEntry): the leaves on
// which AppendCSVLeaf must take its fast path.
func csvLeaves(t testing.TB) [][]byte {
	t.Helper()
	var entries []*Entry
	add := func(ra time.Time, ev Event) {
		if err := ev.Validate(true); err != nil {
			t.Fatal(err)
		}
		entries = append(entries, &Entry{V: EntryVersion, Log: DefaultLogID, ReceivedAt: ra, Event: ev})
	}
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 300 {
		add(csvLeafTime(r), benchEvent(i))
		add(csvLeafTime(r), searchEvent(r, i))
		add(csvLeafTime(r), searchBenchEvent(r, i, 300))
	}
	for _, name := range csvOrder {
		if en := csvRows(t)[name].en; en != nil {
			entries = append(entries, en)
		}
	}
	for _, en := range queryEntries(t) {
		entries = append(entries, en)
	}
	for range 3000 {
		entries = append(entries, csvLeafEntry(r))
	}
	leaves, _ := benchLeaves(t, 100)
	for _, en := range entries {
		leaf, err := en.Leaf()
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leaf)
	}
	return leaves
}

func TestAppendCSVLeafGenerated(t *testing.T) {
	for i, leaf := range csvLeaves(t) {
		if !checkCSVLeaf(t, uint64(i)*7919, leafHashOf(leaf), leaf) {
			t.Errorf("AppendCSVLeaf did not take the fast path for %q", leaf)
		}
	}
}

// looseLeaf writes en's leaf as another writer might: members in order,
// but strings escaped at random (a rune as \uXXXX in either case, a
// surrogate pair beyond the BMP, \/ for '/', \u00XX for what has a short
// escape), times with trailing zeros in the fraction, empty optional
// strings written out, read_only false written out, and ref with leading
// zeros. ParseStoredEntry reads it as the same entry, and AppendCSVLeaf
// must take it.
func looseLeaf(r *rand.Rand, en *Entry) []byte {
	var b bytes.Buffer
	str := func(s string) {
		b.WriteByte('"')
		for _, c := range s {
			switch {
			case c >= 0x10000 && r.IntN(2) == 0:
				hi, lo := utf16.EncodeRune(c)
				fmt.Fprintf(&b, `\u%04x\u%04X`, hi, lo)
			case r.IntN(4) == 0:
				if r.IntN(2) == 0 {
					fmt.Fprintf(&b, `\u%04x`, c)
				} else {
					fmt.Fprintf(&b, `\u%04X`, c)
				}
			case c == '/' && r.IntN(2) == 0:
				b.WriteString(`\/`)
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteRune(c)
			case c < 0x20:
				switch c {
				case '\b':
					b.WriteString(`\b`)
				case '\f':
					b.WriteString(`\f`)
				case '\n':
					b.WriteString(`\n`)
				case '\r':
					b.WriteString(`\r`)
				case '\t':
					b.WriteString(`\t`)
				default:
					fmt.Fprintf(&b, `\u%04x`, c)
				}
			default:
				b.WriteRune(c)
			}
		}
		b.WriteByte('"')
	}
	tm := func(t time.Time) {
		t = t.UTC()
		frac := fmt.Sprintf("%09d", t.Nanosecond())
		shortest := len(strings.TrimRight(frac, "0"))
		b.WriteString(`"` + t.Format("2006-01-02T15:04:05"))
		if n := shortest + r.IntN(10-shortest); n > 0 {
			b.WriteString("." + frac[:n]) // with 0 to 9-shortest trailing zeros
		}
		b.WriteString(`Z"`)
	}
	opt := func(sep, name, v string) {
		if v != "" || r.IntN(3) == 0 {
			b.WriteString(sep + `"` + name + `":`)
			str(v)
		}
	}
	b.WriteString(`{"action":`)
	str(en.Action)
	b.WriteString(`,"actor":{`)
	a := en.Actor
	sep := ""
	for _, m := range []struct{ name, v string }{{"api_key_id", a.APIKeyID}, {"email", a.Email}, {"id", a.ID}, {"name", a.Name}, {"type", a.Type}} {
		if m.v != "" || r.IntN(3) == 0 {
			b.WriteString(sep + `"` + m.name + `":`)
			str(m.v)
			sep = ","
		}
	}
	b.WriteString(`},"category":`)
	str(en.Category)
	if len(en.Details) > 0 {
		b.WriteString(`,"details":`)
		b.Write(en.Details)
	}
	opt(",", "ip", en.IP)
	b.WriteString(`,"log":`)
	str(en.Log)
	if en.ReadOnly {
		b.WriteString(`,"read_only":true`)
	} else if r.IntN(3) == 0 {
		b.WriteString(`,"read_only":false`)
	}
	b.WriteString(`,"received_at":`)
	tm(en.ReceivedAt)
	if en.Ref != nil {
		fmt.Fprintf(&b, `,"ref":%0*d`, 1+r.IntN(15), *en.Ref)
	}
	opt(",", "result", en.Result)
	if tg := en.Target; tg != nil {
		b.WriteString(`,"target":{`)
		sep := ""
		for _, m := range []struct{ name, v string }{{"id", tg.ID}, {"name", tg.Name}, {"type", tg.Type}} {
			if m.v != "" || r.IntN(3) == 0 {
				b.WriteString(sep + `"` + m.name + `":`)
				str(m.v)
				sep = ","
			}
		}
		b.WriteString("}")
	}
	if en.Time != nil {
		b.WriteString(`,"time":`)
		tm(*en.Time)
	}
	opt(",", "user_agent", en.UserAgent)
	b.WriteString(`,"v":1}`)
	return b.Bytes()
}

func TestAppendCSVLeafLoose(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 5000 {
		en := csvLeafEntry(r)
		if en.Ref != nil && *en.Ref >= 1e14 {
			*en.Ref /= 10 // room for a leading zero within 15 digits
		}
		if en.Time != nil && en.Time.IsZero() && r.IntN(2) == 0 {
			en.Time = nil
		}
		leaf := looseLeaf(r, en)
		if !checkCSVLeaf(t, uint64(i), leafHashOf(leaf), leaf) {
			t.Fatalf("AppendCSVLeaf did not take the fast path for %q", leaf)
		}
	}
}

// TestAppendCSVLeafDamaged changes one byte of many leaves, or cuts or
// doubles a part: AppendCSVLeaf must decline, or write the slow path's row.
func TestAppendCSVLeafDamaged(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	leaves := csvLeaves(t)
	interesting := []byte("\"\\/,:{}[]0123456789.eE+-tnu Z\x00\x1f\x7f\x80\xc3\xff")
	taken := 0
	for range 20000 {
		leaf := bytes.Clone(leaves[r.IntN(len(leaves))])
		switch j := r.IntN(len(leaf)); r.IntN(4) {
		case 0, 1:
			leaf[j] = interesting[r.IntN(len(interesting))]
		case 2:
			leaf = append(leaf[:j:j], leaf[j+1:]...)
		default:
			k := j + r.IntN(len(leaf)-j)
			leaf = append(leaf[:k:k], leaf[j:]...)
		}
		if checkCSVLeaf(t, 1, leafHashOf(leaf), leaf) {
			taken++
		}
	}
	t.Logf("%d of 20000 damaged leaves taken", taken)
}

// checkLeafTimeCell wants checkLeafTime to take s only if time.Parse
// does, and appendCSVLeafTime to write then what AppendCSVEntry writes for
// the time parsed; it returns whether checkLeafTime took s.
func checkLeafTimeCell(t *testing.T, s string) bool {
	t.Helper()
	if !checkLeafTime([]byte(s)) {
		return false
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("checkLeafTime took %q, which time.Parse rejects: %v", s, err)
	}
	want := ""
	if !tm.IsZero() {
		want = tm.UTC().Format(time.RFC3339Nano)
	}
	if got := string(appendCSVLeafTime(nil, []byte(s))); got != want {
		t.Fatalf("appendCSVLeafTime(%q) = %q, want %q", s, got, want)
	}
	return true
}

func TestCheckLeafTime(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for range 20000 {
		tm := csvLeafTime(r).UTC()
		s := tm.Format("2006-01-02T15:04:05.000000000")[:20+r.IntN(10)]
		s = strings.TrimSuffix(s, ".") + "Z"
		if ok := checkLeafTimeCell(t, s); !ok {
			t.Fatalf("checkLeafTime(%q) = false", s)
		}
		// One byte changed: taken only if time.Parse agrees.
		b := []byte(s)
		const alphabet = "0123456789:-.TZ+ tz\x00/"
		b[r.IntN(len(b))] = alphabet[r.IntN(len(alphabet))]
		checkLeafTimeCell(t, string(b))
	}
	for _, s := range []string{
		"2024-02-29T00:00:00Z", "2023-02-28T23:59:59Z", "0000-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
		"1900-02-28T00:00:00Z", "2026-12-31T00:00:00Z", "2026-04-30T00:00:00Z", "0001-01-01T00:00:00Z",
	} {
		if !checkLeafTimeCell(t, s) {
			t.Errorf("checkLeafTime(%q) = false", s)
		}
	}
	for _, s := range []string{
		"2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-00-01T00:00:00Z",
		"2026-13-01T00:00:00Z", "2026-01-32T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z",
		"2026-01-01T23:00:60Z", "2026-01-01T23:00:00.Z", "2026-01-01T23:00:00.1234567890Z",
		"2026-01-01T23:00:00+00:00", "2026-01-01 23:00:00Z", "2026/01/01T23:00:00Z", "2026-01-01T23:00:0Z",
		"2026-01-01T23:00:00z", "2026-01-01T23:00:00.1x2Z", "2026-01-01T23:00:00", ":026-01-01T23:00:00Z",
	} {
		if checkLeafTimeCell(t, s) {
			t.Errorf("checkLeafTime(%q) = true", s)
		}
	}
}

func TestAppendCSVLeafRedacted(t *testing.T) {
	h := proofs.Hash{0xab, 0xcd}
	got, ok := AppendCSVLeaf([]byte("x"), 1<<40, h, nil)
	want := AppendCSVEntry([]byte("x"), 1<<40, h, nil)
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("AppendCSVLeaf(nil) = %q, %v; want %q, true", got, ok, want)
	}
}

// csvLeafOf is a hand-written leaf: the canonical leaf of a full entry
// with the members in kv (name, raw JSON value, in order) put in instead
// (an empty value drops the member).
func csvLeafOf(kv ...string) []byte {
	members := []struct{ name, value string }{
		{"action", `"user:invite"`},
		{"actor", `{"api_key_id":"k_1","email":"Ann@Example.com","id":"u_1","name":"Ann Lee","type":"user"}`},
		{"category", `"user"`},
		{"details", `{"role_to":"admin"}`},
		{"ip", `"10.1.2.3"`},
		{"log", `"default"`},
		{"received_at", `"2026-03-10T12:00:02Z"`},
		{"result", `"success"`},
		{"target", `{"id":"u_2","name":"bob smith","type":"user"}`},
		{"time", `"2026-03-10T12:00:00Z"`},
		{"user_agent", `"curl/8.5"`},
		{"v", `1`},
	}
	for i := 0; i < len(kv); i += 2 {
		found := false
		for j := range members {
			if members[j].name == kv[i] {
				members[j].value, found = kv[i+1], true
			}
		}
		if !found {
			panic("csvLeafOf: no member " + kv[i])
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for _, m := range members {
		if m.value == "" {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", m.name, m.value)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// csvLeafCases are hand-written leaves, and whether AppendCSVLeaf takes
// the fast path for each.
var csvLeafCases = []struct {
	name string
	leaf []byte
	fast bool
}{
	{"full", csvLeafOf(), true},
	{"golden annotation", []byte(`{"action":"annotation:add","actor":{"id":"k","type":"api_key"},"category":"audit","details":{"text":"typo"},"log":"default","received_at":"2024-05-01T10:40:00Z","ref":7,"result":"success","time":"2024-05-01T10:40:00Z","v":1}`), true},
	{"annotation with escapes", []byte(`{"action":"annotation:add","actor":{"id":"k","type":"api_key"},"category":"audit","details":{"text":"=SUM(A1) \"quoted\", \\ \n\u0001"},"ip":"::1","log":"default","read_only":true,"received_at":"2024-05-01T10:40:00Z","ref":999999999999999,"result":"success","time":"2024-05-01T10:40:00Z","v":1}`), true},

	// Formula cells in every free-text field, raw and escaped.
	{"formulas", csvLeafOf(
		"action", `"=1+1"`, "category", `"+cat"`,
		"actor", `{"api_key_id":"-2","email":"@evil","id":"=HYPERLINK(\"http://x\")","name":"+1","type":"\tcmd"}`,
		"target", `{"id":"\rx","name":"@a,b","type":"-t"}`,
		"ip", `"=ip"`, "user_agent", `"@ua"`, "result", `"-r"`), true},
	{"formula after an escape", csvLeafOf("user_agent", `"\u003d1"`, "ip", `"\u002b1,2"`, "result", `"\r\n"`), true},
	{"not formulas", csvLeafOf("user_agent", `"'=1"`, "ip", `"a=b"`, "result", `"x-"`), true},

	// Quoting.
	{"commas", csvLeafOf("user_agent", `"a,b"`, "ip", `","`, "result", `"a,"`), true},
	{"leading space", csvLeafOf("user_agent", `" Mozilla"`, "ip", `" "`, "result", `"\u0020x"`), true},
	{"leading tab", csvLeafOf("user_agent", `"\tx"`, "ip", `"\t\"x\""`), true},
	{"quotes", csvLeafOf("user_agent", `"say \"hi\""`, "ip", `"\""`, "result", `"\"\""`), true},
	{"newlines", csvLeafOf("user_agent", `"a\nb\r\nc\rd"`, "ip", `"\n"`, "result", `"x\r"`), true},
	{"quote comma newline", csvLeafOf("actor", `{"id":"\"=x\",\n","name":"-\"","type":"user"}`), true},

	// Escapes.
	{"unicode escapes", csvLeafOf("user_agent", `"\u00e9\u00E9\u2028\uFFFF\u0041"`, "ip", `"\u0000"`), true},
	{"surrogate pairs", csvLeafOf("user_agent", `"\ud83d\ude00 \uD83D\uDE00\udbff\udfff"`, "result", `"\ud800\udc00"`), true},
	{"short escapes", csvLeafOf("user_agent", `"\/\\\b\f\n\r\t\""`), true},
	{"control characters", csvLeafOf("user_agent", `"\u0001\u001f\u007f\b"`, "ip", `"\u0009x"`), true},
	{"raw unicode", csvLeafOf("user_agent", `"Zoë 李雷 🙂 `+"\u2028\u2029\x7f"+`"`), true},
	{"escaped log", csvLeafOf("log", `"d\u0065f"`), true},

	// Empty and absent fields.
	{"empty strings", csvLeafOf("action", `""`, "user_agent", `""`, "ip", `""`, "result", `""`,
		"actor", `{"api_key_id":"","email":"","id":"","name":"","type":""}`, "target", `{"id":"","name":"","type":""}`), true},
	{"absent optional fields", csvLeafOf("details", "", "ip", "", "target", "", "user_agent", "", "result", "", "time", ""), true},
	{"absent action and log", csvLeafOf("action", "", "log", ""), true},
	{"empty actor and target", csvLeafOf("actor", `{}`, "target", `{}`), true},
	{"bare actor", csvLeafOf("actor", `{"id":"u","type":"user"}`), true},

	// details.
	{"details nested", csvLeafOf("details", `{"a":[1,-2.5e+10,{"b":null,"c":true,"d":false}],"e":{"f":[[],{}]},"g":0.5E-3}`), true},
	{"details strings", csvLeafOf("details", `{"a":"x, \"y\"\n","b c":"}]\\","\u0041":"\ud83d\ude00"}`), true},
	{"details space in string", csvLeafOf("details", `{"a":"b c","d":" "}`), true},
	{"details empty", csvLeafOf("details", `{}`), true},
	{"details not canonical", csvLeafOf("details", `{"b":1.0,"a":2E3}`), true},
	{"details formula inside", csvLeafOf("details", `{"n":-1,"s":"=cmd"}`), true},
	{"details deep", csvLeafOf("details", strings.Repeat(`{"a":[`, 100)+strings.Repeat(`]}`, 100)), true},

	// Times.
	{"fractions", csvLeafOf("received_at", `"2026-03-10T12:00:02.5Z"`, "time", `"2026-03-10T12:00:00.123456789Z"`), true},
	{"fraction trailing zeros", csvLeafOf("received_at", `"2026-03-10T12:00:02.120Z"`, "time", `"2026-03-10T12:00:00.000000100Z"`), true},
	{"fraction all zeros", csvLeafOf("received_at", `"2026-03-10T12:00:02.000Z"`, "time", `"2026-03-10T12:00:00.0Z"`), true},
	{"no time", csvLeafOf("received_at", `"2026-03-10T12:00:02.010Z"`, "time", ""), true},
	{"time zero", csvLeafOf("time", `"0001-01-01T00:00:00Z"`), true},
	{"time zero fraction", csvLeafOf("time", `"0001-01-01T00:00:00.000Z"`), true},
	{"time nearly zero", csvLeafOf("time", `"0001-01-01T00:00:00.000000001Z"`), true},
	{"year 0", csvLeafOf("received_at", `"0000-01-01T00:00:00Z"`, "time", `"0000-02-29T00:00:00Z"`), true},
	{"year 9999", csvLeafOf("received_at", `"9999-12-31T23:59:59.999999999Z"`), true},
	{"leap days", csvLeafOf("received_at", `"2024-02-29T00:00:00Z"`, "time", `"2000-02-29T23:59:59Z"`), true},

	// Other members.
	{"read_only", csvLeafOf("log", `"x","read_only":true`), true},
	{"read_only false", csvLeafOf("log", `"x","read_only":false`), true},
	{"ref zeros", csvLeafOf("received_at", `"2026-03-10T12:00:02Z","ref":007`), true},
	{"ref 15 digits", csvLeafOf("received_at", `"2026-03-10T12:00:02Z","ref":999999999999999`), true},

	// The slow path's: unknown or misplaced members.
	{"unknown member", csvLeafOf("log", `"x","extra":1`), false},
	{"unknown actor member", csvLeafOf("actor", `{"id":"u","role":"x","type":"user"}`), false},
	{"unknown target member", csvLeafOf("target", `{"id":"u","kind":"x","type":"user"}`), false},
	{"members out of order", []byte(`{"v":1,"log":"d","received_at":"2026-01-01T00:00:00Z","category":"user","action":"x","actor":{"type":"user","id":"a"}}`), false},
	{"actor members out of order", csvLeafOf("actor", `{"type":"user","id":"u"}`), false},
	{"repeated member", csvLeafOf("category", `"user","category":"role"`), false},
	{"repeated actor member", csvLeafOf("actor", `{"id":"u","id":"v","type":"user"}`), false},
	{"escaped name", csvLeafOf("log", `"x","\u0072ead_only":true`), false},
	{"white space", []byte(strings.Replace(string(csvLeafOf()), `"ip":`, `"ip": `, 1)), false},
	{"leading space", append([]byte(" "), csvLeafOf()...), false},
	{"trailing data", append(csvLeafOf(), ' '), false},
	{"two objects", append(csvLeafOf(), csvLeafOf()...), false},
	{"truncated", csvLeafOf()[:100], false},
	{"empty", []byte{}, false},
	{"empty object", []byte(`{}`), false},
	{"array", []byte(`[]`), false},

	// Required members.
	{"no v", csvLeafOf("v", ""), false},
	{"v 2", csvLeafOf("v", "2"), false},
	{"v 10", csvLeafOf("v", "10"), false},
	{"v string", csvLeafOf("v", `"1"`), false},
	{"no actor", csvLeafOf("actor", ""), false},
	{"actor null", csvLeafOf("actor", "null"), false},
	{"actor string", csvLeafOf("actor", `"u"`), false},
	{"actor member null", csvLeafOf("actor", `{"id":null,"type":"user"}`), false},
	{"target null", csvLeafOf("target", "null"), false},
	{"no category", csvLeafOf("category", ""), false},
	{"empty category", csvLeafOf("category", `""`), false},
	{"no received_at", csvLeafOf("received_at", ""), false},
	{"zero received_at", csvLeafOf("received_at", `"0001-01-01T00:00:00Z"`), false},
	{"zero received_at fraction", csvLeafOf("received_at", `"0001-01-01T00:00:00.00Z"`), false},

	// Strings it does not decode with certainty.
	{"lone high surrogate", csvLeafOf("user_agent", `"\ud83dx"`), false},
	{"lone high surrogate at end", csvLeafOf("user_agent", `"\ud83d"`), false},
	{"lone low surrogate", csvLeafOf("user_agent", `"\ude00"`), false},
	{"high then high", csvLeafOf("user_agent", `"\ud83d\ud83d"`), false},
	{"high then other escape", csvLeafOf("user_agent", `"\ud83d\u0041"`), false},
	{"bad escape", csvLeafOf("user_agent", `"\x41"`), false},
	{"short unicode escape", csvLeafOf("user_agent", `"\u41"`), false},
	{"bad hex", csvLeafOf("user_agent", `"\u00g1"`), false},
	{"raw tab", csvLeafOf("user_agent", "\"a\tb\""), false},
	{"raw newline", csvLeafOf("ip", "\"a\nb\""), false},
	{"raw NUL", csvLeafOf("result", "\"\x00\""), false},
	{"invalid UTF-8", csvLeafOf("user_agent", "\"a\xffb\""), false},
	{"invalid UTF-8 escaped", csvLeafOf("user_agent", "\"\\n\xc3\""), false},
	{"surrogate in UTF-8", csvLeafOf("user_agent", "\"\xed\xa0\x80\""), false},
	{"unterminated string", []byte(`{"action":"x`), false},
	{"string ends in backslash", []byte(`{"action":"x\`), false},

	// Times it leaves to the slow path.
	{"offset", csvLeafOf("time", `"2026-03-10T13:00:00+01:00"`), false},
	{"lower-case z", csvLeafOf("time", `"2026-03-10T12:00:00z"`), false},
	{"lower-case t", csvLeafOf("received_at", `"2026-03-10t12:00:02Z"`), false},
	{"ten fraction digits", csvLeafOf("time", `"2026-03-10T12:00:00.1234567890Z"`), false},
	{"empty fraction", csvLeafOf("time", `"2026-03-10T12:00:00.Z"`), false},
	{"leap second", csvLeafOf("time", `"2016-12-31T23:59:60Z"`), false},
	{"February 29 2023", csvLeafOf("time", `"2023-02-29T00:00:00Z"`), false},
	{"February 29 1900", csvLeafOf("time", `"1900-02-29T00:00:00Z"`), false},
	{"April 31", csvLeafOf("received_at", `"2026-04-31T00:00:00Z"`), false},
	{"month 13", csvLeafOf("time", `"2026-13-01T00:00:00Z"`), false},
	{"month 0", csvLeafOf("time", `"2026-00-01T00:00:00Z"`), false},
	{"day 0", csvLeafOf("time", `"2026-01-00T00:00:00Z"`), false},
	{"hour 24", csvLeafOf("time", `"2026-01-01T24:00:00Z"`), false},
	{"minute 60", csvLeafOf("time", `"2026-01-01T00:60:00Z"`), false},
	{"no seconds", csvLeafOf("time", `"2026-01-01T00:00Z"`), false},
	{"date only", csvLeafOf("time", `"2026-01-01"`), false},
	{"five-digit year", csvLeafOf("time", `"12026-01-01T00:00:00Z"`), false},
	{"sign in a number", csvLeafOf("time", `"2026-+1-01T00:00:00Z"`), false},
	{"escaped time", csvLeafOf("time", `"2026-01-01T00:00:00\u005a"`), false},
	{"time null", csvLeafOf("time", `null`), false},

	// details it leaves to the slow path.
	{"details white space", csvLeafOf("details", `{"a": 1}`), false},
	{"details newline", csvLeafOf("details", "{\"a\":1\n}"), false},
	{"details null", csvLeafOf("details", `null`), false},
	{"details array", csvLeafOf("details", `[1]`), false},
	{"details string", csvLeafOf("details", `"x"`), false},
	{"details unbalanced", []byte(`{"action":"x","details":{"a":[1}`), false},
	{"details bad byte", csvLeafOf("details", `{"a":#}`), false},
	{"details bad string", csvLeafOf("details", `{"a":"\ud800"}`), false},
	{"details raw tab", csvLeafOf("details", "{\"a\":\"\t\"}"), false},

	// Other members it leaves to the slow path.
	{"ref 16 digits", csvLeafOf("received_at", `"2026-03-10T12:00:02Z","ref":1000000000000000`), false},
	{"ref negative", csvLeafOf("received_at", `"2026-03-10T12:00:02Z","ref":-1`), false},
	{"ref fraction", csvLeafOf("received_at", `"2026-03-10T12:00:02Z","ref":1.5`), false},
	{"ref null", csvLeafOf("received_at", `"2026-03-10T12:00:02Z","ref":null`), false},
	{"read_only null", csvLeafOf("log", `"x","read_only":null`), false},
	{"read_only number", csvLeafOf("log", `"x","read_only":1`), false},
	{"category number", csvLeafOf("category", `1`), false},
	{"log null", csvLeafOf("log", `null`), false},
}

func TestAppendCSVLeafCases(t *testing.T) {
	for i, tc := range csvLeafCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkCSVLeaf(t, uint64(i), leafHashOf(tc.leaf), tc.leaf); got != tc.fast {
				_, err := ParseStoredEntry(tc.leaf)
				t.Errorf("AppendCSVLeaf(%s) reported %v, want %v (ParseStoredEntry: %v)", tc.leaf, got, tc.fast, err)
			}
		})
	}
}

// TestAppendCSVLeafCells checks a few cells of the hand-written cases as
// they must read, not only as the slow path writes them.
func TestAppendCSVLeafCells(t *testing.T) {
	for _, tc := range []struct {
		leaf []byte
		want string // the row between index and leaf_hash
	}{
		{csvLeafOf(), `,2026-03-10T12:00:02Z,2026-03-10T12:00:00Z,user,user:invite,user,u_1,Ann Lee,Ann@Example.com,k_1,user,u_2,bob smith,10.1.2.3,curl/8.5,success,"{""role_to"":""admin""}",`},
		{csvLeafOf("received_at", `"2026-03-10T12:00:02.120Z"`, "time", ""),
			`,2026-03-10T12:00:02.12Z,2026-03-10T12:00:02.12Z,user,user:invite,user,u_1,Ann Lee,Ann@Example.com,k_1,user,u_2,bob smith,10.1.2.3,curl/8.5,success,"{""role_to"":""admin""}",`},
		{csvLeafOf("time", `"2026-03-10T12:00:00.000Z"`, "actor", `{"id":"\"=x\",\n","name":"\u003d","type":"\u0020a"}`, "target", "", "ip", "", "user_agent", `"\ud83d\ude00"`, "result", `""`, "details", ""),
			",2026-03-10T12:00:02Z,2026-03-10T12:00:00Z,user,user:invite,\" a\",\"\"\"=x\"\",\n\",'=,,,,,,,\U0001F600,success,,"},
		{csvLeafOf("time", `"0001-01-01T00:00:00Z"`, "actor", `{"id":"\t1","type":"user"}`, "details", `{"a":[1,2]}`),
			",2026-03-10T12:00:02Z,,user,user:invite,user,'\t1,,,,user,u_2,bob smith,10.1.2.3,curl/8.5,success,\"{\"\"a\"\":[1,2]}\","},
	} {
		h := leafHashOf(tc.leaf)
		got, ok := AppendCSVLeaf(nil, 3, h, tc.leaf)
		want := "3" + tc.want + fmt.Sprintf("%x\r\n", h)
		if !ok || string(got) != want {
			t.Errorf("AppendCSVLeaf(%s) =\n %q, %v\nwant %q", tc.leaf, got, ok, want)
		}
	}
}

// TestCSVWriterWriteLeaf exports a real ledger's entries twice, through
// WriteLeaf (WriteEntry where it declines) and through WriteEntry alone,
// and wants the same bytes, with every stored leaf on the fast path.
func TestCSVWriterWriteLeaf(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	ctx := context.Background()
	const logID = "verbose" // it stores read-only events too
	if _, err := l.CreateLog(ctx, logID, LogSettings{Verbose: true}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	var evs []Event
	for i := range 400 {
		evs = append(evs, searchEvent(r, i), benchEvent(i))
	}
	evs[1].Actor.Name = "=cmd \"x\",\n\u2028 🙂 \x01"
	evs[3].UserAgent = " \t\\ \"quoted\""
	evs[5].Details = json.RawMessage(`{ "b" : [1, 2.50, "a b"], "a": {"c": null} }`)
	if _, err := l.Append(ctx, logID, evs, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	ref := uint64(1)
	d, _ := json.Marshal(map[string]string{"text": "=typo, \"fixed\"\n<b>"})
	ann := Event{Category: "audit", Action: "annotation:add", Actor: &Actor{Type: "api_key", ID: "k_1"}, Ref: &ref, IP: "::1", Details: d}
	if _, err := l.Append(ctx, logID, []Event{ann}, AppendOptions{Internal: true}); err != nil {
		t.Fatal(err)
	}

	var fast, slow bytes.Buffer
	wf, ws := NewCSVWriter(&fast, true), NewCSVWriter(&slow, true)
	rows, declined := 0, 0
	_, err := l.Scan(ctx, logID, ScanOptions{}, func(rec *Record) (bool, error) {
		rows++
		handled, err := wf.WriteLeaf(rec.Index, rec.LeafHash, rec.Leaf)
		if err != nil {
			return false, err
		}
		en, err := rec.Entry()
		if err != nil {
			return false, err
		}
		if !handled {
			declined++
			if err := wf.WriteEntry(rec.Index, rec.LeafHash, en); err != nil {
				return false, err
			}
		}
		return true, ws.WriteEntry(rec.Index, rec.LeafHash, en)
	})
	if err != nil {
		t.Fatal(err)
	}
	// A redacted record, as the export route writes it.
	if handled, err := wf.WriteLeaf(1<<40, proofs.Hash{9}, nil); !handled || err != nil {
		t.Fatalf("WriteLeaf(nil) = %v, %v", handled, err)
	}
	if err := ws.WriteEntry(1<<40, proofs.Hash{9}, nil); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(wf.Flush(), ws.Flush()); err != nil {
		t.Fatal(err)
	}
	if rows != len(evs)+1 || declined != 0 {
		t.Errorf("%d rows, %d declined; want %d rows, none declined", rows, declined, len(evs)+1)
	}
	if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
		t.Errorf("WriteLeaf wrote another export than WriteEntry:\n%s\nwant\n%s", fast.Bytes(), slow.Bytes())
	}
}

func TestCSVWriterWriteLeafDeclines(t *testing.T) {
	var b bytes.Buffer
	w := NewCSVWriter(&b, false)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	header := b.String()
	leaf := csvLeafOf("time", `"2026-03-10T13:00:00+01:00"`)
	if handled, err := w.WriteLeaf(1, leafHashOf(leaf), leaf); handled || err != nil {
		t.Fatalf("WriteLeaf of a leaf with an offset = %v, %v; want false, nil", handled, err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if b.String() != header {
		t.Errorf("WriteLeaf wrote %q when it declined", b.String()[len(header):])
	}
}

func TestCSVWriterWriteLeafError(t *testing.T) {
	leaf := csvLeafOf()
	w := NewCSVWriter(&failWriter{n: 10}, false)
	var err error
	for i := 0; err == nil && i < 1000; i++ {
		var handled bool
		handled, err = w.WriteLeaf(uint64(i), leafHashOf(leaf), leaf)
		if !handled && err == nil {
			t.Fatal("WriteLeaf declined a canonical leaf")
		}
	}
	if !errors.Is(err, errCSVWrite) {
		t.Fatalf("error %v, want %v", err, errCSVWrite)
	}
	if handled, err2 := w.WriteLeaf(0, leafHashOf(leaf), leaf); handled || !errors.Is(err2, errCSVWrite) {
		t.Errorf("WriteLeaf after an error = %v, %v", handled, err2)
	}
	if err2 := w.Flush(); !errors.Is(err2, errCSVWrite) {
		t.Errorf("Flush after an error = %v", err2)
	}
}

// TestAppendCSVLeafAllocs wants no allocation when dst has room.
func TestAppendCSVLeafAllocs(t *testing.T) {
	leaves := [][]byte{
		csvLeafOf(),
		csvLeafOf("user_agent", `"\"=x\",\n\ud83d\ude00"`, "time", `"2026-03-10T12:00:00.120Z"`),
	}
	dst := make([]byte, 0, 4096)
	for _, leaf := range leaves {
		h := leafHashOf(leaf)
		if n := testing.AllocsPerRun(100, func() {
			var ok bool
			if dst, ok = AppendCSVLeaf(dst[:0], 1, h, leaf); !ok {
				panic("declined")
			}
		}); n != 0 {
			t.Errorf("AppendCSVLeaf(%s): %v allocations, want 0", leaf, n)
		}
	}
}

func FuzzAppendCSVLeaf(f *testing.F) {
	for i, leaf := range csvLeaves(f) {
		if i%40 == 0 {
			f.Add(leaf)
		}
	}
	for _, tc := range csvLeafCases {
		f.Add(tc.leaf)
	}
	f.Fuzz(func(t *testing.T, leaf []byte) {
		fast := checkCSVLeaf(t, 12345, leafHashOf(leaf), leaf)
		// Every leaf this ledger writes takes the fast path, but for a
		// ref of 16 digits, which ParseStoredEntry leaves to ParseEntry.
		en, err := ParseEntry(leaf)
		if err == nil && !fast && (en.Ref == nil || *en.Ref < 1e15) {
			t.Fatalf("AppendCSVLeaf declined %q, which ParseEntry accepts", leaf)
		}
	})
}

// BenchmarkCSVLeaf measures the CSV row of a stored leaf both ways:
// AppendCSVLeaf, and ParseStoredEntry then AppendCSVEntry (the export's
// path without it), on the same leaves. One op is one row.
func BenchmarkCSVLeaf(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	ra := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.UTC)
	search := make([][]byte, 1024)
	var searchBytes int
	for i := range search {
		ev := searchBenchEvent(r, i, len(search))
		if err := ev.Validate(false); err != nil {
			b.Fatal(err)
		}
		en := Entry{V: EntryVersion, Log: DefaultLogID, ReceivedAt: ra.Add(time.Duration(i) * time.Millisecond), Event: ev}
		leaf, err := en.Leaf()
		if err != nil {
			b.Fatal(err)
		}
		search[i] = leaf
		searchBytes += len(leaf)
	}
	bench, benchMean := benchLeaves(b, 1024)
	for _, set := range []struct {
		name   string
		leaves [][]byte
		mean   int64
	}{
		{"bench", bench, benchMean},
		{"searchbench", search, int64(searchBytes / len(search))},
	} {
		hashes := make([]proofs.Hash, len(set.leaves))
		for i, leaf := range set.leaves {
			hashes[i] = leafHashOf(leaf)
		}
		b.Run("leaves="+set.name+"/impl=AppendCSVLeaf", func(b *testing.B) {
			b.SetBytes(set.mean)
			b.ReportAllocs()
			var dst []byte
			i := 0
			for b.Loop() {
				var ok bool
				if dst, ok = AppendCSVLeaf(dst[:0], uint64(i), hashes[i], set.leaves[i]); !ok {
					b.Fatal("declined")
				}
				i = (i + 1) % len(set.leaves)
			}
		})
		b.Run("leaves="+set.name+"/impl=ParseStoredEntry+AppendCSVEntry", func(b *testing.B) {
			b.SetBytes(set.mean)
			b.ReportAllocs()
			var dst []byte
			i := 0
			for b.Loop() {
				en, err := ParseStoredEntry(set.leaves[i])
				if err != nil {
					b.Fatal(err)
				}
				dst = AppendCSVEntry(dst[:0], uint64(i), hashes[i], en)
				i = (i + 1) % len(set.leaves)
			}
		})
	}
}

// TestWriteRecord checks the export's row writer: an unparsed record goes
// straight from its leaf, a parsed one through WriteEntry, a redacted one
// as the redacted row, all as CSVRow says; a damaged one writes nothing.
func TestWriteRecord(t *testing.T) {
	en := Entry{V: 1, Log: DefaultLogID, ReceivedAt: time.Date(2026, 11, 26, 1, 2, 3, 450000000, time.UTC), Event: testEvent(3)}
	leaf, err := en.AppendLeaf(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := proofs.LeafHash(leaf)
	parsed := &Record{Index: 9, LeafHash: h, Leaf: leaf}
	if _, err := parsed.Entry(); err != nil {
		t.Fatal(err)
	}
	want := func(en *Entry) string {
		var b bytes.Buffer
		cw := NewCSVWriter(&b, false)
		if err := cw.Write(CSVRow(9, h, en)); err != nil {
			t.Fatal(err)
		}
		cw.Flush()
		return b.String()
	}
	stored, _ := ParseStoredEntry(leaf)
	var header bytes.Buffer
	hw := NewCSVWriter(&header, false)
	hw.Flush()
	for _, c := range []struct {
		name string
		r    *Record
		ok   bool
		want string
	}{
		{"from the leaf", &Record{Index: 9, LeafHash: h, Leaf: leaf}, true, want(stored)},
		{"parsed", parsed, true, want(stored)},
		{"redacted", &Record{Index: 9, LeafHash: h}, true, want(nil)},
		{"damaged", &Record{Index: 9, LeafHash: h, Leaf: leaf[:len(leaf)-3]}, false, header.String()},
	} {
		var b bytes.Buffer
		cw := NewCSVWriter(&b, false)
		ok, err := cw.WriteRecord(c.r)
		if err == nil {
			err = cw.Flush()
		}
		if err != nil || ok != c.ok || b.String() != c.want {
			t.Errorf("%s: ok %v, err %v, wrote %q; want ok %v, %q", c.name, ok, err, b.String(), c.ok, c.want)
		}
	}
}
