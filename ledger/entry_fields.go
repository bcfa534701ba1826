package ledger

import (
	"encoding/json"
	"errors"
	"time"
)

// errFieldsSlow means ParseStoredEntry met something its fast path does not
// handle; the caller falls back to ParseEntry.
var errFieldsSlow = errors.New("entry needs the full parser")

// ParseStoredEntry parses a leaf read from this ledger's store. Such a
// leaf is canonical JSON that was validated when it was appended, so a
// fast reader does the work, about a tenth of ParseEntry's cost; anything it
// does not expect makes it fall back to ParseEntry. For every leaf that
// ParseEntry accepts the two return the same Entry (a fuzz test holds them
// to that); a leaf that was damaged on disk is verify's business, and
// ParseStoredEntry does not validate it.
func ParseStoredEntry(leaf []byte) (*Entry, error) {
	en, err := fastEntryFields(leaf)
	if err == nil {
		return en, nil
	}
	return ParseEntry(leaf)
}

func fastEntryFields(leaf []byte) (*Entry, error) {
	p := fieldParser{b: leaf}
	en := &Entry{}
	err := p.object(func(key []byte) error {
		switch string(key) {
		case "v":
			n, err := p.uint()
			en.V = int(n)
			return err
		case "log":
			return p.str(&en.Log)
		case "received_at":
			return p.time(&en.ReceivedAt)
		case "time":
			var t time.Time
			if err := p.time(&t); err != nil {
				return err
			}
			en.Time = &t
			return nil
		case "category":
			return p.str(&en.Category)
		case "action":
			return p.str(&en.Action)
		case "ip":
			return p.str(&en.IP)
		case "result":
			return p.str(&en.Result)
		case "read_only":
			return p.boolean(&en.ReadOnly)
		case "ref":
			n, err := p.uint()
			en.Ref = &n
			return err
		case "actor":
			a := &Actor{}
			en.Actor = a
			return p.object(func(key []byte) error {
				switch string(key) {
				case "type":
					return p.str(&a.Type)
				case "id":
					return p.str(&a.ID)
				case "name":
					return p.str(&a.Name)
				case "email":
					return p.str(&a.Email)
				case "api_key_id":
					return p.str(&a.APIKeyID)
				}
				return errFieldsSlow
			})
		case "target":
			tg := &Target{}
			en.Target = tg
			return p.object(func(key []byte) error {
				switch string(key) {
				case "type":
					return p.str(&tg.Type)
				case "id":
					return p.str(&tg.ID)
				case "name":
					return p.str(&tg.Name)
				}
				return errFieldsSlow
			})
		case "user_agent":
			return p.str(&en.UserAgent)
		case "details":
			start := p.i
			if err := p.skip(); err != nil {
				return err
			}
			en.Details = json.RawMessage(append([]byte(nil), p.b[start:p.i]...))
			return nil
		}
		return errFieldsSlow
	})
	if err != nil {
		return nil, err
	}
	if p.i != len(p.b) || en.V != EntryVersion || en.Category == "" || en.Actor == nil || en.ReceivedAt.IsZero() {
		return nil, errFieldsSlow
	}
	return en, nil
}

// fieldParser reads canonical JSON (no white space) left to right.
type fieldParser struct {
	b []byte
	i int
}

func (p *fieldParser) next() (byte, bool) {
	if p.i >= len(p.b) {
		return 0, false
	}
	c := p.b[p.i]
	p.i++
	return c, true
}

// object reads {"k":v,...}, calling fn after each key's colon; fn reads the value.
func (p *fieldParser) object(fn func(key []byte) error) error {
	if c, ok := p.next(); !ok || c != '{' {
		return errFieldsSlow
	}
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		key, err := p.rawKey()
		if err != nil {
			return err
		}
		if c, ok := p.next(); !ok || c != ':' {
			return errFieldsSlow
		}
		if err := fn(key); err != nil {
			return err
		}
		c, ok := p.next()
		switch {
		case !ok:
			return errFieldsSlow
		case c == '}':
			return nil
		case c != ',':
			return errFieldsSlow
		}
	}
}

// rawKey reads an object key without escapes (all of ours) as a view of
// the leaf.
func (p *fieldParser) rawKey() ([]byte, error) {
	if c, ok := p.next(); !ok || c != '"' {
		return nil, errFieldsSlow
	}
	start := p.i
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '\\':
			return nil, errFieldsSlow
		case '"':
			p.i++
			return p.b[start : p.i-1], nil
		}
		p.i++
	}
	return nil, errFieldsSlow
}

// str reads a string; one with escapes is decoded by encoding/json.
func (p *fieldParser) str(dst *string) error {
	if c, ok := p.next(); !ok || c != '"' {
		return errFieldsSlow
	}
	start, escaped := p.i, false
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '\\':
			escaped = true
			p.i += 2
			continue
		case '"':
			raw := p.b[start:p.i]
			p.i++
			if !escaped {
				*dst = string(raw)
				return nil
			}
			return json.Unmarshal(p.b[start-1:p.i], dst)
		}
		p.i++
	}
	return errFieldsSlow
}

func (p *fieldParser) time(dst *time.Time) error {
	var s string
	if err := p.str(&s); err != nil {
		return err
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return errFieldsSlow
	}
	*dst = t.UTC()
	return nil
}

func (p *fieldParser) uint() (uint64, error) {
	var n uint64
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		if p.i-start >= 15 {
			return 0, errFieldsSlow // past 2^53: let the full parser decide
		}
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	if p.i == start {
		return 0, errFieldsSlow
	}
	return n, nil
}

func (p *fieldParser) boolean(dst *bool) error {
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		*dst = true
		p.i += 4
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		*dst = false
		p.i += 5
	default:
		return errFieldsSlow
	}
	return nil
}

// skip passes over one value of any kind.
func (p *fieldParser) skip() error {
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			if err := p.skipString(); err != nil {
				return err
			}
			if depth == 0 {
				return nil
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return nil // the end of the enclosing object: an empty value
			}
			depth--
			if depth == 0 {
				p.i++
				return nil
			}
		case ',':
			if depth == 0 {
				return nil
			}
		}
		p.i++
	}
	return errFieldsSlow
}

func (p *fieldParser) skipString() error {
	p.i++ // the opening quote
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '\\':
			p.i += 2
			continue
		case '"':
			p.i++
			return nil
		}
		p.i++
	}
	return errFieldsSlow
}
