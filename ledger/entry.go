package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gowebpki/jcs"
)

// This file is the event model of SPEC §2: what a client may submit
// (ParseEvents, Event.Validate), and the exact bytes an entry is hashed as
// (Entry.Leaf, ParseEntry).
//
// Choices the SPEC leaves open, made here:
//   - A JSON null for an optional field (target, time, ip, user_agent,
//     result, read_only, details, ref, and the optional actor and target
//     strings) means the field is absent. A null for a required field reads
//     as missing and fails Validate.
//   - An empty string for an optional free-text field (actor and target
//     name, email, api_key_id, user_agent) means absent; an empty result
//     means success. An empty ip or time is rejected: it is not an address
//     or a time.
//   - Field names match exactly (encoding/json would also take "Category").
//     Duplicate names are rejected, in details too.
//   - The details limit (MaxDetailsSize) applies to the canonical form, the
//     bytes actually stored, not to the bytes the client sent.
//   - time takes RFC 3339 exactly: a 'T' (or 't') separator, seconds, at
//     most nine fraction digits, and 'Z' (or 'z') or a ±hh:mm offset. A leap
//     second (60) is rejected, as is a time whose UTC year lies outside
//     0000–9999, which RFC 3339 cannot write.
//   - An empty array is a valid batch of no events.

const (
	// EntryVersion is the value of v in every entry this package writes.
	EntryVersion = 1

	// MaxLeafSize is the largest leaf in bytes: what the uint16 length
	// prefix of a C2SP entry bundle can hold.
	MaxLeafSize = 65535

	// MaxDetailsSize is the largest details object in bytes, measured in
	// its RFC 8785 canonical form.
	MaxDetailsSize = 16 << 10

	// MaxBatchEvents is the most events one request body may hold.
	MaxBatchEvents = 10000

	// MaxActionSize is the longest action in bytes.
	MaxActionSize = 64

	// MaxUserAgentSize is the longest user_agent in bytes.
	MaxUserAgentSize = 512

	// MaxStringSize is the longest actor or target type, id, name, email or
	// api_key_id in bytes. With this and the other limits, an event that
	// passes Validate always has a leaf within MaxLeafSize, whatever its log
	// id and times (TestLargestEventFits holds this).
	MaxStringSize = 1024

	// MaxRef is the largest ref: the largest integer that an IEEE 754
	// double, and so an RFC 8785 number, holds exactly.
	MaxRef = 1<<53 - 1
)

// maxDetailsDepth bounds how deeply details may nest, as encoding/json and
// jcs both do.
const maxDetailsDepth = 10000

// ErrTooLarge is returned, wrapped, when an entry's leaf would be larger
// than MaxLeafSize.
var ErrTooLarge = errors.New("leaf larger than 65535 bytes")

// Event is one audit event as a client submits it (SPEC §2), before the
// server adds v, log and received_at. An optional string field is absent
// when empty; an optional pointer field is absent when nil.
type Event struct {
	Category  string          `json:"category"`
	Action    string          `json:"action"`
	Actor     *Actor          `json:"actor"`
	Target    *Target         `json:"target,omitempty"`
	Time      *time.Time      `json:"time,omitempty"`
	IP        string          `json:"ip,omitempty"`
	UserAgent string          `json:"user_agent,omitempty"`
	Result    string          `json:"result,omitempty"`
	ReadOnly  bool            `json:"read_only,omitempty"`
	Details   json.RawMessage `json:"details,omitempty"`
	Ref       *uint64         `json:"ref,omitempty"`
}

// Actor is who took the action. Type and ID are required; APIKeyID names
// the key used, for actions taken through an API.
type Actor struct {
	Type     string `json:"type"`
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
	APIKeyID string `json:"api_key_id,omitempty"`
}

// Target is what the action was taken on. Type and ID are required when a
// target is given.
type Target struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Entry is a stored entry: the event plus the fields the server adds. V is
// EntryVersion, Log the log id, and ReceivedAt the time the server took the
// event; a nil Event.Time means ReceivedAt.
type Entry struct {
	V          int       `json:"v"`
	Log        string    `json:"log"`
	ReceivedAt time.Time `json:"received_at"`
	Event
}

// ValidationError is a rejected event: Field names the offending field as
// a dotted path ("actor.id", "details", "ip"; empty when the request body
// as a whole is at fault) and Position is the event's 0-based position in
// a batch, or -1 when the body was a single event or the error is not
// about one event.
type ValidationError struct {
	Field    string
	Position int
	Message  string
}

// Error returns the position, field and message as one line, such as
// "event at position 3: actor.id: is required".
func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Position >= 0 {
		b.WriteString("event at position ")
		b.WriteString(strconv.Itoa(e.Position))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

func invalidEvent(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Position: -1, Message: fmt.Sprintf(format, args...)}
}

// ParseEvents parses a request body that is one JSON event object, or a
// JSON array of at most MaxBatchEvents of them, and validates each event
// as a client's (Validate(false)). It is strict: an unknown or duplicated
// field, a wrong type, a string that is not UTF-8, data after the value or
// anything that is not JSON is a *ValidationError naming the field and,
// for an array, the position. It returns the events, normalised, and
// whether the body was an array; on error it returns no events.
func ParseEvents(body []byte) (events []Event, isArray bool, err error) {
	d := eventDecoder{buf: body, pos: -1}
	if verr := d.events(&events, &isArray); verr != nil {
		return nil, false, verr
	}
	return events, isArray, nil
}

// Validate checks e against the rules of SPEC §2 and normalises it in
// place: time to UTC, ip to its canonical form (an IPv4-mapped IPv6
// address to IPv4), an empty result to "success", and details to its
// RFC 8785 canonical form. internal is true only for entries the server
// writes itself, which alone may have category "audit" and a ref. The
// error is a *ValidationError with Position -1. Validate is idempotent.
func (e *Event) Validate(internal bool) error {
	if verr := e.validate(internal); verr != nil {
		return verr
	}
	return nil
}

func (e *Event) validate(internal bool) *ValidationError {
	switch {
	case e.Category == "":
		return invalidEvent("category", "is required")
	case e.Category == "audit":
		if !internal {
			return invalidEvent("category", "audit is reserved for entries the server writes")
		}
	case !isEventCategory(e.Category):
		return invalidEvent("category", "must be one of login, user, role, team, device, api, security, billing, settings")
	}

	switch {
	case e.Action == "":
		return invalidEvent("action", "is required")
	case len(e.Action) > MaxActionSize:
		return invalidEvent("action", "must be at most %d bytes", MaxActionSize)
	case !isEventAction(e.Action):
		return invalidEvent("action", "must match [a-z0-9_]+(:[a-z0-9_]+)*")
	}

	a := e.Actor
	if a == nil {
		return invalidEvent("actor", "is required")
	}
	switch a.Type {
	case "user", "api_key", "service", "system":
	case "":
		return invalidEvent("actor.type", "is required")
	default:
		return invalidEvent("actor.type", "must be one of user, api_key, service, system")
	}
	if a.ID == "" {
		return invalidEvent("actor.id", "is required")
	}
	for _, f := range [...]struct{ name, value string }{
		{"actor.id", a.ID}, {"actor.name", a.Name}, {"actor.email", a.Email}, {"actor.api_key_id", a.APIKeyID},
	} {
		if verr := checkEventString(f.name, f.value, MaxStringSize); verr != nil {
			return verr
		}
	}

	if t := e.Target; t != nil {
		if t.Type == "" {
			return invalidEvent("target.type", "is required")
		}
		if t.ID == "" {
			return invalidEvent("target.id", "is required")
		}
		for _, f := range [...]struct{ name, value string }{
			{"target.type", t.Type}, {"target.id", t.ID}, {"target.name", t.Name},
		} {
			if verr := checkEventString(f.name, f.value, MaxStringSize); verr != nil {
				return verr
			}
		}
	}

	if e.Time != nil {
		t := e.Time.UTC()
		if y := t.Year(); y < 0 || y > 9999 {
			return invalidEvent("time", "must lie in the years 0000 to 9999 in UTC")
		}
		e.Time = &t
	}

	if e.IP != "" {
		addr, err := netip.ParseAddr(e.IP)
		switch {
		case err != nil:
			return invalidEvent("ip", "must be an IPv4 or IPv6 address")
		case addr.Zone() != "":
			return invalidEvent("ip", "must not have a zone")
		}
		e.IP = addr.Unmap().String()
	}

	if verr := checkEventString("user_agent", e.UserAgent, MaxUserAgentSize); verr != nil {
		return verr
	}

	switch e.Result {
	case "":
		e.Result = "success"
	case "success", "failure":
	default:
		return invalidEvent("result", "must be success or failure")
	}

	if len(e.Details) > 0 {
		i := 0
		for i < len(e.Details) && isEventSpace(e.Details[i]) {
			i++
		}
		if i == len(e.Details) || e.Details[i] != '{' {
			return invalidEvent("details", "must be a JSON object")
		}
		canon, err := jcs.Transform(e.Details)
		if err != nil {
			return invalidEvent("details", "is not valid JSON: %v", err)
		}
		if len(canon) > MaxDetailsSize {
			return invalidEvent("details", "must be at most %d bytes as canonical JSON, is %d", MaxDetailsSize, len(canon))
		}
		e.Details = canon
	}

	if e.Ref != nil {
		switch {
		case !internal:
			return invalidEvent("ref", "is set only by the annotations route")
		case *e.Ref > MaxRef:
			return invalidEvent("ref", "must be at most %d", uint64(MaxRef))
		case e.Category != "audit" || e.Action != "annotation:add":
			return invalidEvent("ref", "is allowed only on an audit annotation:add entry")
		}
	}
	return nil
}

func isEventCategory(c string) bool {
	switch c {
	case "login", "user", "role", "team", "device", "api", "security", "billing", "settings":
		return true
	}
	return false
}

// isEventAction reports whether a matches [a-z0-9_]+(:[a-z0-9_]+)*.
func isEventAction(a string) bool {
	part := 0
	for i := 0; i < len(a); i++ {
		switch c := a[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			part++
		case c == ':' && part > 0:
			part = 0
		default:
			return false
		}
	}
	return part > 0
}

func checkEventString(field, s string, max int) *ValidationError {
	if len(s) > max {
		return invalidEvent(field, "must be at most %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return invalidEvent(field, "must be valid UTF-8")
	}
	return nil
}

// isEntryLogID reports whether id matches [a-z0-9][a-z0-9-]{0,62}.
func isEntryLogID(id string) bool {
	if len(id) == 0 || len(id) > 63 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isEventSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// Leaf returns the entry's leaf: the RFC 8785 (JCS) canonical JSON of the
// entry, with exactly the fields SPEC §2 lists and no null. It expects an
// event that passed Validate (it writes details as they are, and checks
// only what it needs to write well-formed JSON), and returns ErrTooLarge,
// wrapped, when the leaf would exceed MaxLeafSize.
func (en *Entry) Leaf() ([]byte, error) {
	n := 240 + len(en.Log) + len(en.Category) + len(en.Action) + len(en.IP) + len(en.UserAgent) + len(en.Details)
	if a := en.Actor; a != nil {
		n += len(a.Type) + len(a.ID) + len(a.Name) + len(a.Email) + len(a.APIKeyID)
	}
	if t := en.Target; t != nil {
		n += 32 + len(t.Type) + len(t.ID) + len(t.Name)
	}
	return en.AppendLeaf(make([]byte, 0, n))
}

// MarshalJSON returns the entry's leaf, so that an Entry reads the same in
// the API as it is hashed.
func (en Entry) MarshalJSON() ([]byte, error) {
	return en.Leaf()
}

// AppendLeaf appends the entry's leaf, as Leaf returns it, to dst and
// returns the extended slice. On error it returns dst unchanged.
//
// The bytes are written directly in canonical form: members in the sorted
// order of their (ASCII) names, strings escaped as RFC 8785 says, times as
// time.RFC3339Nano in UTC, integers as decimal digits (v is 1, and ref is
// at most MaxRef, so both are what RFC 8785 writes for them), and details
// as Validate left them, already canonical.
func (en *Entry) AppendLeaf(dst []byte) ([]byte, error) {
	out, err := en.appendLeaf(dst)
	if err != nil {
		return dst, fmt.Errorf("couldn't encode entry: %w", err)
	}
	if n := len(out) - len(dst); n > MaxLeafSize {
		return dst, fmt.Errorf("couldn't encode entry: leaf is %d bytes: %w", n, ErrTooLarge)
	}
	return out, nil
}

func (en *Entry) appendLeaf(b []byte) ([]byte, error) {
	var err error
	switch {
	case en.V != EntryVersion:
		return b, fmt.Errorf("v is %d, not %d", en.V, EntryVersion)
	case !isEntryLogID(en.Log):
		return b, fmt.Errorf("log id %q is not valid", en.Log)
	case en.ReceivedAt.IsZero():
		return b, errors.New("received_at is not set")
	case en.Category == "" || en.Action == "":
		return b, errors.New("category or action is missing")
	case en.Actor == nil:
		return b, errors.New("actor is missing")
	case len(en.Details) > 0 && en.Details[0] != '{':
		return b, errors.New("details is not a canonical JSON object")
	}
	t := en.ReceivedAt
	if en.Time != nil {
		t = *en.Time
	}

	// Members in RFC 8785 order: action, actor, category, details, ip, log,
	// read_only, received_at, ref, result, target, time, user_agent, v.
	b = append(b, `{"action":`...)
	if b, err = appendLeafString(b, "action", en.Action); err != nil {
		return b, err
	}

	// actor: api_key_id, email, id, name, type.
	a := en.Actor
	b = append(b, `,"actor":{`...)
	if a.APIKeyID != "" {
		b = append(b, `"api_key_id":`...)
		if b, err = appendLeafString(b, "actor.api_key_id", a.APIKeyID); err != nil {
			return b, err
		}
		b = append(b, ',')
	}
	if a.Email != "" {
		b = append(b, `"email":`...)
		if b, err = appendLeafString(b, "actor.email", a.Email); err != nil {
			return b, err
		}
		b = append(b, ',')
	}
	b = append(b, `"id":`...)
	if b, err = appendLeafString(b, "actor.id", a.ID); err != nil {
		return b, err
	}
	if a.Name != "" {
		b = append(b, `,"name":`...)
		if b, err = appendLeafString(b, "actor.name", a.Name); err != nil {
			return b, err
		}
	}
	b = append(b, `,"type":`...)
	if b, err = appendLeafString(b, "actor.type", a.Type); err != nil {
		return b, err
	}

	b = append(b, `},"category":`...)
	if b, err = appendLeafString(b, "category", en.Category); err != nil {
		return b, err
	}
	if len(en.Details) > 0 {
		b = append(b, `,"details":`...)
		b = append(b, en.Details...)
	}
	if en.IP != "" {
		b = append(b, `,"ip":`...)
		if b, err = appendLeafString(b, "ip", en.IP); err != nil {
			return b, err
		}
	}
	b = append(b, `,"log":"`...)
	b = append(b, en.Log...) // isEntryLogID: nothing to escape
	b = append(b, '"')
	if en.ReadOnly {
		b = append(b, `,"read_only":true`...)
	}
	b = append(b, `,"received_at":"`...)
	var ok bool
	if b, ok = appendLeafTime(b, en.ReceivedAt); !ok {
		return b, errors.New("received_at is outside the years 0000 to 9999")
	}
	b = append(b, '"')
	if en.Ref != nil {
		if *en.Ref > MaxRef {
			return b, fmt.Errorf("ref %d is larger than %d", *en.Ref, uint64(MaxRef))
		}
		b = append(b, `,"ref":`...)
		b = strconv.AppendUint(b, *en.Ref, 10)
	}
	b = append(b, `,"result":`...)
	if en.Result == "" {
		b = append(b, `"success"`...)
	} else if b, err = appendLeafString(b, "result", en.Result); err != nil {
		return b, err
	}

	// target: id, name, type.
	if tg := en.Target; tg != nil {
		b = append(b, `,"target":{"id":`...)
		if b, err = appendLeafString(b, "target.id", tg.ID); err != nil {
			return b, err
		}
		if tg.Name != "" {
			b = append(b, `,"name":`...)
			if b, err = appendLeafString(b, "target.name", tg.Name); err != nil {
				return b, err
			}
		}
		b = append(b, `,"type":`...)
		if b, err = appendLeafString(b, "target.type", tg.Type); err != nil {
			return b, err
		}
		b = append(b, '}')
	}
	b = append(b, `,"time":"`...)
	if b, ok = appendLeafTime(b, t); !ok {
		return b, errors.New("time is outside the years 0000 to 9999")
	}
	b = append(b, '"')
	if en.UserAgent != "" {
		b = append(b, `,"user_agent":`...)
		if b, err = appendLeafString(b, "user_agent", en.UserAgent); err != nil {
			return b, err
		}
	}
	b = append(b, `,"v":`...)
	b = strconv.AppendInt(b, int64(en.V), 10)
	return append(b, '}'), nil
}

// appendLeafString appends s as an RFC 8785 string: '"' and '\\' escaped,
// \b \f \n \r \t as such, the other control characters as \u00xx in lower
// case, and everything else, U+2028, U+2029, '<', '>' and '&' included,
// as literal UTF-8. It fails if s is not valid UTF-8.
func appendLeafString(b []byte, field, s string) ([]byte, error) {
	const hex = "0123456789abcdef"
	const highs = 0x8080808080808080
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while they are ASCII and none needs escaping.
		if i+8 <= len(s) {
			w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if w&highs == 0 && !leafEscapeIn(w) {
				i += 8
				continue
			}
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return b, fmt.Errorf("%s is not valid UTF-8", field)
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// leafEscapeIn reports whether any of the eight bytes in w is a control
// character, '"' or '\\' (the classic "has a zero byte" and "has a byte
// less than n" word tricks; exact when asked whether any byte matches).
func leafEscapeIn(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := w ^ ones*'"'
	backslash := w ^ ones*'\\'
	return ((w-ones*0x20)&^w|(quote-ones)&^quote|(backslash-ones)&^backslash)&highs != 0
}

// appendLeafTime appends t in UTC as time.RFC3339Nano writes it, or
// reports false if its year lies outside 0000–9999.
func appendLeafTime(b []byte, t time.Time) ([]byte, bool) {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return b, false
	}
	hour, minute, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := len(frac)
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z'), true
}

// ParseEntry parses a leaf back into its Entry, strictly: the leaf must be
// exactly what Leaf writes for the entry it holds (canonical, with no
// field missing, added or out of place), and the event must pass
// Validate(true). So Leaf of the result equals leaf byte for byte.
func ParseEntry(leaf []byte) (*Entry, error) {
	if len(leaf) > MaxLeafSize {
		return nil, fmt.Errorf("couldn't parse entry: leaf is %d bytes: %w", len(leaf), ErrTooLarge)
	}
	en := new(Entry)
	d := eventDecoder{buf: leaf, pos: -1, entry: true}
	if verr := d.value(en); verr != nil {
		return nil, fmt.Errorf("couldn't parse entry: %w", verr)
	}
	if verr := en.validate(true); verr != nil {
		return nil, fmt.Errorf("couldn't parse entry: %w", verr)
	}
	again, err := en.Leaf()
	if err != nil {
		return nil, fmt.Errorf("couldn't parse entry: %w", err)
	}
	if string(again) != string(leaf) {
		return nil, errors.New("couldn't parse entry: leaf is not in canonical form")
	}
	return en, nil
}

// eventDecoder is a strict JSON reader for the one shape this file takes:
// an event object, an array of them, or a leaf. Fields are decoded as they
// are read, so an error names the field it is in.
type eventDecoder struct {
	buf   []byte
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
			d.off++
			*events = []Event{}
			break
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
			return string(d.buf[start:i]), nil
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
