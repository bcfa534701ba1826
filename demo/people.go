package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/auditledger/auditledger/ledger"
)

// This file is the people's own days: logins, remote sessions on their
// cloud phones, app installs and reboots, in their office's working hours,
// with quieter weekends. Each user-day draws from a stream of its own.

// userDays makes u's days, from the window's first local day to its last.
func (g *generator) userDays(u *user) {
	for day := midnight(g.start.In(u.office.zone)); day.Before(g.end); day = day.AddDate(0, 0, 1) {
		g.userDay(u, day)
	}
}

// userDay makes one local day of u's: a working day on most weekdays (and
// always on a day with admin work planned), now and then a short session
// at a weekend or a look at the mobile app, and an occasional evening
// login.
func (g *generator) userDay(u *user, day time.Time) {
	r := g.stream(1, uint64(u.idx), uint64(dateKey(day)))
	ip := g.placeIP(u, day)
	switch x := r.Float64(); {
	case u.forced[dateKey(day)] || !weekend(day) && x < 0.92:
		begin := day.Add(minutes(u.startMin-15+r.IntN(50)) + jitter(r, time.Minute))
		end := begin.Add(7*time.Hour + 30*time.Minute + jitter(r, 150*time.Minute))
		g.work(u, r, begin, end, ip, 1+r.IntN(u.team.sessions))
		if r.Float64() < 0.04 {
			g.login(u, r, day.Add(20*time.Hour+jitter(r, 3*time.Hour)), u.homeIP, u.mobileUA)
		}
	case weekend(day) && x < 0.07:
		begin := day.Add(10*time.Hour + jitter(r, 6*time.Hour))
		g.work(u, r, begin, begin.Add(30*time.Minute+jitter(r, 2*time.Hour)), ip, r.IntN(2))
	case x > 0.96:
		g.login(u, r, day.Add(11*time.Hour+jitter(r, 10*time.Hour)), u.homeIP, u.mobileUA)
	}
}

// work is a stretch of work from begin to end: a login, maybe a second
// one after lunch, remote sessions on u's devices, maybe a logout.
func (g *generator) work(u *user, r *rand.Rand, begin, end time.Time, ip string, sessions int) {
	g.login(u, r, begin, ip, u.ua)
	span := end.Sub(begin)
	if span > 4*time.Hour && r.Float64() < 0.35 {
		g.login(u, r, begin.Add(span/2+jitter(r, time.Hour)), ip, u.ua)
	}
	ev := func(action string, d *device, kv ...any) ledger.Event {
		return ledger.Event{
			Category: "device", Action: action, Actor: u.actor(), Target: deviceTarget(d),
			IP: ip, UserAgent: u.ua, Details: details(kv...),
		}
	}
	for range sessions {
		if len(u.devices) == 0 || span < 30*time.Minute {
			break
		}
		d := u.devices[r.IntN(len(u.devices))]
		s := begin.Add(3*time.Minute + jitter(r, span-25*time.Minute))
		dur := min(8*time.Minute+jitter(r, 140*time.Minute), end.Sub(s))
		sid := fmt.Sprintf("ses_%08x", r.Uint32())
		client := "web"
		if r.Float64() < 0.2 {
			client = "desktop"
		}
		g.emitUser(u, s, ev("device:session_start", d, "session_id", sid, "client", client))
		if r.Float64() < u.team.installs {
			app := apps[r.IntN(len(apps))]
			g.emitUser(u, s.Add(jitter(r, dur)), ev("device:app_install", d,
				"session_id", sid, "app", app.id, "version", app.version))
		}
		if r.Float64() < 0.08 {
			g.emitUser(u, s.Add(jitter(r, dur)), ev("device:reboot", d, "session_id", sid))
		}
		g.emitUser(u, s.Add(dur), ev("device:session_end", d, "session_id", sid, "duration_s", int(dur.Seconds())))
	}
	if r.Float64() < 0.3 {
		g.emitUser(u, end, ledger.Event{Category: "login", Action: "logout", Actor: u.actor(), IP: ip, UserAgent: u.ua})
	}
}

// login is u's login at t, after one or two failures now and then: never
// more, so that a burst stands out.
func (g *generator) login(u *user, r *rand.Rand, t time.Time, ip, ua string) {
	method := []any{"method", "sso", "idp", "okta"}
	reasons := []string{"mfa_timeout", "mfa_rejected", "sso_assertion_expired"}
	if !u.sso {
		method = []any{"method", "password", "mfa", "totp"}
		reasons = []string{"invalid_password", "invalid_password", "totp_invalid"}
	}
	if r.Float64() < 0.04 {
		for range 1 + r.IntN(2) {
			g.emitUser(u, t, ledger.Event{
				Category: "login", Action: "login", Actor: u.actor(), IP: ip, UserAgent: ua, Result: "failure",
				Details: details(append(method[:2:2], "reason", reasons[r.IntN(len(reasons))])...),
			})
			t = t.Add(20*time.Second + jitter(r, 70*time.Second))
		}
	}
	g.emitUser(u, t, ledger.Event{
		Category: "login", Action: "login", Actor: u.actor(), IP: ip, UserAgent: ua, Details: details(method...),
	})
}

// keyEvent is an event by k, from the address and with the client k is
// used from.
func keyEvent(k *apiKey, category, action string, tg *ledger.Target, d json.RawMessage) ledger.Event {
	return ledger.Event{
		Category: category, Action: action, Actor: k.actor(), Target: tg, IP: k.ip, UserAgent: k.ua, Details: d,
	}
}
