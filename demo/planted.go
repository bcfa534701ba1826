package demo

import (
	"fmt"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// This file plants the patterns of the Kind* constants, one each. Every
// planted event goes through plant, which panics if it would fall outside
// the window, and the background is made so that it holds none of them:
// role changes to admin, invites, deletes and wipes happen in office hours,
// invites go to Domain or PartnerDomain, every other wipe has a ticket, no
// other security:sso_disabled exists, and people fail a login at most
// twice in a row.

const (
	// burstIP is the address of the planted failed-login burst; nobody
	// else uses it.
	burstIP = "203.0.113.201"

	// nightIP is where the planted SSO change comes from; nobody else
	// uses it.
	nightIP = "198.51.100.66"
)

// plantAdmin returns an admin no earlier pattern has used, while there is
// one, so that each pattern points at someone else.
func (g *generator) plantAdmin() *user {
	for _, i := range g.rng.Perm(len(g.admins)) {
		if a := g.admins[i]; !a.reserved {
			a.reserved = true
			return a
		}
	}
	return g.anyAdmin()
}

// plantManager is plantAdmin for a manager, or an admin when every
// manager is taken.
func (g *generator) plantManager() *user {
	if m := g.tryStableUser("manager"); m != nil {
		return m
	}
	return g.plantAdmin()
}

func (g *generator) pattern(kind, description string) int {
	g.planted = append(g.planted, Planted{Kind: kind, Description: description})
	return len(g.planted) - 1
}

func (g *generator) plantAll() {
	g.plantFreeMailInvite()
	g.plantOffHoursAdminGrant()
	g.plantFailedLoginBurst()
	g.plantTyposquatInvite()
	g.plantWipeWithoutTicket()
	g.plantMassUserDelete()
	g.plantSSODisabledAtNight()
}

// localStamp writes t as the local time of u's office.
func localStamp(u *user, t time.Time) string {
	return t.In(u.office.zone).Format("Mon 2006-01-02 15:04 MST") + " (" + u.office.name + ")"
}

func (g *generator) plantFreeMailInvite() {
	inviter := g.plantManager()
	t := g.officeHours(inviter, 0.15, 0.30)
	first, last := firstNames[g.rng.IntN(len(firstNames))], lastNames[g.rng.IntN(len(lastNames))]
	email := fmt.Sprintf("%s.%s%d@gmail.com", emailPart(first), emailPart(last), 80+g.rng.IntN(20))
	k := g.pattern(KindFreeMailInvite, fmt.Sprintf("%s (%s, %s) invited the free-mail address %s on %s",
		inviter.name, inviter.role, inviter.team.name, email, localStamp(inviter, t)))
	g.plant(k, t, g.userEvent(inviter, t, "user", "user:invite",
		&ledger.Target{Type: "user", ID: g.newID("usr_"), Name: email},
		details("email", email, "role", "member", "team", inviter.team.name)))
}

func (g *generator) plantOffHoursAdminGrant() {
	actor, target := g.plantAdmin(), g.stableUser("member")
	day := g.findDay(actor.office.zone, 0.35, func(d time.Time) bool {
		return d.Weekday() == time.Saturday && g.inside(d.Add(2*time.Hour)) && g.inside(d.Add(4*time.Hour))
	})
	login := day.Add(2*time.Hour + 49*time.Minute + jitter(g.rng, 4*time.Minute))
	g.emit(login, ledger.Event{
		Category: "login", Action: "login", Actor: actor.actor(), IP: actor.homeIP, UserAgent: actor.ua,
		Details: details("method", "sso", "idp", "okta"),
	})
	t := day.Add(3*time.Hour + jitter(g.rng, 8*time.Minute))
	k := g.pattern(KindOffHoursAdminGrant, fmt.Sprintf("%s made %s (%s) an admin at %s, in the small hours of a Saturday",
		actor.name, target.name, target.email, localStamp(actor, t)))
	g.plant(k, t, ledger.Event{
		Category: "role", Action: "role:assign", Actor: actor.actor(), Target: target.target(),
		IP: actor.homeIP, UserAgent: actor.ua, Details: details("role_from", "member", "role_to", "admin"),
	})
	target.role = "admin"
}

func (g *generator) plantFailedLoginBurst() {
	day := g.findDay(time.UTC, 0.50, func(d time.Time) bool {
		return !weekend(d) && g.inside(d) && g.inside(d.Add(24*time.Hour))
	})
	t := day.Add(2*time.Hour + jitter(g.rng, 3*time.Hour))
	var targets []*user
	for _, u := range g.users {
		if !u.sso && !u.joiner && !u.leaver && !u.reserved && len(targets) < 6 {
			u.reserved = true
			targets = append(targets, u)
		}
	}
	for len(targets) < 3 {
		targets = append(targets, g.stableUser("member"))
	}
	k := g.pattern(KindFailedLoginBurst, fmt.Sprintf("12 failed password logins against %d accounts from %s, starting %s UTC",
		len(targets), burstIP, t.Format("Mon 2006-01-02 15:04:05")))
	for i := range 12 {
		u := targets[i%len(targets)]
		g.plant(k, t, ledger.Event{
			Category: "login", Action: "login", Actor: u.actor(), IP: burstIP, UserAgent: "python-requests/2.31.0",
			Result: "failure", Details: details("method", "password", "reason", "invalid_password"),
		})
		t = t.Add(10*time.Second + jitter(g.rng, 10*time.Second))
	}
}

func (g *generator) plantTyposquatInvite() {
	inviter := g.plantAdmin()
	t := g.officeHours(inviter, 0.55, 0.70)
	email := "it-helpdesk@" + TyposquatDomain
	k := g.pattern(KindTyposquatInvite, fmt.Sprintf("%s invited %s, on a look-alike of %s, as an admin on %s",
		inviter.name, email, Domain, localStamp(inviter, t)))
	g.plant(k, t, g.userEvent(inviter, t, "user", "user:invite",
		&ledger.Target{Type: "user", ID: g.newID("usr_"), Name: email},
		details("email", email, "role", "admin", "team", inviter.team.name)))
}

func (g *generator) plantWipeWithoutTicket() {
	actor := g.plantManager()
	d := g.devices[g.rng.IntN(len(g.devices))]
	t := g.officeHours(actor, 0.65, 0.75)
	k := g.pattern(KindWipeWithoutTicket, fmt.Sprintf("%s wiped device %s (%s) with no ticket or reason on %s",
		actor.name, d.name, d.id, localStamp(actor, t)))
	g.plant(k, t, g.userEvent(actor, t, "device", "device:wipe", deviceTarget(d), details("mode", "full")))
}

func (g *generator) plantMassUserDelete() {
	actor := g.plantAdmin()
	day := g.findDay(actor.office.zone, 0.78, func(d time.Time) bool {
		return !weekend(d) && g.inside(d.Add(18*time.Hour)) && g.inside(d.Add(20*time.Hour))
	})
	actor.forced[dateKey(day)] = true
	t := day.Add(18*time.Hour + 40*time.Minute + jitter(g.rng, 10*time.Minute))
	k := g.pattern(KindMassUserDelete, fmt.Sprintf("%s deleted 6 users within 5 minutes, from %s",
		actor.name, localStamp(actor, t)))
	for range 6 {
		v := g.stableUser("member")
		v.until = t
		g.plant(k, t, g.userEvent(actor, t, "user", "user:delete", v.target(), nil))
		t = t.Add(25*time.Second + jitter(g.rng, 25*time.Second))
	}
}

func (g *generator) plantSSODisabledAtNight() {
	actor := g.plantAdmin()
	day := g.findDay(actor.office.zone, 0.85, func(d time.Time) bool {
		return !weekend(d) && g.inside(d.Add(23*time.Hour)) && g.inside(d.Add(26*time.Hour))
	})
	ev := func(category, action string, d []any) ledger.Event {
		return ledger.Event{Category: category, Action: action, Actor: actor.actor(), IP: nightIP, UserAgent: actor.ua,
			Details: details(d...)}
	}
	g.emit(day.Add(23*time.Hour+31*time.Minute+jitter(g.rng, 5*time.Minute)),
		ev("login", "login", []any{"method", "sso", "idp", "okta"}))
	off := day.Add(23*time.Hour + 42*time.Minute + jitter(g.rng, 5*time.Minute))
	g.emit(day.Add(24*time.Hour+12*time.Minute+jitter(g.rng, 5*time.Minute)),
		ev("login", "login", []any{"method", "password", "mfa", "totp"}))
	on := day.Add(25*time.Hour + 3*time.Minute + jitter(g.rng, 10*time.Minute))
	k := g.pattern(KindSSODisabledAtNight, fmt.Sprintf("%s disabled SSO at %s from %s and enabled it again at %s",
		actor.name, localStamp(actor, off), nightIP, on.In(actor.office.zone).Format("15:04")))
	g.plant(k, off, ev("security", "security:sso_disabled", []any{"provider", "okta"}))
	g.plant(k, on, ev("security", "security:sso_enabled", []any{"provider", "okta"}))
}
