// Package demo generates a deterministic, realistic audit history of one
// mid-size account on a cloud phone platform: people logging in from their
// offices, homes and the VPN in their own working hours, remote sessions on
// cloud phones, CI and provisioning keys driving devices through the API,
// and the admin work of three months (invites, deletes, role and team
// changes, wipes, keys, SSO and 2FA policy, billing, settings).
//
// Into that history it plants a handful of patterns a weekly review should
// catch, and reports where they are (GenerateWithPlanted), so the review
// rules can be tested against data that also holds the ordinary activity
// they must not flag.
//
// The account is Acme Phones, whose own domain is Domain. Every address is
// from the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24, 2001:db8::/32), every domain but one planted free-mail
// address is an .example domain, and every phone number a fictional 555-01xx
// one. Offices keep fixed UTC offsets (no daylight saving), so the history
// does not depend on the machine's time zone database.
package demo

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

const (
	// DefaultSeed is the seed a zero Config.Seed takes.
	DefaultSeed = 1

	// DefaultDays is the length of the history, in days, a zero
	// Config.Days takes.
	DefaultDays = 90

	// MinDays is the shortest history: a shorter Config.Days is raised to
	// it, so that every planted pattern (one needs a weekend) fits.
	MinDays = 14

	// DefaultUsers is the number of people a zero Config.Users takes. The
	// default account has 8 admins, 3 teams, 4 API keys and about 250
	// devices, and its 90 days hold about 50,000 events.
	DefaultUsers = 120

	// MinUsers is the smallest account: a smaller Config.Users is raised
	// to it, so that the planted patterns find the people they need.
	MinUsers = 24

	// Domain is the account's own email domain.
	Domain = "acme-phones.example"

	// TyposquatDomain is the look-alike of Domain the planted
	// KindTyposquatInvite invites to ("rn" for "m").
	TyposquatDomain = "acrne-phones.example"

	// PartnerDomain is a contractor's domain that ordinary invites go to:
	// foreign, but neither free mail nor a look-alike.
	PartnerDomain = "brightpath-qa.example"
)

// The kinds of Planted pattern, one of each in every history.
const (
	// KindOffHoursAdminGrant is a role:assign to admin at about 03:00 on
	// a weekend, in the acting admin's local time.
	KindOffHoursAdminGrant = "off_hours_admin_grant"

	// KindFreeMailInvite is a user:invite to a free-mail address.
	KindFreeMailInvite = "free_mail_invite"

	// KindTyposquatInvite is a user:invite to TyposquatDomain.
	KindTyposquatInvite = "typosquat_invite"

	// KindFailedLoginBurst is 12 failed logins from one IP address in
	// under 5 minutes.
	KindFailedLoginBurst = "failed_login_burst"

	// KindWipeWithoutTicket is a device:wipe whose details carry neither
	// a ticket nor a reason; every other wipe carries details.ticket.
	KindWipeWithoutTicket = "wipe_without_ticket"

	// KindMassUserDelete is 6 user:delete events by one actor within 5
	// minutes.
	KindMassUserDelete = "mass_user_delete"

	// KindSSODisabledAtNight is security:sso_disabled and, by the same
	// admin, security:sso_enabled again, both late at night in the
	// admin's local time.
	KindSSODisabledAtNight = "sso_disabled_at_night"
)

// Config chooses the history Generate writes. Zero fields take the
// Default* constants; the same Config (with End set) always gives the same
// events.
type Config struct {
	// Seed selects one history among many alike. Zero means DefaultSeed.
	Seed int64

	// End is where the history ends: every event's time lies in
	// [End-Days×24h, End). Zero means time.Now().
	End time.Time

	// Days is the length of the history in days. Zero means DefaultDays;
	// fewer than MinDays are raised to MinDays.
	Days int

	// Users is the number of people in the account. Devices, admins and
	// API traffic scale with it, and so, roughly in proportion, does the
	// number of events. Zero means DefaultUsers; fewer than MinUsers are
	// raised to MinUsers.
	Users int
}

// Planted is one pattern a weekly review should catch: its Kind (one of
// the Kind* constants), a sentence saying what happened, and the positions
// of its events in the slice GenerateWithPlanted returned, ascending.
type Planted struct {
	Kind        string
	Description string
	Positions   []int
}

// Generate returns the account's history in time order (ties keep the
// order in which they were made): each event has Time set, in UTC, and
// has passed Validate(false), so its details are in canonical form.
// It panics only on a broken internal invariant (an event it made that
// does not validate, or a planted event outside the window).
func Generate(cfg Config) []ledger.Event {
	events, _ := GenerateWithPlanted(cfg)
	return events
}

// GenerateWithPlanted returns what Generate does, and the planted
// patterns, one of each Kind*, in the order of their first event.
func GenerateWithPlanted(cfg Config) ([]ledger.Event, []Planted) {
	g := newGenerator(cfg)
	g.planBackground()
	g.plantAll()
	g.scheduleAdminWork()
	g.runKeys()
	for _, u := range g.users {
		g.userDays(u)
	}
	return g.finish()
}

// withDefaults returns c with its zero and too-small fields replaced.
func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.End.IsZero() {
		c.End = time.Now()
	}
	c.End = c.End.UTC()
	if c.Days <= 0 {
		c.Days = DefaultDays
	}
	c.Days = max(c.Days, MinDays)
	if c.Users <= 0 {
		c.Users = DefaultUsers
	}
	c.Users = max(c.Users, MinUsers)
	return c
}

// office is where people work: its fixed zone, and the NAT addresses its
// traffic leaves from.
type office struct {
	name   string
	zone   *time.Location
	egress []string
	weight int
}

var offices = []*office{
	{name: "New York", zone: time.FixedZone("UTC-5", -5*3600), egress: []string{"203.0.113.10", "203.0.113.11"}, weight: 45},
	{name: "London", zone: time.FixedZone("UTC", 0), egress: []string{"198.51.100.20", "198.51.100.21", "2001:db8:4c0:20::1"}, weight: 35},
	{name: "Singapore", zone: time.FixedZone("UTC+8", 8*3600), egress: []string{"203.0.113.80", "203.0.113.81"}, weight: 20},
}

// vpnEgress are the corporate VPN's exit addresses.
var vpnEgress = []string{"192.0.2.100", "192.0.2.101", "192.0.2.102", "192.0.2.103", "2001:db8:7e0::100"}

type team struct {
	id, name, slug string
	weight         int     // share of people
	devWeight      int     // share of devices
	sessions       int     // most device sessions on a working day
	installs       float64 // chance that a session installs an app
}

type device struct {
	id, name string
	team     *team
}

type user struct {
	idx             int
	id, name, email string
	office          *office
	team            *team
	role            string
	sso             bool // logs in through the IdP; else password and TOTP
	ua, mobileUA    string
	homeIP          string
	startMin        int // usual start of the working day, minutes after local midnight
	devices         []*device
	joiner, leaver  bool         // invited, or deleted, during the window
	reserved        bool         // taken by a planted pattern or a background change
	from, until     time.Time    // a member of the account in [from, until)
	forced          map[int]bool // local days (dateKey) with admin work, always worked
}

func (u *user) actor() *ledger.Actor {
	return &ledger.Actor{Type: "user", ID: u.id, Name: u.name, Email: u.email}
}

func (u *user) target() *ledger.Target {
	return &ledger.Target{Type: "user", ID: u.id, Name: u.email}
}

func (u *user) active(t time.Time) bool {
	return !t.Before(u.from) && t.Before(u.until)
}

type apiKey struct {
	id, name string
	ip, ua   string
	owner    *user // a personal key, used as its owner; nil for a service key
	created  time.Time
}

func (k *apiKey) actor() *ledger.Actor {
	if k.owner != nil {
		a := k.owner.actor()
		a.APIKeyID = k.id
		return a
	}
	return &ledger.Actor{Type: "api_key", ID: k.id, Name: k.name}
}

// item is one event being made, with its time and, for a planted event,
// the index of its pattern.
type item struct {
	t     time.Time
	ev    ledger.Event
	plant int
}

type generator struct {
	cfg        Config
	start, end time.Time
	scale      float64    // cfg.Users / DefaultUsers
	rng        *rand.Rand // the planning stream; days draw their own
	ids        map[string]bool

	teams    []*team
	users    []*user
	byID     map[string]*user
	admins   []*user
	managers []*user
	devices  []*device
	ci, tf   *apiKey
	scim     *apiKey
	personal *apiKey

	items   []item
	planted []Planted
}

func newGenerator(cfg Config) *generator {
	cfg = cfg.withDefaults()
	g := &generator{
		cfg:   cfg,
		end:   cfg.End,
		start: cfg.End.Add(-time.Duration(cfg.Days) * 24 * time.Hour),
		scale: float64(cfg.Users) / DefaultUsers,
		ids:   map[string]bool{},
		byID:  map[string]*user{},
	}
	g.rng = g.stream(0, 0, 0)
	g.buildAccount()
	return g
}

// stream returns a random stream of its own for (kind, a, b), so that one
// user's day does not shift the draws of everything after it.
func (g *generator) stream(kind, a, b uint64) *rand.Rand {
	h := mix(uint64(g.cfg.Seed) ^ mix(kind+1) ^ mix(a+0x51ed) ^ mix(b+0xa11ce))
	return rand.New(rand.NewPCG(h, mix(h)))
}

// mix is the SplitMix64 finaliser.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func (g *generator) n(base float64) int {
	return max(1, int(math.Round(base*g.scale)))
}

func (g *generator) newID(prefix string) string {
	for {
		id := fmt.Sprintf("%s%08x", prefix, g.rng.Uint32())
		if !g.ids[id] {
			g.ids[id] = true
			return id
		}
	}
}

var (
	firstNames = strings.Fields(`Ava Liam Noah Emma Olivia Mateo Sofia Lucas Mia Ethan Amara Kenji Priya Diego Chloe
		Omar Hana Lars Ines Wei Zara Felix Nadia Tomas Leah Arjun Maya Hugo Elena Samir Yuki Isla Mason Aisha Jonas
		Clara Rafael Mei Oscar Freya Tariq Lena Marco Nora Jin Ruby Caleb Anya`)
	lastNames = strings.Fields(`Patel Chen Garcia Smith Nguyen Okafor Rossi Kim Müller Haddad Silva Tanaka Novak
		Brown Cohen Larsen Ahmed Dubois Kowalski Murphy Singh Moreau Costa Ito Walsh Berg Reyes Khan Fischer Lopez
		Park Jensen Adeyemi Romano Schmidt Hughes Ortiz Lindqvist Sato Ibrahim Foster Vargas Petrov Yilmaz Quinn`)
	browsers = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	}
	mobileApps = []string{
		"AcmePhones/5.8.1 (iPhone; iOS 18.1; Scale/3.00)",
		"AcmePhones/5.8.0 (Android 15; Pixel 8)",
		"AcmePhones/5.7.4 (Android 14; SM-S921B)",
	}
	models = []struct{ name, slug string }{
		{"Pixel 8", "pixel8"}, {"Pixel 7a", "pixel7a"}, {"Galaxy S24", "s24"}, {"Galaxy A54", "a54"},
		{"iPhone 15", "iphone15"}, {"iPhone 14", "iphone14"}, {"OnePlus 12", "op12"},
	}
	apps = []struct{ id, version string }{
		{"com.acme.shopper", "5.2.1"}, {"com.acme.shopper.beta", "5.3.0-rc2"}, {"com.example.chat", "12.4.0"},
		{"com.example.maps", "3.9.7"}, {"com.acme.support.agent", "2.0.14"},
	}
)

// buildAccount makes the people, teams, devices and keys.
func (g *generator) buildAccount() {
	r := g.rng
	g.teams = []*team{
		{id: g.newID("team_"), name: "Mobile QA", slug: "qa", weight: 40, devWeight: 50, sessions: 4, installs: 0.35},
		{id: g.newID("team_"), name: "Customer Support", slug: "support", weight: 35, devWeight: 30, sessions: 3, installs: 0.05},
		{id: g.newID("team_"), name: "Growth", slug: "growth", weight: 25, devWeight: 20, sessions: 2, installs: 0.25},
	}
	for i, d := 0, g.n(250); i < d; i++ {
		tm := pick(r, g.teams, func(t *team) int { return t.devWeight })
		m := models[r.IntN(len(models))]
		g.devices = append(g.devices, &device{
			id:   g.newID("dev_"),
			name: fmt.Sprintf("%s-%s-%03d", tm.slug, m.slug, i+1),
			team: tm,
		})
	}

	admins := g.n(8)
	managersPerTeam := g.n(3)
	managers := map[*team]int{}
	names := r.Perm(len(firstNames) * len(lastNames))
	emails := map[string]bool{}
	for i := 0; i < g.cfg.Users; i++ {
		nm := names[i%len(names)]
		first, last := firstNames[nm%len(firstNames)], lastNames[nm/len(firstNames)]
		local := emailPart(first) + "." + emailPart(last)
		email := local + "@" + Domain
		for k := 2; emails[email]; k++ {
			email = fmt.Sprintf("%s%d@%s", local, k, Domain)
		}
		emails[email] = true
		u := &user{
			idx:      i,
			id:       g.newID("usr_"),
			name:     first + " " + last,
			email:    email,
			office:   pick(r, offices, func(o *office) int { return o.weight }),
			team:     pick(r, g.teams, func(t *team) int { return t.weight }),
			role:     "member",
			sso:      r.Float64() < 0.85,
			ua:       browsers[r.IntN(len(browsers))],
			mobileUA: mobileApps[r.IntN(len(mobileApps))],
			startMin: 7*60 + 45 + r.IntN(105),
			until:    g.end.Add(24 * time.Hour),
			forced:   map[int]bool{},
		}
		if r.Float64() < 0.25 {
			u.homeIP = fmt.Sprintf("2001:db8:%x:%x::%x", 0x8000+r.IntN(0x1000), r.IntN(0x10000), 1+r.IntN(0xfffe))
		} else {
			u.homeIP = fmt.Sprintf("198.51.100.%d", 128+r.IntN(127))
		}
		switch {
		case i < admins:
			u.role, u.sso = "admin", true
			g.admins = append(g.admins, u)
		case managers[u.team] < managersPerTeam:
			u.role = "manager"
			managers[u.team]++
			g.managers = append(g.managers, u)
		case r.Float64() < 0.08:
			u.role = "viewer"
		}
		var pool []*device
		for _, d := range g.devices {
			if d.team == u.team {
				pool = append(pool, d)
			}
		}
		for k := 1 + r.IntN(3); k > 0 && len(pool) > 0; k-- {
			u.devices = append(u.devices, pool[r.IntN(len(pool))])
		}
		g.users = append(g.users, u)
		g.byID[u.id] = u
	}

	g.ci = &apiKey{id: g.newID("key_"), name: "ci-device-farm", ip: "192.0.2.200", ua: "acme-ci-runner/3.8.2 (linux; amd64)"}
	g.tf = &apiKey{id: g.newID("key_"), name: "terraform-provisioning", ip: "192.0.2.210", ua: "terraform-provider-acmephones/1.4.0"}
	g.scim = &apiKey{id: g.newID("key_"), name: "okta-scim", ip: "192.0.2.220", ua: "Okta SCIM Client 1.0.0"}
	g.personal = &apiKey{id: g.newID("key_"), name: "ops-reporting", ip: "192.0.2.230",
		ua: "acme-phones-cli/2.4.0 (linux; amd64)", owner: g.admins[1%len(g.admins)]}
}

// emailPart writes a name as the ASCII part of an email address.
func emailPart(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "ü", "ue"))
}

// pick returns an element of xs, chosen with probability in proportion to
// its weight.
func pick[T any](r *rand.Rand, xs []T, weight func(T) int) T {
	total := 0
	for _, x := range xs {
		total += weight(x)
	}
	n := r.IntN(total)
	for _, x := range xs {
		if n -= weight(x); n < 0 {
			return x
		}
	}
	return xs[len(xs)-1]
}

// emit adds ev at t, unless t lies outside the window, and reports whether
// it did.
func (g *generator) emit(t time.Time, ev ledger.Event) bool {
	t = t.UTC().Truncate(time.Millisecond)
	if t.Before(g.start) || !t.Before(g.end) {
		return false
	}
	ev.Time = &t
	g.items = append(g.items, item{t: t, ev: ev, plant: -1})
	return true
}

// emitUser adds ev at t if u is a member of the account then.
func (g *generator) emitUser(u *user, t time.Time, ev ledger.Event) bool {
	return u.active(t) && g.emit(t, ev)
}

// plant adds ev at t as an event of pattern k.
func (g *generator) plant(k int, t time.Time, ev ledger.Event) {
	if !g.emit(t, ev) {
		panic(fmt.Sprintf("demo: planted %s event at %v lies outside the window", g.planted[k].Kind, t))
	}
	g.items[len(g.items)-1].plant = k
}

// details encodes kv, pairs of a name and a value (a string, int, bool or
// []string), as a JSON object with its members in name order: the RFC 8785
// form Validate would make of it, for the names and values used here.
func details(kv ...any) json.RawMessage {
	n := len(kv) / 2
	order := make([]int, n)
	for i := range order {
		order[i] = 2 * i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(kv[a].(string), kv[b].(string)) })
	b := make([]byte, 0, 64)
	b = append(b, '{')
	for i, k := range order {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, kv[k].(string))
		b = append(b, ':')
		switch v := kv[k+1].(type) {
		case string:
			b = appendJSONString(b, v)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case bool:
			b = strconv.AppendBool(b, v)
		case []string:
			b = append(b, '[')
			for j, s := range v {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, s)
			}
			b = append(b, ']')
		default:
			panic(fmt.Sprintf("demo: details value of type %T", v))
		}
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: printable ASCII as it is,
// anything else as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// finish sorts the events by time (ties in the order they were made),
// validates them and finds the planted positions.
func (g *generator) finish() ([]ledger.Event, []Planted) {
	order := make([]int32, len(g.items))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := g.items[a].t.Compare(g.items[b].t); c != 0 {
			return c
		}
		return int(a - b)
	})
	events := make([]ledger.Event, len(g.items))
	for i, j := range order {
		it := &g.items[j]
		if err := it.ev.Validate(false); err != nil {
			panic(fmt.Sprintf("demo: generated an invalid %s event: %v", it.ev.Action, err))
		}
		events[i] = it.ev
		if it.plant >= 0 {
			g.planted[it.plant].Positions = append(g.planted[it.plant].Positions, i)
		}
	}
	slices.SortFunc(g.planted, func(a, b Planted) int { return a.Positions[0] - b.Positions[0] })
	return events, g.planted
}

func midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, t.Location())
}

func dateKey(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

func weekend(t time.Time) bool {
	return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday
}

func minutes(n int) time.Duration { return time.Duration(n) * time.Minute }

// jitter returns a random duration in [0, d).
func jitter(r *rand.Rand, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(r.Int64N(int64(d)))
}

func (g *generator) inside(t time.Time) bool {
	return !t.Before(g.start) && t.Before(g.end)
}

// at returns the time fraction f of the way through the window.
func (g *generator) at(f float64) time.Time {
	return g.start.Add(time.Duration(f * float64(g.end.Sub(g.start))))
}

// officeHours picks a time between 10:30 and 17:00 on a weekday in u's
// zone, on a day from fraction lo to hi of the window, when u is a member,
// and marks that day as one u works.
func (g *generator) officeHours(u *user, lo, hi float64) time.Time {
	for i := range 2000 {
		if i > 0 && i%100 == 0 {
			// A short window may have no workday inside [lo, hi) for this
			// person: widen it step by step to the whole history.
			lo, hi = max(0, lo-0.05), min(1, hi+0.05)
		}
		day := midnight(g.at(lo + g.rng.Float64()*(hi-lo)).In(u.office.zone))
		t := day.Add(10*time.Hour + 30*time.Minute + jitter(g.rng, 390*time.Minute))
		if weekend(day) || !g.inside(t) || !u.active(t) {
			continue
		}
		u.forced[dateKey(day)] = true
		return t
	}
	panic("demo: found no office hours for " + u.email)
}

// findDay returns local midnight, in zone z, of the day nearest after
// fraction f of the window that ok accepts, or failing that the nearest
// before it.
func (g *generator) findDay(z *time.Location, f float64, ok func(day time.Time) bool) time.Time {
	from := midnight(g.at(f).In(z))
	for _, step := range []int{1, -1} {
		day := from
		for range g.cfg.Days + 2 {
			if ok(day) {
				return day
			}
			day = day.AddDate(0, 0, step)
		}
	}
	panic("demo: found no day for a planted pattern")
}

// placeIP is where u works from on day: the office most days, else home or
// the VPN; home at weekends.
func (g *generator) placeIP(u *user, day time.Time) string {
	r := g.stream(2, uint64(u.idx), uint64(dateKey(day)))
	switch x := r.Float64(); {
	case weekend(day) || x < 0.28:
		return u.homeIP
	case x < 0.42:
		return vpnEgress[r.IntN(len(vpnEgress))]
	default:
		return u.office.egress[r.IntN(len(u.office.egress))]
	}
}

// userEvent is an event by u from where u works on t's day.
func (g *generator) userEvent(u *user, t time.Time, category, action string, tg *ledger.Target, d json.RawMessage) ledger.Event {
	return ledger.Event{
		Category: category, Action: action, Actor: u.actor(), Target: tg,
		IP: g.placeIP(u, midnight(t.In(u.office.zone))), UserAgent: u.ua, Details: d,
	}
}

func deviceTarget(d *device) *ledger.Target {
	return &ledger.Target{Type: "device", ID: d.id, Name: d.name}
}

func teamTarget(t *team) *ledger.Target {
	return &ledger.Target{Type: "team", ID: t.id, Name: t.name}
}

// stableUser returns a random member (not admin, not manager) who is in the
// account the whole window and not yet reserved, and reserves them.
func (g *generator) stableUser(role string) *user {
	for range 100000 {
		u := g.users[g.rng.IntN(len(g.users))]
		if u.role == role && !u.joiner && !u.leaver && !u.reserved {
			u.reserved = true
			return u
		}
	}
	panic("demo: ran out of " + role + "s")
}

func (g *generator) anyAdmin() *user { return g.admins[g.rng.IntN(len(g.admins))] }

// planBackground chooses who joins and who leaves during the window.
func (g *generator) planBackground() {
	for range g.n(7) {
		g.stableUser("member").joiner = true
	}
	for range g.n(5) {
		g.stableUser("member").leaver = true
	}
}
