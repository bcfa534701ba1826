package ledger

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file is the query language of SPEC §4 ("Query syntax"): parsing a
// q string and the separate filter parameters into a Query, and matching
// an entry against it. It is pure: how the entries are found is the
// reader's business; IndexLookup and IndexValues tell an index which
// entries may match.
//
// Choices the SPEC leaves open, made here:
//   - Keys are exact and lowercase (Category:login is an unknown key).
//   - Values compare exactly, case and all, except an actor's email,
//     which compares case-insensitively (strings.ToLower on both sides):
//     actor:Ann@Example.COM finds ann@example.com. Ids and names are
//     compared as they were written.
//   - Terms are separated by runs of ASCII white space (space, tab, LF,
//     CR, FF, VT). A value is quoted only if it starts with '"'; inside
//     quotes a backslash makes the next character literal (\" a quote,
//     \\ a backslash, \* a star that is not a prefix marker), and the
//     closing quote must end the term. Outside quotes a backslash is an
//     ordinary character. A query must be valid UTF-8.
//   - A trailing '*' makes a value a prefix, "*" alone matching any entry
//     that has the field at all: target:* has a target, -ip:* has no ip.
//     since, until and read_only take no prefix.
//   - action:X matches an action equal to X or whose last ':'-part is X;
//     with a prefix, an action or its last part that starts with X:
//     action:user:* finds user:invite, action:sso* security:sso_disabled.
//   - A value that no entry could hold is a malformed term rather than a
//     silent empty answer: category must be a known category (audit
//     included), result success or failure, action made of [a-z0-9_:],
//     read_only true or false, ip an address or a CIDR (no zone). An
//     IPv4-mapped address or CIDR (::ffff:10.0.0.0/104) is taken as IPv4,
//     as entries store it; any other IPv6 CIDR, ::/0 included, matches
//     IPv6 addresses only. ip:10.1.* is a prefix of the address as the
//     entry writes it.
//   - An absent read_only is false, an absent result success, an absent
//     time received_at: those fields are never missing. A negated term is
//     the term's negation, so it matches an entry that lacks the field.
//   - since and until take an RFC 3339 time (time.RFC3339Nano, any
//     offset), a bare date (2026-01-02, midnight UTC), or a whole number
//     of minutes, hours, days (24 h) or weeks (7 d) back from now:
//     90m, 1h, 7d, 2w, 0m. since:X and until:Y keep X ≤ time < Y; a
//     since after an until is not an error, it matches nothing.
//   - In QueryFromParams a parameter is one term's value as written, no
//     quotes or escapes; a trailing '*' is still a prefix. An empty
//     parameter is left out, as an HTML form sends an empty field.

// QueryKeys lists the keys a query term may have, in the order
// QueryFromParams adds parameters.
var QueryKeys = []string{"category", "action", "actor", "target", "ip", "result", "read_only", "since", "until"}

// Query is a parsed filter: every Term must hold (AND). The zero Query,
// with no terms, matches every entry.
type Query struct {
	Terms []Term
}

// Term is one key:value condition of a Query. Key, Negate, Value and
// Prefix are what was written; CIDR, Time and Bool are the value parsed,
// for the keys that have one. A Term built by hand must hold what
// ParseQuery would have put there for the same text.
type Term struct {
	// Key is one of QueryKeys.
	Key string
	// Negate is true for -key:value: the term must not hold, so an entry
	// that lacks the field matches.
	Negate bool
	// Value is the value unquoted, without the trailing '*' of a prefix;
	// for since and until the text as written (7d or an RFC 3339 time).
	Value string
	// Prefix is true when the value ended in '*': a field matches when
	// it starts with Value.
	Prefix bool
	// CIDR is an ip term's network; a single address is a /32 or /128.
	// It is the zero Prefix for a prefix term (ip:10.1.*).
	CIDR netip.Prefix
	// Time is a since or until term's bound, in UTC, resolved against
	// the now that ParseQuery was given.
	Time time.Time
	// Bool is a read_only term's value.
	Bool bool
}

// QueryError is a query that ParseQuery or QueryFromParams rejected. Term
// is the offending term as written in q (from its '-' or key to its end,
// quotes included) and Pos its 0-based byte offset in q; for a term that
// came from a parameter of QueryFromParams, Term is "name=value" and Pos
// is -1. Message says what is wrong.
type QueryError struct {
	Term    string
	Pos     int
	Message string
}

// Error returns the term, its position and the message as one line, such
// as `query term "colour:red" at position 6: unknown key "colour"`.
func (e *QueryError) Error() string {
	if e.Pos < 0 {
		return fmt.Sprintf("query parameter %q: %s", e.Term, e.Message)
	}
	return fmt.Sprintf("query term %q at position %d: %s", e.Term, e.Pos, e.Message)
}

// ParseQuery parses q: space-separated key:value terms, all of which must
// hold. The value runs from the first colon to the end of the term
// (action:device:wipe); key:"a value" allows spaces, with \" for a quote;
// -key:value negates a term. The keys are those of QueryKeys. since and
// until take RFC 3339 times or a duration back from now in m, h, d or w
// (90m, 1h, 7d, 2w), resolved against now. An empty q is the empty
// Query. An unknown key, a term without a colon, an empty value, an
// unterminated quote or a value the key cannot take (a bad time, CIDR,
// bool, category or result) is a *QueryError naming the term. The file
// comment lists the finer choices.
func ParseQuery(q string, now time.Time) (*Query, error) {
	query := &Query{}
	for i := 0; ; {
		for i < len(q) && isQuerySpace(q[i]) {
			i++
		}
		if i == len(q) {
			return query, nil
		}
		t, end, err := parseQueryTerm(q, i, now)
		if err != nil {
			return nil, err
		}
		query.Terms = append(query.Terms, t)
		i = end
	}
}

// parseQueryTerm parses the term that starts at q[start], which is not a
// space, and returns it and the offset just past it.
func parseQueryTerm(q string, start int, now time.Time) (Term, int, error) {
	end := start
	for end < len(q) && !isQuerySpace(q[end]) {
		end++
	}
	fail := func(end int, format string, args ...any) (Term, int, error) {
		return Term{}, 0, &QueryError{Term: q[start:end], Pos: start, Message: fmt.Sprintf(format, args...)}
	}

	i := start
	var t Term
	if q[i] == '-' {
		t.Negate = true
		i++
	}
	colon := strings.IndexByte(q[i:end], ':')
	if colon < 0 {
		return fail(end, "malformed term: want key:value or -key:value")
	}
	t.Key = q[i : i+colon]
	i += colon + 1

	var raw string // the value, unquoted and without a prefix's '*'
	if i < len(q) && q[i] == '"' {
		// A quoted value runs to the closing quote, spaces and all.
		var b strings.Builder
		escaped := false
		closed := false
		for i++; i < len(q); i++ {
			c := q[i]
			if c == '\\' && i+1 < len(q) {
				i++
				b.WriteByte(q[i])
				escaped = true
				continue
			}
			if c == '"' {
				closed = true
				i++
				break
			}
			b.WriteByte(c)
			escaped = false
		}
		if !closed {
			return fail(len(q), "unterminated quote")
		}
		end = i
		if end < len(q) && !isQuerySpace(q[end]) {
			for end < len(q) && !isQuerySpace(q[end]) {
				end++
			}
			return fail(end, "text after the closing quote; quote the whole value")
		}
		raw = b.String()
		if !escaped && strings.HasSuffix(raw, "*") {
			raw, t.Prefix = raw[:len(raw)-1], true
		}
	} else {
		raw = q[i:end]
		if strings.HasSuffix(raw, "*") {
			raw, t.Prefix = raw[:len(raw)-1], true
		}
	}
	if !utf8.ValidString(q[start:end]) {
		return fail(end, "not valid UTF-8")
	}
	if t.Key == "" {
		return fail(end, "malformed term: no key before the colon")
	}
	if msg := t.setValue(raw, now); msg != "" {
		return fail(end, "%s", msg)
	}
	return t, end, nil
}

// QueryFromParams parses q as ParseQuery does and adds a term for each of
// the separate query parameters in params (keyed by the names of
// QueryKeys: category, action, actor, target, ip, result, read_only,
// since, until), each holding one value; all of them must hold (AND). A
// parameter's value is taken as written, without quotes or escapes, a
// trailing '*' still making it a prefix; an empty one is left out. The
// parameters' terms follow q's, in the order of QueryKeys. Any other name
// in params, or a value its key cannot take, is a *QueryError with Pos -1
// and Term "name=value".
func QueryFromParams(q string, params map[string]string, now time.Time) (*Query, error) {
	query, err := ParseQuery(q, now)
	if err != nil {
		return nil, err
	}
	var unknown []string
	for name := range params {
		if !isQueryKey(name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &QueryError{Term: unknown[0] + "=" + params[unknown[0]], Pos: -1,
			Message: fmt.Sprintf("unknown parameter %q; want one of %s", unknown[0], strings.Join(QueryKeys, ", "))}
	}
	for _, key := range QueryKeys {
		v, ok := params[key]
		if !ok || v == "" {
			continue
		}
		fail := func(msg string) (*Query, error) {
			return nil, &QueryError{Term: key + "=" + v, Pos: -1, Message: msg}
		}
		if !utf8.ValidString(v) {
			return fail("not valid UTF-8")
		}
		t := Term{Key: key}
		raw := v
		if strings.HasSuffix(raw, "*") {
			raw, t.Prefix = raw[:len(raw)-1], true
		}
		if msg := t.setValue(raw, now); msg != "" {
			return fail(msg)
		}
		query.Terms = append(query.Terms, t)
	}
	return query, nil
}

// setValue checks that t.Key is known and can take raw (and t.Prefix),
// and sets t.Value and the parsed forms. It returns what is wrong, or "".
func (t *Term) setValue(raw string, now time.Time) string {
	if !isQueryKey(t.Key) {
		return fmt.Sprintf("unknown key %q; want one of %s", t.Key, strings.Join(QueryKeys, ", "))
	}
	if raw == "" && !t.Prefix {
		return fmt.Sprintf("empty value; want %s:value", t.Key)
	}
	t.Value = raw
	switch t.Key {
	case "category":
		if !t.Prefix && raw != "audit" && !isEventCategory(raw) {
			return fmt.Sprintf("unknown category %q; want one of audit, login, user, role, team, device, api, security, billing, settings", raw)
		}
	case "action":
		for i := 0; i < len(raw); i++ {
			if c := raw[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == ':') {
				return fmt.Sprintf("action %q: an action is made of [a-z0-9_] parts separated by ':'", raw)
			}
		}
		if !t.Prefix && (strings.HasPrefix(raw, ":") || strings.HasSuffix(raw, ":") || strings.Contains(raw, "::")) {
			return fmt.Sprintf("action %q: an action is made of [a-z0-9_] parts separated by ':'", raw)
		}
	case "actor", "target":
	case "ip":
		if t.Prefix {
			break
		}
		if strings.IndexByte(raw, '/') >= 0 {
			p, err := netip.ParsePrefix(raw)
			if err != nil {
				return fmt.Sprintf("ip %q is not an IPv4 or IPv6 address or CIDR", raw)
			}
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			t.CIDR = p.Masked()
			break
		}
		a, err := netip.ParseAddr(raw)
		switch {
		case err != nil:
			return fmt.Sprintf("ip %q is not an IPv4 or IPv6 address or CIDR", raw)
		case a.Zone() != "":
			return fmt.Sprintf("ip %q has a zone; entries never do", raw)
		}
		a = a.Unmap()
		t.CIDR = netip.PrefixFrom(a, a.BitLen())
	case "result":
		if !t.Prefix && raw != "success" && raw != "failure" {
			return fmt.Sprintf("result %q: want success or failure", raw)
		}
	case "read_only":
		switch {
		case t.Prefix:
			return "read_only takes true or false, not a prefix"
		case raw == "true":
			t.Bool = true
		case raw == "false":
		default:
			return fmt.Sprintf("read_only %q: want true or false", raw)
		}
	case "since", "until":
		if t.Prefix {
			return fmt.Sprintf("%s takes a time or a duration, not a prefix", t.Key)
		}
		tm, msg := parseQueryTime(raw, now)
		if msg != "" {
			return fmt.Sprintf("%s %q: %s", t.Key, raw, msg)
		}
		t.Time = tm
	}
	return ""
}

// maxQueryAge bounds a duration back from now: about 290 years, what a
// time.Duration holds.
const maxQueryAge = time.Duration(1<<63 - 1)

// parseQueryTime parses a since or until value: an RFC 3339 time, a date,
// or a whole number of m, h, d or w back from now. It returns the time in
// UTC, or what is wrong.
func parseQueryTime(s string, now time.Time) (time.Time, string) {
	const want = "want an RFC 3339 time such as 2026-01-02T15:04:05Z, a date such as 2026-01-02, or a duration back from now such as 90m, 1h, 7d or 2w"
	digits := 0
	for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
		digits++
	}
	if digits > 0 && digits < len(s) && !strings.ContainsAny(s[digits:], "-:0123456789") {
		unit := s[digits:]
		var per time.Duration
		switch unit {
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		case "d":
			per = 24 * time.Hour
		case "w":
			per = 7 * 24 * time.Hour
		default:
			return time.Time{}, fmt.Sprintf("unknown duration unit %q; want m, h, d or w", unit)
		}
		n, err := strconv.ParseUint(s[:digits], 10, 63)
		if err != nil || n > uint64(maxQueryAge/per) {
			return time.Time{}, "duration too long"
		}
		return now.Add(-time.Duration(n) * per).UTC(), ""
	}
	if len(s) == len("2006-01-02") {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t.UTC(), ""
		}
		return time.Time{}, want
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, want
	}
	return t.UTC(), ""
}

func isQueryKey(k string) bool {
	for _, key := range QueryKeys {
		if k == key {
			return true
		}
	}
	return false
}

// isQuerySpace reports whether c separates terms: ASCII white space.
func isQuerySpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\f', '\v':
		return true
	}
	return false
}

// Match reports whether en satisfies every term of q. A nil q, or one
// without terms, matches every entry. A nil en (a redacted entry, whose
// payload is gone) matches only a query without terms.
func (q *Query) Match(en *Entry) bool {
	if q == nil {
		return true
	}
	if en == nil {
		return len(q.Terms) == 0
	}
	for i := range q.Terms {
		if !q.Terms[i].Match(en) {
			return false
		}
	}
	return true
}

// Match reports whether en, which is not nil, satisfies t.
func (t Term) Match(en *Entry) bool {
	return t.holds(en) != t.Negate
}

// holds reports whether en satisfies t, ignoring t.Negate.
func (t Term) holds(en *Entry) bool {
	switch t.Key {
	case "category":
		return t.matchString(en.Category)
	case "action":
		if t.matchString(en.Action) {
			return true
		}
		i := strings.LastIndexByte(en.Action, ':')
		return i >= 0 && t.matchString(en.Action[i+1:])
	case "actor":
		a := en.Actor
		return a != nil && (t.matchString(a.ID) ||
			a.Name != "" && t.matchString(a.Name) ||
			a.Email != "" && t.matchEmail(a.Email))
	case "target":
		tg := en.Target
		return tg != nil && (t.matchString(tg.ID) || tg.Name != "" && t.matchString(tg.Name))
	case "ip":
		if en.IP == "" {
			return false
		}
		if t.Prefix {
			return strings.HasPrefix(en.IP, t.Value)
		}
		a, err := netip.ParseAddr(en.IP)
		return err == nil && t.CIDR.Contains(a.Unmap())
	case "result":
		r := en.Result
		if r == "" {
			r = "success"
		}
		return t.matchString(r)
	case "read_only":
		return en.ReadOnly == t.Bool
	case "since":
		return !entryQueryTime(en).Before(t.Time)
	case "until":
		return entryQueryTime(en).Before(t.Time)
	}
	return false
}

func (t Term) matchString(s string) bool {
	if t.Prefix {
		return strings.HasPrefix(s, t.Value)
	}
	return s == t.Value
}

func (t Term) matchEmail(email string) bool {
	email, v := strings.ToLower(email), strings.ToLower(t.Value)
	if t.Prefix {
		return strings.HasPrefix(email, v)
	}
	return email == v
}

// entryQueryTime is the entry's time: the client's, or received_at.
func entryQueryTime(en *Entry) time.Time {
	if en.Time != nil {
		return *en.Time
	}
	return en.ReceivedAt
}

// String returns q as a q string that ParseQuery, given the same now,
// parses back to the same Query: its terms, as Term.String writes them,
// separated by single spaces.
func (q *Query) String() string {
	var b strings.Builder
	for i, t := range q.Terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.String())
	}
	return b.String()
}

// String returns t as one term of a q string: -key:value, the value
// quoted only when it must be (it holds white space, starts with a quote,
// or ends in a literal '*'), and a prefix's '*' after it.
func (t Term) String() string {
	var b strings.Builder
	if t.Negate {
		b.WriteByte('-')
	}
	b.WriteString(t.Key)
	b.WriteByte(':')
	v := t.Value
	literalStar := !t.Prefix && strings.HasSuffix(v, "*")
	quote := v == "" && !t.Prefix || v != "" && v[0] == '"' || literalStar
	for i := 0; i < len(v) && !quote; i++ {
		quote = isQuerySpace(v[i])
	}
	if !quote {
		b.WriteString(v)
		if t.Prefix {
			b.WriteByte('*')
		}
		return b.String()
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' || c == '*' && i == len(v)-1 && literalStar {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	if t.Prefix {
		b.WriteByte('*')
	}
	b.WriteByte('"')
	return b.String()
}

// IndexValue is one value under which an index of entries by field value
// would list an entry: Field is one of category, action, actor, target,
// ip, result, read_only, and Value what a term's IndexLookup looks up.
type IndexValue struct {
	Field string
	Value string
}

// IndexValues returns the values under which an index of entries by
// field would list en, so that Term.IndexLookup finds it: its category,
// its action and, when different, the action's last ':'-part, its actor's
// id, name and email (lowercased), its target's id and name, its ip,
// result "failure" when it failed (success, most entries, is not listed),
// and read_only "true" when it is. A nil en (redacted) has none.
func (en *Entry) IndexValues() []IndexValue {
	if en == nil {
		return nil
	}
	vs := make([]IndexValue, 0, 10)
	add := func(field, value string) {
		if value == "" {
			return
		}
		for _, v := range vs {
			if v.Field == field && v.Value == value {
				return
			}
		}
		vs = append(vs, IndexValue{field, value})
	}
	add("category", en.Category)
	add("action", en.Action)
	if i := strings.LastIndexByte(en.Action, ':'); i >= 0 {
		add("action", en.Action[i+1:])
	}
	if a := en.Actor; a != nil {
		add("actor", a.ID)
		add("actor", a.Name)
		add("actor", strings.ToLower(a.Email))
	}
	if tg := en.Target; tg != nil {
		add("target", tg.ID)
		add("target", tg.Name)
	}
	add("ip", en.IP)
	if en.Result == "failure" {
		add("result", en.Result)
	}
	if en.ReadOnly {
		add("read_only", "true")
	}
	return vs
}

// IndexLookup tells a query planner how an index of entries by field
// value (Entry.IndexValues) can narrow the search for t. field is "" when
// no such index can: for a negated term, since, until, read_only false,
// result other than exactly failure, and an ip CIDR wider than one
// address. Otherwise every entry that t
// matches is listed under field with a value that equals one of values
// (exact) or, when exact is false, starts with one of them: a range scan
// in a sorted index. The answer is a superset (actor:ann reads ids,
// names and emails alike); Match decides.
func (t Term) IndexLookup() (field string, values []string, exact bool) {
	if t.Negate {
		return "", nil, false
	}
	switch t.Key {
	case "result":
		// Only failures are indexed: success is most entries, and an
		// index of it would cost more than it saves.
		if t.Value == "failure" && !t.Prefix {
			return t.Key, []string{t.Value}, true
		}
	case "category", "action", "target":
		return t.Key, []string{t.Value}, !t.Prefix
	case "actor":
		values = []string{t.Value}
		if l := strings.ToLower(t.Value); l != t.Value {
			values = append(values, l)
		}
		return t.Key, values, !t.Prefix
	case "ip":
		if t.Prefix {
			return t.Key, []string{t.Value}, false
		}
		if t.CIDR.IsValid() && t.CIDR.IsSingleIP() {
			return t.Key, []string{t.CIDR.Addr().String()}, true
		}
	case "read_only":
		if t.Bool {
			return t.Key, []string{"true"}, true
		}
	}
	return "", nil, false
}
