package ledger

import (
	"bytes"
	"slices"
	"unicode/utf8"
)

// canonicalDetails writes the RFC 8785 (JCS) form of a details object for
// the common case, without the cost of jcs.Transform (which decodes into
// maps and floats): objects whose keys are ASCII without escapes, strings
// without escapes, integers of at most 15 digits, true, false and null,
// nested to any depth, with any white space between tokens. It reports
// false for anything else (a float, an escape, a non-ASCII key, a
// duplicate key, bad syntax), and the caller then uses jcs.Transform,
// which decides. For every input it accepts, its output equals
// jcs.Transform's (a fuzz test holds it to that).
func canonicalDetails(src []byte) ([]byte, bool) {
	c := canonicalizer{src: src}
	out, ok := c.value(make([]byte, 0, len(src)))
	if !ok {
		return nil, false
	}
	c.space()
	return out, c.i == len(src)
}

type canonicalizer struct {
	src []byte
	i   int
}

func (c *canonicalizer) space() {
	for c.i < len(c.src) {
		switch c.src[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// memberSpan is where one object member, "key":value, was written, from
// the object's '{': start at its opening quote, keyEnd at its closing
// quote, end after its value.
type memberSpan struct {
	start, keyEnd, end int
}

func (c *canonicalizer) value(dst []byte) ([]byte, bool) {
	c.space()
	if c.i >= len(c.src) {
		return nil, false
	}
	switch b := c.src[c.i]; {
	case b == '{':
		c.i++
		open := len(dst)
		dst = append(dst, '{')
		c.space()
		if c.i < len(c.src) && c.src[c.i] == '}' {
			c.i++
			return append(dst, '}'), true
		}
		// The members are written as they come, each as "key":value, and
		// where they end is noted. Keys already in order (most writers sort
		// them) need nothing more; otherwise the members are sorted by key
		// and written again from a copy.
		var (
			buf    [16]memberSpan
			spans  = buf[:0]
			prev   []byte
			sorted = true
		)
		for {
			c.space()
			key, ok := c.str(true)
			if !ok {
				return nil, false
			}
			c.space()
			if c.i >= len(c.src) || c.src[c.i] != ':' {
				return nil, false
			}
			c.i++
			if len(spans) > 0 {
				dst = append(dst, ',')
				if sorted && bytes.Compare(key, prev) <= 0 {
					sorted = false // out of order, or a duplicate
				}
			}
			prev = key
			start := len(dst)
			dst = append(dst, '"')
			dst = append(dst, key...)
			dst = append(dst, '"', ':')
			if dst, ok = c.value(dst); !ok {
				return nil, false
			}
			spans = append(spans, memberSpan{start - open, start + 1 + len(key) - open, len(dst) - open})
			c.space()
			if c.i >= len(c.src) {
				return nil, false
			}
			if c.src[c.i] == '}' {
				c.i++
				break
			}
			if c.src[c.i] != ',' {
				return nil, false
			}
			c.i++
		}
		if !sorted {
			// ASCII keys: byte order is JCS's UTF-16 order.
			obj := slices.Clone(dst[open:])
			key := func(m memberSpan) []byte { return obj[m.start+1 : m.keyEnd] }
			slices.SortFunc(spans, func(a, b memberSpan) int { return bytes.Compare(key(a), key(b)) })
			dst = dst[:open+1]
			for j, m := range spans {
				if j > 0 {
					if bytes.Equal(key(m), key(spans[j-1])) {
						return nil, false // a duplicate: jcs decides
					}
					dst = append(dst, ',')
				}
				dst = append(dst, obj[m.start:m.end]...)
			}
		}
		return append(dst, '}'), true
	case b == '[':
		c.i++
		dst = append(dst, '[')
		c.space()
		if c.i < len(c.src) && c.src[c.i] == ']' {
			c.i++
			return append(dst, ']'), true
		}
		for first := true; ; first = false {
			if !first {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = c.value(dst); !ok {
				return nil, false
			}
			c.space()
			if c.i >= len(c.src) {
				return nil, false
			}
			if c.src[c.i] == ']' {
				c.i++
				return append(dst, ']'), true
			}
			if c.src[c.i] != ',' {
				return nil, false
			}
			c.i++
		}
	case b == '"':
		s, ok := c.str(false)
		if !ok {
			return nil, false
		}
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"'), true
	case b == '-' || b >= '0' && b <= '9':
		start := c.i
		if b == '-' {
			c.i++
		}
		digits := c.i
		for c.i < len(c.src) && c.src[c.i] >= '0' && c.src[c.i] <= '9' {
			c.i++
		}
		n := c.i - digits
		switch {
		case n == 0 || n > 15:
			return nil, false
		case c.src[digits] == '0' && (n > 1 || b == '-'): // 012, -0
			return nil, false
		case c.i < len(c.src) && (c.src[c.i] == '.' || c.src[c.i] == 'e' || c.src[c.i] == 'E'):
			return nil, false // a float: jcs writes it
		}
		return append(dst, c.src[start:c.i]...), true
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(c.src[c.i:], []byte(lit)) {
				c.i += len(lit)
				return append(dst, lit...), true
			}
		}
		return nil, false
	}
}

// str reads a string without escapes or control characters, valid UTF-8
// (ASCII only when key), and returns its contents.
func (c *canonicalizer) str(key bool) ([]byte, bool) {
	if c.i >= len(c.src) || c.src[c.i] != '"' {
		return nil, false
	}
	c.i++
	start := c.i
	ascii := true
	for c.i < len(c.src) {
		b := c.src[c.i]
		switch {
		case b == '"':
			s := c.src[start:c.i]
			c.i++
			if !ascii && (key || !utf8.Valid(s)) {
				return nil, false
			}
			return s, true
		case b == '\\' || b < 0x20:
			return nil, false
		case b >= 0x80:
			ascii = false
		}
		c.i++
	}
	return nil, false
}
