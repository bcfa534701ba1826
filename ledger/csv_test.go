package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var csvUpdate = flag.Bool("csv.update", false, "rewrite testdata/csv golden files")

// csvRow is one row of a CSV test: an entry (nil: redacted) at an index.
type csvRow struct {
	index uint64
	en    *Entry
}

func (r csvRow) leafHash() [32]byte {
	if r.en == nil {
		return sha256.Sum256([]byte{byte(r.index)})
	}
	leaf, err := r.en.Leaf()
	if err != nil {
		panic(err)
	}
	return sha256.Sum256(append([]byte{0}, leaf...))
}

// csvRows are the entries of the CSV tests, with a name each.
func csvRows(t testing.TB) map[string]csvRow {
	entries := queryEntries(t)
	return map[string]csvRow{
		"full": {0, entries["full"]},
		"bare": {1, entries["bare"]},
		"v6":   {2, entries["v6"]},
		"formulas": {3, queryEntry(t, func(e *Event) {
			e.Actor = &Actor{Type: "user", ID: "=HYPERLINK(\"http://x\")", Name: "+1", Email: "@evil", APIKeyID: "-2"}
			e.Target = &Target{Type: "\tcmd", ID: "\rx", Name: "a=b"}
			e.UserAgent = "=1+1"
			e.Details = json.RawMessage(`{"n": -1, "s": "=cmd"}`)
		})},
		"unicode": {4, queryEntry(t, func(e *Event) {
			e.Actor = &Actor{Type: "user", ID: "ü_1", Name: "Zoë 李雷 🙂", Email: "zoë@例え.jp"}
			e.Target = &Target{Type: "team", ID: "t,1", Name: "say \"hi\",\nthen\r\nleave\rnow"}
			e.UserAgent = " Mozilla/5.0 (X11; Linux)"
			e.Details = json.RawMessage(`{"reason": "naïve \u2028 <b>&", "z": [1, 2.50, 1e21]}`)
		})},
		"offset": {5, queryEntry(t, func(e *Event) {
			at := time.Date(2026, 3, 10, 14, 0, 0, 500000000, time.FixedZone("CET", 3600))
			e.Time = &at
		})},
		"redacted": {1 << 40, nil},
	}
}

var csvOrder = []string{"full", "bare", "v6", "formulas", "unicode", "offset", "redacted"}

func TestCSVHeader(t *testing.T) {
	want := []string{"index", "received_at", "time", "category", "action", "actor_type", "actor_id", "actor_name",
		"actor_email", "actor_api_key_id", "target_type", "target_id", "target_name", "ip", "user_agent", "result",
		"details", "leaf_hash"}
	if !reflect.DeepEqual(CSVHeader, want) {
		t.Errorf("CSVHeader = %q, want %q", CSVHeader, want)
	}
	for _, bom := range []bool{false, true} {
		var b bytes.Buffer
		w := NewCSVWriter(&b, bom)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		line := strings.Join(want, ",") + "\r\n"
		if bom {
			line = "\xef\xbb\xbf" + line
		}
		if b.String() != line {
			t.Errorf("bom %v: NewCSVWriter wrote %q, want %q", bom, b.String(), line)
		}
	}
}

// col returns the cell of column name in row.
func col(row []string, name string) string {
	for i, h := range CSVHeader {
		if h == name {
			return row[i]
		}
	}
	panic("no column " + name)
}

func TestCSVRow(t *testing.T) {
	rows := csvRows(t)
	for _, tc := range []struct {
		row  string
		want map[string]string
	}{
		{"full", map[string]string{
			"index": "0", "received_at": "2026-03-10T12:00:02Z", "time": "2026-03-10T12:00:00Z",
			"category": "user", "action": "user:invite", "actor_type": "user", "actor_id": "u_1",
			"actor_name": "Ann Lee", "actor_email": "Ann@Example.com", "actor_api_key_id": "k_1",
			"target_type": "user", "target_id": "u_2", "target_name": "bob smith", "ip": "10.1.2.3",
			"user_agent": "curl/8.5", "result": "success", "details": `{"role_to":"admin"}`,
		}},
		{"bare", map[string]string{
			// Absent fields are empty cells; time is received_at.
			"index": "1", "received_at": "2026-03-10T12:00:02Z", "time": "2026-03-10T12:00:02Z",
			"category": "login", "action": "login", "actor_type": "system", "actor_id": "sys",
			"actor_name": "", "actor_email": "", "actor_api_key_id": "", "target_type": "", "target_id": "",
			"target_name": "", "ip": "", "user_agent": "", "result": "success", "details": "",
		}},
		{"v6", map[string]string{"ip": "2001:db8::1", "result": "failure", "action": "device:wipe"}},
		{"formulas", map[string]string{
			"actor_id": `'=HYPERLINK("http://x")`, "actor_name": "'+1", "actor_email": "'@evil", "actor_api_key_id": "'-2",
			"target_type": "'\tcmd", "target_id": "'\rx", "target_name": "a=b", "user_agent": "'=1+1",
			// details is a JSON object: it starts with '{', whatever is inside.
			"details": `{"n":-1,"s":"=cmd"}`,
		}},
		{"unicode", map[string]string{
			"actor_id": "ü_1", "actor_name": "Zoë 李雷 🙂", "actor_email": "zoë@例え.jp",
			"target_id": "t,1", "target_name": "say \"hi\",\nthen\r\nleave\rnow",
			"user_agent": " Mozilla/5.0 (X11; Linux)",
			"details":    "{\"reason\":\"naïve \u2028 <b>&\",\"z\":[1,2.5,1e+21]}",
		}},
		{"offset", map[string]string{"time": "2026-03-10T13:00:00.5Z"}},
		{"redacted", map[string]string{
			"index": "1099511627776", "received_at": "", "time": "", "category": "", "action": "",
			"actor_type": "", "actor_id": "", "actor_name": "", "actor_email": "", "actor_api_key_id": "",
			"target_type": "", "target_id": "", "target_name": "", "ip": "", "user_agent": "", "result": "",
			"details": "",
		}},
	} {
		t.Run(tc.row, func(t *testing.T) {
			r := rows[tc.row]
			h := r.leafHash()
			got := CSVRow(r.index, h, r.en)
			if len(got) != len(CSVHeader) {
				t.Fatalf("%d cells, want %d", len(got), len(CSVHeader))
			}
			for name, want := range tc.want {
				if c := col(got, name); c != want {
					t.Errorf("%s = %q, want %q", name, c, want)
				}
			}
			if c, want := col(got, "leaf_hash"), string(hexLower(h[:])); c != want {
				t.Errorf("leaf_hash = %q, want %q", c, want)
			}
			for i, c := range got {
				if !utf8.ValidString(c) {
					t.Errorf("%s is not UTF-8: %q", CSVHeader[i], c)
				}
				if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
					t.Errorf("%s = %q begins like a formula", CSVHeader[i], c)
				}
			}
		})
	}
}

// hexLower is lowercase hex written out by hand, not by encoding/hex.
func hexLower(b []byte) []byte {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return out
}

// writeCSV writes the header and the rows named by csvOrder.
func writeCSV(t *testing.T, bom bool) ([]byte, [][]string) {
	t.Helper()
	rows := csvRows(t)
	var b bytes.Buffer
	w := NewCSVWriter(&b, bom)
	want := [][]string{CSVHeader}
	for _, name := range csvOrder {
		r := rows[name]
		row := CSVRow(r.index, r.leafHash(), r.en)
		if err := w.Write(row); err != nil {
			t.Fatal(err)
		}
		want = append(want, row)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), want
}

func TestCSVReadsBack(t *testing.T) {
	for _, bom := range []bool{false, true} {
		out, want := writeCSV(t, bom)
		if bom != bytes.HasPrefix(out, []byte(CSVBOM)) {
			t.Fatalf("bom %v, output starts %q", bom, out[:3])
		}
		r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(out, []byte(CSVBOM))))
		r.FieldsPerRecord = len(CSVHeader)
		got, err := r.ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv cannot read the export: %v\n%s", err, out)
		}
		checkCSVRecords(t, got, want)
	}
}

// checkCSVRecords compares what encoding/csv read with what was written,
// allowing for the one thing its Reader changes: a CRLF inside a quoted
// field reads as LF.
func checkCSVRecords(t *testing.T, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d records, wrote %d", len(got), len(want))
	}
	for i := range want {
		w := make([]string, len(want[i]))
		for j, f := range want[i] {
			w[j] = strings.ReplaceAll(f, "\r\n", "\n")
		}
		if !reflect.DeepEqual(got[i], w) {
			t.Errorf("record %d reads back as %q, want %q", i, got[i], w)
		}
	}
}

func TestCSVGolden(t *testing.T) {
	out, _ := writeCSV(t, false)
	path := filepath.Join("testdata", "csv", "export.csv")
	if *csvUpdate {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -csv.update to write it)", err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("export differs from %s (run with -csv.update after checking):\n%s", path, out)
	}
}

func TestAppendCSVRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record []string
		want   string
	}{
		{"plain", []string{"a", "b c", ""}, "a,b c,\r\n"},
		{"comma", []string{"a,b"}, "\"a,b\"\r\n"},
		{"quote", []string{`say "hi"`}, "\"say \"\"hi\"\"\"\r\n"},
		{"lone CR kept", []string{"a\rb"}, "\"a\rb\"\r\n"},
		{"LF kept", []string{"a\nb", "c\r\nd"}, "\"a\nb\",\"c\r\nd\"\r\n"},
		{"leading space", []string{" a", "\tb", "c "}, "\" a\",\"\tb\",c \r\n"},
		{"quote inside is still quoted", []string{`a"b`}, "\"a\"\"b\"\r\n"},
		{"one empty field", []string{""}, "\"\"\r\n"},
		{"two empty fields", []string{"", ""}, ",\r\n"},
		{"no fields", nil, "\r\n"},
		{"unicode", []string{"Zoë", "李雷"}, "Zoë,李雷\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(AppendCSVRecord([]byte("x"), tc.record))
			if got != "x"+tc.want {
				t.Errorf("AppendCSVRecord(%q) = %q, want %q", tc.record, got[1:], tc.want)
			}
		})
	}
}

// TestAppendCSVRecordRandom reads random records back with encoding/csv,
// a reader we did not write.
func TestAppendCSVRecordRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", " ", ",", "\"", "\r", "\n", "\t", "'", "=", "ë", "李", "\u00a0", "\\", "."}
	var want [][]string
	var out []byte
	for range 2000 {
		rec := make([]string, 1+r.IntN(5))
		for i := range rec {
			var b strings.Builder
			for range r.IntN(8) {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			rec[i] = b.String()
		}
		if len(rec) == 1 && rec[0] == "" {
			// encoding/csv reads "" as a record, but let the case be.
			rec[0] = "x"
		}
		want = append(want, rec)
		out = AppendCSVRecord(out, rec)
	}
	rd := csv.NewReader(bytes.NewReader(out))
	rd.FieldsPerRecord = -1
	got, err := rd.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	checkCSVRecords(t, got, want)
}

type failWriter struct{ n int }

var errCSVWrite = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n < len(p) {
		n := w.n
		w.n = 0
		return n, errCSVWrite
	}
	w.n -= len(p)
	return len(p), nil
}

func TestCSVWriterError(t *testing.T) {
	w := NewCSVWriter(&failWriter{n: 10}, true)
	row := CSVRow(0, [32]byte{}, queryEntry(t, nil))
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = w.Write(row)
	}
	if err == nil {
		err = w.Flush()
	}
	if !errors.Is(err, errCSVWrite) {
		t.Fatalf("error %v, want %v", err, errCSVWrite)
	}
	if err2 := w.Flush(); !errors.Is(err2, errCSVWrite) {
		t.Errorf("Flush after an error = %v", err2)
	}
	if err2 := w.Write(row); !errors.Is(err2, errCSVWrite) {
		t.Errorf("Write after an error = %v", err2)
	}
}

// checkCSVEntry wants AppendCSVEntry to write what AppendCSVRecord writes
// for CSVRow.
func checkCSVEntry(t testing.TB, index uint64, h [32]byte, en *Entry) {
	t.Helper()
	want := AppendCSVRecord(nil, CSVRow(index, h, en))
	if got := AppendCSVEntry(nil, index, h, en); !bytes.Equal(got, want) {
		t.Fatalf("AppendCSVEntry:\n got %q\nwant %q", got, want)
	}
}

func TestAppendCSVEntry(t *testing.T) {
	h := [32]byte{1, 2, 0xff}
	for _, name := range csvOrder {
		r := csvRows(t)[name]
		checkCSVEntry(t, r.index, h, r.en)
	}
	// Random cells over the characters that quoting and the guard look at.
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", " ", ",", "\"", "\r", "\n", "\t", "'", "=", "+", "-", "@", "ë", "{", "}"}
	str := func() string {
		var b strings.Builder
		for range rng.IntN(6) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for range 3000 {
		en := queryEntry(t, nil)
		en.Actor = &Actor{Type: str(), ID: str(), Name: str(), Email: str(), APIKeyID: str()}
		if rng.IntN(3) == 0 {
			en.Target = nil
		} else {
			en.Target = &Target{Type: str(), ID: str(), Name: str()}
		}
		en.Category, en.Action, en.IP, en.UserAgent, en.Result = str(), str(), str(), str(), str()
		switch rng.IntN(3) {
		case 0:
			en.Details = nil
		case 1:
			en.Details = json.RawMessage(fmt.Sprintf(`{"a":%q}`, str()))
		default:
			en.Details = json.RawMessage(fmt.Sprintf(`{ "a" : %q }`, str()))
		}
		checkCSVEntry(t, rng.Uint64(), h, en)
	}
}

func BenchmarkCSVRow(b *testing.B) {
	en := queryEntry(b, nil)
	var h [32]byte
	b.Run("impl=CSVRow+AppendCSVRecord", func(b *testing.B) {
		var dst []byte
		for b.Loop() {
			dst = AppendCSVRecord(dst[:0], CSVRow(7, h, en))
		}
	})
	b.Run("impl=AppendCSVEntry", func(b *testing.B) {
		var dst []byte
		for b.Loop() {
			dst = AppendCSVEntry(dst[:0], 7, h, en)
		}
	})
}
