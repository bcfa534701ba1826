package ledger

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// queryNow is the now every query test resolves relative times against.
var queryNow = time.Date(2026, 3, 10, 13, 0, 0, 0, time.UTC)

// queryEntry returns a valid, normalised entry: e applied to a full
// event (every optional field set, time 2026-03-10T12:00:00Z) received
// at 12:00:02.
func queryEntry(t testing.TB, e func(*Event)) *Entry {
	t.Helper()
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ev := Event{
		Category:  "user",
		Action:    "user:invite",
		Actor:     &Actor{Type: "user", ID: "u_1", Name: "Ann Lee", Email: "Ann@Example.com", APIKeyID: "k_1"},
		Target:    &Target{Type: "user", ID: "u_2", Name: "bob smith"},
		Time:      &at,
		IP:        "10.1.2.3",
		UserAgent: "curl/8.5",
		Details:   json.RawMessage(`{"role_to":"admin"}`),
	}
	if e != nil {
		e(&ev)
	}
	if err := ev.Validate(true); err != nil {
		t.Fatalf("test entry: %v", err)
	}
	return &Entry{V: EntryVersion, Log: "default", ReceivedAt: at.Add(2 * time.Second), Event: ev}
}

// queryEntries are the entries the match tests run on.
func queryEntries(t testing.TB) map[string]*Entry {
	return map[string]*Entry{
		"full": queryEntry(t, nil),
		// bare has no optional field: no target, ip, user agent,
		// details, actor name or email, client time; and is read-only.
		"bare": queryEntry(t, func(e *Event) {
			e.Category, e.Action = "login", "login"
			e.Actor = &Actor{Type: "system", ID: "sys"}
			e.Target, e.Time, e.IP, e.UserAgent, e.Details = nil, nil, "", "", nil
			e.ReadOnly = true
		}),
		"v6": queryEntry(t, func(e *Event) {
			e.Category, e.Action, e.Result = "device", "device:wipe", "failure"
			e.IP = "2001:DB8::1"
		}),
		"quirky": queryEntry(t, func(e *Event) {
			e.Category, e.Action = "security", "security:sso_disabled"
			e.Actor = &Actor{Type: "service", ID: "urn:svc:1", Name: `say "hi"`, Email: `a\b@x.org`}
			e.Target = &Target{Type: "app", ID: "star*", Name: "starling"}
			e.IP = "::ffff:192.0.2.1"
		}),
		// handmade did not pass Validate: no result at all.
		"handmade": {V: EntryVersion, Log: "default", ReceivedAt: queryNow, Event: Event{
			Category: "api", Action: "api_key:create", Actor: &Actor{Type: "user", ID: "u_9"},
		}},
	}
}

func TestQueryMatch(t *testing.T) {
	entries := queryEntries(t)
	for _, tc := range []struct {
		name  string
		q     string
		entry string
		want  bool
	}{
		{"empty query", "", "full", true},
		{"blank query", "  \t ", "bare", true},

		{"category", "category:user", "full", true},
		{"category other", "category:login", "full", false},
		{"category prefix", "category:us*", "full", true},
		{"category negated", "-category:user", "full", false},
		{"category negated other", "-category:user", "bare", true},
		{"category is case-sensitive as written", "category:user", "bare", false},

		{"action exact", "action:user:invite", "full", true},
		{"action verb only", "action:invite", "full", true},
		{"action first part is not the verb", "action:user", "full", false},
		{"action no colon", "action:login", "bare", true},
		{"action value with colons", "action:device:wipe", "v6", true},
		{"action prefix whole", "action:user:*", "full", true},
		{"action prefix other", "action:device:*", "full", false},
		{"action prefix of the verb", "action:sso*", "quirky", true},
		{"action prefix of the middle", "action:ser*", "full", false},
		{"action longer", "action:user:invite:again", "full", false},
		{"action any", "action:*", "bare", true},
		{"action verb negated", "-action:invite", "full", false},

		{"actor id", "actor:u_1", "full", true},
		{"actor name quoted", `actor:"Ann Lee"`, "full", true},
		{"actor name is case-sensitive", `actor:"ann lee"`, "full", false},
		{"actor email", "actor:Ann@Example.com", "full", true},
		{"actor email any case", "actor:ANN@example.COM", "full", true},
		{"actor email prefix any case", "actor:ann@*", "full", true},
		{"actor name prefix", "actor:Ann*", "full", true},
		{"actor id prefix", "actor:u_*", "full", true},
		{"actor api key id is not the actor", "actor:k_1", "full", false},
		{"actor other", "actor:u_2", "full", false},
		{"actor id with colons", "actor:urn:svc:1", "quirky", true},
		{"actor name with escaped quotes", `actor:"say \"hi\""`, "quirky", true},
		{"actor email with escaped backslash", `actor:"a\\b@x.org"`, "quirky", true},
		{"actor backslash unquoted is literal", `actor:a\b@x.org`, "quirky", true},
		{"actor lacking name and email", "actor:Ann*", "bare", false},
		{"actor negated lacking name", "-actor:Ann*", "bare", true},

		{"target id", "target:u_2", "full", true},
		{"target name", `target:"bob smith"`, "full", true},
		{"target type is not the target", "target:user", "full", false},
		{"target absent", "target:u_2", "bare", false},
		{"target negated absent", "-target:u_2", "bare", true},
		{"target any", "target:*", "full", true},
		{"target any absent", "target:*", "bare", false},
		{"target none", "-target:*", "bare", true},
		{"target none present", "-target:*", "full", false},
		{"target literal star quoted", `target:"star\*"`, "quirky", true},
		{"target literal star is not a prefix", `target:"sta\*"`, "quirky", false},
		{"target prefix", "target:star*", "quirky", true},
		{"target prefix quoted", `target:"starl*"`, "quirky", true},

		{"ip address", "ip:10.1.2.3", "full", true},
		{"ip other address", "ip:10.1.2.4", "full", false},
		{"ip mapped address", "ip:::ffff:10.1.2.3", "full", true},
		{"ip cidr v4", "ip:10.0.0.0/8", "full", true},
		{"ip cidr v4 unmasked", "ip:10.9.9.9/8", "full", true},
		{"ip cidr v4 other", "ip:192.168.0.0/16", "full", false},
		{"ip cidr v4 single", "ip:10.1.2.3/32", "full", true},
		{"ip cidr mapped", "ip:::ffff:10.0.0.0/104", "full", true},
		{"ip cidr v4 zero", "ip:0.0.0.0/0", "full", true},
		{"ip cidr v4 zero on v6", "ip:0.0.0.0/0", "v6", false},
		{"ip cidr v6 zero on v4", "ip:::/0", "full", false},
		{"ip cidr v6", "ip:2001:db8::/32", "v6", true},
		{"ip cidr v6 other", "ip:2001:db9::/32", "v6", false},
		{"ip v6 address uppercase", "ip:2001:DB8:0::1", "v6", true},
		{"ip v6 stored mapped is v4", "ip:192.0.2.0/24", "quirky", true},
		{"ip prefix", "ip:10.1.*", "full", true},
		{"ip prefix other", "ip:10.2.*", "full", false},
		{"ip absent", "ip:10.0.0.0/8", "bare", false},
		{"ip negated absent", "-ip:10.0.0.0/8", "bare", true},
		{"ip negated present", "-ip:10.0.0.0/8", "full", false},
		{"ip none", "-ip:*", "bare", true},

		{"result success", "result:success", "full", true},
		{"result failure", "result:failure", "v6", true},
		{"result failure on success", "result:failure", "full", false},
		{"result absent is success", "result:success", "handmade", true},
		{"result prefix", "result:fail*", "v6", true},
		{"result negated", "-result:success", "v6", true},

		{"read_only true", "read_only:true", "bare", true},
		{"read_only true absent", "read_only:true", "full", false},
		{"read_only false absent", "read_only:false", "full", true},
		{"read_only false", "read_only:false", "bare", false},
		{"read_only negated absent", "-read_only:true", "full", true},

		{"since equal is in", "since:2026-03-10T12:00:00Z", "full", true},
		{"since a nanosecond later", "since:2026-03-10T12:00:00.000000001Z", "full", false},
		{"since with an offset", "since:2026-03-10T13:00:00+01:00", "full", true},
		{"since a date", "since:2026-03-10", "full", true},
		{"since the next date", "since:2026-03-11", "full", false},
		{"until equal is out", "until:2026-03-10T12:00:00Z", "full", false},
		{"until a nanosecond later", "until:2026-03-10T12:00:00.000000001Z", "full", true},
		{"until the next date", "until:2026-03-11", "full", true},
		{"since relative equal is in", "since:60m", "full", true},
		{"since relative hour", "since:1h", "full", true},
		{"since relative too short", "since:59m", "full", false},
		{"since relative day", "since:1d", "full", true},
		{"since relative week", "since:2w", "full", true},
		{"since relative 90m", "since:90m", "full", true},
		{"until relative equal is out", "until:1h", "full", false},
		{"until relative", "until:59m", "full", true},
		{"until zero", "until:0m", "full", true},
		{"since and until around", "since:2026-03-10T11:00:00Z until:2026-03-10T12:00:00.5Z", "full", true},
		{"since after until", "since:1h until:2h", "full", false},
		{"since negated", "-since:59m", "full", true},
		{"time defaults to received_at", "since:2026-03-10T12:00:02Z until:2026-03-10T12:00:03Z", "bare", true},
		{"received_at is not the time", "since:2026-03-10T12:00:01Z", "full", false},

		{"and all hold", "category:user action:invite actor:u_1 ip:10.0.0.0/8 result:success since:1d", "full", true},
		{"and one fails", "category:user action:invite actor:u_9", "full", false},
		{"and with tabs and newlines", "category:user\taction:invite\n\r actor:u_1 ", "full", true},
		{"and negated", "category:user -actor:u_2 -target:x", "full", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuery(tc.q, queryNow)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.q, err)
			}
			en := entries[tc.entry]
			if got := q.Match(en); got != tc.want {
				t.Errorf("ParseQuery(%q).Match(%s) = %v, want %v; terms %+v", tc.q, tc.entry, got, tc.want, q.Terms)
			}
			checkQueryRoundTrip(t, q)
			for _, term := range q.Terms {
				checkIndexLookup(t, term, en)
			}
		})
	}
}

// checkQueryRoundTrip checks that q's String parses back to q.
func checkQueryRoundTrip(t testing.TB, q *Query) {
	t.Helper()
	s := q.String()
	again, err := ParseQuery(s, queryNow)
	if err != nil {
		t.Fatalf("ParseQuery(%q), from String: %v", s, err)
	}
	if !queryEqual(q, again) {
		t.Fatalf("ParseQuery(%q) = %+v, want %+v", s, again.Terms, q.Terms)
	}
	if s2 := again.String(); s2 != s {
		t.Fatalf("String changed on the way round: %q, then %q", s, s2)
	}
}

func queryEqual(a, b *Query) bool {
	if len(a.Terms) != len(b.Terms) {
		return false
	}
	for i := range a.Terms {
		x, y := a.Terms[i], b.Terms[i]
		if x.Key != y.Key || x.Negate != y.Negate || x.Value != y.Value || x.Prefix != y.Prefix ||
			x.CIDR != y.CIDR || !x.Time.Equal(y.Time) || x.Bool != y.Bool {
			return false
		}
	}
	return true
}

// checkIndexLookup checks IndexLookup's contract: when term matches en
// and can use an index, en is listed under one of the values it reads.
func checkIndexLookup(t testing.TB, term Term, en *Entry) {
	t.Helper()
	field, values, exact := term.IndexLookup()
	if field == "" || !term.Match(en) {
		return
	}
	for _, iv := range en.IndexValues() {
		if iv.Field != field {
			continue
		}
		for _, v := range values {
			if exact && iv.Value == v || !exact && strings.HasPrefix(iv.Value, v) {
				return
			}
		}
	}
	t.Fatalf("term %s matches %+v, but IndexLookup (%q, %q, exact %v) misses its IndexValues %v",
		term, en.Event, field, values, exact, en.IndexValues())
}

func TestParseQueryTerms(t *testing.T) {
	v4 := netip.MustParsePrefix("10.0.0.0/8")
	for _, tc := range []struct {
		name string
		q    string
		want []Term
		str  string // what String gives, when not q
	}{
		{"empty", "", nil, ""},
		{"one", "category:login", []Term{{Key: "category", Value: "login"}}, ""},
		{"negated", "-category:login", []Term{{Key: "category", Value: "login", Negate: true}}, ""},
		{"value with colons", "action:device:wipe", []Term{{Key: "action", Value: "device:wipe"}}, ""},
		{"prefix", "actor:ann*", []Term{{Key: "actor", Value: "ann", Prefix: true}}, ""},
		{"star alone", "target:*", []Term{{Key: "target", Prefix: true}}, ""},
		{"two stars", "actor:a**", []Term{{Key: "actor", Value: "a*", Prefix: true}}, ""},
		{"quoted", `actor:"Ann Lee"`, []Term{{Key: "actor", Value: "Ann Lee"}}, ""},
		{"quoted without need", `actor:"ann"`, []Term{{Key: "actor", Value: "ann"}}, "actor:ann"},
		{"quoted negated", `-actor:"Ann Lee"`, []Term{{Key: "actor", Value: "Ann Lee", Negate: true}}, ""},
		{"quoted escapes", `actor:"a \"b\" \\c"`, []Term{{Key: "actor", Value: `a "b" \c`}}, ""},
		{"quoted other escape", `actor:"\x"`, []Term{{Key: "actor", Value: `x`}}, "actor:x"},
		{"quoted prefix", `actor:"Ann L*"`, []Term{{Key: "actor", Value: "Ann L", Prefix: true}}, ""},
		{"quoted literal star", `actor:"ann\*"`, []Term{{Key: "actor", Value: "ann*"}}, ""},
		{"quoted leading quote", `actor:"\"x"`, []Term{{Key: "actor", Value: `"x`}}, ""},
		{"inner quote unquoted", `actor:a"b`, []Term{{Key: "actor", Value: `a"b`}}, ""},
		{"inner star unquoted", `actor:a*b`, []Term{{Key: "actor", Value: `a*b`}}, ""},
		{"quoted colon and tab", "actor:\"a:b\tc\"", []Term{{Key: "actor", Value: "a:b\tc"}}, ""},
		{"unicode", "actor:Zoë target:\"李 雷\"", []Term{{Key: "actor", Value: "Zoë"}, {Key: "target", Value: "李 雷"}}, ""},
		{"unicode space is not a separator", "actor:a\u00a0b", []Term{{Key: "actor", Value: "a\u00a0b"}}, ""},
		{"spaces", "  category:login \t\n result:failure  ", []Term{{Key: "category", Value: "login"}, {Key: "result", Value: "failure"}},
			"category:login result:failure"},
		{"ip address", "ip:10.1.2.3", []Term{{Key: "ip", Value: "10.1.2.3", CIDR: netip.MustParsePrefix("10.1.2.3/32")}}, ""},
		{"ip mapped", "ip:::ffff:10.1.2.3", []Term{{Key: "ip", Value: "::ffff:10.1.2.3", CIDR: netip.MustParsePrefix("10.1.2.3/32")}}, ""},
		{"ip v6", "ip:2001:DB8::1", []Term{{Key: "ip", Value: "2001:DB8::1", CIDR: netip.MustParsePrefix("2001:db8::1/128")}}, ""},
		{"ip cidr masked", "ip:10.1.2.3/8", []Term{{Key: "ip", Value: "10.1.2.3/8", CIDR: v4}}, ""},
		{"ip cidr mapped", "ip:::ffff:10.0.0.0/104", []Term{{Key: "ip", Value: "::ffff:10.0.0.0/104", CIDR: v4}}, ""},
		{"ip cidr v6", "ip:2001:db8::/32", []Term{{Key: "ip", Value: "2001:db8::/32", CIDR: netip.MustParsePrefix("2001:db8::/32")}}, ""},
		{"read_only", "read_only:true -read_only:false", []Term{{Key: "read_only", Value: "true", Bool: true}, {Key: "read_only", Value: "false", Negate: true}}, ""},
		{"since absolute", "since:2026-01-02T03:04:05.5+01:00", []Term{{Key: "since", Value: "2026-01-02T03:04:05.5+01:00",
			Time: time.Date(2026, 1, 2, 2, 4, 5, 5e8, time.UTC)}}, ""},
		{"since date", "since:2026-01-02", []Term{{Key: "since", Value: "2026-01-02", Time: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}}, ""},
		{"since minutes", "since:90m", []Term{{Key: "since", Value: "90m", Time: queryNow.Add(-90 * time.Minute)}}, ""},
		{"since hours", "since:1h", []Term{{Key: "since", Value: "1h", Time: queryNow.Add(-time.Hour)}}, ""},
		{"since days", "since:7d", []Term{{Key: "since", Value: "7d", Time: queryNow.AddDate(0, 0, -7)}}, ""},
		{"until weeks", "until:2w", []Term{{Key: "until", Value: "2w", Time: queryNow.AddDate(0, 0, -14)}}, ""},
		{"until zero", "until:0m", []Term{{Key: "until", Value: "0m", Time: queryNow}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuery(tc.q, queryNow)
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tc.q, err)
			}
			if !queryEqual(q, &Query{Terms: tc.want}) {
				t.Errorf("ParseQuery(%q) = %+v, want %+v", tc.q, q.Terms, tc.want)
			}
			want := tc.str
			if want == "" {
				want = tc.q
			}
			if got := q.String(); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			checkQueryRoundTrip(t, q)
		})
	}
}

func TestParseQueryTimeIsUTC(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 0, 0, 0, time.FixedZone("CET", 3600)) // 13:00 UTC
	for _, s := range []string{"since:1h", "since:2026-03-10T13:00:00+01:00", "since:2026-03-10"} {
		q, err := ParseQuery(s, now)
		if err != nil {
			t.Fatal(err)
		}
		if tm := q.Terms[0].Time; tm.Location() != time.UTC {
			t.Errorf("%s: Time %v is not in UTC", s, tm)
		}
	}
	q, _ := ParseQuery("since:1h", time.Now())
	if q.Terms[0].Time != q.Terms[0].Time.Round(0) {
		t.Error("a relative time keeps now's monotonic clock reading")
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    string
		term string
		pos  int
		msg  string
	}{
		{"unknown key", "category:user colour:red", "colour:red", 14, `unknown key "colour"`},
		{"unknown key negated", "-colour:red", "-colour:red", 0, `unknown key "colour"`},
		{"unknown key uppercase", "Category:user", "Category:user", 0, `unknown key "Category"`},
		{"unknown key double minus", "--actor:x", "--actor:x", 0, `unknown key "-actor"`},
		{"no colon", "category:user oops", "oops", 14, "malformed term"},
		{"minus alone", "actor:a - actor:b", "-", 8, "malformed term"},
		{"no key", "  :user", ":user", 2, "no key"},
		{"no key negated", "-:user", "-:user", 0, "no key"},
		{"empty value", "actor:", "actor:", 0, "empty value"},
		{"empty quoted value", `result:success actor:""`, `actor:""`, 15, "empty value"},
		{"unterminated quote", `category:user actor:"ann lee`, `actor:"ann lee`, 14, "unterminated quote"},
		{"unterminated quote escaped", `actor:"ann\"`, `actor:"ann\"`, 0, "unterminated quote"},
		{"unterminated quote alone", `actor:"`, `actor:"`, 0, "unterminated quote"},
		{"text after quote", `actor:"a b"c d`, `actor:"a b"c`, 0, "after the closing quote"},
		{"invalid utf-8", "actor:a\xffb result:success", "actor:a\xffb", 0, "UTF-8"},
		{"invalid utf-8 quoted", "actor:\"a\xffb\"", "actor:\"a\xffb\"", 0, "UTF-8"},
		{"bad category", "category:users", "category:users", 0, "unknown category"},
		{"bad result", "result:ok", "result:ok", 0, "want success or failure"},
		{"bad action", "action:User:Invite", "action:User:Invite", 0, "[a-z0-9_]"},
		{"bad action empty part", "action:user::invite", "action:user::invite", 0, "[a-z0-9_]"},
		{"bad action trailing colon", "action:user:", "action:user:", 0, "[a-z0-9_]"},
		{"bad action prefix", "action:Us*", "action:Us*", 0, "[a-z0-9_]"},
		{"bad bool", "read_only:yes", "read_only:yes", 0, "want true or false"},
		{"bad bool uppercase", "read_only:TRUE", "read_only:TRUE", 0, "want true or false"},
		{"bool prefix", "read_only:t*", "read_only:t*", 0, "not a prefix"},
		{"bad duration unit seconds", "since:30s", "since:30s", 0, `unknown duration unit "s"`},
		{"bad duration unit years", "until:1y", "until:1y", 0, `unknown duration unit "y"`},
		{"bad duration unit word", "since:1hour", "since:1hour", 0, `unknown duration unit "hour"`},
		{"bad duration compound", "since:1h30m", "since:1h30m", 0, "RFC 3339"},
		{"bad duration no unit", "since:90", "since:90", 0, "RFC 3339"},
		{"bad duration negative", "since:-1h", "since:-1h", 0, "RFC 3339"},
		{"duration too long", "since:999999999w", "since:999999999w", 0, "too long"},
		{"duration overflows", "since:99999999999999999999m", "since:99999999999999999999m", 0, "too long"},
		{"bad time", "until:yesterday", "until:yesterday", 0, "RFC 3339"},
		{"bad time month", "until:2026-13-01T00:00:00Z", "until:2026-13-01T00:00:00Z", 0, "RFC 3339"},
		{"bad date", "until:2026-02-30", "until:2026-02-30", 0, "RFC 3339"},
		{"time without zone", "since:2026-03-10T12:00:00", "since:2026-03-10T12:00:00", 0, "RFC 3339"},
		{"time prefix", "since:2026*", "since:2026*", 0, "not a prefix"},
		{"bad cidr bits", "ip:10.0.0.0/33", "ip:10.0.0.0/33", 0, "CIDR"},
		{"bad cidr address", "ip:10.0.0/8", "ip:10.0.0/8", 0, "CIDR"},
		{"bad address", "ip:10.0.0.256", "ip:10.0.0.256", 0, "CIDR"},
		{"bad address word", "ip:localhost", "ip:localhost", 0, "CIDR"},
		{"address with zone", "ip:fe80::1%eth0", "ip:fe80::1%eth0", 0, "zone"},
		{"cidr with zone", "ip:fe80::1%eth0/64", "ip:fe80::1%eth0/64", 0, "CIDR"},
		{"error after good terms", "actor:\"a b\" -ip:10.0.0.0/8 ip:nope", "ip:nope", 27, "CIDR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParseQuery(tc.q, queryNow)
			checkQueryError(t, q, err, tc.term, tc.pos, tc.msg)
			if tc.pos >= 0 && tc.q[tc.pos:tc.pos+len(tc.term)] != tc.term {
				t.Errorf("test case: %q is not at %d in %q", tc.term, tc.pos, tc.q)
			}
		})
	}
}

func checkQueryError(t *testing.T, q *Query, err error, term string, pos int, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; got %+v", q.Terms)
	}
	if q != nil {
		t.Errorf("a query (%+v) as well as the error", q)
	}
	var qerr *QueryError
	if !errors.As(err, &qerr) {
		t.Fatalf("error %v (%T) is not a *QueryError", err, err)
	}
	if qerr.Term != term || qerr.Pos != pos {
		t.Errorf("error names term %q at %d, want %q at %d (%v)", qerr.Term, qerr.Pos, term, pos, err)
	}
	if !strings.Contains(qerr.Message, msg) {
		t.Errorf("message %q does not say %q", qerr.Message, msg)
	}
	if !strings.Contains(err.Error(), strconv.Quote(term)) {
		t.Errorf("Error() %q does not name the term %q", err.Error(), term)
	}
}

func TestQueryFromParams(t *testing.T) {
	entries := queryEntries(t)
	for _, tc := range []struct {
		name   string
		q      string
		params map[string]string
		want   string // the query's String
		match  map[string]bool
	}{
		{"none", "", nil, "", map[string]bool{"full": true, "bare": true}},
		{"params only", "", map[string]string{"category": "user", "actor": "Ann Lee"},
			`category:user actor:"Ann Lee"`, map[string]bool{"full": true, "bare": false}},
		{"q and params", "-result:failure", map[string]string{"ip": "10.0.0.0/8"},
			"-result:failure ip:10.0.0.0/8", map[string]bool{"full": true, "v6": false, "bare": false}},
		{"q and params disagree", "category:login", map[string]string{"category": "user"},
			"category:login category:user", map[string]bool{"full": false, "bare": false}},
		{"every param in key order", "", map[string]string{
			"until": "0m", "since": "1d", "read_only": "false", "result": "success", "ip": "10.1.2.3",
			"target": "u_2", "actor": "u_1", "action": "invite", "category": "user"},
			"category:user action:invite actor:u_1 target:u_2 ip:10.1.2.3 result:success read_only:false since:1d until:0m",
			map[string]bool{"full": true, "bare": false, "v6": false}},
		{"param prefix", "", map[string]string{"action": "user:*"}, "action:user:*", map[string]bool{"full": true, "bare": false}},
		{"param quotes are literal", "", map[string]string{"actor": `say "hi"`}, `actor:"say \"hi\""`,
			map[string]bool{"quirky": true, "full": false}},
		{"param leading quote is literal", "", map[string]string{"actor": `"Ann Lee"`}, `actor:"\"Ann Lee\""`,
			map[string]bool{"full": false}},
		{"param minus is not a negation", "", map[string]string{"actor": "-u_1"}, "actor:-u_1", map[string]bool{"full": false}},
		{"empty param left out", "category:user", map[string]string{"actor": "", "ip": ""}, "category:user",
			map[string]bool{"full": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := QueryFromParams(tc.q, tc.params, queryNow)
			if err != nil {
				t.Fatalf("QueryFromParams: %v", err)
			}
			if got := q.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			checkQueryRoundTrip(t, q)
			for name, want := range tc.match {
				if got := q.Match(entries[name]); got != want {
					t.Errorf("Match(%s) = %v, want %v", name, got, want)
				}
			}
		})
	}
}

func TestQueryFromParamsErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		q      string
		params map[string]string
		term   string
		pos    int
		msg    string
	}{
		{"q is checked", "colour:red", map[string]string{"actor": "u_1"}, "colour:red", 0, "unknown key"},
		{"unknown param", "", map[string]string{"limit": "5", "colour": "red"}, "colour=red", -1, `unknown parameter "colour"`},
		{"q is not a param", "", map[string]string{"q": "actor:x"}, "q=actor:x", -1, "unknown parameter"},
		{"bad cidr", "", map[string]string{"ip": "10.0.0.0/40"}, "ip=10.0.0.0/40", -1, "CIDR"},
		{"bad duration unit", "category:user", map[string]string{"since": "3s"}, "since=3s", -1, "duration unit"},
		{"bad category", "", map[string]string{"category": "nope"}, "category=nope", -1, "unknown category"},
		{"bad utf-8", "", map[string]string{"actor": "a\xff"}, "actor=a\xff", -1, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := QueryFromParams(tc.q, tc.params, queryNow)
			checkQueryError(t, q, err, tc.term, tc.pos, tc.msg)
		})
	}
}

func TestQueryNilEntry(t *testing.T) {
	if !(&Query{}).Match(nil) || !(*Query)(nil).Match(nil) {
		t.Error("an empty query does not match a redacted entry")
	}
	q, _ := ParseQuery("-actor:x", queryNow)
	if q.Match(nil) {
		t.Error("a query with terms matches a redacted entry")
	}
	if (*Entry)(nil).IndexValues() != nil {
		t.Error("a redacted entry has index values")
	}
}

func TestTermIndexLookup(t *testing.T) {
	for _, tc := range []struct {
		q      string
		field  string
		values []string
		exact  bool
	}{
		{"category:user", "category", []string{"user"}, true},
		{"category:us*", "category", []string{"us"}, false},
		{"action:invite", "action", []string{"invite"}, true},
		{"action:user:*", "action", []string{"user:"}, false},
		{"actor:u_1", "actor", []string{"u_1"}, true},
		{"actor:Ann@Example.com", "actor", []string{"Ann@Example.com", "ann@example.com"}, true},
		{"actor:Ann*", "actor", []string{"Ann", "ann"}, false},
		{"target:*", "target", []string{""}, false},
		{"ip:::ffff:10.1.2.3", "ip", []string{"10.1.2.3"}, true},
		{"ip:2001:DB8::1/128", "ip", []string{"2001:db8::1"}, true},
		{"ip:10.0.0.0/8", "", nil, false},
		{"ip:10.1.*", "ip", []string{"10.1."}, false},
		{"result:failure", "result", []string{"failure"}, true},
		{"result:success", "", nil, false},
		{"result:fail*", "", nil, false},
		{"read_only:true", "read_only", []string{"true"}, true},
		{"read_only:false", "", nil, false},
		{"since:1h", "", nil, false},
		{"until:1h", "", nil, false},
		{"-category:user", "", nil, false},
	} {
		t.Run(tc.q, func(t *testing.T) {
			q, err := ParseQuery(tc.q, queryNow)
			if err != nil {
				t.Fatal(err)
			}
			field, values, exact := q.Terms[0].IndexLookup()
			if field != tc.field || !reflect.DeepEqual(values, tc.values) || exact != tc.exact {
				t.Errorf("IndexLookup() = %q, %q, %v; want %q, %q, %v", field, values, exact, tc.field, tc.values, tc.exact)
			}
		})
	}
}

func TestEntryIndexValues(t *testing.T) {
	en := queryEntry(t, nil)
	want := []IndexValue{
		{"category", "user"}, {"action", "user:invite"}, {"action", "invite"},
		{"actor", "u_1"}, {"actor", "Ann Lee"}, {"actor", "ann@example.com"},
		{"target", "u_2"}, {"target", "bob smith"}, {"ip", "10.1.2.3"},
	}
	if got := en.IndexValues(); !reflect.DeepEqual(got, want) {
		t.Errorf("IndexValues() = %v, want %v", got, want)
	}
	bare := queryEntries(t)["bare"]
	want = []IndexValue{{"category", "login"}, {"action", "login"}, {"actor", "sys"}, {"read_only", "true"}}
	if got := bare.IndexValues(); !reflect.DeepEqual(got, want) {
		t.Errorf("IndexValues() = %v, want %v", got, want)
	}
}
