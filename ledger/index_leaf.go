package ledger

import (
	"time"
)

// leafIndexFields reads what the indexer needs of a stored leaf without
// building an Entry: it calls fn with each field byte and value of
// Entry.IndexValues (a value may come twice), and returns the entry's query
// time (entryQueryTime) in Unix nanoseconds. It uses csvLeaf's parser; for
// a leaf that parser declines, or whose indexed strings hold an escape or
// an email that is not ASCII, it returns ok false without calling fn, and
// the indexer falls back to ParseStoredEntry. scratch is a buffer it may
// reuse.
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
