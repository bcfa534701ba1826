package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

var testEnd = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)

// configs are the histories most tests check: the default account, the
// smallest one, other seeds, a short window, a bigger account, and an end
// that is not midnight.
var configs = []struct {
	name string
	cfg  Config
}{
	{"default", Config{End: testEnd}},
	{"smallest", Config{End: testEnd, Days: MinDays, Users: MinUsers}},
	{"seed=7/days=30", Config{Seed: 7, End: testEnd, Days: 30}},
	{"seed=-3/users=40", Config{Seed: -3, End: testEnd, Users: 40}},
	{"users=200/days=21", Config{Seed: 99, End: testEnd, Days: 21, Users: 200}},
	{"end=afternoon", Config{Seed: 5, End: time.Date(2025, 7, 4, 15, 37, 12, 345, time.UTC), Days: 45, Users: 60}},
}

type history struct {
	cfg     Config // with defaults
	events  []ledger.Event
	planted []Planted
	g       *generator // a fresh generator for the same Config: the account's people
}

var (
	historiesMu sync.Mutex
	histories   = map[string]*history{}
)

// generated returns the history for cfg, made once per test binary.
func generated(t testing.TB, cfg Config) *history {
	t.Helper()
	historiesMu.Lock()
	defer historiesMu.Unlock()
	key := fmt.Sprintf("%d/%s/%d/%d", cfg.Seed, cfg.End.Format(time.RFC3339Nano), cfg.Days, cfg.Users)
	if h, ok := histories[key]; ok {
		return h
	}
	events, planted := GenerateWithPlanted(cfg)
	h := &history{cfg: cfg.withDefaults(), events: events, planted: planted, g: newGenerator(cfg)}
	histories[key] = h
	return h
}

// zone returns the zone of the person with id.
func (h *history) zone(t *testing.T, id string) *time.Location {
	t.Helper()
	u, ok := h.g.byID[id]
	if !ok {
		t.Fatalf("actor %s is not one of the account's people", id)
	}
	return u.office.zone
}

func detailsOf(t *testing.T, ev ledger.Event) map[string]any {
	t.Helper()
	if len(ev.Details) == 0 {
		return map[string]any{}
	}
	var m map[string]any
	if err := json.Unmarshal(ev.Details, &m); err != nil {
		t.Fatalf("%s details %s: %v", ev.Action, ev.Details, err)
	}
	return m
}

func encode(t testing.TB, events []ledger.Event) []byte {
	t.Helper()
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGenerateDeterministic(t *testing.T) {
	for _, tc := range configs {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(generated(t, tc.cfg).events, Generate(tc.cfg)) {
				t.Fatal("two runs with the same Config differ")
			}
		})
	}
	t.Run("another seed", func(t *testing.T) {
		cfg := Config{Seed: 2, End: testEnd, Days: MinDays, Users: MinUsers}
		if reflect.DeepEqual(Generate(cfg), generated(t, configs[1].cfg).events) {
			t.Fatal("seeds 1 and 2 give the same history")
		}
	})
}

func TestGenerateDefaults(t *testing.T) {
	tests := []struct {
		name     string
		cfg, eqv Config
	}{
		{"zero seed and users", Config{End: testEnd, Days: 20}, Config{Seed: DefaultSeed, End: testEnd, Days: 20, Users: DefaultUsers}},
		{"zero days", Config{Seed: 4, End: testEnd, Users: 30}, Config{Seed: 4, End: testEnd, Days: DefaultDays, Users: 30}},
		{"raised to the minimum", Config{Seed: 4, End: testEnd, Days: 3, Users: 5}, Config{Seed: 4, End: testEnd, Days: MinDays, Users: MinUsers}},
		{"negative", Config{Seed: 4, End: testEnd, Days: -1, Users: -1}, Config{Seed: 4, End: testEnd, Days: DefaultDays, Users: DefaultUsers}},
		{"end in another zone", Config{Seed: 4, End: testEnd.In(time.FixedZone("X", 3600)), Days: 20, Users: 30}, Config{Seed: 4, End: testEnd, Days: 20, Users: 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(generated(t, tc.cfg).events, Generate(tc.eqv)) {
				t.Fatalf("Generate(%+v) differs from Generate(%+v)", tc.cfg, tc.eqv)
			}
		})
	}
	t.Run("end defaults to now", func(t *testing.T) {
		before := time.Now()
		events := Generate(Config{Days: MinDays, Users: MinUsers})
		after := time.Now()
		first, last := *events[0].Time, *events[len(events)-1].Time
		if first.Before(before.Add(-MinDays*24*time.Hour).Truncate(time.Millisecond)) || !last.Before(after) {
			t.Fatalf("events run from %v to %v; want them within the %d days before %v", first, last, MinDays, after)
		}
	})
}

// docPrefixes are the address ranges the history may use (RFC 5737, RFC 3849).
var docPrefixes = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

func TestGenerateValid(t *testing.T) {
	for _, tc := range configs {
		t.Run(tc.name, func(t *testing.T) {
			h := generated(t, tc.cfg)
			start := h.cfg.End.Add(-time.Duration(h.cfg.Days) * 24 * time.Hour)
			var prev time.Time
			var v6, readOnly, failures int
			for i, ev := range h.events {
				if ev.Time == nil {
					t.Fatalf("event %d (%s) has no time", i, ev.Action)
				}
				tm := *ev.Time
				switch {
				case tm.Location() != time.UTC:
					t.Fatalf("event %d time %v is not in UTC", i, tm)
				case tm.Before(prev):
					t.Fatalf("event %d at %v comes after one at %v", i, tm, prev)
				case tm.Before(start) || !tm.Before(h.cfg.End):
					t.Fatalf("event %d at %v lies outside [%v, %v)", i, tm, start, h.cfg.End)
				}
				prev = tm

				cp := ev
				if err := cp.Validate(false); err != nil {
					t.Fatalf("event %d (%s) does not validate: %v", i, ev.Action, err)
				}
				if cp.IP != ev.IP || cp.Result != ev.Result || !bytes.Equal(cp.Details, ev.Details) || !cp.Time.Equal(tm) {
					t.Fatalf("event %d is not in the form Validate leaves: %+v, not %+v", i, ev, cp)
				}

				if ev.IP != "" {
					addr := netip.MustParseAddr(ev.IP)
					if !slices.ContainsFunc(docPrefixes, func(p netip.Prefix) bool { return p.Contains(addr) }) {
						t.Fatalf("event %d IP %s is not a documentation address", i, ev.IP)
					}
					if addr.Is6() {
						v6++
					}
				}
				for _, email := range []string{ev.Actor.Email, fmt.Sprint(detailsOf(t, ev)["email"])} {
					if _, domain, ok := strings.Cut(email, "@"); ok && !strings.HasSuffix(domain, ".example") && domain != "gmail.com" {
						t.Fatalf("event %d has an email %s outside the example domains", i, email)
					}
				}
				if ev.ReadOnly {
					readOnly++
				}
				if ev.Result == "failure" {
					failures++
				}
			}
			if v6 == 0 || readOnly == 0 || failures == 0 {
				t.Fatalf("history has %d IPv6 events, %d read-only ones and %d failures; want some of each", v6, readOnly, failures)
			}
			if readOnly > len(h.events)/100 {
				t.Fatalf("%d of %d events are read-only; want a few", readOnly, len(h.events))
			}
		})
	}
}

func TestGenerateCount(t *testing.T) {
	n := len(generated(t, Config{End: testEnd}).events)
	if n < 40000 || n > 60000 {
		t.Fatalf("default history has %d events, want 40,000 to 60,000", n)
	}
	base := len(generated(t, Config{End: testEnd, Days: 30}).events)
	double := len(generated(t, Config{End: testEnd, Days: 30, Users: 2 * DefaultUsers}).events)
	if r := float64(double) / float64(base); r < 1.6 || r > 2.4 {
		t.Fatalf("30 days of %d users give %d events, %.2f times the %d of %d users; want about twice",
			2*DefaultUsers, double, r, base, DefaultUsers)
	}
	t.Logf("default: %d events; 30 days of %d users: %d, of %d users: %d", n, DefaultUsers, base, 2*DefaultUsers, double)
}

// TestGenerateContent checks that the history holds the activity the
// review rules read, and looks like people at work.
func TestGenerateContent(t *testing.T) {
	h := generated(t, Config{End: testEnd})
	actions := map[string]int{}
	var logins, officeHours, weekendLogins int
	actorTypes := map[string]bool{}
	viaKey := map[string]bool{}
	for _, ev := range h.events {
		actions[ev.Action]++
		actorTypes[ev.Actor.Type] = true
		if ev.Actor.APIKeyID != "" {
			viaKey[ev.Actor.Type] = true
		}
		if ev.Action == "login" && ev.Actor.Type == "user" && ev.Result == "success" {
			logins++
			local := ev.Time.In(h.zone(t, ev.Actor.ID))
			if weekend(local) {
				weekendLogins++
			} else if local.Hour() >= 7 && local.Hour() < 20 {
				officeHours++
			}
		}
		d := detailsOf(t, ev)
		switch ev.Action {
		case "role:assign":
			if d["role_from"] == nil || d["role_to"] == nil || ev.Target == nil || ev.Target.Type != "user" {
				t.Errorf("role:assign without role_from, role_to or a user target: %+v", ev)
			}
		case "device:wipe":
			if ev.Target == nil || ev.Target.Type != "device" {
				t.Errorf("device:wipe without a device target: %+v", ev)
			}
		case "user:invite":
			if ev.Target == nil || ev.Target.Type != "user" || d["email"] != ev.Target.Name {
				t.Errorf("user:invite without the invitee's email: %+v", ev)
			}
		}
		if ev.Result == "failure" && ev.Category == "login" && d["reason"] == nil {
			t.Errorf("failed login without a reason: %+v", ev)
		}
	}
	for _, a := range []string{
		"login", "logout", "user:invite", "user:invite_accept", "user:delete", "role:assign", "team:member_add",
		"team:member_remove", "device:wipe", "device:session_start", "device:app_install", "api_key:create",
		"api_key:rotate", "security:sso_disabled", "security:sso_enabled", "security:2fa_required_disabled",
		"billing:invoice_paid", "billing:plan_change", "settings:update", "report:view",
	} {
		if actions[a] == 0 {
			t.Errorf("no %s event", a)
		}
	}
	for _, typ := range []string{"user", "api_key", "service", "system"} {
		if !actorTypes[typ] {
			t.Errorf("no actor of type %s", typ)
		}
	}
	if !viaKey["user"] {
		t.Error("no user acting through an API key")
	}
	if f := float64(officeHours) / float64(logins); f < 0.85 {
		t.Errorf("%.2f of logins are on weekdays between 07:00 and 20:00 local; want most", f)
	}
	if f := float64(weekendLogins) / float64(logins); f > 0.05 {
		t.Errorf("%.2f of logins are at weekends; want few", f)
	}
}

// TestGenerateLifecycle checks that nobody acts before joining or after
// being deleted.
func TestGenerateLifecycle(t *testing.T) {
	for _, tc := range configs {
		t.Run(tc.name, func(t *testing.T) {
			h := generated(t, tc.cfg)
			deleted := map[string]time.Time{}
			invited := map[string]time.Time{}
			for _, ev := range h.events {
				switch ev.Action {
				case "user:delete":
					deleted[ev.Target.ID] = *ev.Time
				case "user:invite":
					invited[ev.Target.ID] = *ev.Time
				}
			}
			for i, ev := range h.events {
				id := ev.Actor.ID
				if d, ok := deleted[id]; ok && !ev.Time.Before(d) {
					t.Fatalf("event %d: %s acts (%s) at %v, after being deleted at %v", i, id, ev.Action, ev.Time, d)
				}
				if v, ok := invited[id]; ok && ev.Time.Before(v) {
					t.Fatalf("event %d: %s acts (%s) at %v, before being invited at %v", i, id, ev.Action, ev.Time, v)
				}
			}
		})
	}
}

var freeMail = []string{"gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "aol.com", "gmx.de"}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// inBursts returns the positions of the events that match and lie in a
// run of at least n such events with the same key within window.
func inBursts(events []ledger.Event, match func(ledger.Event) bool, key func(ledger.Event) string, n int, window time.Duration) []int {
	byKey := map[string][]int{}
	for i, ev := range events {
		if match(ev) {
			byKey[key(ev)] = append(byKey[key(ev)], i)
		}
	}
	found := map[int]bool{}
	for _, pos := range byKey {
		for i := 0; i+n <= len(pos); i++ {
			if events[pos[i+n-1]].Time.Sub(*events[pos[i]].Time) < window {
				for _, p := range pos[i : i+n] {
					found[p] = true
				}
			}
		}
	}
	out := make([]int, 0, len(found))
	for p := range found {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func night(t time.Time) bool { return t.Hour() >= 22 || t.Hour() < 5 }

// detectors are reference rules, one per Kind: each returns the positions
// of every event in the history that shows its pattern. On a generated
// history each must find exactly the planted events, no more: the
// background holds none of the patterns.
var detectors = map[string]func(t *testing.T, h *history) []int{
	KindOffHoursAdminGrant: func(t *testing.T, h *history) []int {
		var out []int
		for i, ev := range h.events {
			if ev.Action != "role:assign" || detailsOf(t, ev)["role_to"] != "admin" {
				continue
			}
			local := ev.Time.In(h.zone(t, ev.Actor.ID))
			if weekend(local) || local.Hour() < 7 || local.Hour() >= 20 {
				out = append(out, i)
			}
		}
		return out
	},
	KindFreeMailInvite: func(t *testing.T, h *history) []int {
		var out []int
		for i, ev := range h.events {
			if ev.Action == "user:invite" {
				_, domain, _ := strings.Cut(fmt.Sprint(detailsOf(t, ev)["email"]), "@")
				if slices.Contains(freeMail, domain) {
					out = append(out, i)
				}
			}
		}
		return out
	},
	KindTyposquatInvite: func(t *testing.T, h *history) []int {
		var out []int
		for i, ev := range h.events {
			if ev.Action == "user:invite" {
				_, domain, _ := strings.Cut(fmt.Sprint(detailsOf(t, ev)["email"]), "@")
				if domain != Domain && editDistance(domain, Domain) <= 2 {
					out = append(out, i)
				}
			}
		}
		return out
	},
	KindFailedLoginBurst: func(t *testing.T, h *history) []int {
		return inBursts(h.events,
			func(ev ledger.Event) bool { return ev.Action == "login" && ev.Result == "failure" },
			func(ev ledger.Event) string { return ev.IP }, 12, 5*time.Minute)
	},
	KindWipeWithoutTicket: func(t *testing.T, h *history) []int {
		var out []int
		for i, ev := range h.events {
			if ev.Action == "device:wipe" && detailsOf(t, ev)["ticket"] == nil {
				out = append(out, i)
			}
		}
		return out
	},
	KindMassUserDelete: func(t *testing.T, h *history) []int {
		return inBursts(h.events,
			func(ev ledger.Event) bool { return ev.Action == "user:delete" },
			func(ev ledger.Event) string { return ev.Actor.ID }, 6, 5*time.Minute)
	},
	KindSSODisabledAtNight: func(t *testing.T, h *history) []int {
		var out []int
		for i, ev := range h.events {
			sso := ev.Action == "security:sso_disabled" || ev.Action == "security:sso_enabled"
			if sso && night(ev.Time.In(h.zone(t, ev.Actor.ID))) {
				out = append(out, i)
			}
		}
		return out
	},
}

// checks hold the facts of each planted pattern, beyond what its detector
// matches on.
var checks = map[string]func(t *testing.T, h *history, events []ledger.Event){
	KindOffHoursAdminGrant: func(t *testing.T, h *history, events []ledger.Event) {
		ev := one(t, events)
		local := ev.Time.In(h.zone(t, ev.Actor.ID))
		d := detailsOf(t, ev)
		if !weekend(local) || local.Hour() < 2 || local.Hour() > 3 || d["role_from"] == "admin" {
			t.Errorf("grant at %v local, %v → %v; want about 03:00 at a weekend, to admin from another role",
				local, d["role_from"], d["role_to"])
		}
	},
	KindFreeMailInvite: func(t *testing.T, h *history, events []ledger.Event) {
		one(t, events)
	},
	KindTyposquatInvite: func(t *testing.T, h *history, events []ledger.Event) {
		ev := one(t, events)
		if want := "@" + TyposquatDomain; !strings.HasSuffix(ev.Target.Name, want) {
			t.Errorf("invite to %s, want one to %s", ev.Target.Name, want)
		}
	},
	KindFailedLoginBurst: func(t *testing.T, h *history, events []ledger.Event) {
		if len(events) != 12 {
			t.Fatalf("%d events, want 12", len(events))
		}
		for _, ev := range events {
			if ev.Action != "login" || ev.Result != "failure" || ev.IP != events[0].IP {
				t.Errorf("%s %s from %s, want a failed login from %s", ev.Action, ev.Result, ev.IP, events[0].IP)
			}
		}
		if d := events[11].Time.Sub(*events[0].Time); d >= 5*time.Minute {
			t.Errorf("burst lasts %v, want under 5 minutes", d)
		}
	},
	KindWipeWithoutTicket: func(t *testing.T, h *history, events []ledger.Event) {
		ev := one(t, events)
		d := detailsOf(t, ev)
		if ev.Target.Type != "device" || d["ticket"] != nil || d["reason"] != nil {
			t.Errorf("wipe of a %s with details %s; want a device, with neither ticket nor reason", ev.Target.Type, ev.Details)
		}
	},
	KindMassUserDelete: func(t *testing.T, h *history, events []ledger.Event) {
		if len(events) != 6 {
			t.Fatalf("%d events, want 6", len(events))
		}
		targets := map[string]bool{}
		for _, ev := range events {
			if ev.Action != "user:delete" || ev.Actor.ID != events[0].Actor.ID {
				t.Errorf("%s by %s, want user:delete by %s", ev.Action, ev.Actor.ID, events[0].Actor.ID)
			}
			targets[ev.Target.ID] = true
		}
		if len(targets) != 6 {
			t.Errorf("%d people deleted, want 6", len(targets))
		}
		if d := events[5].Time.Sub(*events[0].Time); d >= 5*time.Minute {
			t.Errorf("deletes span %v, want under 5 minutes", d)
		}
	},
	KindSSODisabledAtNight: func(t *testing.T, h *history, events []ledger.Event) {
		if len(events) != 2 {
			t.Fatalf("%d events, want 2", len(events))
		}
		off, on := events[0], events[1]
		if off.Action != "security:sso_disabled" || on.Action != "security:sso_enabled" || off.Actor.ID != on.Actor.ID {
			t.Fatalf("%s by %s then %s by %s; want SSO disabled then enabled by one admin",
				off.Action, off.Actor.ID, on.Action, on.Actor.ID)
		}
		z := h.zone(t, off.Actor.ID)
		if !night(off.Time.In(z)) || !night(on.Time.In(z)) || on.Time.Sub(*off.Time) > 3*time.Hour {
			t.Errorf("SSO off at %v, on at %v local; want both late at night, within 3 hours",
				off.Time.In(z), on.Time.In(z))
		}
	},
}

func one(t *testing.T, events []ledger.Event) ledger.Event {
	t.Helper()
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	return events[0]
}

func TestPlanted(t *testing.T) {
	for _, tc := range configs {
		t.Run(tc.name, func(t *testing.T) {
			h := generated(t, tc.cfg)
			var kinds []string
			for i, p := range h.planted {
				kinds = append(kinds, p.Kind)
				if p.Description == "" {
					t.Errorf("%s has no description", p.Kind)
				}
				if len(p.Positions) == 0 || !slices.IsSorted(p.Positions) || p.Positions[len(p.Positions)-1] >= len(h.events) {
					t.Fatalf("%s positions %v are not ascending positions of the %d events", p.Kind, p.Positions, len(h.events))
				}
				if i > 0 && p.Positions[0] < h.planted[i-1].Positions[0] {
					t.Errorf("%s comes before %s but starts later", h.planted[i-1].Kind, p.Kind)
				}
			}
			want := make([]string, 0, len(checks))
			for k := range checks {
				want = append(want, k)
			}
			slices.Sort(want)
			slices.Sort(kinds)
			if !slices.Equal(kinds, want) {
				t.Fatalf("planted kinds %v, want one each of %v", kinds, want)
			}

			for _, p := range h.planted {
				t.Run(p.Kind, func(t *testing.T) {
					var events []ledger.Event
					for _, i := range p.Positions {
						events = append(events, h.events[i])
					}
					checks[p.Kind](t, h, events)
					if found := detectors[p.Kind](t, h); !slices.Equal(found, p.Positions) {
						t.Errorf("the reference rule finds %v, want exactly the planted %v", found, p.Positions)
					}
				})
			}
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, cfg := range []Config{
		{End: testEnd, Days: DefaultDays, Users: DefaultUsers},
		{End: testEnd, Days: MinDays, Users: MinUsers},
		{End: testEnd, Days: DefaultDays, Users: 2 * DefaultUsers},
	} {
		b.Run(fmt.Sprintf("users=%d/days=%d", cfg.Users, cfg.Days), func(b *testing.B) {
			events := Generate(cfg)
			b.SetBytes(int64(len(encode(b, events))))
			b.ReportMetric(float64(len(events)), "events/op")
			b.ReportAllocs()
			for b.Loop() {
				Generate(cfg)
			}
		})
	}
}
