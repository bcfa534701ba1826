package demo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// This file is the account's ordinary administration, all of it by people
// in their office hours on weekdays (invites, deletes with an HR ticket,
// role and team changes, wipes with an OPS ticket, keys, security policy,
// billing, settings), and the traffic of its API keys and of the
// platform's own services, which keep their own hours.

var (
	billingSystem = &ledger.Actor{Type: "system", ID: "sys_billing", Name: "billing"}
	fleetService  = &ledger.Actor{Type: "service", ID: "svc_device_fleet", Name: "device-fleet"}
)

func (g *generator) scheduleAdminWork() {
	g.joinersAndLeavers()
	g.roleChanges()
	g.teamMoves()
	g.wipes()
	g.keyAdmin()
	g.securityPolicy()
	g.billing()
	g.settings()
}

// teamLead returns one of tm's managers, or an admin when it has none.
func (g *generator) teamLead(tm *team) *user {
	var leads []*user
	for _, m := range g.managers {
		if m.team == tm {
			leads = append(leads, m)
		}
	}
	if len(leads) == 0 {
		return g.anyAdmin()
	}
	return leads[g.rng.IntN(len(leads))]
}

func memberDetails(u *user) []any {
	return []any{"member_id", u.id, "member_email", u.email}
}

func (g *generator) joinersAndLeavers() {
	for _, u := range g.users {
		switch {
		case u.joiner:
			inviter := g.teamLead(u.team)
			t := g.officeHours(inviter, 0.05, 0.85)
			g.emit(t, g.userEvent(inviter, t, "user", "user:invite", u.target(),
				details("email", u.email, "role", u.role, "team", u.team.name)))
			// The invitee accepts within a day, in their own waking hours.
			u.from = t.Add(40*time.Minute + jitter(g.rng, 20*time.Hour))
			if local := u.from.In(u.office.zone); local.Hour() < 8 || local.Hour() >= 22 {
				day := midnight(local)
				if local.Hour() >= 22 {
					day = day.AddDate(0, 0, 1)
				}
				u.from = day.Add(8*time.Hour + 30*time.Minute + jitter(g.rng, 90*time.Minute))
			}
			ip := u.homeIP
			g.emitUser(u, u.from, ledger.Event{Category: "user", Action: "user:invite_accept", Actor: u.actor(), IP: ip, UserAgent: u.ua})
			g.login(u, g.rng, u.from.Add(time.Minute+jitter(g.rng, time.Minute)), ip, u.ua)
			add := t.Add(2*time.Minute + jitter(g.rng, 3*time.Minute))
			g.emit(add, g.userEvent(inviter, add, "team", "team:member_add", teamTarget(u.team), details(memberDetails(u)...)))
		case u.leaver:
			admin := g.anyAdmin()
			t := g.officeHours(admin, 0.10, 0.95)
			u.until = t
			rm := t.Add(-90 * time.Second)
			g.emit(rm, g.userEvent(admin, rm, "team", "team:member_remove", teamTarget(u.team), details(memberDetails(u)...)))
			g.emit(t, g.userEvent(admin, t, "user", "user:delete", u.target(),
				details("reason", "offboarding", "ticket", fmt.Sprintf("HR-%d", 1000+g.rng.IntN(900)))))
		}
	}
	// Contractors from a partner, invited as viewers and not yet joined.
	for range g.n(2) {
		inviter := g.teamLead(g.teams[0])
		t := g.officeHours(inviter, 0.1, 0.9)
		first, last := firstNames[g.rng.IntN(len(firstNames))], lastNames[g.rng.IntN(len(lastNames))]
		email := emailPart(first) + "." + emailPart(last) + "@" + PartnerDomain
		g.emit(t, g.userEvent(inviter, t, "user", "user:invite", &ledger.Target{Type: "user", ID: g.newID("usr_"), Name: email},
			details("email", email, "role", "viewer", "team", g.teams[0].name)))
	}
}

// roleChanges promotes and demotes people, never to or from admin.
func (g *generator) roleChanges() {
	for range g.n(10) {
		from, to := "member", "manager"
		switch x := g.rng.Float64(); {
		case x < 0.3:
			from, to = "member", "viewer"
		case x < 0.6:
			from, to = "viewer", "member"
		}
		u := g.tryStableUser(from)
		if u == nil {
			from, to = "member", "manager"
			u = g.stableUser(from)
		}
		admin := g.anyAdmin()
		t := g.officeHours(admin, 0.03, 0.97)
		g.emit(t, g.userEvent(admin, t, "role", "role:assign", u.target(), details("role_from", from, "role_to", to)))
		u.role = to
	}
}

// tryStableUser is stableUser, or nil when nobody has the role.
func (g *generator) tryStableUser(role string) *user {
	for _, u := range g.users {
		if u.role == role && !u.joiner && !u.leaver && !u.reserved {
			return g.stableUser(role)
		}
	}
	return nil
}

func (g *generator) teamMoves() {
	for range g.n(4) {
		u := g.stableUser("member")
		to := g.teams[g.rng.IntN(len(g.teams))]
		for to == u.team {
			to = g.teams[g.rng.IntN(len(g.teams))]
		}
		actor := g.teamLead(to)
		t := g.officeHours(actor, 0.05, 0.95)
		g.emit(t, g.userEvent(actor, t, "team", "team:member_remove", teamTarget(u.team), details(memberDetails(u)...)))
		t = t.Add(30*time.Second + jitter(g.rng, 30*time.Second))
		g.emit(t, g.userEvent(actor, t, "team", "team:member_add", teamTarget(to), details(memberDetails(u)...)))
	}
}

func (g *generator) wipes() {
	reasons := []string{
		"device reassigned to another project", "suspected malware after a test run", "customer data cleanup",
		"end of pilot", "stuck in a boot loop",
	}
	for range g.n(15) {
		actor := g.anyAdmin()
		if g.rng.Float64() < 0.6 {
			actor = g.managers[g.rng.IntN(len(g.managers))]
		}
		d := g.devices[g.rng.IntN(len(g.devices))]
		t := g.officeHours(actor, 0.02, 0.98)
		g.emit(t, g.userEvent(actor, t, "device", "device:wipe", deviceTarget(d), details(
			"mode", "full", "reason", reasons[g.rng.IntN(len(reasons))], "ticket", fmt.Sprintf("OPS-%d", 2000+g.rng.IntN(1000)))))
	}
}

// keyAdmin creates the personal key and rotates the CI key each month.
func (g *generator) keyAdmin() {
	k := g.personal
	k.created = g.officeHours(k.owner, 0.12, 0.25)
	g.emit(k.created, g.userEvent(k.owner, k.created, "api", "api_key:create",
		&ledger.Target{Type: "api_key", ID: k.id, Name: k.name},
		details("scopes", []string{"reports:read", "devices:read", "devices:reboot"}, "expires_in_days", 90)))
	n := max(1, g.cfg.Days/30)
	for i := range n {
		actor := g.teamLead(g.teams[0]) // Mobile QA looks after the CI key
		t := g.officeHours(actor, (float64(i)+0.2)/float64(n), (float64(i)+0.8)/float64(n))
		g.emit(t, g.userEvent(actor, t, "api", "api_key:rotate", &ledger.Target{Type: "api_key", ID: g.ci.id, Name: g.ci.name},
			details("reason", "scheduled rotation")))
	}
}

func (g *generator) securityPolicy() {
	admin := g.anyAdmin()
	t := g.officeHours(admin, 0.3, 0.6)
	ticket := fmt.Sprintf("SEC-%d", 300+g.rng.IntN(200))
	g.emit(t, g.userEvent(admin, t, "security", "security:2fa_required_disabled", nil,
		details("ticket", ticket, "reason", "re-enrolling hardware keys after the IdP migration")))
	t = t.Add(20*time.Minute + jitter(g.rng, 20*time.Minute))
	g.emit(t, g.userEvent(admin, t, "security", "security:2fa_required_enabled", nil, details("ticket", ticket)))

	admin = g.anyAdmin()
	t = g.officeHours(admin, 0.1, 0.9)
	g.emit(t, g.userEvent(admin, t, "security", "security:sso_config_update", nil,
		details("provider", "okta", "change", "signing certificate rotated")))
	for _, cidr := range []string{"192.0.2.96/28", "2001:db8:7e0::/48"} {
		admin = g.anyAdmin()
		t = g.officeHours(admin, 0.05, 0.95)
		g.emit(t, g.userEvent(admin, t, "security", "security:ip_allowlist_update", nil,
			details("added", []string{cidr}, "removed", []string{})))
	}
}

func (g *generator) billing() {
	seats := g.cfg.Users
	for m := time.Date(g.start.Year(), g.start.Month(), 1, 6, 0, 0, 0, time.UTC); m.Before(g.end); m = m.AddDate(0, 1, 0) {
		g.emit(m, ledger.Event{Category: "billing", Action: "billing:invoice_paid", Actor: billingSystem, Details: details(
			"invoice_id", m.Format("in_200601"), "amount", fmt.Sprintf("%d.00", seats*49+len(g.devices)*29),
			"currency", "USD", "seats", seats)})
	}
	admin := g.anyAdmin()
	t := g.officeHours(admin, 0.4, 0.6)
	g.emit(t, g.userEvent(admin, t, "billing", "billing:plan_change", nil, details("plan_from", "business", "plan_to", "enterprise")))
	admin = g.anyAdmin()
	t = g.officeHours(admin, 0.2, 0.35)
	g.emit(t, g.userEvent(admin, t, "billing", "billing:payment_method_update", nil, details("brand", "visa", "last4", "4242")))

	// Reports are read-only: the finance admin's weekly look at usage,
	// and now and then another admin's.
	report := func(u *user, t time.Time, id, name string) {
		ev := g.userEvent(u, t, "billing", "report:view", &ledger.Target{Type: "report", ID: id, Name: name}, nil)
		ev.ReadOnly = true
		g.emit(t, ev)
	}
	weeks := g.cfg.Days / 7
	for w := range weeks {
		u := g.admins[0]
		report(u, g.officeHours(u, float64(w)/float64(weeks), float64(w+1)/float64(weeks)), "rpt_usage_weekly", "Weekly usage")
	}
	for range g.n(6) {
		u := g.anyAdmin()
		report(u, g.officeHours(u, 0, 1), "rpt_device_utilization", "Device utilization")
	}
}

func (g *generator) settings() {
	settings := []struct {
		name   string
		values []any
		now    int
	}{
		{name: "session_timeout_minutes", values: []any{30, 60, 120}},
		{name: "device_idle_timeout_minutes", values: []any{15, 30, 45}},
		{name: "screenshot_retention_days", values: []any{7, 30, 90}},
		{name: "clipboard_sync", values: []any{false, true}},
		{name: "default_device_region", values: []any{"us-east", "eu-west", "ap-southeast"}},
		{name: "session_recording", values: []any{true, false}},
	}
	type change struct {
		t     time.Time
		admin *user
	}
	changes := make([]change, max(2, g.cfg.Days/4))
	for i := range changes {
		changes[i].admin = g.anyAdmin()
		changes[i].t = g.officeHours(changes[i].admin, 0.02, 0.98)
	}
	slices.SortFunc(changes, func(a, b change) int { return a.t.Compare(b.t) })
	for _, c := range changes {
		s := &settings[g.rng.IntN(len(settings))]
		to := (s.now + 1 + g.rng.IntN(len(s.values)-1)) % len(s.values)
		g.emit(c.t, g.userEvent(c.admin, c.t, "settings", "settings:update", nil,
			details("setting", s.name, "from", s.values[s.now], "to", s.values[to])))
		s.now = to
	}
	admin := g.anyAdmin()
	t := g.officeHours(admin, 0.3, 0.7)
	g.emit(t, g.userEvent(admin, t, "settings", "settings:webhook_update", nil,
		details("url", "https://hooks."+Domain+"/audit", "events", []string{"device.*", "user.*"})))
}

// runKeys makes the API keys' and services' traffic, day by UTC day: CI
// runs through the New York working day and a nightly regression,
// provisioning on Wednesdays, the SCIM sync at night, fleet OS updates on
// Tuesday nights, and the personal key's Monday report.
func (g *generator) runKeys() {
	var qa []*device
	for _, d := range g.devices {
		if d.team == g.teams[0] {
			qa = append(qa, d)
		}
	}
	run, fleet := 48211, 0
	for day := midnight(g.start); day.Before(g.end); day = day.AddDate(0, 0, 1) {
		r := g.stream(3, uint64(dateKey(day)), 0)
		g.ciRun(r, &run, qa, day.Add(5*time.Hour+jitter(r, 10*time.Minute)), g.n(8))
		if !weekend(day) {
			for slot := 13 * 60; slot < 23*60; slot += 30 {
				if r.Float64() < 0.55 {
					g.ciRun(r, &run, qa, day.Add(minutes(slot)+jitter(r, 20*time.Minute)), g.n(float64(1+r.IntN(4))))
				}
			}
		}
		switch day.Weekday() {
		case time.Wednesday:
			g.provision(r, day.Add(15*time.Hour+jitter(r, time.Hour)))
		case time.Tuesday:
			t := day.Add(2*time.Hour + jitter(r, 10*time.Minute))
			batch := max(1, len(g.devices)/8)
			for range batch {
				d := g.devices[fleet%len(g.devices)]
				fleet++
				g.emit(t, ledger.Event{Category: "device", Action: "device:os_update", Actor: fleetService,
					Target: deviceTarget(d), Details: details("from", "2025.12.1", "to", "2026.01.2")})
				t = t.Add(20*time.Second + jitter(r, 40*time.Second))
			}
		}
		t := day.Add(time.Hour + jitter(r, 5*time.Minute))
		for range r.IntN(g.n(4)) {
			u := g.users[r.IntN(len(g.users))]
			fields := []string{"title", "department", "manager", "phone"}
			if u.active(t) {
				g.emit(t, keyEvent(g.scim, "user", "user:update", u.target(),
					details("source", "scim", "fields", []string{fields[r.IntN(len(fields))]})))
			}
			t = t.Add(jitter(r, 2*time.Second))
		}
	}
	g.reportingScript()
}

// ciRun is one CI run: each of k devices reset, then the build installed.
func (g *generator) ciRun(r *rand.Rand, run *int, qa []*device, t time.Time, k int) {
	*run++
	id := fmt.Sprintf("run_%d", *run)
	app := apps[r.IntN(2)]
	build := fmt.Sprintf("%s+%d", app.version, *run)
	for range k {
		d := qa[r.IntN(len(qa))]
		g.emit(t, keyEvent(g.ci, "device", "device:reset", deviceTarget(d), details("run_id", id)))
		install := keyEvent(g.ci, "device", "device:app_install", deviceTarget(d),
			details("run_id", id, "app", app.id, "version", app.version, "build", build))
		if r.Float64() < 0.02 {
			install.Result = "failure"
			install.Details = details("run_id", id, "app", app.id, "version", app.version, "build", build, "reason", "install_timeout")
		}
		g.emit(t.Add(20*time.Second+jitter(r, 90*time.Second)), install)
		t = t.Add(jitter(r, 15*time.Second))
	}
}

// provision is the provisioning key adding new devices, each with a number.
func (g *generator) provision(r *rand.Rand, t time.Time) {
	for range g.n(float64(1 + r.IntN(3))) {
		tm := pick(r, g.teams, func(t *team) int { return t.devWeight })
		m := models[r.IntN(len(models))]
		d := &device{id: g.newID("dev_"), name: fmt.Sprintf("%s-%s-%03d", tm.slug, m.slug, 500+r.IntN(500)), team: tm}
		g.emit(t, keyEvent(g.tf, "device", "device:provision", deviceTarget(d),
			details("model", m.name, "region", "us-east", "team", tm.name)))
		t = t.Add(30*time.Second + jitter(r, time.Minute))
		g.emit(t, keyEvent(g.tf, "device", "device:number_assign", deviceTarget(d),
			details("number", fmt.Sprintf("+1-202-555-01%02d", r.IntN(100)))))
		t = t.Add(jitter(r, 20*time.Second))
	}
}

// reportingScript is the personal key's job, Mondays at 07:15 in its
// owner's zone: two read-only listings and a reboot of what is stuck.
func (g *generator) reportingScript() {
	k := g.personal
	for day := midnight(k.created.In(k.owner.office.zone)); day.Before(g.end); day = day.AddDate(0, 0, 1) {
		if day.Weekday() != time.Monday {
			continue
		}
		r := g.stream(4, uint64(dateKey(day)), 0)
		t := day.Add(7*time.Hour + 15*time.Minute + jitter(r, 30*time.Second))
		if !t.After(k.created) {
			continue
		}
		ev := keyEvent(k, "billing", "report:view", &ledger.Target{Type: "report", ID: "rpt_usage_weekly", Name: "Weekly usage"}, nil)
		ev.ReadOnly = true
		g.emit(t, ev)
		t = t.Add(2*time.Second + jitter(r, 3*time.Second))
		ev = keyEvent(k, "device", "device:list", nil, details("filter", "status=offline"))
		ev.ReadOnly = true
		g.emit(t, ev)
		for range r.IntN(3) {
			t = t.Add(time.Second + jitter(r, 2*time.Second))
			g.emit(t, keyEvent(k, "device", "device:reboot", deviceTarget(g.devices[r.IntN(len(g.devices))]),
				details("reason", "offline for more than 24h")))
		}
	}
}
