package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// planMaxValues is the most values a prefix term may expand to; past it
// the term only filters (counting its postings would cost too much).
const planMaxValues = 4096

// SearchStats say how Search found its answer.
type SearchStats struct {
	// Bound is the log size the search was bounded by.
	Bound uint64
	// Indexed is the size below which the field indexes were used; the
	// entries from Indexed to Bound were scanned.
	Indexed uint64
	// Plan describes the indexes read, most selective first, and the
	// terms left to filter; "scan" when no index applied.
	Plan string
	// Examined is how many entries were read and matched against the
	// query: the indexes' candidates plus the scanned tail.
	Examined int
	// Exact is how many of the Examined were passed on without parsing
	// their entry, because the plan's indexes answer every term exactly
	// for them (see exactTerm and the time zones).
	Exact int
}

// Search calls fn with each committed entry that q matches, in index order
// (or reverse, with opts.Desc), starting at opts.From and bounded like
// Scan, until fn returns false or an error. Where the query has a term an
// index can answer, it reads only the candidates the indexes give (the
// planner joins the most selective indexes and the time zones, and leaves
// dense ones to filter); the entries the indexer has not reached yet are
// scanned. A candidate's entry is parsed and matched unless the indexes
// answer every term exactly for it (SearchStats.Exact); either way the
// answer is exactly Scan's filtered by q.Match. The index store is bound to
// the log it was built from (its mark holds a chain hash), so that it is
// never trusted for another log's entries. A redacted entry matches only a
// query with no terms. fn may be slow; no lock is held between calls.
func (l *Ledger) Search(ctx context.Context, logID string, q *Query, opts ScanOptions, fn func(r *Record) (bool, error)) (SearchStats, error) {
	var stats SearchStats
	lg, st, release, err := l.reader(logID)
	if err != nil {
		return stats, err
	}
	defer release()
	stats.Bound = st.size
	if opts.Bound != 0 && opts.Bound < stats.Bound {
		stats.Bound = opts.Bound
	}
	bound := stats.Bound
	if bound == 0 {
		stats.Plan = "empty"
		return stats, nil
	}
	// [lo, hi): the indexes to visit.
	lo, hi := uint64(0), bound
	if opts.Desc {
		if opts.From < bound {
			hi = opts.From + 1
		}
	} else {
		lo = min(opts.From, bound)
	}
	if q == nil {
		q = &Query{}
	}
	match := func(r *Record, certain bool) (bool, error) {
		stats.Examined++
		if len(q.Terms) == 0 {
			return fn(r)
		}
		if r.Redacted() {
			return true, nil
		}
		if certain {
			// The indexes say it matches, and they are exact for this
			// plan: no need to parse the entry (exports need not at all).
			stats.Exact++
			return fn(r)
		}
		en, err := r.Entry()
		if err != nil || !q.Match(en) {
			return true, nil // a damaged entry is verify's business
		}
		return fn(r)
	}

	filter := func(r *Record) (bool, error) { return match(r, false) }

	var p *plan
	if l.index != nil && len(q.Terms) > 0 {
		stats.Indexed = min(lg.indexed.Load(), bound)
		p, err = l.newPlan(lg, q, stats.Indexed, opts.Desc)
		if err != nil {
			return stats, err
		}
		defer p.close()
	}
	if p == nil || len(p.sources) == 0 {
		stats.Indexed = 0
		stats.Plan = "scan"
		if p != nil {
			stats.Plan = p.describe()
		}
		_, err := l.scanRange(ctx, l.db, lg, lo, hi, opts, filter)
		return stats, err
	}
	stats.Plan = p.describe()
	mark := stats.Indexed
	// Ascending: the indexed part, then the tail. Descending: the reverse.
	tail := func() (bool, error) {
		if hi <= max(lo, mark) {
			return true, nil
		}
		return l.scanRange(ctx, l.db, lg, max(lo, mark), hi, opts, filter)
	}
	if opts.Desc {
		if more, err := tail(); err != nil || !more {
			return stats, err
		}
	}
	if lo < min(hi, mark) {
		more, err := l.joinRange(ctx, lg, p, lo, min(hi, mark), opts, match)
		if err != nil || !more {
			return stats, err
		}
	}
	if !opts.Desc {
		_, err = tail()
	}
	return stats, err
}

// joinStepEntries is how far ahead (in entries, about one key each) the
// next candidate may be for joinRange to step to it rather than seek.
const joinStepEntries = 32

// joinRange visits the candidates of plan p in [lo, hi): the indexes every
// source holds (a leapfrog join), reading each entry.
//
// fn is told whether the candidate certainly matches: when the plan is
// exact (plan.exact) and, with a time bound, the candidate's whole zone
// block lies inside it.
func (l *Ledger) joinRange(ctx context.Context, lg *logHandle, p *plan, lo, hi uint64, opts ScanOptions, fn func(*Record, bool) (bool, error)) (bool, error) {
	desc := opts.Desc
	iter, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: entryKey(nil, lg.num, lo, 0),
		UpperBound: entryKey(nil, lg.num, hi, 0),
	})
	if err != nil {
		return false, err
	}
	defer iter.Close()
	x := lo
	if desc {
		x = hi - 1
	}
	hc := newHashCursor(l.db, lg.num)
	defer hc.close()
	var (
		key   []byte
		spare Record // reused when opts.Transient
		buf   []byte
	)
	for n := 0; ; n++ {
		if n%1024 == 1023 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		// Move x to the next index that every source holds.
		for i := 0; i < len(p.sources); {
			y, ok, err := p.sources[i].seek(x)
			if err != nil {
				return false, err
			}
			if !ok || (!desc && y >= hi) || (desc && y < lo) {
				return true, nil
			}
			if y != x {
				x, i = y, 0
				continue
			}
			i++
		}
		rec := &spare
		if opts.Transient {
			spare = Record{Index: x}
		} else {
			rec = &Record{Index: x}
		}
		// Ascending, the iterator stands just past the last entry read:
		// when x is near, step to it (Next is far cheaper than a seek, which
		// starts again from the top of the LSM).
		ok := false
		for steps := 0; !desc && iter.Valid() && steps < 2*joinStepEntries; steps++ {
			idx, _, good := parseEntryKey(iter.Key())
			if !good || idx > x {
				break
			}
			if idx == x {
				ok = true
				break
			}
			iter.Next()
		}
		if !ok {
			key = entryKey(key[:0], lg.num, x, 0)
			ok = iter.SeekGE(key)
		}
		for ; ok; ok = iter.Next() {
			idx, kind, good := parseEntryKey(iter.Key())
			if !good || idx != x {
				break
			}
			takeEntryKey(iter, idx, kind, hc, rec, opts.Transient, &buf)
		}
		if err := iter.Error(); err != nil {
			return false, fmt.Errorf("couldn't read entry %d of log %q: %w", x, lg.id, err)
		}
		if h, err := hc.find(x); err == nil {
			rec.LeafHash, rec.ChainHash, rec.ReceivedAtNanos = h.leafHash, h.chainHash, h.receivedAt
		} else if !errors.Is(err, errNoHashRecord) {
			return false, fmt.Errorf("entry %d of log %q: %w", x, lg.id, err)
		}
		certain := p.exact && (p.zone == nil || p.zone.blkInside)
		if more, err := fn(rec, certain); err != nil || !more {
			return false, err
		}
		if desc {
			if x == lo {
				return true, nil
			}
			x--
		} else {
			if x++; x >= hi {
				return true, nil
			}
		}
	}
}

// A source is one index's candidates for a query, below the log's indexed
// mark. seek returns the first index the source holds at or past x in the
// plan's direction (≥ x ascending, ≤ x descending); ok is false when there
// is none. Sources are used by one goroutine.
type source interface {
	seek(x uint64) (y uint64, ok bool, err error)
	close() error
}

// plan is the sources a search joins, most selective first.
type plan struct {
	sources []source
	notes   []string // what each source reads, then what is left to filter
	filters []string
	// exact is true when every term of the query is answered exactly by a
	// source (exactTerm), so that only a time bound may need checking.
	exact bool
	zone  *zoneSource // the since/until source, or nil
}

func (p *plan) describe() string {
	s := strings.Join(p.notes, " ∩ ")
	if s == "" {
		s = "scan"
	}
	if len(p.filters) > 0 {
		s += "; filter " + strings.Join(p.filters, " ")
	}
	return s
}

func (p *plan) close() {
	for _, s := range p.sources {
		s.close()
	}
}

// newPlan picks the sources for q over [0, mark). A term becomes a source
// when an index can answer it (Term.IndexLookup) and its postings are at
// most half the indexed entries; denser terms, negations and the rest are
// left to Query.Match. since and until become one zone source. Sources are
// ordered by their posting counts, smallest first.
func (l *Ledger) newPlan(lg *logHandle, q *Query, mark uint64, desc bool) (*plan, error) {
	p := &plan{}
	if mark == 0 {
		for _, t := range q.Terms {
			p.filters = append(p.filters, t.String())
		}
		return p, nil
	}
	type cand struct {
		src   source
		count uint64
		note  string
	}
	var cands []cand
	var since, until *time.Time
	p.exact = true
	for _, t := range q.Terms {
		switch {
		case t.Key == "since" && !t.Negate:
			if since == nil || t.Time.After(*since) {
				since = &t.Time
			}
			continue
		case t.Key == "until" && !t.Negate:
			if until == nil || t.Time.Before(*until) {
				until = &t.Time
			}
			continue
		}
		field, values, exact := t.IndexLookup()
		fb, ok := indexFields[field]
		if !ok {
			p.filters = append(p.filters, t.String())
			p.exact = false
			continue
		}
		src, count, err := l.termSource(lg, fb, values, exact, mark, desc)
		if err != nil {
			p.close()
			for _, c := range cands {
				c.src.close()
			}
			return nil, err
		}
		if src == nil || count > mark/2 {
			if src != nil {
				src.close()
			}
			p.filters = append(p.filters, t.String())
			p.exact = false
			continue
		}
		if !exactTerm(t) {
			p.exact = false
		}
		cands = append(cands, cand{src, count, fmt.Sprintf("%s (%d)", t.String(), count)})
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.count < b.count:
			return -1
		case a.count > b.count:
			return 1
		}
		return 0
	})
	for _, c := range cands {
		p.sources = append(p.sources, c.src)
		p.notes = append(p.notes, c.note)
	}
	if since != nil || until != nil {
		z := &zoneSource{num: lg.num, desc: desc, min: minTime, max: maxTime}
		if since != nil {
			z.min = since.UnixNano()
		}
		if until != nil {
			z.max = until.UnixNano() // exclusive
		}
		if err := l.openZones(lg, z, mark); err != nil {
			p.close()
			return nil, err
		}
		p.zone = z
		p.sources = append(p.sources, z)
		p.notes = append(p.notes, "time zones")
	}
	return p, nil
}

// exactTerm reports whether the postings of t (a term that has a source)
// are exactly the entries t matches, not a superset: an uncut value of a
// field whose postings hold only that field's value (Entry.IndexValues and
// Term.holds agree on category, action with its verb, result:failure and
// read_only:true). Actor and target share one field among several entry
// fields, emails are lowered, ip prefixes are textual: those candidates
// are read and matched.
func exactTerm(t Term) bool {
	if t.Negate || t.Prefix {
		return false
	}
	switch t.Key {
	case "category", "action":
		return len(t.Value) < maxIndexValue
	case "result":
		return t.Value == "failure"
	case "read_only":
		return t.Bool
	}
	return false
}

const (
	minTime = -1 << 63
	maxTime = 1<<63 - 1
)

// termSource builds the source of one indexable term: the posting blocks
// of its values, or of every value that starts with its prefix. It returns
// the number of postings it holds too (the planner's measure of cost), and
// a nil source when the term is better left to filter (a prefix of more
// than planMaxValues values).
func (l *Ledger) termSource(lg *logHandle, fb byte, values []string, exact bool, mark uint64, desc bool) (source, uint64, error) {
	// The index store and the open block together, under the open block's
	// lock: a seal moves a block from one to the other.
	ob := &lg.open
	ob.mu.RLock()
	defer ob.mu.RUnlock()
	s := &blockSource{l: l, ob: ob, num: lg.num, field: fb, desc: desc, last: (mark - 1) / postingBlock, fresh: ob.from / postingBlock}
	memBlk, inMem := ob.memBlock()
	var total uint64
	seen := map[string]bool{}
	for _, v := range values {
		if exact {
			enc := appendIndexValue(nil, v, true)
			if seen[string(enc)] {
				continue
			}
			seen[string(enc)] = true
			n, blocks, err := l.indexCount(fieldKey(nil, indexCounts, lg.num, fb, v, true))
			if err != nil {
				return nil, 0, err
			}
			if m := ob.count(append([]byte{fb}, enc...)); m > 0 && inMem {
				blocks = setBitmapBit(blocks, memBlk)
				n += m
			}
			if n > 0 {
				s.exact = append(s.exact, enc)
				s.addBlocks(blocks)
				total += n
			}
			continue
		}
		// A prefix: as many postings as its values have together.
		enc := appendIndexValue(nil, v, false)
		m, n := ob.prefixCount(fb, enc)
		if m > 0 && inMem {
			s.addBlocks(setBitmapBit(nil, memBlk))
			total += m
		}
		lower := fieldKey(nil, indexCounts, lg.num, fb, v, false)
		it, err := l.index.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upperBound(lower)})
		if err != nil {
			return nil, 0, err
		}
		for ok := it.First(); ok; ok = it.Next() {
			if n++; n > planMaxValues {
				it.Close()
				return nil, 0, nil
			}
			if c, blocks, ok := decodeCount(it.Value()); ok {
				total += c
				s.addBlocks(blocks)
			}
		}
		if err := it.Close(); err != nil {
			return nil, 0, err
		}
		if n > 0 {
			s.prefixes = append(s.prefixes, enc)
		}
	}
	if len(s.exact) == 0 && len(s.prefixes) == 0 {
		return emptySource{}, 0, nil
	}
	return s, total, nil
}

// blockSource reads the postings of some values of one field, or of the
// values that start with some prefixes, one posting block at a time: it
// holds the union of their offsets in the block it stands on.
type blockSource struct {
	l        *Ledger
	ob       *openBlock
	num      uint32
	field    byte
	exact    [][]byte // encoded values, terminated: one Get per block each
	prefixes [][]byte // encoded prefixes: one key range per block each
	desc     bool
	last     uint64           // the last block below the mark
	fresh    uint64           // the first block the open block held, or might have, at plan time
	blocks   []byte           // the bitmap of the blocks that hold any of the values (decodeCount)
	iter     *pebble.Iterator // for prefixes; opened on first use
	key      []byte
	blk      uint64
	loaded   bool
	offs     []uint16 // the block's offsets, ascending, distinct
}

// addBlocks adds a value's block bitmap to the source's.
func (s *blockSource) addBlocks(b []byte) {
	if len(s.blocks) < len(b) {
		s.blocks = append(s.blocks, make([]byte, len(b)-len(s.blocks))...)
	}
	for i, x := range b {
		s.blocks[i] |= x
	}
}

// holds reports whether block blk may hold postings of the source's
// values.
func (s *blockSource) holds(blk uint64) bool {
	i := blk / 8
	return i < uint64(len(s.blocks)) && s.blocks[i]&(1<<(blk%8)) != 0
}

// load reads block blk's postings into s.offs. A block from s.fresh on
// may have changed since the plan (entries gathered, spilled, sealed): it
// is read from the open block and the index store together, under the open
// block's lock, and from the store as it is now, not from the source's
// iterator, which saw it as it was when opened.
func (s *blockSource) load(blk uint64) error {
	s.offs, s.blk, s.loaded = s.offs[:0], blk, true
	parts := 0
	if blk >= s.fresh {
		s.ob.mu.RLock()
		defer s.ob.mu.RUnlock()
		if b, ok := s.ob.memBlock(); ok && b == blk {
			var n int
			s.offs, n = s.ob.appendPostings(s.offs, s.field, s.exact, s.prefixes)
			parts += n
		}
	}
	add := func(v []byte) {
		for i := 0; i+1 < len(v); i += 2 {
			s.offs = append(s.offs, binary.BigEndian.Uint16(v[i:]))
		}
		parts++
	}
	for _, enc := range s.exact {
		s.key = append(postingKey(s.key[:0], s.num, blk, s.field, "", false), enc...)
		v, closer, err := s.l.index.Get(s.key)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("couldn't read an index: %w", err)
		}
		add(v)
		closer.Close()
	}
	if len(s.prefixes) > 0 {
		it := s.iter
		if blk >= s.fresh || it == nil {
			lower := postingKey(nil, s.num, 0, 0, "", false)[:5]
			var err error
			if it, err = s.l.index.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upperBound(lower)}); err != nil {
				return err
			}
			if blk >= s.fresh {
				defer it.Close()
			} else {
				s.iter = it
			}
		}
		for _, pfx := range s.prefixes {
			s.key = append(postingKey(s.key[:0], s.num, blk, s.field, "", false), pfx...)
			for ok := it.SeekGE(s.key); ok && bytes.HasPrefix(it.Key(), s.key); ok = it.Next() {
				add(it.Value())
			}
			if err := it.Error(); err != nil {
				return fmt.Errorf("couldn't read an index: %w", err)
			}
		}
	}
	// Several lists (values, or the open block and the store while a seal
	// is under way), or one out of order (no path writes one; a defence):
	// sorted and made distinct.
	if parts > 1 || !isStrictlyAscending(s.offs) {
		slices.Sort(s.offs)
		s.offs = slices.Compact(s.offs)
	}
	return nil
}

// isStrictlyAscending reports whether each offset is greater than the one
// before it.
func isStrictlyAscending(offs []uint16) bool {
	for i := 1; i < len(offs); i++ {
		if offs[i] <= offs[i-1] {
			return false
		}
	}
	return true
}

func (s *blockSource) seek(x uint64) (uint64, bool, error) {
	for {
		blk := x / postingBlock
		if blk > s.last {
			if !s.desc {
				return 0, false, nil
			}
			blk, x = s.last, s.last*postingBlock+postingBlock-1
		}
		if !s.holds(blk) {
			// None of the values is in this block: on to the next one that
			// holds any, without reading.
			if !s.desc {
				x = (blk + 1) * postingBlock
			} else if blk == 0 {
				return 0, false, nil
			} else {
				x = blk*postingBlock - 1
			}
			continue
		}
		if !s.loaded || s.blk != blk {
			if err := s.load(blk); err != nil {
				return 0, false, err
			}
		}
		i, found := slices.BinarySearch(s.offs, uint16(x%postingBlock))
		switch {
		case found:
			return x, true, nil
		case !s.desc && i < len(s.offs):
			return blk*postingBlock + uint64(s.offs[i]), true, nil
		case s.desc && i > 0:
			return blk*postingBlock + uint64(s.offs[i-1]), true, nil
		case !s.desc:
			x = (blk + 1) * postingBlock
		case blk == 0:
			return 0, false, nil
		default:
			x = blk*postingBlock - 1
		}
	}
}

func (s *blockSource) close() error {
	if s.iter != nil {
		return s.iter.Close()
	}
	return nil
}

// emptySource holds nothing: a value no entry has.
type emptySource struct{}

func (emptySource) seek(uint64) (uint64, bool, error) { return 0, false, nil }
func (emptySource) close() error                      { return nil }

// zoneSource holds every index of the blocks whose time range meets
// [min, max): the candidates of since and until. The zones below memFirst
// are read from the index store (iter); those from memFirst on, which the
// open block holds or held when the plan was made, are a copy (mem).
type zoneSource struct {
	iter     *pebble.Iterator
	num      uint32
	desc     bool
	min, max int64 // max exclusive
	memFirst uint64
	mem      []zoneSlot // zones memFirst, memFirst+1, …
	// The block looked at last, whether it qualified and whether all of it
	// lies inside [min, max).
	blk       uint64
	blkOK     bool
	blkSet    bool
	blkInside bool
}

type zoneSlot struct {
	z  zone
	ok bool
}

// openZones sets z up for the zones below mark: an iterator over the index
// store's zones below the open block's first zone, and a copy of the open
// block's zones, merged with the store's record of the first one (which a
// spill may have written part of), taken together under the open block's
// lock.
func (l *Ledger) openZones(lg *logHandle, z *zoneSource, mark uint64) error {
	ob := &lg.open
	ob.mu.RLock()
	defer ob.mu.RUnlock()
	z.memFirst = ob.from / zoneBlock
	it, err := l.index.NewIter(&pebble.IterOptions{
		LowerBound: zoneKey(lg.num, 0),
		UpperBound: zoneKey(lg.num, z.memFirst),
	})
	if err != nil {
		return err
	}
	z.iter = it
	if mark <= z.memFirst*zoneBlock {
		return nil
	}
	z.mem = make([]zoneSlot, (mark-1)/zoneBlock+1-z.memFirst)
	v, closer, err := l.index.Get(zoneKey(lg.num, z.memFirst))
	switch {
	case err == nil:
		if zn, ok := decodeZone(v); ok {
			z.mem[0] = zoneSlot{zn, true}
		}
		closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		it.Close()
		z.iter = nil
		return fmt.Errorf("couldn't read the time zones: %w", err)
	}
	if ob.w != nil {
		for b, zn := range ob.w.zones {
			if b < z.memFirst || b-z.memFirst >= uint64(len(z.mem)) {
				continue
			}
			if sl := &z.mem[b-z.memFirst]; sl.ok {
				sl.z = zone{min(sl.z.min, zn.min), max(sl.z.max, zn.max)}
			} else {
				*sl = zoneSlot{zn, true}
			}
		}
	}
	return nil
}

func (z *zoneSource) qualifies(zn zone) (meets, inside bool) {
	return zn.max >= z.min && zn.min < z.max, zn.min >= z.min && zn.max < z.max
}

// hit records that zone block b qualifies, and returns the index to go to
// from x: x itself in its own block, else b's first (ascending) or last
// (descending) index.
func (z *zoneSource) hit(b uint64, inside bool, x uint64) uint64 {
	z.blk, z.blkOK, z.blkSet, z.blkInside = b, true, true, inside
	switch {
	case b == x/zoneBlock:
		return x
	case z.desc:
		return b*zoneBlock + zoneBlock - 1
	}
	return b * zoneBlock
}

// memSeek looks for a qualifying zone in mem from block blk on, in the
// source's direction.
func (z *zoneSource) memSeek(blk, x uint64) (uint64, bool) {
	end := z.memFirst + uint64(len(z.mem))
	if !z.desc {
		for b := max(blk, z.memFirst); b < end; b++ {
			if sl := z.mem[b-z.memFirst]; sl.ok {
				if meets, inside := z.qualifies(sl.z); meets {
					return z.hit(b, inside, x), true
				}
			}
		}
		return 0, false
	}
	if end == 0 {
		return 0, false
	}
	for b := min(blk, end-1); b >= z.memFirst; b-- {
		if sl := z.mem[b-z.memFirst]; sl.ok {
			if meets, inside := z.qualifies(sl.z); meets {
				return z.hit(b, inside, x), true
			}
		}
		if b == 0 {
			break
		}
	}
	return 0, false
}

// storeSeek looks for a qualifying zone in the index store from block blk
// on (below memFirst), in the source's direction.
func (z *zoneSource) storeSeek(blk, x uint64) (uint64, bool, error) {
	var ok bool
	if z.desc {
		ok = z.iter.SeekLT(zoneKey(z.num, min(blk+1, z.memFirst)))
	} else {
		ok = z.iter.SeekGE(zoneKey(z.num, blk))
	}
	for ; ok; ok = z.next() {
		k := z.iter.Key()
		if len(k) != 13 {
			continue
		}
		zn, good := decodeZone(z.iter.Value())
		if !good {
			continue
		}
		if meets, inside := z.qualifies(zn); meets {
			return z.hit(binary.BigEndian.Uint64(k[5:]), inside, x), true, nil
		}
	}
	if err := z.iter.Error(); err != nil {
		return 0, false, fmt.Errorf("couldn't read the time zones: %w", err)
	}
	return 0, false, nil
}

func (z *zoneSource) seek(x uint64) (uint64, bool, error) {
	blk := x / zoneBlock
	if z.blkSet && blk == z.blk && z.blkOK {
		return x, true, nil
	}
	if !z.desc {
		if blk < z.memFirst {
			if y, ok, err := z.storeSeek(blk, x); err != nil || ok {
				return y, ok, err
			}
		}
		y, ok := z.memSeek(blk, x)
		return y, ok, nil
	}
	if blk >= z.memFirst {
		if y, ok := z.memSeek(blk, x); ok {
			return y, true, nil
		}
		if z.memFirst == 0 {
			return 0, false, nil
		}
		blk = z.memFirst - 1
	}
	return z.storeSeek(blk, x)
}

func (z *zoneSource) next() bool {
	if z.desc {
		return z.iter.Prev()
	}
	return z.iter.Next()
}

func (z *zoneSource) close() error { return z.iter.Close() }
