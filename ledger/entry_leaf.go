package ledger

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

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
// the API as it is hashed. Note that json.Marshal then escapes '<', '>',
// '&', U+2028 and U+2029 in it; a json.Encoder with SetEscapeHTML(false)
// keeps the bytes exact, as does writing Leaf's bytes directly.
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
	return en.appendLeafAt(dst, nil)
}

// appendLeafAt is AppendLeaf with en.ReceivedAt already formatted as
// appendLeafTime writes it (ra; nil to format it here): the events of one
// call share their received_at, and most have no time of their own, which
// is then the same.
func (en *Entry) appendLeafAt(dst, ra []byte) ([]byte, error) {
	out, err := en.appendLeaf(dst, ra)
	if err != nil {
		return dst, fmt.Errorf("couldn't encode entry: %w", err)
	}
	if n := len(out) - len(dst); n > MaxLeafSize {
		return dst, fmt.Errorf("couldn't encode entry: leaf is %d bytes: %w", n, ErrTooLarge)
	}
	return out, nil
}

func (en *Entry) appendLeaf(b, ra []byte) ([]byte, error) {
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
	if ra != nil {
		b = append(b, ra...)
	} else if b, ok = appendLeafTime(b, en.ReceivedAt); !ok {
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
	if ra != nil && t.Equal(en.ReceivedAt) {
		b = append(b, ra...)
	} else if b, ok = appendLeafTime(b, t); !ok {
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
	d := eventDecoder{buf: leaf, text: string(leaf), pos: -1, entry: true}
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
