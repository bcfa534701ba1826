package ledger

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// queryFuzzSeeds are q strings that reach every branch of ParseQuery.
var queryFuzzSeeds = []string{
	"",
	"category:user action:invite",
	"-category:login action:user:* actor:ann* target:*",
	`actor:"Ann Lee" target:"say \"hi\" \\ \*" -target:"x*"`,
	`actor:"a b"c`,
	`actor:"unterminated`,
	`actor:"\`,
	"ip:10.0.0.0/8 -ip:::ffff:10.0.0.0/104 ip:2001:db8::/32 ip:10.1.* ip:fe80::1%eth0",
	"result:success result:fail* read_only:true -read_only:false",
	"since:90m until:2026-03-10T12:00:00.5+01:00 since:2026-03-10 until:7d since:2w until:0m",
	"since:30s until:1y since:99999999999999999999m since:1h30m",
	"colour:red :x - -: x actor: actor:\"\"",
	"action:User action:a::b action:a:",
	"actor:a\xffb",
	"actor:a\u00a0b\tactor:Zoë",
	"\t category:user \n\r\f\v",
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range queryFuzzSeeds {
		f.Add(s)
	}
	entries := queryEntries(f)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuery(s, queryNow)
		if err != nil {
			var qerr *QueryError
			if !errors.As(err, &qerr) {
				t.Fatalf("ParseQuery(%q): error %v is %T, not a *QueryError", s, err, err)
			}
			// The error names a term that is really in s, where it says.
			if qerr.Pos < 0 || qerr.Pos+len(qerr.Term) > len(s) || qerr.Term == "" ||
				s[qerr.Pos:qerr.Pos+len(qerr.Term)] != qerr.Term || qerr.Message == "" {
				t.Fatalf("ParseQuery(%q): error names %q at %d, which is not in the query", s, qerr.Term, qerr.Pos)
			}
			return
		}
		if !utf8.ValidString(s) {
			t.Fatalf("ParseQuery(%q) accepted a query that is not UTF-8", s)
		}
		for _, term := range q.Terms {
			if !isQueryKey(term.Key) {
				t.Fatalf("ParseQuery(%q) accepted key %q", s, term.Key)
			}
			if term.Value == "" && !term.Prefix {
				t.Fatalf("ParseQuery(%q) accepted an empty value: %+v", s, term)
			}
		}
		checkQueryRoundTrip(t, q)
		for _, en := range entries {
			q.Match(en)
			for _, term := range q.Terms {
				checkIndexLookup(t, term, en)
			}
		}
	})
}

// FuzzQueryParam checks that any value a parameter takes is written by
// String so that ParseQuery reads it back: quoting and escapes in full.
func FuzzQueryParam(f *testing.F) {
	for _, v := range []string{"Ann Lee", `say "hi"`, `"x`, "a*", `a\*`, `\`, "*", "-x", "a\tb", "a:b:c", "10.0.0.0/8", "7d"} {
		for _, key := range QueryKeys {
			f.Add(key, v)
		}
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		q, err := QueryFromParams("", map[string]string{key: value}, queryNow)
		if err != nil {
			var qerr *QueryError
			if !errors.As(err, &qerr) || qerr.Pos != -1 || !strings.HasPrefix(qerr.Term, key+"=") {
				t.Fatalf("QueryFromParams(%s=%q): error %v", key, value, err)
			}
			return
		}
		if value == "" {
			if len(q.Terms) != 0 {
				t.Fatalf("an empty parameter made terms: %+v", q.Terms)
			}
			return
		}
		if len(q.Terms) != 1 || q.Terms[0].Key != key || q.Terms[0].Negate {
			t.Fatalf("QueryFromParams(%s=%q) = %+v", key, value, q.Terms)
		}
		if got := q.Terms[0].Value; got != value && !(q.Terms[0].Prefix && got+"*" == value) {
			t.Fatalf("QueryFromParams(%s=%q) has value %q", key, value, got)
		}
		checkQueryRoundTrip(t, q)
	})
}
