package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// evBody returns an event body: the valid base event (category, action,
// actor) with kv, pairs of a field name and its raw JSON value, replacing
// or adding fields. An empty value drops the field.
func evBody(kv ...string) string {
	keys := []string{"category", "action", "actor"}
	vals := map[string]string{
		"category": `"role"`,
		"action":   `"role:assign"`,
		"actor":    `{"type":"user","id":"u_1"}`,
	}
	for i := 0; i < len(kv); i += 2 {
		if _, ok := vals[kv[i]]; !ok {
			keys = append(keys, kv[i])
		}
		vals[kv[i]] = kv[i+1]
	}
	var b strings.Builder
	b.WriteByte('{')
	for _, k := range keys {
		if vals[k] == "" {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", k, vals[k])
	}
	b.WriteByte('}')
	return b.String()
}

func quoted(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// checkRejected asserts that err is a *ValidationError for field at pos.
func checkRejected(t *testing.T, err error, field string, pos int) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want an error for field %q", field)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	if ve.Field != field || ve.Position != pos {
		t.Fatalf("error %q names field %q at position %d, want field %q at position %d", err, ve.Field, ve.Position, field, pos)
	}
	if ve.Message == "" {
		t.Fatalf("error for field %q has no message", field)
	}
}

func TestParseEventsRejects(t *testing.T) {
	long := func(n int) string { return quoted(strings.Repeat("a", n)) }
	bigDetails := `{"a":` + quoted(strings.Repeat("x", MaxDetailsSize-7)) + `}` // canonical: 16385 bytes
	for _, tc := range []struct {
		name  string
		body  string
		field string
		pos   int
	}{
		// Not JSON, or not an event.
		{"empty body", ``, "", -1},
		{"only space", " \n\t", "", -1},
		{"garbage", `hello`, "", -1},
		{"string body", `"event"`, "", -1},
		{"number body", `42`, "", -1},
		{"null body", `null`, "", -1},
		{"byte order mark", "\ufeff" + evBody(), "", -1},
		{"unterminated object", `{"category":"role"`, "", -1},
		{"trailing comma", `{"category":"role",}`, "", -1},
		{"missing colon", `{"category" "role"}`, "", -1},
		{"single quotes", `{'category':'role'}`, "", -1},
		{"trailing data", evBody() + ` x`, "", -1},
		{"two objects", evBody() + evBody(), "", -1},
		{"unterminated string", `{"category":"role`, "category", -1},
		{"raw control character", `{"category":"ro` + "\n" + `le"}`, "category", -1},
		{"bad escape", `{"category":"\x41"}`, "category", -1},
		{"short unicode escape", `{"category":"\u12"}`, "category", -1},

		// Unknown and duplicate fields.
		{"unknown field", evBody("severity", `"high"`), "severity", -1},
		{"field name case", evBody("Category", `"role"`), "Category", -1},
		{"unknown actor field", evBody("actor", `{"type":"user","id":"u","role":"admin"}`), "actor.role", -1},
		{"unknown target field", evBody("target", `{"type":"user","id":"u","extra":1}`), "target.extra", -1},
		{"duplicate field", `{"category":"role","category":"user","action":"x","actor":{"type":"user","id":"u"}}`, "category", -1},
		{"duplicate escaped field", `{"category":"role","c\u0061tegory":"user"}`, "category", -1},
		{"duplicate actor field", evBody("actor", `{"type":"user","id":"u","id":"v"}`), "actor.id", -1},
		{"duplicate details key", evBody("details", `{"a":1,"a":2}`), "details", -1},
		{"server field v", evBody("v", `1`), "v", -1},
		{"server field log", evBody("log", `"default"`), "log", -1},
		{"server field received_at", evBody("received_at", `"2024-01-01T00:00:00Z"`), "received_at", -1},

		// Wrong types.
		{"category number", evBody("category", `1`), "category", -1},
		{"action array", evBody("action", `["login"]`), "action", -1},
		{"actor string", evBody("actor", `"u_1"`), "actor", -1},
		{"actor id number", evBody("actor", `{"type":"user","id":7}`), "actor.id", -1},
		{"target array", evBody("target", `[]`), "target", -1},
		{"time number", evBody("time", `1714560000`), "time", -1},
		{"read_only string", evBody("read_only", `"true"`), "read_only", -1},
		{"read_only number", evBody("read_only", `1`), "read_only", -1},
		{"details array", evBody("details", `[1,2]`), "details", -1},
		{"details string", evBody("details", `"reason"`), "details", -1},
		{"details bad JSON", evBody("details", `{"a":}`), "details", -1},
		{"details bare word", evBody("details", `{"a":nul}`), "details", -1},
		{"details number out of range", evBody("details", `{"a":1e400}`), "details", -1},
		{"details leading zero", evBody("details", `{"a":01}`), "details", -1},
		{"details too deep", evBody("details", `{"a":`+strings.Repeat("[", maxDetailsDepth+1)+strings.Repeat("]", maxDetailsDepth+1)+`}`), "details", -1},
		{"ip number", evBody("ip", `10`), "ip", -1},

		// category.
		{"category missing", evBody("category", ""), "category", -1},
		{"category null", evBody("category", `null`), "category", -1},
		{"category empty", evBody("category", `""`), "category", -1},
		{"category unknown", evBody("category", `"payments"`), "category", -1},
		{"category upper case", evBody("category", `"Role"`), "category", -1},
		{"category audit reserved", evBody("category", `"audit"`), "category", -1},

		// action.
		{"action missing", evBody("action", ""), "action", -1},
		{"action upper case", evBody("action", `"Role:Assign"`), "action", -1},
		{"action trailing colon", evBody("action", `"role:"`), "action", -1},
		{"action leading colon", evBody("action", `":role"`), "action", -1},
		{"action double colon", evBody("action", `"role::assign"`), "action", -1},
		{"action dash", evBody("action", `"role-assign"`), "action", -1},
		{"action space", evBody("action", `"role assign"`), "action", -1},
		{"action too long", evBody("action", long(MaxActionSize+1)), "action", -1},

		// actor.
		{"actor missing", evBody("actor", ""), "actor", -1},
		{"actor null", evBody("actor", `null`), "actor", -1},
		{"actor type missing", evBody("actor", `{"id":"u"}`), "actor.type", -1},
		{"actor type unknown", evBody("actor", `{"type":"admin","id":"u"}`), "actor.type", -1},
		{"actor id missing", evBody("actor", `{"type":"user"}`), "actor.id", -1},
		{"actor id empty", evBody("actor", `{"type":"user","id":""}`), "actor.id", -1},
		{"actor id too long", evBody("actor", `{"type":"user","id":`+long(MaxStringSize+1)+`}`), "actor.id", -1},
		{"actor name too long", evBody("actor", `{"type":"user","id":"u","name":`+long(MaxStringSize+1)+`}`), "actor.name", -1},
		{"actor email not UTF-8", evBody("actor", `{"type":"user","id":"u","email":"a`+"\xff"+`@b"}`), "actor.email", -1},
		{"actor name lone surrogate", evBody("actor", `{"type":"user","id":"u","name":"\ud800"}`), "actor.name", -1},
		{"actor name lone low surrogate", evBody("actor", `{"type":"user","id":"u","name":"\udc00\ud800"}`), "actor.name", -1},
		{"actor name encoded surrogate", evBody("actor", `{"type":"user","id":"u","name":"`+"\xed\xa0\x80"+`"}`), "actor.name", -1},
		{"actor api_key_id too long", evBody("actor", `{"type":"api_key","id":"k","api_key_id":`+long(MaxStringSize+1)+`}`), "actor.api_key_id", -1},

		// target.
		{"target type missing", evBody("target", `{"id":"u_2"}`), "target.type", -1},
		{"target id missing", evBody("target", `{"type":"user"}`), "target.id", -1},
		{"target name too long", evBody("target", `{"type":"user","id":"u","name":`+long(MaxStringSize+1)+`}`), "target.name", -1},

		// time.
		{"time empty", evBody("time", `""`), "time", -1},
		{"time date only", evBody("time", `"2024-05-01"`), "time", -1},
		{"time space separator", evBody("time", `"2024-05-01 12:00:00Z"`), "time", -1},
		{"time no zone", evBody("time", `"2024-05-01T12:00:00"`), "time", -1},
		{"time bad day", evBody("time", `"2023-02-29T12:00:00Z"`), "time", -1},
		{"time hour 24", evBody("time", `"2024-05-01T24:00:00Z"`), "time", -1},
		{"time leap second", evBody("time", `"2016-12-31T23:59:60Z"`), "time", -1},
		{"time one-digit hour", evBody("time", `"2024-05-01T1:00:00Z"`), "time", -1},
		{"time ten fraction digits", evBody("time", `"2024-05-01T12:00:00.1234567891Z"`), "time", -1},
		{"time empty fraction", evBody("time", `"2024-05-01T12:00:00.Z"`), "time", -1},
		{"time comma fraction", evBody("time", `"2024-05-01T12:00:00,5Z"`), "time", -1},
		{"time offset hour 24", evBody("time", `"2024-05-01T12:00:00+24:00"`), "time", -1},
		{"time offset without colon", evBody("time", `"2024-05-01T12:00:00+0200"`), "time", -1},
		{"time after year 9999 in UTC", evBody("time", `"9999-12-31T23:30:00-01:00"`), "time", -1},
		{"time before year 0 in UTC", evBody("time", `"0000-01-01T00:30:00+01:00"`), "time", -1},

		// ip.
		{"ip empty", evBody("ip", `""`), "ip", -1},
		{"ip short", evBody("ip", `"10.0.0"`), "ip", -1},
		{"ip leading zero", evBody("ip", `"010.0.0.1"`), "ip", -1},
		{"ip prefix", evBody("ip", `"10.0.0.0/8"`), "ip", -1},
		{"ip with port", evBody("ip", `"10.0.0.1:443"`), "ip", -1},
		{"ip zone", evBody("ip", `"fe80::1%eth0"`), "ip", -1},
		{"ip host name", evBody("ip", `"example.com"`), "ip", -1},

		// user_agent, result, details, ref.
		{"user_agent too long", evBody("user_agent", long(MaxUserAgentSize+1)), "user_agent", -1},
		{"result unknown", evBody("result", `"ok"`), "result", -1},
		{"result upper case", evBody("result", `"Success"`), "result", -1},
		{"details too large", evBody("details", bigDetails), "details", -1},
		{"ref from a client", evBody("ref", `3`), "ref", -1},
		{"ref negative", evBody("ref", `-1`), "ref", -1},
		{"ref fraction", evBody("ref", `1.5`), "ref", -1},
		{"ref string", evBody("ref", `"3"`), "ref", -1},
		{"ref too large", evBody("ref", `9007199254740992`), "ref", -1},

		// Batches.
		{"batch bad item", `[` + evBody() + `,` + evBody("ip", `"x"`) + `]`, "ip", 1},
		{"batch first item", `[` + evBody("category", `"nope"`) + `]`, "category", 0},
		{"batch unknown field", `[` + evBody() + `,` + evBody() + `,` + evBody("x", `1`) + `]`, "x", 2},
		{"batch non-object item", `[` + evBody() + `,5]`, "", 1},
		{"batch nested array", `[[` + evBody() + `]]`, "", 0},
		{"batch trailing comma", `[` + evBody() + `,]`, "", 1},
		{"batch missing comma", `[` + evBody() + evBody() + `]`, "", 0},
		{"batch unterminated", `[` + evBody(), "", 0},
		{"batch trailing data", `[` + evBody() + `]]`, "", -1},
		{"empty batch", `[]`, "", -1},
		{"empty batch with space", ` [ ] `, "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, _, err := ParseEvents([]byte(tc.body))
			checkRejected(t, err, tc.field, tc.pos)
			if events != nil {
				t.Errorf("returned %d events with the error", len(events))
			}
		})
	}
}

func TestParseEventsBatchLimit(t *testing.T) {
	one := evBody()
	body := func(n int) []byte {
		return []byte("[" + strings.TrimSuffix(strings.Repeat(one+",", n), ",") + "]")
	}
	events, isArray, err := ParseEvents(body(MaxBatchEvents))
	if err != nil || !isArray || len(events) != MaxBatchEvents {
		t.Fatalf("batch of %d: %d events, array %v, error %v", MaxBatchEvents, len(events), isArray, err)
	}
	_, _, err = ParseEvents(body(MaxBatchEvents + 1))
	checkRejected(t, err, "", -1)
}

func TestParseEventsAccepts(t *testing.T) {
	tm := func(s string) *time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			panic(err)
		}
		t = t.UTC()
		return &t
	}
	actor := &Actor{Type: "user", ID: "u_1"}
	base := Event{Category: "role", Action: "role:assign", Actor: actor, Result: "success"}
	with := func(f func(e *Event)) Event {
		e := base
		a := *actor
		e.Actor = &a
		f(&e)
		return e
	}
	for _, tc := range []struct {
		name string
		body string
		want Event
	}{
		{"minimal", evBody(), base},
		{"white space", " \r\n\t" + strings.ReplaceAll(evBody(), ",", " ,\n ") + "\n", base},
		{"category settings", evBody("category", `"settings"`), with(func(e *Event) { e.Category = "settings" })},
		{"action of one part", evBody("action", `"login"`), with(func(e *Event) { e.Action = "login" })},
		{"action of three parts", evBody("action", `"security:2fa_required_disabled:x"`), with(func(e *Event) { e.Action = "security:2fa_required_disabled:x" })},
		{"action of 64 bytes", evBody("action", quoted(strings.Repeat("a", 64))), with(func(e *Event) { e.Action = strings.Repeat("a", 64) })},
		{"full actor", evBody("actor", `{"api_key_id":"k_9","email":"ana@example.com","name":"Ana","id":"u_1","type":"api_key"}`),
			with(func(e *Event) {
				*e.Actor = Actor{Type: "api_key", ID: "u_1", Name: "Ana", Email: "ana@example.com", APIKeyID: "k_9"}
			})},
		{"actor nulls and empties", evBody("actor", `{"type":"user","id":"u_1","name":null,"email":"","api_key_id":null}`), base},
		{"target", evBody("target", `{"type":"role","id":"admin","name":"Admin"}`),
			with(func(e *Event) { e.Target = &Target{Type: "role", ID: "admin", Name: "Admin"} })},
		{"nulls mean absent", evBody("target", `null`, "time", `null`, "ip", `null`, "user_agent", `null`, "result", `null`, "read_only", `null`, "details", `null`, "ref", `null`), base},
		{"empty result", evBody("result", `""`), base},
		{"failure", evBody("result", `"failure"`), with(func(e *Event) { e.Result = "failure" })},
		{"read_only", evBody("read_only", `true`), with(func(e *Event) { e.ReadOnly = true })},
		{"read_only false", evBody("read_only", `false`), base},
		{"time to UTC", evBody("time", `"2024-05-01T14:00:00.5+02:00"`), with(func(e *Event) { e.Time = tm("2024-05-01T12:00:00.5Z") })},
		{"time lower case", evBody("time", `"2024-05-01t12:00:00z"`), with(func(e *Event) { e.Time = tm("2024-05-01T12:00:00Z") })},
		{"time nanoseconds", evBody("time", `"2024-05-01T12:00:00.123456789-00:30"`), with(func(e *Event) { e.Time = tm("2024-05-01T12:30:00.123456789Z") })},
		{"time leap day", evBody("time", `"2024-02-29T00:00:00Z"`), with(func(e *Event) { e.Time = tm("2024-02-29T00:00:00Z") })},
		{"time year 1", evBody("time", `"0001-01-01T00:00:00Z"`), with(func(e *Event) { e.Time = &time.Time{} })},
		{"ipv4", evBody("ip", `"192.0.2.1"`), with(func(e *Event) { e.IP = "192.0.2.1" })},
		{"ipv4-mapped ipv6", evBody("ip", `"::ffff:192.0.2.1"`), with(func(e *Event) { e.IP = "192.0.2.1" })},
		{"ipv6 canonical", evBody("ip", `"2001:DB8:0:0:0::1"`), with(func(e *Event) { e.IP = "2001:db8::1" })},
		{"user_agent", evBody("user_agent", `"curl/8.5.0"`), with(func(e *Event) { e.UserAgent = "curl/8.5.0" })},
		{"user_agent of 512 bytes", evBody("user_agent", quoted(strings.Repeat("u", 512))), with(func(e *Event) { e.UserAgent = strings.Repeat("u", 512) })},
		{"details canonical", evBody("details", ` { "role_to" : "admin", "role_from":"member", "n": 1E2, "s":"\u00e9\/<&>", "z":[ 1.50, -0, true ,null] } `),
			with(func(e *Event) {
				e.Details = json.RawMessage(`{"n":100,"role_from":"member","role_to":"admin","s":"é/<&>","z":[1.5,0,true,null]}`)
			})},
		{"details empty object", evBody("details", `{}`), with(func(e *Event) { e.Details = json.RawMessage(`{}`) })},
		{"details of 16 KiB", evBody("details", `{"a":`+quoted(strings.Repeat("x", MaxDetailsSize-8))+`}`),
			with(func(e *Event) { e.Details = json.RawMessage(`{"a":"` + strings.Repeat("x", MaxDetailsSize-8) + `"}`) })},
		{"string escapes", evBody("actor", `{"type":"user","id":"\"\\\/\b\f\n\r\t\u0001\u00e9\ud83d\ude00\u2028"}`),
			with(func(e *Event) { e.Actor.ID = "\"\\/\b\f\n\r\t\x01é😀\u2028" })},
		{"raw UTF-8", evBody("actor", `{"type":"user","id":"Zoë 😀 日本"}`), with(func(e *Event) { e.Actor.ID = "Zoë 😀 日本" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, isArray, err := ParseEvents([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if isArray || len(events) != 1 {
				t.Fatalf("array %v, %d events; want one event, no array", isArray, len(events))
			}
			if got := events[0]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %s\nwant %s", dumpEvent(got), dumpEvent(tc.want))
			}
			// The same event in a batch.
			events, isArray, err = ParseEvents([]byte("[" + tc.body + "," + tc.body + "]"))
			if err != nil || !isArray || len(events) != 2 || !reflect.DeepEqual(events[1], tc.want) {
				t.Errorf("in a batch: array %v, %d events, error %v", isArray, len(events), err)
			}
		})
	}
}

func dumpEvent(e Event) string {
	s := fmt.Sprintf("%+v", e)
	if e.Actor != nil {
		s += fmt.Sprintf(" actor=%+v", *e.Actor)
	}
	if e.Target != nil {
		s += fmt.Sprintf(" target=%+v", *e.Target)
	}
	if e.Time != nil {
		s += " time=" + e.Time.String()
	}
	if e.Ref != nil {
		s += fmt.Sprintf(" ref=%d", *e.Ref)
	}
	return s + " details=" + string(e.Details)
}

func TestValidate(t *testing.T) {
	ref := func(n uint64) *uint64 { return &n }
	annotation := func(f func(e *Event)) Event {
		e := Event{Category: "audit", Action: "annotation:add", Actor: &Actor{Type: "api_key", ID: "k_1"},
			Details: json.RawMessage(`{"text":"typo"}`), Ref: ref(7)}
		if f != nil {
			f(&e)
		}
		return e
	}
	for _, tc := range []struct {
		name     string
		event    Event
		internal bool
		field    string // "" when valid
	}{
		{"annotation", annotation(nil), true, ""},
		{"annotation from a client", annotation(nil), false, "category"},
		{"audit entry without ref", annotation(func(e *Event) { e.Action = "key:create"; e.Ref = nil }), true, ""},
		{"ref on another action", annotation(func(e *Event) { e.Action = "key:create" }), true, "ref"},
		{"ref on another category", annotation(func(e *Event) { e.Category = "user" }), true, "ref"},
		{"ref at the limit", annotation(func(e *Event) { e.Ref = ref(MaxRef) }), true, ""},
		{"ref past the limit", annotation(func(e *Event) { e.Ref = ref(MaxRef + 1) }), true, "ref"},
		{"details null", annotation(func(e *Event) { e.Details = json.RawMessage(`null`) }), true, "details"},
		{"details array", annotation(func(e *Event) { e.Details = json.RawMessage(` [1]`) }), true, "details"},
		{"details blank", annotation(func(e *Event) { e.Details = json.RawMessage(` `) }), true, "details"},
		{"details trailing data", annotation(func(e *Event) { e.Details = json.RawMessage(`{} {}`) }), true, "details"},
		{"details not UTF-8", annotation(func(e *Event) { e.Details = json.RawMessage("{\"a\":\"\xff\"}") }), true, "details"},
		{"actor id not UTF-8", annotation(func(e *Event) { e.Actor.ID = "\xff" }), true, "actor.id"},
		{"target type too long", annotation(func(e *Event) { e.Target = &Target{Type: strings.Repeat("t", MaxStringSize+1), ID: "x"} }), true, "target.type"},
		{"user_agent not UTF-8", annotation(func(e *Event) { e.UserAgent = "a\xc0" }), true, "user_agent"},
		{"time far future", annotation(func(e *Event) { tm := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC); e.Time = &tm }), true, "time"},
		{"ip zone", annotation(func(e *Event) { e.IP = "fe80::1%1" }), true, "ip"},
		{"system actor", annotation(func(e *Event) { e.Actor = &Actor{Type: "system", ID: "retention"} }), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.event.Validate(tc.internal)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkRejected(t, err, tc.field, -1)
		})
	}
}

func TestValidateNormalises(t *testing.T) {
	loc := time.FixedZone("CEST", 2*3600)
	local := time.Date(2024, 5, 1, 14, 0, 0, 0, loc)
	e := Event{
		Category: "user", Action: "user:invite", Actor: &Actor{Type: "user", ID: "u"},
		Time: &local, IP: "::ffff:10.1.2.3",
		Details: json.RawMessage(`{"b": "<&>", "a": 1.0}`),
	}
	if err := e.Validate(false); err != nil {
		t.Fatal(err)
	}
	if e.Time.Location() != time.UTC || !e.Time.Equal(local) {
		t.Errorf("time = %v, want %v in UTC", e.Time, local)
	}
	if local.Location() != loc {
		t.Errorf("Validate changed the caller's time to %v", local)
	}
	if e.IP != "10.1.2.3" || e.Result != "success" || string(e.Details) != `{"a":1,"b":"<&>"}` {
		t.Errorf("ip %q, result %q, details %s", e.IP, e.Result, e.Details)
	}
	again := e
	if err := again.Validate(false); err != nil || !reflect.DeepEqual(again, e) {
		t.Errorf("Validate is not idempotent: %v, %s", err, dumpEvent(again))
	}
}

// fullEntry is an entry with every field set, and strings that need each
// kind of escape.
func fullEntry(t testing.TB) Entry {
	t.Helper()
	body := `{
		"category": "role",
		"action": "role:assign",
		"actor": {"type": "user", "id": "u_123", "name": "Zoë \"Z\" <Admin> & co\u2028", "email": "zoe@example.com", "api_key_id": "k_7"},
		"target": {"type": "user", "id": "u_456", "name": "Bob\t\u0001\u007f"},
		"time": "2024-05-01T14:03:07.120+02:00",
		"ip": "::ffff:203.0.113.9",
		"user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
		"result": "success",
		"read_only": true,
		"details": {"role_to": "admin", "role_from": "member", "reason": "on call\n", "ticket": 4711, "ratio": 0.50, "€": "euro", "\ud83d\ude00": [], "\uff61": 1, "a": {"z": null, "b": false}}
	}`
	events, _, err := ParseEvents([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return Entry{V: 1, Log: "acme-prod", ReceivedAt: time.Date(2024, 5, 1, 12, 3, 8, 123456789, time.UTC), Event: events[0]}
}

// independentLeaf builds en's leaf another way: a map marshalled by
// encoding/json and canonicalised by jcs.
func independentLeaf(t testing.TB, en *Entry) []byte {
	t.Helper()
	m := map[string]any{
		"v":           en.V,
		"log":         en.Log,
		"received_at": en.ReceivedAt.UTC().Format(time.RFC3339Nano),
		"category":    en.Category,
		"action":      en.Action,
		"result":      "success",
	}
	tm := en.ReceivedAt
	if en.Time != nil {
		tm = *en.Time
	}
	m["time"] = tm.UTC().Format(time.RFC3339Nano)
	if en.Result != "" {
		m["result"] = en.Result
	}
	actor := map[string]any{"type": en.Actor.Type, "id": en.Actor.ID}
	for k, v := range map[string]string{"name": en.Actor.Name, "email": en.Actor.Email, "api_key_id": en.Actor.APIKeyID} {
		if v != "" {
			actor[k] = v
		}
	}
	m["actor"] = actor
	if tg := en.Target; tg != nil {
		target := map[string]any{"type": tg.Type, "id": tg.ID}
		if tg.Name != "" {
			target["name"] = tg.Name
		}
		m["target"] = target
	}
	for k, v := range map[string]string{"ip": en.IP, "user_agent": en.UserAgent} {
		if v != "" {
			m[k] = v
		}
	}
	if en.ReadOnly {
		m["read_only"] = true
	}
	if len(en.Details) > 0 {
		m["details"] = json.RawMessage(en.Details)
	}
	if en.Ref != nil {
		m["ref"] = *en.Ref
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := jcs.Transform(b)
	if err != nil {
		t.Fatal(err)
	}
	return canon
}

// checkLeaf asserts that leaf is en's leaf: canonical, equal to the
// independent construction, and read back by ParseEntry to an entry with
// the same leaf.
func checkLeaf(t testing.TB, en *Entry, leaf []byte) {
	t.Helper()
	if len(leaf) > MaxLeafSize || !utf8.Valid(leaf) || !json.Valid(leaf) {
		t.Fatalf("leaf of %d bytes is too large or not UTF-8 JSON: %q", len(leaf), leaf)
	}
	canon, err := jcs.Transform(leaf)
	if err != nil {
		t.Fatalf("jcs.Transform(leaf): %v\nleaf %q", err, leaf)
	}
	if !bytes.Equal(canon, leaf) {
		t.Fatalf("leaf is not canonical:\nleaf %q\njcs  %q", leaf, canon)
	}
	if want := independentLeaf(t, en); !bytes.Equal(leaf, want) {
		t.Fatalf("leaf differs from the encoding/json+jcs construction:\nleaf %q\nwant %q", leaf, want)
	}
	back, err := ParseEntry(leaf)
	if err != nil {
		t.Fatalf("ParseEntry(leaf): %v\nleaf %q", err, leaf)
	}
	again, err := back.Leaf()
	if err != nil || !bytes.Equal(again, leaf) {
		t.Fatalf("round trip changed the leaf (%v):\nleaf  %q\nagain %q", err, leaf, again)
	}
}

func TestLeafGolden(t *testing.T) {
	en := fullEntry(t)
	leaf, err := en.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	checkLeaf(t, &en, leaf)
	golden, err := os.ReadFile(filepath.Join("testdata", "entry_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(leaf, golden) {
		t.Errorf("leaf differs from testdata/entry_golden.json (which holds the exact leaf, with no newline):\ngot  %s\nwant %s", leaf, golden)
	}
}

func TestLeafOmitsAbsentFields(t *testing.T) {
	received := time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("", 3600))
	en := Entry{V: 1, Log: "default", ReceivedAt: received,
		Event: Event{Category: "login", Action: "login", Actor: &Actor{Type: "user", ID: "u"}}}
	leaf, err := en.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"action":"login","actor":{"id":"u","type":"user"},"category":"login","log":"default",` +
		`"received_at":"2024-05-01T11:00:00Z","result":"success","time":"2024-05-01T11:00:00Z","v":1}`
	if string(leaf) != want {
		t.Errorf("got  %s\nwant %s", leaf, want)
	}
	checkLeaf(t, &en, leaf)
}

// randomString returns a string of n runes drawn to exercise escaping:
// control characters, quotes, backslashes, HTML characters, U+2028,
// characters outside the BMP.
func randomString(r *rand.Rand, n int) string {
	pool := []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '<', '>', '&', '\'', 0, 1, '\b', '\t', '\n', '\f', '\r', 0x1f, 0x7f, 0x80,
		'é', 'ß', '€', 0x2028, 0x2029, 0xfeff, 0xfffd, 0xffff, '日', 0x10000, '😀', 0x10ffff}
	var b strings.Builder
	for range n {
		b.WriteRune(pool[r.IntN(len(pool))])
	}
	return b.String()
}

func TestLeafMatchesJCS(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	categories := []string{"login", "user", "role", "team", "device", "api", "security", "billing", "settings"}
	str := func(max int) string { return randomString(r, r.IntN(max)) }
	for i := range 3000 {
		e := Event{
			Category:  categories[r.IntN(len(categories))],
			Action:    []string{"login", "role:assign", "user:invite", "api_key:create", "security:2fa_required_disabled"}[r.IntN(5)],
			Actor:     &Actor{Type: []string{"user", "api_key", "service", "system"}[r.IntN(4)], ID: "u" + str(20), Name: str(20), Email: str(3), APIKeyID: str(3)},
			UserAgent: str(30),
			Result:    []string{"", "success", "failure"}[r.IntN(3)],
			ReadOnly:  r.IntN(2) == 0,
		}
		if r.IntN(2) == 0 {
			e.Target = &Target{Type: "t" + str(5), ID: "i" + str(10), Name: str(10)}
		}
		if r.IntN(2) == 0 {
			tm := time.Unix(r.Int64N(1<<35)-1<<34, r.Int64N(1e9)).In(time.FixedZone("", (r.IntN(48)-24)*1800))
			e.Time = &tm
		}
		if r.IntN(2) == 0 {
			e.IP = []string{"10.0.0.1", "::1", "2001:db8::ff00:42:8329", "::ffff:1.2.3.4"}[r.IntN(4)]
		}
		if r.IntN(2) == 0 {
			d, _ := json.Marshal(map[string]any{
				str(5): str(10), str(5): r.NormFloat64() * 1e10, str(5): []any{r.Int64(), r.Float64() * 1e-8, nil, true},
				"n": map[string]any{str(3): r.ExpFloat64() * 1e22},
			})
			e.Details = d
		}
		if err := e.Validate(false); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		en := Entry{V: 1, Log: "log-" + fmt.Sprint(i), ReceivedAt: time.Unix(1714560000+int64(i), r.Int64N(1e9)), Event: e}
		leaf, err := en.Leaf()
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		checkLeaf(t, &en, leaf)
	}
}

func TestLeafStringEscapes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{"", `""`},
		{`"\`, `"\"\\"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x0b\x1f", `"\u0000\u0001\u000b\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"<>&'/", `"<>&'/"`},
		{"\u2028\u2029\ufeff", "\"\u2028\u2029\ufeff\""},
		{"😀é", `"😀é"`},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := appendLeafString(nil, "x", tc.in)
			if err != nil || string(got) != tc.want {
				t.Errorf("got %s (%v), want %s", got, err, tc.want)
			}
			canon, err := jcs.Transform([]byte(`[` + string(got) + `]`))
			if err != nil || string(canon) != `[`+tc.want+`]` {
				t.Errorf("jcs gives %s (%v)", canon, err)
			}
		})
	}
	for _, bad := range []string{"\xff", "a\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80"} {
		if _, err := appendLeafString(nil, "x", bad); err == nil {
			t.Errorf("%q: accepted invalid UTF-8", bad)
		}
	}
}

func TestLeafEscapeIn(t *testing.T) {
	// Every byte value at every position, among bytes that need no escape
	// and among bytes of multi-byte UTF-8 sequences.
	for _, filler := range []byte{'a', 0x80, 0xff, 0x20, '#', ']'} {
		for c := range 256 {
			for pos := range 8 {
				w := uint64(0)
				for i := range 8 {
					v := uint64(filler)
					if i == pos {
						v = uint64(c)
					}
					w |= v << (8 * i)
				}
				want := c < 0x20 || c == '"' || c == '\\'
				if got := leafEscapeIn(w); got != want {
					t.Fatalf("byte 0x%02x at %d among 0x%02x: got %v, want %v", c, pos, filler, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		w := r.Uint64()
		want := false
		for i := range 8 {
			c := byte(w >> (8 * i))
			want = want || c < 0x20 || c == '"' || c == '\\'
		}
		if got := leafEscapeIn(w); got != want {
			t.Fatalf("%016x: got %v, want %v", w, got, want)
		}
	}
}

func TestLeafTime(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 2, 29, 1, 2, 3, 100, time.FixedZone("", -3600)),
		time.Date(2024, 5, 1, 12, 0, 0, 120000000, time.UTC),
		time.Unix(0, 1),
	}
	for range 100000 {
		times = append(times, time.Unix(r.Int64N(253402300800+62167219200)-62167219200, r.Int64N(1e9)).
			In(time.FixedZone("", (r.IntN(48)-24)*1800)))
	}
	for _, tm := range times {
		want := tm.UTC().Format(time.RFC3339Nano)
		if y := tm.UTC().Year(); y < 0 || y > 9999 {
			continue
		}
		got, ok := appendLeafTime(nil, tm)
		if !ok || string(got) != want {
			t.Fatalf("%v: got %q (%v), want %q", tm, got, ok, want)
		}
	}
	for _, tm := range []time.Time{time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if got, ok := appendLeafTime(nil, tm); ok {
			t.Errorf("%v: wrote %q", tm, got)
		}
	}
}

func TestLeafErrors(t *testing.T) {
	good := func() Entry {
		return Entry{V: 1, Log: "default", ReceivedAt: time.Unix(1714560000, 0),
			Event: Event{Category: "login", Action: "login", Actor: &Actor{Type: "user", ID: "u"}}}
	}
	for _, tc := range []struct {
		name string
		edit func(en *Entry)
	}{
		{"version 0", func(en *Entry) { en.V = 0 }},
		{"version 2", func(en *Entry) { en.V = 2 }},
		{"no log", func(en *Entry) { en.Log = "" }},
		{"bad log", func(en *Entry) { en.Log = "Default" }},
		{"log leading dash", func(en *Entry) { en.Log = "-x" }},
		{"log too long", func(en *Entry) { en.Log = strings.Repeat("a", 64) }},
		{"no received_at", func(en *Entry) { en.ReceivedAt = time.Time{} }},
		{"received_at past 9999", func(en *Entry) { en.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"time before year 0", func(en *Entry) { tm := time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC); en.Time = &tm }},
		{"no actor", func(en *Entry) { en.Actor = nil }},
		{"no category", func(en *Entry) { en.Category = "" }},
		{"details not an object", func(en *Entry) { en.Details = json.RawMessage(`null`) }},
		{"string not UTF-8", func(en *Entry) { en.Actor.Name = "\xff" }},
		{"ref too large", func(en *Entry) { n := uint64(MaxRef + 1); en.Ref = &n }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := good()
			tc.edit(&en)
			dst := []byte("prefix")
			out, err := en.AppendLeaf(dst)
			if err == nil {
				t.Fatalf("accepted: %s", out)
			}
			if string(out) != "prefix" {
				t.Errorf("AppendLeaf returned %q on error, want dst unchanged", out)
			}
			if errors.Is(err, ErrTooLarge) {
				t.Errorf("error %v wraps ErrTooLarge", err)
			}
		})
	}
}

// TestLargestEventFits holds the promise of MaxStringSize: the largest
// event Validate accepts, with every string escaped to six bytes a byte,
// still has a leaf within MaxLeafSize in the longest log id with the
// longest times.
func TestLargestEventFits(t *testing.T) {
	ctl := func(n int) string { return strings.Repeat("\x01", n) }
	ref := uint64(MaxRef)
	tm := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	details := `{"` + strings.Repeat("\x01", (MaxDetailsSize-8)/6) + `":""}`
	canon, err := jcs.Transform([]byte(strings.ReplaceAll(details, "\x01", `\u0001`)))
	if err != nil {
		t.Fatal(err)
	}
	for len(canon) < MaxDetailsSize {
		canon = append(canon[:len(canon)-2:len(canon)-2], 'x', '"', '}')
	}
	en := Entry{V: 1, Log: strings.Repeat("a", 63), ReceivedAt: tm, Event: Event{
		Category: "security", Action: strings.Repeat("a", MaxActionSize),
		Actor:  &Actor{Type: "api_key", ID: ctl(MaxStringSize), Name: ctl(MaxStringSize), Email: ctl(MaxStringSize), APIKeyID: ctl(MaxStringSize)},
		Target: &Target{Type: ctl(MaxStringSize), ID: ctl(MaxStringSize), Name: ctl(MaxStringSize)},
		Time:   &tm, IP: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", UserAgent: ctl(MaxUserAgentSize),
		Result: "failure", ReadOnly: true, Details: canon,
	}}
	if err := en.Validate(false); err != nil {
		t.Fatal(err)
	}
	if len(en.Details) != MaxDetailsSize {
		t.Fatalf("details are %d bytes, want %d", len(en.Details), MaxDetailsSize)
	}
	en.Category, en.Action, en.Ref = "audit", "annotation:add", &ref
	if err := en.Validate(true); err != nil {
		t.Fatal(err)
	}
	leaf, err := en.Leaf()
	if err != nil {
		t.Fatalf("the largest valid event has no leaf: %v", err)
	}
	t.Logf("largest leaf: %d bytes of %d", len(leaf), MaxLeafSize)
	checkLeaf(t, &en, leaf)

	// Past the limit, which only an unvalidated event can reach.
	en.Details = json.RawMessage(`{"a":"` + strings.Repeat("x", MaxLeafSize) + `"}`)
	if _, err := en.Leaf(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized leaf: error %v, want ErrTooLarge", err)
	}
	if _, err := ParseEntry(make([]byte, MaxLeafSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ParseEntry of an oversized leaf: error %v, want ErrTooLarge", err)
	}
}

// TestDetailsTooLarge holds the line between the two answers to oversized
// details: a 400 while the event's leaf would still fit, and ErrTooLarge
// (a 413) once even its shortest leaf, in a one-letter log received at a
// 20-byte time, would pass MaxLeafSize.
func TestDetailsTooLarge(t *testing.T) {
	events, _, err := ParseEvents([]byte(evBody()))
	if err != nil {
		t.Fatal(err)
	}
	shortest := Entry{V: 1, Log: "a", ReceivedAt: time.Unix(0, 0), Event: events[0]}
	leaf, err := shortest.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	room := MaxLeafSize - len(leaf) - len(`,"details":{"p":""}`) // pad that fills the leaf exactly
	for _, tc := range []struct {
		name     string
		pad      int
		tooLarge bool
	}{
		{"one byte over 16 KiB", MaxDetailsSize - 7, false},
		{"leaf exactly full", room, false},
		{"leaf one byte over", room + 1, true},
		{"far over", 1 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			details := `{"p":"` + strings.Repeat("x", tc.pad) + `"}`
			body := evBody("details", details)
			_, _, err := ParseEvents([]byte(body))
			checkRejected(t, err, "details", -1)
			if errors.Is(err, ErrTooLarge) != tc.tooLarge {
				t.Errorf("errors.Is(%q, ErrTooLarge) = %v, want %v", err, !tc.tooLarge, tc.tooLarge)
			}
			_, _, err = ParseEvents([]byte("[" + evBody() + "," + body + "]"))
			checkRejected(t, err, "details", 1)
			if errors.Is(err, ErrTooLarge) != tc.tooLarge {
				t.Errorf("in a batch: errors.Is(%q, ErrTooLarge) = %v, want %v", err, !tc.tooLarge, tc.tooLarge)
			}

			// Leaf, which does not check the details rule, agrees.
			en := shortest
			en.Details = json.RawMessage(details)
			leaf, err := en.Leaf()
			if errors.Is(err, ErrTooLarge) != tc.tooLarge || (err == nil && tc.pad == room && len(leaf) != MaxLeafSize) {
				t.Errorf("Leaf: %d bytes, error %v", len(leaf), err)
			}
		})
	}
}

func TestParseEntry(t *testing.T) {
	en := fullEntry(t)
	leaf, err := en.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEntry(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if got.Time == nil || !got.Time.Equal(*en.Time) || !got.ReceivedAt.Equal(en.ReceivedAt) {
		t.Errorf("times: got %v, %v", got.Time, got.ReceivedAt)
	}
	got.Time, got.ReceivedAt = en.Time, en.ReceivedAt
	if !reflect.DeepEqual(*got, en) {
		t.Errorf("got  %+v\nwant %+v", *got, en)
	}

	// An entry without time reads back with time equal to received_at.
	min := Entry{V: 1, Log: "default", ReceivedAt: time.Unix(1714560000, 5).UTC(),
		Event: Event{Category: "login", Action: "login", Actor: &Actor{Type: "user", ID: "u"}}}
	minLeaf, err := min.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEntry(minLeaf)
	if err != nil || back.Time == nil || !back.Time.Equal(min.ReceivedAt) || back.Result != "success" {
		t.Fatalf("minimal entry: %+v, %v", back, err)
	}

	replace := func(old, new string) string {
		if !bytes.Contains(minLeaf, []byte(old)) {
			t.Fatalf("leaf %s has no %s", minLeaf, old)
		}
		return strings.Replace(string(minLeaf), old, new, 1)
	}
	for _, tc := range []struct{ name, leaf string }{
		{"empty", ``},
		{"not JSON", `leaf`},
		{"array", `[` + string(minLeaf) + `]`},
		{"leading space", ` ` + string(minLeaf)},
		{"trailing newline", string(minLeaf) + "\n"},
		{"space after colon", replace(`"action":`, `"action": `)},
		{"keys out of order", replace(`"action":"login","actor":{"id":"u","type":"user"}`, `"actor":{"id":"u","type":"user"},"action":"login"`)},
		{"actor keys out of order", replace(`{"id":"u","type":"user"}`, `{"type":"user","id":"u"}`)},
		{"escaped slash", replace(`"id":"u"`, `"id":"\/u"`)},
		{"needless escape", replace(`"id":"u"`, `"id":"\u0075"`)},
		{"null field", replace(`"category"`, `"target":null,"category"`)},
		{"read_only false", replace(`"received_at"`, `"read_only":false,"received_at"`)},
		{"result missing", replace(`"result":"success",`, ``)},
		{"time missing", replace(`"time":"2024-05-01T10:40:00.000000005Z",`, ``)},
		{"time not UTC", replace(`"time":"2024-05-01T10:40:00.000000005Z"`, `"time":"2024-05-01T12:40:00.000000005+02:00"`)},
		{"received_at lower case z", replace(`"received_at":"2024-05-01T10:40:00.000000005Z"`, `"received_at":"2024-05-01T10:40:00.000000005z"`)},
		{"received_at with offset", replace(`"received_at":"2024-05-01T10:40:00.000000005Z"`, `"received_at":"2024-05-01T10:40:00.000000005+00:00"`)},
		{"v missing", replace(`,"v":1`, ``)},
		{"v 2", replace(`"v":1`, `"v":2`)},
		{"v 1.0", replace(`"v":1`, `"v":1.0`)},
		{"log missing", replace(`"log":"default",`, ``)},
		{"log invalid", replace(`"log":"default"`, `"log":"Default"`)},
		{"unknown field", replace(`"v":1`, `"v":1,"x":1`)},
		{"duplicate field", replace(`"v":1`, `"v":1,"v":1`)},
		{"details not canonical", replace(`"log"`, `"details":{"b":1,"a":2},"log"`)},
		{"details not object", replace(`"log"`, `"details":[],"log"`)},
		{"ref on a login", replace(`"result"`, `"ref":1,"result"`)},
		{"bad category", replace(`"category":"login"`, `"category":"nope"`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if en, err := ParseEntry([]byte(tc.leaf)); err == nil {
				t.Fatalf("accepted %s as %+v", tc.leaf, en)
			}
		})
	}
}

func TestMarshalJSON(t *testing.T) {
	en := fullEntry(t)
	leaf, err := en.Leaf()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{en, &en} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if got := bytes.TrimSuffix(buf.Bytes(), []byte("\n")); !bytes.Equal(got, leaf) {
			t.Errorf("%T encodes as\n%s\nwant\n%s", v, got, leaf)
		}
	}
}

func TestValidationErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  ValidationError
		want string
	}{
		{ValidationError{Field: "actor.id", Position: -1, Message: "is required"}, "actor.id: is required"},
		{ValidationError{Field: "ip", Position: 3, Message: "must be an IPv4 or IPv6 address"}, "event at position 3: ip: must be an IPv4 or IPv6 address"},
		{ValidationError{Position: -1, Message: "request body is empty"}, "request body is empty"},
		{ValidationError{Field: "actor.x\ny", Position: 0, Message: "unknown field"}, `event at position 0: "actor.x\ny": unknown field`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// benchEntry is a realistic role:assign entry of about 400 bytes.
func benchEntry(b *testing.B) Entry {
	b.Helper()
	events, _, err := ParseEvents([]byte(`{
		"category": "role", "action": "role:assign",
		"actor": {"type": "user", "id": "usr_01HX3K9QZ8", "name": "Ana Lima", "email": "ana@example.com"},
		"target": {"type": "user", "id": "usr_01HX3KA2B7"},
		"time": "2024-05-01T12:03:07.120Z", "ip": "203.0.113.9",
		"user_agent": "Mozilla/5.0 (Macintosh)",
		"details": {"role_from": "member", "role_to": "admin", "reason": "on call"}
	}`))
	if err != nil {
		b.Fatal(err)
	}
	return Entry{V: 1, Log: "acme-prod", ReceivedAt: time.Date(2024, 5, 1, 12, 3, 8, 123456789, time.UTC), Event: events[0]}
}

func BenchmarkLeaf(b *testing.B) {
	en := benchEntry(b)
	leaf, err := en.Leaf()
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("event=role_assign/bytes=%d", len(leaf)), func(b *testing.B) {
		b.SetBytes(int64(len(leaf)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := en.Leaf(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("event=role_assign/bytes=%d/impl=jcs.Transform", len(leaf)), func(b *testing.B) {
		// For scale: what canonicalising the finished leaf with jcs costs.
		b.SetBytes(int64(len(leaf)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jcs.Transform(leaf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("event=role_assign/bytes=%d/append", len(leaf)), func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		b.SetBytes(int64(len(leaf)))
		b.ReportAllocs()
		for b.Loop() {
			if buf, err = en.AppendLeaf(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseEvents(b *testing.B) {
	en := benchEntry(b)
	one, err := json.Marshal(en.Event)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 1000} {
		body := []byte("[" + strings.TrimSuffix(strings.Repeat(string(one)+",", n), ",") + "]")
		b.Run(fmt.Sprintf("events=%d/bytes=%d", n, len(body)), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := ParseEvents(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseEntry(b *testing.B) {
	en := benchEntry(b)
	leaf, err := en.Leaf()
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("event=role_assign/bytes=%d", len(leaf)), func(b *testing.B) {
		b.SetBytes(int64(len(leaf)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseEntry(leaf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
