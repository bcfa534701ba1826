package ledger

// Witnesses (SPEC §6): a log's witness settings, the cosignatures the
// witnesses returned, and what the witness pusher (package witness) needs to
// learn of new checkpoints and settings. The pusher does the HTTP; this file
// only checks and stores.
//
// Keys, in the meta store (meta.go):
//
//	L <log#:4> W c <size:8> <witness name>   the cosignature line(s) of that witness on checkpoint size
//	L <log#:4> W s <witness name>            the largest checkpoint size that witness cosigned (uint64)
//
// Cosignatures are written without a sync: one lost in a crash is asked for
// again, since the pusher pushes until each witness cosigned the latest
// checkpoint, and a witness cosigns again a checkpoint it already holds.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

const (
	logWitness     = 'W'
	witnessCosig   = 'c'
	witnessSizeKey = 's'
	// cosignatureKeyType is the C2SP tlog-cosignature key type: Ed25519
	// timestamped cosignature v1.
	cosignatureKeyType = 0x04
	// MaxWitnesses bounds a log's witness list.
	MaxWitnesses = 32
)

// ErrBadCosignature is returned, wrapped, by AddCosignatures when no line it
// was given is a valid cosignature of that checkpoint by that witness.
var ErrBadCosignature = errors.New("bad cosignature")

// Witness is one witness of a log: where to push checkpoints and the key its
// cosignatures must verify with.
type Witness struct {
	// Name is the witness's name, which is its key's name.
	Name string `json:"name"`
	// URL is the witness's prefix; the pusher posts to URL + "/add-checkpoint".
	URL string `json:"url"`
	// Key is the witness's C2SP tlog-cosignature verifier key
	// ("name+hash+base64(0x04 || Ed25519 public key)").
	Key string `json:"key"`
}

// WitnessSettings are a log's witnesses and quorum, stored in its log record.
// Values are never changed once stored in a log; an update stores a new one.
type WitnessSettings struct {
	// List holds the log's witnesses; the pusher pushes each checkpoint to each.
	List []Witness `json:"list"`
	// Quorum is K: how many witnesses must cosign a checkpoint for it to
	// count as witnessed; 0 means 1 (see EffectiveQuorum).
	Quorum int `json:"quorum"`
}

// EffectiveQuorum returns K: the stored quorum, or 1 when it was never set.
func (s WitnessSettings) EffectiveQuorum() int {
	if s.Quorum < 1 {
		return 1
	}
	return s.Quorum
}

// ParseWitnessKey checks that vkey is a C2SP tlog-cosignature verifier key
// of type 0x04 (Ed25519, timestamped cosignature v1) and returns its
// verifier, which checks timestamped cosignatures over a checkpoint.
func ParseWitnessKey(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("a witness key is name+hash+base64 key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 {
		return nil, errors.New("the key is not 33 bytes of standard base64")
	}
	if raw[0] != cosignatureKeyType {
		return nil, fmt.Errorf("the key has type 0x%02x; a witness key is a tlog-cosignature key of type 0x04", raw[0])
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("couldn't parse the witness key: %w", err)
	}
	if h, err := strconv.ParseUint(parts[1], 16, 32); err != nil || uint32(h) != v.KeyHash() {
		return nil, errors.New("the key hash does not match the key")
	}
	return v, nil
}

// CheckWitnesses validates a witness list and quorum as SPEC §6 says: each
// URL an absolute http(s) URL, each key a type 0x04 cosignature key named
// like the witness, names unique, and 1 ≤ quorum ≤ len(ws); quorum 0 stands
// for the default, 1. It returns a *ValidationError naming the field
// ("witnesses[2].key", "witness_quorum").
func CheckWitnesses(ws []Witness, quorum int) error {
	bad := func(field, msg string) error {
		return &ValidationError{Field: field, Position: -1, Message: msg}
	}
	if len(ws) > MaxWitnesses {
		return bad("witnesses", fmt.Sprintf("at most %d witnesses", MaxWitnesses))
	}
	seen := map[string]bool{}
	for i, w := range ws {
		f := "witnesses[" + strconv.Itoa(i) + "]."
		if w.Name == "" {
			return bad(f+"name", "name is required")
		}
		if seen[w.Name] {
			return bad(f+"name", "witness "+strconv.Quote(w.Name)+" is listed twice")
		}
		seen[w.Name] = true
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return bad(f+"url", "url must be an absolute http or https URL without query or fragment")
		}
		v, err := ParseWitnessKey(w.Key)
		if err != nil {
			return bad(f+"key", err.Error())
		}
		if v.Name() != w.Name {
			return bad(f+"name", fmt.Sprintf("name %q is not the key's name %q", w.Name, v.Name()))
		}
	}
	if quorum < 0 || quorum > max(len(ws), 1) {
		return bad("witness_quorum", fmt.Sprintf("witness_quorum must lie between 1 and the number of witnesses (%d)", len(ws)))
	}
	return nil
}

// MergeWitnesses returns stored with each of flags added, a flag replacing a
// stored witness of the same name (serve --witness).
func MergeWitnesses(stored, flags []Witness) []Witness {
	out := append([]Witness(nil), stored...)
	for _, f := range flags {
		replaced := false
		for i := range out {
			if out[i].Name == f.Name {
				out[i], replaced = f, true
			}
		}
		if !replaced {
			out = append(out, f)
		}
	}
	return out
}

// WitnessStatus is what the log knows of one of its witnesses.
type WitnessStatus struct {
	Witness
	// CosignedSize is the largest checkpoint size the witness cosigned (0 if none).
	CosignedSize uint64
	// Cosigned reports whether the witness cosigned any checkpoint.
	Cosigned bool
}

// witnessState is a log's in-memory witness state.
type witnessState struct {
	// cfg is the log's witness settings; replaced (under Ledger.logsMu) by
	// UpdateWitnesses, read by everyone.
	cfg atomic.Pointer[WitnessSettings]

	// mu guards cosigned and witnessed and serialises AddCosignatures.
	mu        sync.Mutex
	cosigned  map[string]uint64 // witness name → largest size it cosigned
	witnessed uint64            // largest size cosigned by ≥ quorum configured witnesses
	// latest holds the cosignature lines of the newest checkpoint that has
	// any; Checkpoint adds them to the note when it is still the latest.
	latest atomic.Pointer[cosignedNote]
}

func (ws *witnessState) setConfig(c *WitnessSettings) {
	if c == nil {
		c = &WitnessSettings{}
	}
	ws.cfg.Store(c)
}

// config returns the log's witness settings, never nil.
func (ws *witnessState) config() *WitnessSettings {
	if c := ws.cfg.Load(); c != nil {
		return c
	}
	return &WitnessSettings{}
}

// record returns the settings to store in the log record: nil when none.
func (ws *witnessState) record() *WitnessSettings {
	c := ws.config()
	if len(c.List) == 0 && c.Quorum == 0 {
		return nil
	}
	return c
}

type cosignedNote struct {
	size  uint64
	lines []byte
}

// witnessEvents lets the pusher learn of changed witness settings.
type witnessEvents struct {
	mu sync.Mutex
	ch chan struct{} // closed and replaced at each change
}

func (e *witnessEvents) wait() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch == nil {
		e.ch = make(chan struct{})
	}
	return e.ch
}

func (e *witnessEvents) notify() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch != nil {
		close(e.ch)
	}
	e.ch = make(chan struct{})
}

// WitnessChanges returns a channel that is closed at the next change of any
// log's witness settings (or at the next log creation). The pusher reads
// Logs again then.
func (l *Ledger) WitnessChanges() <-chan struct{} { return l.witnessEvents.wait() }

func cosigPrefix(num uint32, size uint64) []byte {
	k := append(logPrefix(num), logWitness, witnessCosig)
	return binary.BigEndian.AppendUint64(k, size)
}

func cosigKey(num uint32, size uint64, name string) []byte {
	return append(cosigPrefix(num, size), name...)
}

func witnessSizeKeyOf(num uint32, name string) []byte {
	return append(append(logPrefix(num), logWitness, witnessSizeKey), name...)
}

// loadWitnessState reads each witness's largest cosigned size and the
// witnessed size of a log at open.
func (l *Ledger) loadWitnessState(lg *logHandle) error {
	ws := &lg.wit
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.cosigned = map[string]uint64{}
	prefix := append(logPrefix(lg.num), logWitness, witnessSizeKey)
	iter, err := l.meta.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("couldn't read the witness state of log %q: %w", lg.id, err)
	}
	for iter.First(); iter.Valid(); iter.Next() {
		if len(iter.Value()) == 8 {
			ws.cosigned[string(iter.Key()[len(prefix):])] = binary.BigEndian.Uint64(iter.Value())
		}
	}
	if err := iter.Close(); err != nil {
		return fmt.Errorf("couldn't read the witness state of log %q: %w", lg.id, err)
	}
	if err := l.recomputeWitnessed(lg); err != nil {
		return err
	}
	// The latest checkpoint's cosignatures, for Checkpoint to serve.
	if sc := lg.cp.Load(); sc != nil {
		lines, err := l.cosignatureLines(lg, sc.Size)
		if err != nil {
			return err
		}
		if len(lines) > 0 {
			ws.latest.Store(&cosignedNote{size: sc.Size, lines: lines})
		}
	}
	return nil
}

// recomputeWitnessed finds the largest size cosigned by at least quorum of
// the configured witnesses, newest first. Called with lg.wit.mu held.
func (l *Ledger) recomputeWitnessed(lg *logHandle) error {
	st := lg.wit.config()
	lg.wit.witnessed = 0
	if len(st.List) == 0 {
		return nil
	}
	names := map[string]bool{}
	for _, w := range st.List {
		names[w.Name] = true
	}
	prefix := append(logPrefix(lg.num), logWitness, witnessCosig)
	iter, err := l.meta.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("couldn't read the cosignatures of log %q: %w", lg.id, err)
	}
	defer iter.Close()
	var cur uint64
	count := 0
	for iter.Last(); iter.Valid(); iter.Prev() {
		k := iter.Key()
		if len(k) < len(prefix)+8 {
			continue
		}
		size := binary.BigEndian.Uint64(k[len(prefix):])
		if size != cur {
			cur, count = size, 0
		}
		if names[string(k[len(prefix)+8:])] {
			count++
		}
		if count >= st.EffectiveQuorum() {
			lg.wit.witnessed = size
			return nil
		}
	}
	return iter.Error()
}

// prefixEnd returns the least key after every key with the prefix.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// cosignatureLines returns the stored cosignature lines of the checkpoint
// at size, ordered by witness name.
func (l *Ledger) cosignatureLines(lg *logHandle, size uint64) ([]byte, error) {
	prefix := cosigPrefix(lg.num, size)
	iter, err := l.meta.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("couldn't read the cosignatures of checkpoint %d: %w", size, err)
	}
	var out []byte
	for iter.First(); iter.Valid(); iter.Next() {
		out = append(out, iter.Value()...)
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("couldn't read the cosignatures of checkpoint %d: %w", size, err)
	}
	return out, nil
}

// withCosignatures returns sc with the cosignature lines collected for it
// appended to its note (sc itself when there are none).
func (l *Ledger) withCosignatures(lg *logHandle, sc *SignedCheckpoint, fromStore bool) (*SignedCheckpoint, error) {
	var lines []byte
	if fromStore {
		var err error
		if lines, err = l.cosignatureLines(lg, sc.Size); err != nil {
			return nil, err
		}
	} else if cn := lg.wit.latest.Load(); cn != nil && cn.size == sc.Size {
		lines = cn.lines
	}
	if len(lines) == 0 {
		return sc, nil
	}
	out := *sc
	out.Note = append(append(make([]byte, 0, len(sc.Note)+len(lines)), sc.Note...), lines...)
	return &out, nil
}

// LogSigned returns the note with the log's own signature only, without any
// cosignature: what is pushed to witnesses. The log's signature is the first
// line after the blank line that ends the checkpoint text.
func (sc *SignedCheckpoint) LogSigned() []byte {
	i := bytes.Index(sc.Note, []byte("\n\n"))
	if i < 0 {
		return sc.Note
	}
	j := bytes.IndexByte(sc.Note[i+2:], '\n')
	if j < 0 {
		return sc.Note
	}
	return sc.Note[:i+2+j+1]
}

// AddCosignatures checks the cosignature lines a witness returned for the
// log's checkpoint at size and stores the valid ones: each line must be
// "— <name> <base64>" by the named witness, which must be one of the log's
// witnesses, and verify with its key over that checkpoint's text. Lines by
// other names are ignored. It returns ErrBadCosignature (wrapped) when no line
// is valid, ErrNotFound when no checkpoint was published at size. It may be
// called from many goroutines.
func (l *Ledger) AddCosignatures(logID string, size uint64, witnessName string, lines []byte) error {
	release, err := l.enter()
	if err != nil {
		return err
	}
	defer release()
	if l.cfg.ReadOnly {
		return ErrReadOnly
	}
	lg, err := l.handle(logID)
	if err != nil {
		return err
	}
	var w *Witness
	st := lg.wit.config()
	for i := range st.List {
		if st.List[i].Name == witnessName {
			w = &st.List[i]
		}
	}
	if w == nil {
		return fmt.Errorf("%w: %q is not a witness of log %q", ErrNotFound, witnessName, logID)
	}
	v, err := ParseWitnessKey(w.Key)
	if err != nil {
		return fmt.Errorf("couldn't load the key of witness %q: %w", w.Name, err)
	}
	msg, closer, err := l.meta.Get(checkpointKey(lg.num, size))
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("checkpoint at size %d: %w", size, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("couldn't read checkpoint %d: %w", size, err)
	}
	signed := append([]byte(nil), msg...)
	closer.Close()
	sc := &SignedCheckpoint{Note: signed}
	base := sc.LogSigned()
	var keep []byte
	for _, line := range strings.SplitAfter(string(lines), "\n") {
		if line == "" || !strings.HasSuffix(line, "\n") {
			continue
		}
		name, _, ok := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		if !strings.HasPrefix(line, "— ") || !ok || name != w.Name {
			continue
		}
		// Verify the line as a signature of the note: note.Open checks
		// the key hash, the name and the signature over the text.
		n, err := note.Open(append(append([]byte(nil), base...), line...), note.VerifierList(v))
		if err != nil || len(n.Sigs) != 1 {
			continue
		}
		keep = append(keep, line...)
	}
	if len(keep) == 0 {
		return fmt.Errorf("%w: no valid cosignature by %q on checkpoint %d of log %q", ErrBadCosignature, w.Name, size, logID)
	}

	ws := &lg.wit
	ws.mu.Lock()
	defer ws.mu.Unlock()
	b := l.meta.NewBatch()
	b.Set(cosigKey(lg.num, size, w.Name), keep, nil)
	prev, had := ws.cosigned[w.Name]
	if !had || size > prev {
		b.Set(witnessSizeKeyOf(lg.num, w.Name), binary.BigEndian.AppendUint64(nil, size), nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("couldn't store the cosignature of %q on checkpoint %d: %w", w.Name, size, err)
	}
	if ws.cosigned == nil {
		ws.cosigned = map[string]uint64{}
	}
	if !had || size > prev {
		ws.cosigned[w.Name] = size
	}
	all, err := l.cosignatureLines(lg, size)
	if err != nil {
		return err
	}
	if cn := ws.latest.Load(); cn == nil || cn.size <= size {
		ws.latest.Store(&cosignedNote{size: size, lines: all})
	}
	if size > ws.witnessed && countWitnesses(all, st.List) >= st.EffectiveQuorum() {
		ws.witnessed = size
	}
	return nil
}

// countWitnesses counts the configured witnesses that have a line in lines.
func countWitnesses(lines []byte, ws []Witness) int {
	n := 0
	for _, w := range ws {
		if bytes.Contains(lines, []byte("— "+w.Name+" ")) {
			n++
		}
	}
	return n
}

// WitnessedSize returns the largest checkpoint size cosigned by at least the
// log's quorum of its witnesses, 0 until one is.
func (l *Ledger) WitnessedSize(logID string) (uint64, error) {
	lg, err := l.handle(logID)
	if err != nil {
		return 0, err
	}
	lg.wit.mu.Lock()
	defer lg.wit.mu.Unlock()
	return lg.wit.witnessed, nil
}

// WitnessStatuses returns what the log knows of each of its witnesses, in
// the order of its settings.
func (l *Ledger) WitnessStatuses(logID string) ([]WitnessStatus, error) {
	lg, err := l.handle(logID)
	if err != nil {
		return nil, err
	}
	st := lg.wit.config()
	lg.wit.mu.Lock()
	defer lg.wit.mu.Unlock()
	out := make([]WitnessStatus, 0, len(st.List))
	for _, w := range st.List {
		size, ok := lg.wit.cosigned[w.Name]
		out = append(out, WitnessStatus{Witness: w, CosignedSize: size, Cosigned: ok})
	}
	return out, nil
}

// UpdateWitnesses replaces a log's witness settings durably, after checking
// them with CheckWitnesses, and tells the pusher. A quorum of 0 is stored as 1
// when there are witnesses.
func (l *Ledger) UpdateWitnesses(ctx context.Context, id string, s WitnessSettings) (*LogInfo, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := l.writable(); err != nil {
		return nil, err
	}
	if err := CheckWitnesses(s.List, s.Quorum); err != nil {
		return nil, err
	}
	if len(s.List) > 0 && s.Quorum == 0 {
		s.Quorum = 1
	}
	s.List = append([]Witness(nil), s.List...)
	l.logsMu.Lock()
	defer l.logsMu.Unlock()
	lg, ok := l.logs[id]
	if !ok {
		return nil, fmt.Errorf("log %q: %w", id, ErrNotFound)
	}
	rec := logRecord{ID: lg.id, Num: lg.num, Origin: lg.origin, Settings: *lg.settings.Load(), Witnesses: &s}
	if len(s.List) == 0 && s.Quorum == 0 {
		rec.Witnesses = nil
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("couldn't encode log record %q: %w", id, err)
	}
	if err := l.db.Set(logRecordKey(id), val, pebble.Sync); err != nil {
		return nil, fmt.Errorf("couldn't store the witnesses of log %q: %w", id, err)
	}
	lg.wit.setConfig(&s)
	lg.wit.mu.Lock()
	err = l.recomputeWitnessed(lg)
	lg.wit.mu.Unlock()
	l.witnessEvents.notify()
	if err != nil {
		return nil, err
	}
	return lg.info(), nil
}
