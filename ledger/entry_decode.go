package ledger

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// eventDecoder is a strict JSON reader for the one shape this file takes:
// an event object, an array of them, or a leaf. Fields are decoded as they
// are read, so an error names the field it is in.
type eventDecoder struct {
	buf []byte
	// text is buf as a string, copied once: a string without escapes is
	// then a substring of it, not an allocation of its own (a parsed event
	// keeps the whole body alive, for as long as it lives).
	text  string
	off   int
	pos   int  // the event's position in a batch, or -1
	entry bool // reading a leaf: v, log and received_at are its fields
}

func (d *eventDecoder) fail(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Position: d.pos, Message: fmt.Sprintf(format, args...)}
}

// syntax reports malformed JSON at d.off.
func (d *eventDecoder) syntax(field string) *ValidationError {
	if d.off >= len(d.buf) {
		return d.fail(field, "invalid JSON: unexpected end of input")
	}
	c := d.buf[d.off]
	if c > ' ' && c < utf8.RuneSelf {
		return d.fail(field, "invalid JSON: unexpected %q at offset %d", rune(c), d.off)
	}
	return d.fail(field, "invalid JSON: unexpected byte 0x%02x at offset %d", c, d.off)
}

// wrongType reports a value of another type than want, or malformed JSON
// if what is at d.off begins no value at all.
func (d *eventDecoder) wrongType(field, want string) *ValidationError {
	if d.off < len(d.buf) {
		switch c := d.buf[d.off]; {
		case c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n' || c == '-' || c >= '0' && c <= '9':
			return d.fail(field, "must be %s", want)
		}
	}
	return d.syntax(field)
}

func (d *eventDecoder) skipSpace() {
	for d.off < len(d.buf) && isEventSpace(d.buf[d.off]) {
		d.off++
	}
}

func (d *eventDecoder) peek() byte {
	if d.off < len(d.buf) {
		return d.buf[d.off]
	}
	return 0
}

func (d *eventDecoder) literal(field, lit string) *ValidationError {
	if len(d.buf)-d.off < len(lit) || string(d.buf[d.off:d.off+len(lit)]) != lit {
		return d.syntax(field)
	}
	d.off += len(lit)
	return nil
}

// events reads a request body: one event object or an array of them.
func (d *eventDecoder) events(events *[]Event, isArray *bool) *ValidationError {
	d.skipSpace()
	switch d.peek() {
	case '{':
		var en Entry
		if verr := d.event(&en); verr != nil {
			return verr
		}
		if verr := en.validate(false); verr != nil {
			return verr
		}
		*events = []Event{en.Event}
	case '[':
		*isArray = true
		d.off++
		d.skipSpace()
		if d.peek() == ']' {
			return d.fail("", "a batch must hold at least one event")
		}
		for {
			if len(*events) == MaxBatchEvents {
				d.pos = -1
				return d.fail("", "a batch holds at most %d events", MaxBatchEvents)
			}
			d.pos = len(*events)
			d.skipSpace()
			if d.peek() != '{' {
				return d.wrongType("", "a JSON object")
			}
			var en Entry
			if verr := d.event(&en); verr != nil {
				return verr
			}
			if verr := en.validate(false); verr != nil {
				verr.Position = d.pos
				return verr
			}
			*events = append(*events, en.Event)
			d.skipSpace()
			if d.peek() == ',' {
				d.off++
				continue
			}
			if d.peek() != ']' {
				return d.syntax("")
			}
			d.off++
			break
		}
		d.pos = -1
	case 0:
		if d.off == len(d.buf) {
			return d.fail("", "request body is empty")
		}
		return d.syntax("")
	default:
		return d.wrongType("", "an event object or an array of event objects")
	}
	d.skipSpace()
	if d.off != len(d.buf) {
		return d.fail("", "invalid JSON: unexpected data after the top-level value at offset %d", d.off)
	}
	return nil
}

// value reads a leaf: one object and nothing after it.
func (d *eventDecoder) value(en *Entry) *ValidationError {
	if d.peek() != '{' {
		return d.wrongType("", "a JSON object")
	}
	if verr := d.event(en); verr != nil {
		return verr
	}
	if d.off != len(d.buf) {
		return d.fail("", "invalid JSON: unexpected data after the top-level value at offset %d", d.off)
	}
	return nil
}

// eventFieldSet holds the names an object has had so far, to catch duplicates.
// Only known names are added, and no object has more than 16 of them.
type eventFieldSet struct {
	names [16]string
	n     int
}

// add reports whether name was new, and records it.
func (s *eventFieldSet) add(name string) bool {
	for _, seen := range s.names[:s.n] {
		if seen == name {
			return false
		}
	}
	if s.n < len(s.names) {
		s.names[s.n] = name
		s.n++
	}
	return true
}

// member reads up to the value of an object's next member, d.off being
// just after '{' (first) or after the previous member's value, and returns
// its name, or ok false at the object's end.
func (d *eventDecoder) member(path string, first bool, seen *eventFieldSet) (name string, ok bool, verr *ValidationError) {
	d.skipSpace()
	switch c := d.peek(); {
	case c == '}':
		d.off++
		return "", false, nil
	case !first && c != ',':
		return "", false, d.syntax(path)
	case !first:
		d.off++
		d.skipSpace()
	}
	if d.peek() != '"' {
		return "", false, d.syntax(path)
	}
	if name, verr = d.str(path); verr != nil {
		return "", false, verr
	}
	if !isEventField(path, name) {
		if len(name) > 64 {
			name = strings.ToValidUTF8(name[:64], "") + "…"
		}
		if path != "" {
			name = path + "." + name
		}
		return "", false, d.fail(name, "unknown field")
	}
	if !seen.add(name) {
		if path != "" {
			name = path + "." + name
		}
		return "", false, d.fail(name, "appears more than once")
	}
	d.skipSpace()
	if d.peek() != ':' {
		return "", false, d.syntax(path)
	}
	d.off++
	d.skipSpace()
	return name, true, nil
}

func isEventField(path, name string) bool {
	switch path {
	case "":
		switch name {
		case "category", "action", "actor", "target", "time", "ip", "user_agent", "result", "read_only", "details", "ref",
			"v", "log", "received_at":
			return true
		}
	case "actor":
		switch name {
		case "type", "id", "name", "email", "api_key_id":
			return true
		}
	case "target":
		switch name {
		case "type", "id", "name":
			return true
		}
	}
	return false
}

// event reads an event object, or in entry mode a whole leaf, into en.
func (d *eventDecoder) event(en *Entry) *ValidationError {
	e := &en.Event
	d.off++ // '{'
	var seen eventFieldSet
	for first := true; ; first = false {
		name, ok, verr := d.member("", first, &seen)
		if verr != nil || !ok {
			return verr
		}
		var present bool
		switch name {
		case "category":
			e.Category, _, verr = d.optString(name)
		case "action":
			e.Action, _, verr = d.optString(name)
		case "actor":
			if present, verr = d.optObject(name); present && verr == nil {
				e.Actor = new(Actor)
				verr = d.actor(e.Actor)
			}
		case "target":
			if present, verr = d.optObject(name); present && verr == nil {
				e.Target = new(Target)
				verr = d.target(e.Target)
			}
		case "time":
			var t time.Time
			if t, present, verr = d.optTime(name); present && verr == nil {
				e.Time = &t
			}
		case "ip":
			if e.IP, present, verr = d.optString(name); verr == nil && present && e.IP == "" {
				verr = d.fail(name, "must be an IPv4 or IPv6 address")
			}
		case "user_agent":
			e.UserAgent, _, verr = d.optString(name)
		case "result":
			e.Result, _, verr = d.optString(name)
		case "read_only":
			e.ReadOnly, verr = d.optBool(name)
		case "details":
			e.Details, verr = d.optDetails(name)
		case "ref":
			var n uint64
			if n, present, verr = d.optUint(name); present && verr == nil {
				e.Ref = &n
			}
		case "v", "log", "received_at":
			if !d.entry {
				return d.fail(name, "is set by the server")
			}
			switch name {
			case "v":
				var n uint64
				n, _, verr = d.optUint(name)
				en.V = int(n)
			case "log":
				en.Log, _, verr = d.optString(name)
			case "received_at":
				en.ReceivedAt, _, verr = d.optTime(name)
			}
		}
		if verr != nil {
			return verr
		}
	}
}

func (d *eventDecoder) actor(a *Actor) *ValidationError {
	d.off++ // '{'
	var seen eventFieldSet
	for first := true; ; first = false {
		name, ok, verr := d.member("actor", first, &seen)
		if verr != nil || !ok {
			return verr
		}
		switch name {
		case "type":
			a.Type, _, verr = d.optString("actor.type")
		case "id":
			a.ID, _, verr = d.optString("actor.id")
		case "name":
			a.Name, _, verr = d.optString("actor.name")
		case "email":
			a.Email, _, verr = d.optString("actor.email")
		case "api_key_id":
			a.APIKeyID, _, verr = d.optString("actor.api_key_id")
		}
		if verr != nil {
			return verr
		}
	}
}

func (d *eventDecoder) target(t *Target) *ValidationError {
	d.off++ // '{'
	var seen eventFieldSet
	for first := true; ; first = false {
		name, ok, verr := d.member("target", first, &seen)
		if verr != nil || !ok {
			return verr
		}
		switch name {
		case "type":
			t.Type, _, verr = d.optString("target.type")
		case "id":
			t.ID, _, verr = d.optString("target.id")
		case "name":
			t.Name, _, verr = d.optString("target.name")
		}
		if verr != nil {
			return verr
		}
	}
}

// optObject checks that the value at d.off is an object (present) or null.
func (d *eventDecoder) optObject(field string) (present bool, verr *ValidationError) {
	switch d.peek() {
	case '{':
		return true, nil
	case 'n':
		return false, d.literal(field, "null")
	}
	return false, d.wrongType(field, "an object")
}

func (d *eventDecoder) optString(field string) (s string, present bool, verr *ValidationError) {
	switch d.peek() {
	case '"':
		s, verr = d.str(field)
		return s, verr == nil, verr
	case 'n':
		return "", false, d.literal(field, "null")
	}
	return "", false, d.wrongType(field, "a string")
}

func (d *eventDecoder) optBool(field string) (bool, *ValidationError) {
	switch d.peek() {
	case 't':
		return true, d.literal(field, "true")
	case 'f':
		return false, d.literal(field, "false")
	case 'n':
		return false, d.literal(field, "null")
	}
	return false, d.wrongType(field, "true or false")
}

// optTime reads an RFC 3339 time, or null.
func (d *eventDecoder) optTime(field string) (t time.Time, present bool, verr *ValidationError) {
	s, present, verr := d.optString(field)
	if verr != nil || !present {
		return time.Time{}, false, verr
	}
	t, ok := parseEventTime(s)
	if !ok {
		return time.Time{}, false, d.fail(field, "must be an RFC 3339 time such as 2006-01-02T15:04:05Z")
	}
	return t, true, nil
}

// optUint reads a non-negative integer of at most MaxRef, or null.
func (d *eventDecoder) optUint(field string) (n uint64, present bool, verr *ValidationError) {
	c := d.peek()
	if c == 'n' {
		return 0, false, d.literal(field, "null")
	}
	if c < '0' || c > '9' {
		if c == '-' {
			return 0, false, d.fail(field, "must be a non-negative integer")
		}
		return 0, false, d.wrongType(field, "a non-negative integer")
	}
	start := d.off
	for d.off < len(d.buf) && d.buf[d.off] >= '0' && d.buf[d.off] <= '9' {
		if n = n*10 + uint64(d.buf[d.off]-'0'); n > MaxRef {
			return 0, false, d.fail(field, "must be at most %d", uint64(MaxRef))
		}
		d.off++
	}
	if d.buf[start] == '0' && d.off-start > 1 {
		d.off = start + 1
		return 0, false, d.syntax(field)
	}
	if c := d.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false, d.fail(field, "must be an integer")
	}
	return n, true, nil
}

// optDetails reads a JSON object as its raw bytes, or null as nil. Its
// canonical form and size are Validate's business.
func (d *eventDecoder) optDetails(field string) (json.RawMessage, *ValidationError) {
	switch d.peek() {
	case '{':
		start := d.off
		if verr := d.skipValue(field, 0); verr != nil {
			return nil, verr
		}
		return d.buf[start:d.off], nil
	case 'n':
		return nil, d.literal(field, "null")
	}
	return nil, d.wrongType(field, "a JSON object")
}

// skipValue checks the syntax of the JSON value at d.off and moves past it.
func (d *eventDecoder) skipValue(field string, depth int) *ValidationError {
	if depth > maxDetailsDepth {
		return d.fail(field, "is nested more than %d levels deep", maxDetailsDepth)
	}
	d.skipSpace()
	switch c := d.peek(); {
	case c == '{' || c == '[':
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.off++
		d.skipSpace()
		if d.peek() == end {
			d.off++
			return nil
		}
		for {
			d.skipSpace()
			if end == '}' {
				if d.peek() != '"' {
					return d.syntax(field)
				}
				if _, verr := d.str(field); verr != nil {
					return verr
				}
				d.skipSpace()
				if d.peek() != ':' {
					return d.syntax(field)
				}
				d.off++
			}
			if verr := d.skipValue(field, depth+1); verr != nil {
				return verr
			}
			d.skipSpace()
			switch d.peek() {
			case ',':
				d.off++
			case end:
				d.off++
				return nil
			default:
				return d.syntax(field)
			}
		}
	case c == '"':
		_, verr := d.str(field)
		return verr
	case c == 't':
		return d.literal(field, "true")
	case c == 'f':
		return d.literal(field, "false")
	case c == 'n':
		return d.literal(field, "null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number(field)
	}
	return d.syntax(field)
}

// number checks the RFC 8259 number at d.off and moves past it.
func (d *eventDecoder) number(field string) *ValidationError {
	digits := func() int {
		n := 0
		for d.off < len(d.buf) && d.buf[d.off] >= '0' && d.buf[d.off] <= '9' {
			d.off++
			n++
		}
		return n
	}
	if d.peek() == '-' {
		d.off++
	}
	switch c := d.peek(); {
	case c == '0':
		d.off++
	case c >= '1' && c <= '9':
		digits()
	default:
		return d.syntax(field)
	}
	if d.peek() == '.' {
		d.off++
		if digits() == 0 {
			return d.syntax(field)
		}
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.off++
		if c := d.peek(); c == '+' || c == '-' {
			d.off++
		}
		if digits() == 0 {
			return d.syntax(field)
		}
	}
	return nil
}

// str reads the string at d.off (which is '"'): escapes decoded, and
// rejected if it holds a raw control character, bytes that are not UTF-8,
// or an escaped lone surrogate.
func (d *eventDecoder) str(field string) (string, *ValidationError) {
	start := d.off + 1
	for i := start; i < len(d.buf); {
		switch c := d.buf[i]; {
		case c == '"':
			d.off = i + 1
			return d.text[start:i], nil
		case c == '\\':
			return d.strEscaped(field, start, i)
		case c < 0x20:
			d.off = i
			return "", d.syntax(field)
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d.buf[i:])
			if r == utf8.RuneError && size == 1 {
				return "", d.fail(field, "must be valid UTF-8")
			}
			i += size
		}
	}
	d.off = len(d.buf)
	return "", d.syntax(field)
}

// strEscaped finishes str from i, the first backslash, on.
func (d *eventDecoder) strEscaped(field string, start, i int) (string, *ValidationError) {
	b := make([]byte, i-start, i-start+16)
	copy(b, d.buf[start:i])
	for i < len(d.buf) {
		switch c := d.buf[i]; {
		case c == '"':
			d.off = i + 1
			return string(b), nil
		case c == '\\':
			if i+1 >= len(d.buf) {
				d.off = len(d.buf)
				return "", d.syntax(field)
			}
			switch e := d.buf[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := eventHex4(d.buf[i+2:])
				if !ok {
					d.off = i
					return "", d.fail(field, "invalid JSON: bad \\u escape at offset %d", i)
				}
				if utf16.IsSurrogate(r) {
					var r2 rune
					if r < 0xdc00 && len(d.buf) >= i+12 && d.buf[i+6] == '\\' && d.buf[i+7] == 'u' {
						r2, _ = eventHex4(d.buf[i+8:])
					}
					if r2 < 0xdc00 || r2 > 0xdfff {
						return "", d.fail(field, "must be valid UTF-8, not hold a lone surrogate (\\u escape at offset %d)", i)
					}
					r = utf16.DecodeRune(r, r2)
					i += 6
				}
				b = utf8.AppendRune(b, r)
				i += 4
			default:
				d.off = i + 1
				return "", d.syntax(field)
			}
			i += 2
		case c < 0x20:
			d.off = i
			return "", d.syntax(field)
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(d.buf[i:])
			if r == utf8.RuneError && size == 1 {
				return "", d.fail(field, "must be valid UTF-8")
			}
			b = append(b, d.buf[i:i+size]...)
			i += size
		}
	}
	d.off = len(d.buf)
	return "", d.syntax(field)
}

// eventHex4 decodes the four hex digits at the start of b.
func eventHex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// parseEventTime parses s as an RFC 3339 date-time,
// YYYY-MM-DDTHH:MM:SS[.F{1,9}](Z|±HH:MM), and returns it in UTC.
func parseEventTime(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	ok := true
	num := func(s string, min, max int) int {
		n := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				ok = false
				return 0
			}
			n = n*10 + int(s[i]-'0')
		}
		if n < min || n > max {
			ok = false
		}
		return n
	}
	year := num(s[0:4], 0, 9999)
	month := num(s[5:7], 1, 12)
	day := num(s[8:10], 1, 31)
	hour := num(s[11:13], 0, 23)
	minute := num(s[14:16], 0, 59)
	sec := num(s[17:19], 0, 59)
	if !ok || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return time.Time{}, false
	}
	rest := s[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return time.Time{}, false
		}
		nsec = num(rest[1:n], 0, 999999999)
		for i := n; i < 10; i++ {
			nsec *= 10
		}
		rest = rest[n:]
	}
	var offset int
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == len("+07:00") && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		offset = (num(rest[1:3], 0, 23)*60 + num(rest[4:6], 0, 59)) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	if !ok {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}
