package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/auditledger/auditledger/proofs"
)

// Alarm kinds (SPEC §6).
const (
	// KindBadSignature: the log served a checkpoint that does not verify with its key.
	KindBadSignature = "bad_signature"
	// KindRollback: the log served a checkpoint smaller than one verified before.
	KindRollback = "rollback"
	// KindFork: the log served (or pushed) a checkpoint that is not an
	// append-only extension of one verified before.
	KindFork = "fork"
)

// DefaultInterval is the monitor's default time between two checks.
const DefaultInterval = time.Second

// Alarm is what the monitor found: the JSON it posts to the alert URL, and
// the error Run returns.
type Alarm struct {
	Log    string `json:"log"`
	Kind   string `json:"kind"`
	Old    string `json:"old"`
	New    string `json:"new"`
	Detail string `json:"detail"`
}

// Error describes the alarm.
func (a *Alarm) Error() string { return a.Kind + " on log " + a.Log + ": " + a.Detail }

// MonitorConfig configures a Monitor.
type MonitorConfig struct {
	// URL is the server's base URL; the monitor reads URL/v1/logs/Log/…. Required.
	URL string
	// Log is the log id. Required.
	Log string
	// Verifier is the log's verifier key, from a source the monitor trusts. Required.
	Verifier note.Verifier
	// State keeps the latest verified checkpoint. Required.
	State *State
	// Interval is the time between two checks.
	Interval time.Duration
	// AlertURL, when set, receives the Alarm as JSON (POST) before Run returns it.
	AlertURL string
	// Client sends the requests; nil means one with a 10 s timeout.
	Client *http.Client
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
}

// Monitor follows one log's checkpoints: each must verify with the log's key
// and extend the last one verified (SPEC §6 "Monitor").
type Monitor struct {
	cfg    MonitorConfig
	base   string
	alarms chan *Alarm
}

// NewMonitor checks cfg and returns a Monitor.
func NewMonitor(cfg MonitorConfig) (*Monitor, error) {
	if cfg.URL == "" || cfg.Log == "" || cfg.Verifier == nil || cfg.State == nil {
		return nil, errors.New("monitor: url, log, verifier and state are required")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("monitor: bad url %q", cfg.URL)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: DefaultTimeout}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Monitor{cfg: cfg, base: strings.TrimRight(cfg.URL, "/") + "/v1/logs/" + url.PathEscape(cfg.Log), alarms: make(chan *Alarm, 1)}, nil
}

// Raise hands the monitor an alarm found elsewhere (the witness endpoint);
// Run returns it. It never blocks: a second alarm while one waits is dropped.
func (m *Monitor) Raise(a *Alarm) {
	select {
	case m.alarms <- a:
	default:
	}
}

// Run checks at once and then every Interval until ctx is done (it then
// returns nil) or an alarm is raised: it then posts the alarm to AlertURL and
// returns it. Network errors and 5xx answers are logged and retried.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		var a *Alarm
		if err := m.Check(ctx); errors.As(err, &a) {
			m.Alert(ctx, a)
			return a
		} else if err != nil && ctx.Err() == nil {
			m.cfg.Logger.Warn("check failed; will retry", "log", m.cfg.Log, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case a := <-m.alarms:
			m.Alert(ctx, a)
			return a
		case <-t.C:
		}
	}
}

// Check fetches the latest checkpoint once and checks it against the state:
// it returns an *Alarm for a bad signature, a rollback or a fork, another
// error when the server could not be read (retry later), nil when the
// checkpoint was verified (and saved, if new).
func (m *Monitor) Check(ctx context.Context) error {
	// The witness endpoint may advance the state while we fetch; a
	// checkpoint fetched before that is then stale, not a rollback.
	for attempt := 0; ; attempt++ {
		err := m.check(ctx)
		if errors.Is(err, errStateMoved) && attempt < 3 {
			continue
		}
		return err
	}
}

var errStateMoved = errors.New("the state moved during the check")

func (m *Monitor) check(ctx context.Context) error {
	prev, seq := m.cfg.State.Latest()
	msg, err := m.get(ctx, "/checkpoint")
	if err != nil {
		return err
	}
	c, _, err := proofs.OpenCheckpoint(msg, m.cfg.Verifier)
	if err != nil {
		return &Alarm{Log: m.cfg.Log, Kind: KindBadSignature, Old: noteOf(prev), New: string(msg),
			Detail: "the served checkpoint does not verify with the log's key: " + err.Error()}
	}
	signed, err := logSignedOnly(msg, m.cfg.Verifier)
	if err != nil {
		return &Alarm{Log: m.cfg.Log, Kind: KindBadSignature, Old: noteOf(prev), New: string(msg), Detail: err.Error()}
	}
	next := &Verified{Checkpoint: c, Note: signed}
	var proof [][]byte
	if prev != nil && c.Size > prev.Size && prev.Size > 0 {
		var resp struct {
			Hashes []string `json:"hashes"`
		}
		b, err := m.get(ctx, fmt.Sprintf("/proofs/consistency?from=%d&to=%d", prev.Size, c.Size))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &resp); err != nil {
			return fmt.Errorf("couldn't read the consistency proof: %w", err)
		}
		if proof, err = proofs.DecodeHashes(resp.Hashes); err != nil {
			return &Alarm{Log: m.cfg.Log, Kind: KindFork, Old: string(prev.Note), New: string(signed),
				Detail: fmt.Sprintf("the consistency proof %d→%d is malformed: %v", prev.Size, c.Size, err)}
		}
	}
	return m.cfg.State.Update(func(cur *Verified) (*Verified, error) {
		if _, now := m.cfg.State.seqLocked(); now != seq {
			return nil, errStateMoved
		}
		switch {
		case cur == nil:
			m.cfg.Logger.Info("trusting the first checkpoint", "log", m.cfg.Log, "size", c.Size)
			return next, nil
		case c.Size < cur.Size:
			return nil, &Alarm{Log: m.cfg.Log, Kind: KindRollback, Old: string(cur.Note), New: string(signed),
				Detail: fmt.Sprintf("the log serves size %d after size %d was verified", c.Size, cur.Size)}
		case c.Size == cur.Size:
			if c.Root != cur.Root || c.Chain != cur.Chain {
				return nil, &Alarm{Log: m.cfg.Log, Kind: KindFork, Old: string(cur.Note), New: string(signed),
					Detail: fmt.Sprintf("two checkpoints of size %d with different roots or chain hashes", c.Size)}
			}
			return nil, nil
		case cur.Size == 0:
			return next, nil
		default:
			if proofs.VerifyConsistency(cur.Size, c.Size, proof, cur.Root, c.Root) != nil {
				return nil, &Alarm{Log: m.cfg.Log, Kind: KindFork, Old: string(cur.Note), New: string(signed),
					Detail: fmt.Sprintf("the log gives no valid consistency proof from size %d to %d", cur.Size, c.Size)}
			}
			m.cfg.Logger.Debug("verified", "log", m.cfg.Log, "size", c.Size)
			return next, nil
		}
	})
}

// seqLocked returns the sequence number; the caller holds s.mu (in Update).
func (s *State) seqLocked() (*Verified, uint64) { return s.cur, s.seq }

// get reads BASE/v1/logs/LOG + path; any answer but 200 is an error to retry.
func (m *Monitor) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("couldn't reach the server: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("couldn't read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: server answered %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// Alert logs the alarm and posts it to AlertURL (when set), trying three
// times; it goes out even while ctx is being cancelled.
func (m *Monitor) Alert(ctx context.Context, a *Alarm) {
	m.cfg.Logger.Error("ALARM", "log", a.Log, "kind", a.Kind, "detail", a.Detail)
	if m.cfg.AlertURL == "" {
		return
	}
	body, _ := json.Marshal(a)
	for i := 0; i < 3; i++ {
		// The alert goes out even when ctx is being cancelled.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultTimeout)
		req, err := http.NewRequestWithContext(actx, http.MethodPost, m.cfg.AlertURL, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			var resp *http.Response
			if resp, err = m.cfg.Client.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					cancel()
					return
				}
				err = fmt.Errorf("alert URL answered %s", resp.Status)
			}
		}
		cancel()
		m.cfg.Logger.Error("couldn't post the alert", "err", err)
		time.Sleep(time.Second)
	}
}

func noteOf(v *Verified) string {
	if v == nil {
		return ""
	}
	return string(v.Note)
}

// logSignedOnly returns msg re-serialised with the log's signature only.
func logSignedOnly(msg []byte, v note.Verifier) ([]byte, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("the served checkpoint does not verify with the log's key: %w", err)
	}
	return note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs})
}
