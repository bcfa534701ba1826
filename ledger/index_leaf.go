package ledger

import (
	"encoding/binary"
	"time"
	"unicode"
	"unicode/utf8"
)

// What the indexer needs of an entry is its query time and its indexed
// (field, value) pairs. It gets them in one of two ways, which must give
// exactly the same:
//   - for an entry just appended, from the appending caller, which
//     computes them from the event struct (request.buildFields calls
//     appendIndexFields) while the entry is committed, through the
//     committer's in-memory hand-off (fresh.go): the indexer only
//     decodes them (eachIndexField), without reading the leaf at all;
//   - for an entry read back from the store (after a restart, a rebuild,
//     or when the hand-off dropped it), from the stored leaf:
//     leafIndexFields, or, for a leaf that declines, ParseStoredEntry and
//     Entry.IndexValues.
//
// Both give each value in the same order, a value possibly twice (an
// actor's id, name and email may be equal); indexWriter.addValue cuts,
// escapes and de-duplicates, so the index does not depend on the path
// (FuzzBuildIndexFields and TestIndexFromBuildEqualsRebuild hold this).

// appendIndexFields appends to dst the indexer's reading of ev, stored
// with received_at ra (Unix ns): its query time (entryQueryTime) as 8
// bytes, little-endian, then, for each value leafIndexFields gives for the
// entry's leaf and in the same order, its field byte, its length (a
// uvarint) and its bytes, the actor's email lowercased as strings.ToLower
// does. It allocates nothing beyond growing dst. ev must be what the leaf
// was built from (Entry.AppendLeaf succeeded on it) and unchanged since.
func appendIndexFields(dst []byte, ev *Event, ra int64) []byte {
	qt := ra
	if ev.Time != nil {
		qt = ev.Time.UnixNano()
	}
	dst = binary.LittleEndian.AppendUint64(dst, uint64(qt))
	dst = appendIndexField(dst, 'c', ev.Category)
	dst = appendIndexField(dst, 'a', ev.Action)
	for i := len(ev.Action) - 1; i >= 0; i-- {
		if ev.Action[i] == ':' {
			dst = appendIndexField(dst, 'a', ev.Action[i+1:])
			break
		}
	}
	if a := ev.Actor; a != nil {
		dst = appendIndexField(dst, 'u', a.ID)
		dst = appendIndexField(dst, 'u', a.Name)
		if a.Email != "" {
			dst = appendLowerField(dst, 'u', a.Email)
		}
	}
	if tg := ev.Target; tg != nil {
		dst = appendIndexField(dst, 't', tg.ID)
		dst = appendIndexField(dst, 't', tg.Name)
	}
	dst = appendIndexField(dst, 'i', ev.IP)
	if ev.Result == "failure" {
		dst = appendIndexField(dst, 'r', ev.Result)
	}
	if ev.ReadOnly {
		dst = appendIndexField(dst, 'o', "true")
	}
	return dst
}

// appendIndexField appends one value of appendIndexFields' list, unless
// it is empty.
func appendIndexField(dst []byte, field byte, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, field)
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// appendLowerField is appendIndexField of strings.ToLower(v), v not empty.
func appendLowerField(dst []byte, field byte, v string) []byte {
	// Most emails are ASCII: copied, then lowercased in place in the
	// same pass that finds out.
	at := len(dst)
	dst = appendIndexField(dst, field, v)
	for i := len(dst) - len(v); i < len(dst); i++ {
		c := dst[i]
		if c >= utf8.RuneSelf {
			// strings.ToLower maps each rune with unicode.ToLower (an
			// invalid byte becoming U+FFFD), as strings.Map does; the
			// length may change.
			n := 0
			for _, r := range v {
				n += utf8.RuneLen(unicode.ToLower(r))
			}
			dst = append(dst[:at], field)
			dst = binary.AppendUvarint(dst, uint64(n))
			return appendLower(dst, v)
		}
		if 'A' <= c && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst
}

// appendLower appends strings.ToLower(s) to dst without allocating.
func appendLower(dst []byte, s string) []byte {
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			dst = append(dst, byte(r))
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

// eachIndexField calls fn with each field byte and value of a list that
// appendIndexFields wrote, in order, and returns its query time. It
// panics on a list appendIndexFields did not write (a broken internal
// invariant: the list never leaves the process).
func eachIndexField(fields []byte, fn func(field byte, value []byte)) (qt int64) {
	for i := 8; i < len(fields); {
		n, k := binary.Uvarint(fields[i+1:])
		end := i + 1 + k + int(n)
		fn(fields[i], fields[i+1+k:end])
		i = end
	}
	return int64(binary.LittleEndian.Uint64(fields))
}

// leafIndexFields reads what the indexer needs of a stored leaf without
// building an Entry: it calls fn with each field byte and value of
// Entry.IndexValues (a value may come twice), and returns the entry's query
// time (entryQueryTime) in Unix nanoseconds. It uses csvLeaf's parser; for
// a leaf that parser declines, or whose indexed strings hold an escape or
// an email that is not ASCII, it returns ok false without calling fn, and
// the indexer falls back to ParseStoredEntry. scratch is a buffer it may
// reuse. The indexer reads entries that came through the hand-off from
// their build instead (appendIndexFields).
func leafIndexFields(leaf []byte, scratch *[]byte, fn func(field byte, value []byte)) (qt int64, ok bool) {
	p := csvLeaf{b: leaf}
	if !p.parse() {
		return 0, false
	}
	const (
		actorID, actorName, actorEmail = 1, 2, 3
		targetID, targetName           = 1, 2
	)
	for _, s := range []leafSpan{p.category, p.action, p.actor[actorID], p.actor[actorName], p.actor[actorEmail],
		p.target[targetID], p.target[targetName], p.ip, p.result} {
		if s.escaped {
			return 0, false
		}
	}
	email := p.field(p.actor[actorEmail])
	for _, c := range email {
		if c >= 0x80 {
			return 0, false // strings.ToLower's Unicode rules: the slow path
		}
	}
	ts := p.receivedAt
	if p.hasTime {
		ts = p.time
	}
	qt = leafTimeNanos(p.field(ts))

	emit := func(field byte, v []byte) {
		if len(v) > 0 {
			fn(field, v)
		}
	}
	emit('c', p.field(p.category))
	action := p.field(p.action)
	emit('a', action)
	for i := len(action) - 1; i >= 0; i-- {
		if action[i] == ':' {
			emit('a', action[i+1:])
			break
		}
	}
	emit('u', p.field(p.actor[actorID]))
	emit('u', p.field(p.actor[actorName]))
	lower := append((*scratch)[:0], email...)
	for i, c := range lower {
		if 'A' <= c && c <= 'Z' {
			lower[i] = c + 'a' - 'A'
		}
	}
	*scratch = lower
	emit('u', lower)
	emit('t', p.field(p.target[targetID]))
	emit('t', p.field(p.target[targetName]))
	emit('i', p.field(p.ip))
	if string(p.field(p.result)) == "failure" {
		fn('r', p.field(p.result))
	}
	if p.readOnly {
		fn('o', []byte("true"))
	}
	return qt, true
}

// leafTimeNanos returns the Unix nanoseconds of a time that checkLeafTime
// accepted (YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z), as time.Parse would read it.
func leafTimeNanos(s []byte) int64 {
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			n = n*10 + int(c-'0')
		}
		return n
	}
	nanos := 0
	if len(s) > len("2006-01-02T15:04:05Z") {
		frac := s[20 : len(s)-1]
		nanos = num(frac)
		for i := len(frac); i < 9; i++ {
			nanos *= 10
		}
	}
	return time.Date(num(s[0:4]), time.Month(num(s[5:7])), num(s[8:10]),
		num(s[11:13]), num(s[14:16]), num(s[17:19]), nanos, time.UTC).UnixNano()
}
