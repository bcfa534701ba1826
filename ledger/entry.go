package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode"
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
//   - An empty array, like more than MaxBatchEvents events, is a
//     *ValidationError with no field and position -1.
//   - ref is allowed only on an internal category "audit", action
//     "annotation:add" entry, and only up to MaxRef.
//   - Ids, names, emails and target types are at most MaxStringSize bytes,
//     which keeps every valid event's leaf within MaxLeafSize. Details past
//     MaxDetailsSize are a plain *ValidationError (a 400) while the event's
//     leaf would still fit, and one that also wraps ErrTooLarge (a 413)
//     once even its shortest possible leaf would not.

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
// about one event. When the event's leaf could not fit in MaxLeafSize,
// errors.Is(err, ErrTooLarge) holds as well.
type ValidationError struct {
	Field    string
	Position int
	Message  string

	err error // what it wraps: ErrTooLarge or nil
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
		// A field named by a client (an unknown one) may hold anything;
		// quote it rather than put control characters in a log line.
		if strings.IndexFunc(e.Field, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			b.WriteString(strconv.Quote(e.Field))
		} else {
			b.WriteString(e.Field)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Unwrap returns ErrTooLarge for an event whose leaf could not fit in
// MaxLeafSize, and nil otherwise.
func (e *ValidationError) Unwrap() error {
	return e.err
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
	d := eventDecoder{buf: body, text: string(body), pos: -1}
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
		canon, ok := canonicalDetails(e.Details)
		if !ok {
			var err error
			if canon, err = jcs.Transform(e.Details); err != nil {
				return invalidEvent("details", "is not valid JSON: %v", err)
			}
		}
		if len(canon) > MaxDetailsSize {
			verr := invalidEvent("details", "must be at most %d bytes as canonical JSON, is %d", MaxDetailsSize, len(canon))
			if e.shortestLeafSize(canon) > MaxLeafSize {
				verr.Message += fmt.Sprintf(", which makes the entry larger than %d bytes", MaxLeafSize)
				verr.err = ErrTooLarge
			}
			return verr
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

// shortestLeafSize returns the size of the shortest leaf e could have
// with details in place of its own: in a log of one-letter id, received
// at a time that RFC 3339 writes in 20 bytes. validate calls it once every
// field before details has passed.
func (e *Event) shortestLeafSize(details json.RawMessage) int {
	en := Entry{V: EntryVersion, Log: "a", ReceivedAt: time.Unix(0, 0), Event: *e}
	en.Details = details
	leaf, err := en.appendLeaf(nil, nil)
	if err != nil {
		return len(details)
	}
	return len(leaf)
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
