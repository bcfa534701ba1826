package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/auditledger/auditledger/proofs"
)

// This file is the export's fast path: a stored leaf transcoded straight
// into its CSV row, with no Entry and no string per field in between.
//
// AppendCSVLeaf must write exactly what AppendCSVEntry writes for
// ParseStoredEntry(leaf), or nothing at all. It reaches that certainty by
// taking only leaves whose every value it reads the way ParseStoredEntry's
// fast reader (fastEntryFields) does, and returning false for the rest:
//   - Members in RFC 8785 order (strictly increasing names, so no name
//     twice), no white space, no name it does not know, an actor object,
//     received_at and v:1 present, category not empty. fastEntryFields
//     takes members in any order, the last of a repeated name winning; a
//     leaf this ledger wrote never needs that, so it is left to it.
//   - Strings with no raw control character, valid UTF-8, and escapes that
//     encoding/json (which fastEntryFields decodes escaped strings with)
//     decodes to exactly what we do: \" \\ \/ \b \f \n \r \t and \uXXXX,
//     a surrogate pair only as a high then a low half. A lone surrogate or
//     bytes that are not UTF-8 (which encoding/json turns into U+FFFD) are
//     left to the slow path.
//   - Times in the form YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z, a real date and
//     clock (no leap second): time.Parse reads those as the UTC instant
//     they spell, and RFC3339Nano writes it back as the same text with the
//     fraction's trailing zeros dropped (and no fraction when it is all
//     zeros), which is what we append. An offset (+01:00) is left to the
//     slow path. A received_at of the zero time.Time makes ParseStoredEntry
//     fail, so it is left too; a time of it is an empty cell, as
//     AppendCSVEntry writes a zero time.
//   - details an object with no white space outside its strings, its
//     strings as above. AppendCSVEntry writes such details as they are:
//     it compacts only details holding a space, tab, CR or LF; compacting
//     valid JSON drops only white space outside strings, of which there is
//     none; and invalid JSON is written as it is. Its end is found by
//     counting brackets outside strings, as fastEntryFields' skip does.
//   - log any string (not written); read_only true or false; ref 1 to 15
//     digits (fastEntryFields hands longer ones to ParseEntry).
//
// A nil leaf is a redacted entry, written as AppendCSVEntry writes a nil
// Entry.

// AppendCSVLeaf appends to dst the CSV record of the stored leaf at index
// with leafHash: the bytes that AppendCSVEntry(dst, index, leafHash, en)
// appends for en, _ := ParseStoredEntry(leaf), read from the leaf in one
// pass without building an Entry or allocating (beyond growing dst). A
// nil leaf is a redacted entry. When the leaf is not in a shape it reads
// with certainty (not canonical JSON as Entry.Leaf writes it, give or take
// a few forms it also handles), it returns dst unchanged and false, and
// the caller takes the slow path.
func AppendCSVLeaf(dst []byte, index uint64, leafHash proofs.Hash, leaf []byte) ([]byte, bool) {
	if leaf == nil {
		return AppendCSVEntry(dst, index, leafHash, nil), true
	}
	p := csvLeaf{b: leaf}
	if !p.parse() {
		return dst, false
	}
	dst = strconv.AppendUint(dst, index, 10)
	dst = append(dst, ',')
	dst = appendCSVLeafTime(dst, p.field(p.receivedAt))
	dst = append(dst, ',')
	if p.hasTime {
		dst = appendCSVLeafTime(dst, p.field(p.time))
	} else {
		dst = appendCSVLeafTime(dst, p.field(p.receivedAt))
	}
	dst = p.cell(dst, p.category)
	dst = p.cell(dst, p.action)
	for _, s := range p.actor {
		dst = p.cell(dst, s)
	}
	for _, s := range p.target {
		dst = p.cell(dst, s)
	}
	dst = p.cell(dst, p.ip)
	dst = p.cell(dst, p.userAgent)
	if p.result.start == p.result.end {
		dst = append(dst, ",success"...)
	} else {
		dst = p.cell(dst, p.result)
	}
	dst = append(dst, ',')
	dst = appendCSVDetails(dst, p.field(p.details))
	dst = append(dst, ',')
	dst = hex.AppendEncode(dst, leafHash[:])
	return append(dst, '\r', '\n'), true
}

// WriteLeaf writes the row of the stored leaf at index with leafHash, as
// AppendCSVLeaf builds it, through the writer's buffer: the same bytes as
// WriteEntry of ParseStoredEntry(leaf). It reports whether it handled the
// leaf; when it did not, it wrote nothing and the caller writes the row
// with WriteEntry. After an earlier error it writes nothing and returns
// that error.
func (cw *CSVWriter) WriteLeaf(index uint64, leafHash proofs.Hash, leaf []byte) (handled bool, err error) {
	if cw.err != nil {
		return false, cw.err
	}
	buf, ok := AppendCSVLeaf(cw.buf[:0], index, leafHash, leaf)
	if !ok {
		return false, nil
	}
	cw.buf = buf
	if _, err := cw.w.Write(cw.buf); err != nil {
		cw.err = fmt.Errorf("couldn't write CSV: %w", err)
	}
	return true, cw.err
}

// leafSpan is where a value lies in a leaf: for a string, the bytes between
// its quotes, whether they hold an escape, and (when they do not) a comma;
// for details, the whole object. The zero leafSpan is an empty (or absent)
// string.
type leafSpan struct {
	start, end     int
	escaped, comma bool
}

// csvLeaf reads one leaf (b) for AppendCSVLeaf: parse checks it and finds
// the values a row needs, then the row is written from them in column
// order.
type csvLeaf struct {
	b []byte
	i int // the next byte to read

	receivedAt, time                                 leafSpan
	hasTime, readOnly                                bool
	category, action, ip, userAgent, result, details leafSpan
	actor                                            [5]leafSpan // type, id, name, email, api_key_id: the columns' order
	target                                           [3]leafSpan // type, id, name
}

// The top-level members of a leaf, in their RFC 8785 order.
const (
	leafAction = iota
	leafActor
	leafCategory
	leafDetails
	leafIP
	leafLog
	leafReadOnly
	leafReceivedAt
	leafRef
	leafResult
	leafTarget
	leafTime
	leafUserAgent
	leafV
)

// The names of the members of a leaf, of its actor and of its target, as
// a canonical leaf writes them (quoted, with their colon), in their RFC 8785
// order; and the cell (of csvLeaf.actor or csvLeaf.target) that each of
// actor's and target's fills.
var (
	leafNames = leafNameList(
		`"action":`, `"actor":`, `"category":`, `"details":`, `"ip":`, `"log":`, `"read_only":`,
		`"received_at":`, `"ref":`, `"result":`, `"target":`, `"time":`, `"user_agent":`, `"v":`)
	leafActorNames  = leafNameList(`"api_key_id":`, `"email":`, `"id":`, `"name":`, `"type":`)
	leafActorCells  = [...]int{4, 3, 1, 2, 0}
	leafTargetNames = leafNameList(`"id":`, `"name":`, `"type":`)
	leafTargetCells = [...]int{1, 2, 0}
)

// leafName is a member's name, quoted and with its colon, made ready for
// comparing eight bytes at a time.
type leafName struct {
	s          string
	head, mask uint64 // the first 8 bytes of s as a little-endian word (padded with zeros), and its bytes' mask
	tail       uint64 // the last 8 bytes of s, when s is longer than 8
}

func leafNameList(names ...string) []leafName {
	list := make([]leafName, len(names))
	for i, s := range names {
		if len(s) > 16 {
			panic("ledger: leaf member name too long: " + s) // a broken invariant
		}
		var buf [8]byte
		copy(buf[:], s)
		n := &list[i]
		n.s, n.head, n.mask = s, binary.LittleEndian.Uint64(buf[:]), ^uint64(0)
		if len(s) < 8 {
			n.mask = 1<<(8*len(s)) - 1
		}
		if len(s) > 8 {
			n.tail = binary.LittleEndian.Uint64([]byte(s[len(s)-8:]))
		}
	}
	return list
}

// at reports whether b starts with the name.
func (n *leafName) at(b []byte) bool {
	if len(b) < 16 {
		return len(b) >= len(n.s) && string(b[:len(n.s)]) == n.s
	}
	return binary.LittleEndian.Uint64(b)&n.mask == n.head &&
		(len(n.s) <= 8 || binary.LittleEndian.Uint64(b[len(n.s)-8:]) == n.tail)
}

// parse reads the whole leaf and reports whether AppendCSVLeaf can write
// its row (see the rules at the top of this file). It writes nothing.
func (p *csvLeaf) parse() bool {
	if len(p.b) == 0 || p.b[0] != '{' {
		return false
	}
	p.i = 1
	var hasActor, hasReceivedAt, hasV bool
	for k := 0; ; k++ {
		// Members come in order, each at most once: the next one is one
		// of those after the last.
		if k = p.member(leafNames, k); k < 0 {
			return false
		}
		ok := false
		switch k {
		case leafAction:
			ok = p.str(&p.action)
		case leafActor:
			ok, hasActor = p.object(p.actor[:], leafActorNames, leafActorCells[:]), true
		case leafCategory:
			ok = p.str(&p.category)
		case leafDetails:
			ok = p.detailsObject()
		case leafIP:
			ok = p.str(&p.ip)
		case leafLog:
			var s leafSpan
			ok = p.str(&s)
		case leafReadOnly:
			if p.readOnly = p.literal("true"); p.readOnly {
				ok = true
			} else {
				ok = p.literal("false")
			}
		case leafReceivedAt:
			ok, hasReceivedAt = p.str(&p.receivedAt) && !p.receivedAt.escaped, true
			ok = ok && checkLeafTime(p.field(p.receivedAt)) && !isZeroLeafTime(p.field(p.receivedAt))
		case leafRef:
			ok = p.digits(15)
		case leafResult:
			ok = p.str(&p.result)
		case leafTarget:
			ok = p.object(p.target[:], leafTargetNames, leafTargetCells[:])
		case leafTime:
			ok, p.hasTime = p.str(&p.time) && !p.time.escaped, true
			// Often the same as received_at (Entry.Leaf writes that when
			// the client gave no time), which was checked.
			ok = ok && (hasReceivedAt && string(p.field(p.time)) == string(p.field(p.receivedAt)) || checkLeafTime(p.field(p.time)))
		case leafUserAgent:
			ok = p.str(&p.userAgent)
		case leafV:
			ok, hasV = p.literal("1"), true
		}
		if !ok || p.i >= len(p.b) {
			return false
		}
		c := p.b[p.i]
		p.i++
		if c == '}' {
			break
		}
		if c != ',' {
			return false
		}
	}
	return p.i == len(p.b) && hasActor && hasReceivedAt && hasV && p.category.end > p.category.start
}

// member reads a member's name and colon, which must be one of names[from:]
// exactly, and returns its index in names, or -1.
func (p *csvLeaf) member(names []leafName, from int) int {
	b := p.b[p.i:]
	for k := from; k < len(names); k++ {
		if names[k].at(b) {
			p.i += len(names[k].s)
			return k
		}
	}
	return -1
}

// object reads an object of string members (actor or target): each of
// names at most once, in that order; the value of names[k] goes to
// cells[at[k]].
func (p *csvLeaf) object(cells []leafSpan, names []leafName, at []int) bool {
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return false
	}
	p.i++
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return true
	}
	for k := 0; ; k++ {
		if k = p.member(names, k); k < 0 || !p.str(&cells[at[k]]) || p.i >= len(p.b) {
			return false
		}
		c := p.b[p.i]
		p.i++
		if c == '}' {
			return true
		}
		if c != ',' {
			return false
		}
	}
}

// str reads a string value into s.
func (p *csvLeaf) str(s *leafSpan) bool {
	end, escaped, comma, ok := scanLeafString(p.b, p.i)
	if !ok {
		return false
	}
	*s = leafSpan{start: p.i + 1, end: end, escaped: escaped, comma: comma}
	p.i = end + 1
	return true
}

// literal reads lit.
func (p *csvLeaf) literal(lit string) bool {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return false
	}
	p.i += len(lit)
	return true
}

// digits reads 1 to max decimal digits.
func (p *csvLeaf) digits(max int) bool {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		if n++; n > max {
			return false
		}
	}
	return n > 0
}

// detailsObject reads details: an object, with no white space outside its
// strings and only the bytes of JSON's punctuation, numbers and literals
// there, its strings as scanLeafString takes them. The object ends where
// its brackets balance. That it is valid JSON is not checked: if it is not,
// AppendCSVEntry writes it as it is too.
func (p *csvLeaf) detailsObject() bool {
	b := p.b
	if p.i >= len(b) || b[p.i] != '{' {
		return false
	}
	start, depth := p.i, 0
	for i := p.i; i < len(b); {
		switch b[i] {
		case '{', '[':
			depth++
			i++
		case '}', ']':
			depth--
			i++
			if depth == 0 {
				p.details = leafSpan{start: start, end: i}
				p.i = i
				return true
			}
		case '"':
			end, _, _, ok := scanLeafString(b, i)
			if !ok {
				return false
			}
			i = end + 1
		case ',', ':', '-', '+', '.', 'e', 'E', 't', 'r', 'u', 'f', 'a', 'l', 's', 'n',
			'0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			i++
		default:
			return false
		}
	}
	return false
}

// field returns the bytes of s in the leaf.
func (p *csvLeaf) field(s leafSpan) []byte {
	return p.b[s.start:s.end]
}

// cell appends a comma and the cell of string s, as AppendCSVEntry's cell
// does for its decoded value (appendCSVCell).
func (p *csvLeaf) cell(dst []byte, s leafSpan) []byte {
	dst = append(dst, ',')
	if s.start == s.end {
		return dst
	}
	if s.escaped {
		return appendCSVEscapedCell(dst, p.field(s))
	}
	// Without an escape the string holds no quote, CR or LF (scanLeafString
	// takes no raw control character): only a comma, or a leading space
	// where no guard goes first, calls for quotes, and there are no quotes
	// to double.
	raw := p.field(s)
	guard := false
	switch raw[0] {
	case '=', '+', '-', '@', '\t', '\r':
		guard = true
	}
	quote := s.comma || !guard && raw[0] == ' '
	if quote {
		dst = append(dst, '"')
	}
	if guard {
		dst = append(dst, '\'')
	}
	dst = append(dst, raw...)
	if quote {
		dst = append(dst, '"')
	}
	return dst
}

// appendCSVDetails appends the cell of details d, which detailsObject
// took, as appendCSVCell writes it: d starts with '{' (no guard) and holds
// no raw CR or LF, so it is quoted when it holds a quote or a comma, with
// its quotes doubled.
func appendCSVDetails(dst, d []byte) []byte {
	quotes := bytes.Count(d, []byte{'"'})
	if quotes == 0 && bytes.IndexByte(d, ',') < 0 {
		return append(dst, d...)
	}
	w := len(dst)
	dst = slices.Grow(dst, len(d)+quotes+2)[:w+len(d)+quotes+2]
	out := dst[w+1 : len(dst)-1]
	dst[w], dst[len(dst)-1] = '"', '"'
	w = 0
	for _, c := range d {
		out[w] = c
		w++
		if c == '"' {
			out[w] = '"'
			w++
		}
	}
	return dst
}

// scanLeafString checks the JSON string whose opening quote is at b[i]
// and returns the offset of its closing quote, whether it holds an escape,
// and whether it holds a raw comma. ok is false unless it is a string that
// encoding/json decodes as appendLeafUnescaped does: no raw control
// character, valid UTF-8, and only \" \\ \/ \b \f \n \r \t and \uXXXX
// escapes, a surrogate only as the high half of a pair followed by its low
// half.
func scanLeafString(b []byte, i int) (end int, escaped, comma, ok bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	if i >= len(b) || b[i] != '"' {
		return 0, false, false, false
	}
	i++
	for {
		// Eight bytes at a time up to the next byte that is a control
		// character, a quote, a backslash or not ASCII, noting a comma
		// before it. The masks flag their lowest matching byte exactly
		// (a borrow only runs up from a byte that matches), so that
		// byte's offset is the first special one, and a comma flagged
		// below it is a real one.
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			x := w ^ ones*','
			commas := (x - ones) &^ x & highs
			special := leafSpecialBytes(w)
			if special == 0 {
				comma = comma || commas != 0
				i += 8
				continue
			}
			n := bits.TrailingZeros64(special) &^ 7 // the special byte's offset, in bits
			comma = comma || commas&(1<<n-1) != 0
			i += n / 8
			break
		}
		if i >= len(b) {
			return 0, false, false, false
		}
		switch c := b[i]; {
		case c == '"':
			return i, escaped, comma, true
		case c == '\\':
			n := leafEscapeLen(b[i:])
			if n == 0 {
				return 0, false, false, false
			}
			escaped = true
			i += n
		case c < 0x20:
			return 0, false, false, false
		case c < utf8.RuneSelf:
			// Only in the last eight bytes of b.
			comma = comma || c == ','
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, false, false, false
			}
			i += size
		}
	}
}

// leafSpecialBytes returns the high bits of the bytes of w that are a
// control character, '"', '\\' or not ASCII; the lowest one exactly
// (a higher one may be flagged wrongly after a control character).
func leafSpecialBytes(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := w ^ ones*'"'
	backslash := w ^ ones*'\\'
	return ((w-ones*0x20)&^w | (quote-ones)&^quote | (backslash-ones)&^backslash | w) & highs
}

// leafEscapeLen returns the length of the escape at the start of b (which
// is a backslash), or 0 if scanLeafString does not take it.
func leafEscapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		r, ok := eventHex4(b[2:])
		switch {
		case !ok:
			return 0
		case r < 0xd800 || r > 0xdfff:
			return 6
		case r >= 0xdc00:
			return 0 // a low half first
		}
		if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
			return 0
		}
		if r2, ok := eventHex4(b[8:]); !ok || r2 < 0xdc00 || r2 > 0xdfff {
			return 0
		}
		return 12
	}
	return 0
}

// appendLeafUnescaped appends the decoded bytes of s, the inside of a
// string that scanLeafString took.
func appendLeafUnescaped(dst, s []byte) []byte {
	for len(s) > 0 {
		j := bytes.IndexByte(s, '\\')
		if j < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:j]...)
		s = s[j:]
		n := 2
		switch e := s[1]; e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := eventHex4(s[2:])
			n = 6
			if utf16.IsSurrogate(r) {
				r2, _ := eventHex4(s[8:])
				r = utf16.DecodeRune(r, r2)
				n = 12
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
		s = s[n:]
	}
	return dst
}

// appendCSVEscapedCell appends the cell of the string whose escaped inside
// is s, as appendCSVCell writes the decoded string: it decodes s onto dst,
// then adds the guard and the quotes in place, moving the bytes up.
func appendCSVEscapedCell(dst, s []byte) []byte {
	mark := len(dst)
	dst = appendLeafUnescaped(dst, s)
	cell := dst[mark:]
	if len(cell) == 0 {
		return dst
	}
	guard := false
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		guard = true
	}
	quote := !guard && cell[0] == ' ' || bytes.ContainsAny(cell, "\",\r\n")
	extra := 0
	if guard {
		extra++
	}
	if quote {
		extra += 2 + bytes.Count(cell, []byte{'"'})
	}
	if extra == 0 {
		return dst
	}
	n := len(dst)
	dst = slices.Grow(dst, extra)[:n+extra]
	w := len(dst)
	if quote {
		w--
		dst[w] = '"'
	}
	for r := n - 1; r >= mark; r-- {
		c := dst[r]
		w--
		dst[w] = c
		if quote && c == '"' {
			w--
			dst[w] = '"'
		}
	}
	if guard {
		w--
		dst[w] = '\''
	}
	if quote {
		w--
		dst[w] = '"'
	}
	if w != mark {
		panic("ledger: appendCSVEscapedCell miscounted") // a broken invariant
	}
	return dst
}

// checkLeafTime reports whether s is a time of the form
// YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z with a real date and clock, one that
// time.Parse(time.RFC3339Nano, s) reads as the instant it spells.
func checkLeafTime(s []byte) bool {
	n := len(s)
	if n < len("2006-01-02T15:04:05Z") || n > len("2006-01-02T15:04:05.999999999Z") || s[n-1] != 'Z' {
		return false
	}
	// Three words, s[0:8], s[8:16] and s[11:19], each XORed with its form
	// ('0' for a digit): a separator must be 0 and a digit 0 to 9.
	const (
		form0, form1, form2      = "0000-00-", "00T00:00", "00:00:00"
		digits0                  = 0x00ffff00ffffffff // the digits of s[0:8]
		digits12                 = 0xffff00ffff00ffff // the digits of s[8:16] and of s[11:19]
		nibbles, sixes, sixteens = 0x0f0f0f0f0f0f0f0f, 0x0606060606060606, 0x1010101010101010
	)
	le := binary.LittleEndian
	x0 := le.Uint64(s[0:8]) ^ le.Uint64([]byte(form0))
	x1 := le.Uint64(s[8:16]) ^ le.Uint64([]byte(form1))
	x2 := le.Uint64(s[11:19]) ^ le.Uint64([]byte(form2))
	bad := x0&^(digits0&nibbles) | x1&^(digits12&nibbles) | x2&^(digits12&nibbles) |
		(x0+sixes&digits0)&(sixteens&digits0) | (x1+sixes&digits12)&(sixteens&digits12) | (x2+sixes&digits12)&(sixteens&digits12)
	if bad != 0 {
		return false
	}
	d := func(x uint64, k uint) int { return int(x >> (8 * k) & 0xf) }
	year := d(x0, 0)*1000 + d(x0, 1)*100 + d(x0, 2)*10 + d(x0, 3)
	month := d(x0, 5)*10 + d(x0, 6)
	day := d(x1, 0)*10 + d(x1, 1)
	if month == 0 || month > 12 || day == 0 || day > leafDaysIn(month, year) ||
		d(x1, 3)*10+d(x1, 4) > 23 || d(x1, 6) > 5 || d(x2, 6) > 5 {
		return false
	}
	if n == len("2006-01-02T15:04:05Z") {
		return true
	}
	if s[19] != '.' || n == len("2006-01-02T15:04:05.Z") {
		return false
	}
	for _, c := range s[20 : n-1] {
		if c-'0' > 9 {
			return false
		}
	}
	return true
}

// leafDaysIn returns the number of days in month of year (proleptic
// Gregorian, as package time counts them).
func leafDaysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// isZeroLeafTime reports whether s, which checkLeafTime took, is the zero
// time.Time: 0001-01-01T00:00:00Z, with or without a fraction of zeros.
func isZeroLeafTime(s []byte) bool {
	if string(s[:19]) != "0001-01-01T00:00:00" {
		return false
	}
	for _, c := range s[19 : len(s)-1] {
		if c != '.' && c != '0' {
			return false
		}
	}
	return true
}

// appendCSVLeafTime appends the time cell of s, which checkLeafTime took:
// what t.UTC().AppendFormat(dst, time.RFC3339Nano) writes for the time t
// that s spells, nothing for the zero time.
func appendCSVLeafTime(dst, s []byte) []byte {
	if isZeroLeafTime(s) {
		return dst
	}
	frac := s[19 : len(s)-1] // "" or '.' and 1 to 9 digits
	for len(frac) > 0 && (frac[len(frac)-1] == '0' || frac[len(frac)-1] == '.') {
		frac = frac[:len(frac)-1]
	}
	dst = append(dst, s[:19]...)
	dst = append(dst, frac...)
	return append(dst, 'Z')
}

// WriteRecord writes r's row: straight from the stored leaf (WriteLeaf)
// unless r was parsed already or the leaf is of a shape only the parser
// handles, else through WriteEntry. It reports false, writing nothing, for
// a payload that does not parse (damaged: Verify reports it; a CSV row has
// no cell for it).
func (cw *CSVWriter) WriteRecord(r *Record) (bool, error) {
	if r.entry == nil && r.Leaf != nil {
		if handled, err := cw.WriteLeaf(r.Index, r.LeafHash, r.Leaf); handled || err != nil {
			return true, err
		}
	}
	en, err := r.Entry()
	if err != nil {
		return false, nil
	}
	return true, cw.WriteEntry(r.Index, r.LeafHash, en)
}
