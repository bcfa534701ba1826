package bench

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// The generated events mimic an admin audit trail (the demo package's mix,
// cut down): mostly logins, then device, user, role, API and settings
// actions. Each event's leaf — the canonical JSON the ledger stores — is
// padded to a size drawn from a log-normal distribution (median leafTarget,
// clamped to LeafMax) by a free-text comment in details, as real events carry
// comments and reasons of every length; an event already longer keeps its
// size. The result: leaves of ~340–1,500 B, median ~430 B, mean ~470 B
// (TestEvents prints the figures).
const (
	// LeafMax bounds the generated leaf sizes, in bytes.
	LeafMax = 1500
	// leafTarget is the median of the drawn sizes, and leafSigma the
	// log-normal's σ.
	leafTarget, leafSigma = 330, 0.5
)

// leafTime is the received_at the generator sizes leaves with; stored
// entries carry the server's time, whose length differs by a few bytes.
var leafTime = time.Date(2026, 11, 25, 21, 30, 0, 123456789, time.UTC)

var eventKinds = []struct {
	category, action string
	weight           int
	target           string
	key              bool // acted through an API key
}{
	{"login", "login:success", 40, "", false},
	{"login", "login:failure", 6, "", false},
	{"device", "device:session_start", 14, "device", false},
	{"device", "device:reboot", 6, "device", true},
	{"device", "device:wipe", 1, "device", false},
	{"user", "user:invite", 3, "user", false},
	{"user", "user:update", 5, "user", false},
	{"role", "role:assign", 3, "user", false},
	{"team", "team:member_add", 3, "team", false},
	{"api", "api:key_create", 1, "api_key", false},
	{"api", "api:request", 12, "device", true},
	{"security", "security:2fa_enforced", 1, "account", false},
	{"settings", "settings:update", 3, "account", false},
	{"billing", "billing:invoice_view", 2, "account", false},
}

var eventWeights = func() int {
	n := 0
	for _, k := range eventKinds {
		n += k.weight
	}
	return n
}()

var userAgents = []string{
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"acme-cli/2.3.1 (linux; amd64)",
}

const filler = "Requested by the on-call engineer during the scheduled maintenance window; " +
	"approved in the change calendar and announced to the team channel beforehand. "

// Event returns the i-th generated event of the stream seed selects. The
// same seed and i always give the same event, with details canonical (as
// ledger.Event.Validate leaves them), so the stream can be regenerated in
// chunks of any size.
func Event(seed uint64, i int) ledger.Event {
	r := rand.New(rand.NewPCG(seed, uint64(i)*0x9e3779b97f4a7c15+1))
	w := r.IntN(eventWeights)
	k := eventKinds[0]
	for _, kk := range eventKinds {
		if w < kk.weight {
			k = kk
			break
		}
		w -= kk.weight
	}
	u := r.IntN(5000)
	ev := ledger.Event{
		Category: k.category,
		Action:   k.action,
		Actor:    &ledger.Actor{Type: "user", ID: fmt.Sprintf("u_%05d", u), Email: fmt.Sprintf("user%d@acme-phones.example", u)},
		IP:       fmt.Sprintf("198.51.%d.%d", r.IntN(256), 1+r.IntN(254)),
		Result:   "success",
	}
	if k.key {
		ev.Actor = &ledger.Actor{Type: "api_key", ID: fmt.Sprintf("key_%03d", r.IntN(40)), Name: "ci-runner"}
		ev.UserAgent = userAgents[3]
	} else if k.category == "login" || k.action == "device:session_start" {
		ev.UserAgent = userAgents[r.IntN(3)]
	}
	if k.action == "login:failure" {
		ev.Result = "failure"
	}
	if k.target != "" {
		ev.Target = &ledger.Target{Type: k.target, ID: fmt.Sprintf("%s_%06d", k.target[:3], r.IntN(100000))}
	}
	// The leaf size this event should have, and details that reach it.
	want := min(int(math.Round(leafTarget*math.Exp(leafSigma*r.NormFloat64()))), LeafMax)
	ticket := "OPS-" + strconv.Itoa(10000+r.IntN(90000))
	ev.Details = eventDetails(ticket, 0)
	if n := want - leafSize(&ev); n > 0 {
		ev.Details = eventDetails(ticket, n)
	}
	return ev
}

// eventDetails is a canonical details object: the ticket and, when pad > 0,
// a comment that makes it pad bytes longer.
func eventDetails(ticket string, pad int) json.RawMessage {
	if pad <= 0 {
		return json.RawMessage(`{"ticket":"` + ticket + `"}`)
	}
	// `,"comment":""` is 13 bytes before the text; keys sort: comment < ticket.
	n := max(pad-13, 0)
	text := make([]byte, 0, n)
	for len(text) < n {
		text = append(text, filler[:min(len(filler), n-len(text))]...)
	}
	return json.RawMessage(`{"comment":"` + string(text) + `","ticket":"` + ticket + `"}`)
}

func leafSize(ev *ledger.Event) int {
	en := ledger.Entry{V: ledger.EntryVersion, Log: ledger.DefaultLogID, ReceivedAt: leafTime, Event: *ev}
	leaf, err := en.Leaf()
	if err != nil {
		panic(fmt.Sprintf("bench: a generated event has no leaf: %v", err)) // a broken generator
	}
	return len(leaf)
}

// Events returns n generated events from index start of the stream seed
// selects.
func Events(seed uint64, start, n int) []ledger.Event {
	evs := make([]ledger.Event, n)
	for i := range evs {
		evs[i] = Event(seed, start+i)
	}
	return evs
}

// Leaves returns the leaves the ledger would store for events (with the
// generator's fixed received_at) and their total size in bytes.
func Leaves(events []ledger.Event) ([][]byte, int64) {
	leaves := make([][]byte, len(events))
	var total int64
	for i := range events {
		en := ledger.Entry{V: ledger.EntryVersion, Log: ledger.DefaultLogID, ReceivedAt: leafTime, Event: events[i]}
		leaf, err := en.Leaf()
		if err != nil {
			panic(fmt.Sprintf("bench: a generated event has no leaf: %v", err))
		}
		leaves[i] = leaf
		total += int64(len(leaf))
	}
	return leaves, total
}

// leafNote describes the sizes of leaves.
func leafNote(leaves [][]byte, total int64) string {
	s := make([]int, len(leaves))
	for i, l := range leaves {
		s[i] = len(l)
	}
	slices.Sort(s)
	return fmt.Sprintf("leaves: %d generated events, %d–%d B, median %d B, mean %d B",
		len(s), s[0], s[len(s)-1], s[len(s)/2], total/int64(len(s)))
}

// Bodies returns the HTTP request bodies that carry events in requests of
// batch events: a JSON array each, or the bare event when batch is 1.
func Bodies(events []ledger.Event, batch int) ([][]byte, error) {
	var bodies [][]byte
	for i := 0; i < len(events); i += batch {
		end := min(i+batch, len(events))
		var b []byte
		var err error
		if batch == 1 {
			b, err = json.Marshal(&events[i])
		} else {
			b, err = json.Marshal(events[i:end])
		}
		if err != nil {
			return nil, fmt.Errorf("couldn't encode events: %w", err)
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// sha256Rate is the hashing limit: how many of leaves per second one
// goroutine hashes as RFC 6962 leaves (a 0x00 byte, then the leaf), over at
// least d.
func sha256Rate(leaves [][]byte, d time.Duration) float64 {
	bufs := make([][]byte, len(leaves))
	for i, leaf := range leaves {
		bufs[i] = append([]byte{0}, leaf...)
	}
	var sink byte
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		for _, b := range bufs {
			h := sha256.Sum256(b)
			sink ^= h[0]
		}
		n += len(bufs)
	}
	_ = sink
	return float64(n) / time.Since(start).Seconds()
}
