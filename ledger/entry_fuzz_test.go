package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// rawEvent is what encoding/json reads from an event body, unnormalised,
// to cross-check ParseEvents against a parser we did not write.
type rawEvent struct {
	Category  string          `json:"category"`
	Action    string          `json:"action"`
	Actor     *Actor          `json:"actor"`
	Target    *Target         `json:"target"`
	Time      *string         `json:"time"`
	IP        *string         `json:"ip"`
	UserAgent string          `json:"user_agent"`
	Result    string          `json:"result"`
	ReadOnly  *bool           `json:"read_only"`
	Details   json.RawMessage `json:"details"`
}

func FuzzParseEvents(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "entry_golden.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		evBody(),
		`[` + evBody() + `,` + evBody("result", `"failure"`) + `]`,
		`[]`,
		evBody("target", `{"type":"user","id":"u_2","name":"B\u00f6b"}`, "time", `"2024-05-01T14:03:07.120+02:00"`,
			"ip", `"::ffff:192.0.2.1"`, "user_agent", `"curl/8"`, "read_only", `true`,
			"details", `{"role_to":"admin","n":1e21,"m":-0.0,"s":"\ud83d\ude00\u2028<>","a":[{},[],null,true]}`),
		evBody("actor", `{"type":"api_key","id":"k","name":"\"\\\/\b\f\n\r\t\u0000","email":"é","api_key_id":"k_1"}`),
		evBody("target", `null`, "time", `null`, "ip", `null`, "details", `null`, "ref", `null`),
		evBody("time", `"0000-01-01T00:00:00-23:59"`),
		evBody("time", `"9999-12-31t23:59:59.999999999z"`),
		evBody("ip", `"2001:DB8::1"`),
		evBody("category", `"audit"`),
		evBody("ref", `1`),
		evBody("details", `{"a":1,"a":2}`),
		evBody("details", `{"a":[[[[[[[[[[]]]]]]]]]]}`),
		evBody("actor", `{"type":"user","id":"\ud800"}`),
		"{\"category\":\"role\xff\"}",
		`{"category":"role",}`,
		`{"category":"role"}}`,
		`[` + evBody() + `,]`,
		`[{}`,
		` `,
		`nul`,
		string(golden),
	} {
		f.Add([]byte(s))
	}
	received := time.Date(2024, 5, 1, 12, 0, 0, 1, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		events, isArray, err := ParseEvents(body)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
			}
			if events != nil || isArray {
				t.Fatalf("returned %d events, array %v, with error %v", len(events), isArray, err)
			}
			if ve.Message == "" || !utf8.ValidString(ve.Error()) {
				t.Fatalf("error %q has no message or is not UTF-8", ve.Error())
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body encoding/json rejects: %q", body)
		}
		if !isArray && len(events) != 1 {
			t.Fatalf("a single event body gave %d events", len(events))
		}

		// encoding/json must read the same fields from the body.
		var raws []rawEvent
		if isArray {
			err = json.Unmarshal(body, &raws)
		} else {
			raws = make([]rawEvent, 1)
			err = json.Unmarshal(body, &raws[0])
		}
		if err != nil {
			t.Fatalf("encoding/json: %v\nbody %q", err, body)
		}
		if len(raws) != len(events) {
			t.Fatalf("encoding/json read %d events, ParseEvents %d", len(raws), len(events))
		}
		for i, e := range events {
			raw := raws[i]
			if raw.Category != e.Category || raw.Action != e.Action || raw.UserAgent != e.UserAgent ||
				!reflect.DeepEqual(raw.Actor, e.Actor) || !reflect.DeepEqual(raw.Target, e.Target) ||
				(raw.ReadOnly != nil && *raw.ReadOnly) != e.ReadOnly {
				t.Fatalf("event %d: encoding/json read %+v, ParseEvents %s", i, raw, dumpEvent(e))
			}
			if raw.Result != e.Result && !(raw.Result == "" && e.Result == "success") {
				t.Fatalf("event %d: result %q became %q", i, raw.Result, e.Result)
			}
			if (raw.Time == nil) != (e.Time == nil) {
				t.Fatalf("event %d: time %v became %v", i, raw.Time, e.Time)
			}
			if raw.Time != nil {
				want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(*raw.Time))
				if err != nil || !want.Equal(*e.Time) {
					t.Fatalf("event %d: time %q read as %v; time.Parse gives %v, %v", i, *raw.Time, e.Time, want, err)
				}
			}
			if raw.IP != nil && e.IP != netip.MustParseAddr(*raw.IP).Unmap().String() {
				t.Fatalf("event %d: ip %q became %q", i, *raw.IP, e.IP)
			}
			if len(raw.Details) == 0 || string(raw.Details) == "null" {
				if e.Details != nil {
					t.Fatalf("event %d: no details became %q", i, e.Details)
				}
			} else if canon, err := jcs.Transform(raw.Details); err != nil || string(canon) != string(e.Details) {
				t.Fatalf("event %d: details %q became %q; jcs gives %q, %v", i, raw.Details, e.Details, canon, err)
			}

			en := Entry{V: 1, Log: "fuzz", ReceivedAt: received, Event: e}
			leaf, err := en.Leaf()
			if err != nil {
				t.Fatalf("event %d was accepted but has no leaf: %v", i, err)
			}
			checkLeaf(t, &en, leaf)
			again := e
			if err := again.Validate(false); err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("event %d: Validate is not idempotent: %v", i, err)
			}
		}
	})
}

func FuzzLeaf(f *testing.F) {
	f.Add("u_1", "Ana <a&b>", "a@example.com", "Mozilla/5.0", "role", "admin", "reason", "on call\n", 4711.0, int64(1714560000), int64(120000000), int16(120), false, uint64(0))
	f.Add("\x00\x1f\"\\", "\u2028\u2029", "", "", "", "", "😀", "\ud7ff\ue000", 1e21, int64(-62135596800), int64(999999999), int16(-1439), true, uint64(MaxRef))
	f.Add("x", "Zoë", "é", "\x7f", "t", "i", "", "", -0.0, int64(253402300799), int64(0), int16(0), false, uint64(MaxRef+1))
	f.Add("x", "\xff", "", "", "t", "i", "k", "v", 5e-324, int64(0), int64(1), int16(1), false, uint64(3))
	f.Fuzz(func(t *testing.T, actorID, name, email, ua, ttype, tid, key, val string, num float64, sec, nsec int64, offsetMin int16, readOnly bool, ref uint64) {
		if math.IsNaN(num) || math.IsInf(num, 0) {
			return
		}
		tm := time.Unix(sec, nsec).In(time.FixedZone("", int(offsetMin)*60))
		e := Event{
			Category: "role", Action: "role:assign",
			Actor: &Actor{Type: "user", ID: actorID, Name: name, Email: email},
			Time:  &tm, UserAgent: ua, ReadOnly: readOnly,
		}
		if ttype != "" || tid != "" {
			e.Target = &Target{Type: ttype, ID: tid, Name: name}
		}
		if key != "" {
			d, err := json.Marshal(map[string]any{key: val, "n": num, "l": []any{num, val}})
			if err != nil {
				t.Fatal(err)
			}
			e.Details = d
		}
		if ref != 0 {
			e.Category, e.Action, e.Ref = "audit", "annotation:add", &ref
		}
		if err := e.Validate(true); err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
			}
			return
		}
		en := Entry{V: 1, Log: "fuzz", ReceivedAt: time.Unix(sec/2, 0), Event: e}
		leaf, err := en.Leaf()
		if err != nil {
			if y := en.ReceivedAt.UTC().Year(); y >= 0 && y <= 9999 {
				t.Fatalf("valid event has no leaf: %v", err)
			}
			return
		}
		checkLeaf(t, &en, leaf)
		// The sequencer's way: received_at formatted once per call, and
		// reused for a time that is the same instant.
		ra, _ := appendLeafTime(nil, en.ReceivedAt)
		same := en.ReceivedAt.In(time.FixedZone("", int(offsetMin)*60))
		for _, tm := range []*time.Time{e.Time, nil, &same} {
			en.Time = tm
			want, err := en.AppendLeaf(nil)
			got, err2 := en.appendLeafAt(nil, ra)
			if !bytes.Equal(got, want) || (err == nil) != (err2 == nil) {
				t.Fatalf("appendLeafAt: %q, %v; AppendLeaf: %q, %v", got, err2, want, err)
			}
		}
	})
}

func FuzzParseEntry(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "entry_golden.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"action":"login","actor":{"id":"u","type":"user"},"category":"login","log":"default","received_at":"2024-05-01T10:40:00.000000005Z","result":"success","time":"2024-05-01T10:40:00.000000005Z","v":1}`))
	f.Add([]byte(`{"action":"annotation:add","actor":{"id":"k","type":"api_key"},"category":"audit","details":{"text":"typo"},"log":"default","received_at":"2024-05-01T10:40:00Z","ref":7,"result":"success","time":"2024-05-01T10:40:00Z","v":1}`))
	f.Add([]byte(`{"action":"login","v":1}`))
	f.Fuzz(func(t *testing.T, leaf []byte) {
		en, err := ParseEntry(leaf)
		if err != nil {
			return
		}
		again, err := en.Leaf()
		if err != nil || string(again) != string(leaf) {
			t.Fatalf("ParseEntry accepted %q, which reads back as %q (%v)", leaf, again, err)
		}
		checkLeaf(t, en, leaf)
	})
}

func FuzzParseEventTime(f *testing.F) {
	for _, s := range []string{
		"2024-05-01T12:00:00Z", "2024-05-01t12:00:00.123456789z", "2024-02-29T23:59:59-23:59",
		"0000-01-01T00:00:00+00:00", "9999-12-31T23:59:59.9Z", "2023-02-29T00:00:00Z", "2024-05-01T12:00:60Z",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseEventTime(s)
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if err != nil || !want.Equal(got) {
			t.Fatalf("parseEventTime(%q) = %v; time.Parse gives %v, %v", s, got, want, err)
		}
		if len(s) > len("2006-01-02T15:04:05.999999999-07:00") {
			t.Fatalf("parseEventTime accepted %q, longer than any RFC 3339 time it should", s)
		}
	})
}
