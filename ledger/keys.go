package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Role is what an API key may do (SPEC §4).
type Role string

// The roles, from most to least powerful.
const (
	// RoleOperator has every right on every log, and creates logs and keys.
	RoleOperator Role = "operator"
	// RoleAdmin has every right on one log.
	RoleAdmin Role = "admin"
	// RoleAuditor reads one log: entries, proofs, exports, bundles.
	RoleAuditor Role = "auditor"
	// RoleIngest appends to one log.
	RoleIngest Role = "ingest"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleOperator, RoleAdmin, RoleAuditor, RoleIngest:
		return true
	}
	return false
}

// tokenPrefix starts every token, so that a leaked one is easy to recognise.
const tokenPrefix = "alk_"

const globalKey = 'k'

// APIKey is a stored API key. The token itself is never stored, only its
// SHA-256.
type APIKey struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Log     string    `json:"log,omitempty"` // empty for operator keys
	Created time.Time `json:"created"`
	Revoked bool      `json:"revoked,omitempty"`
	// SecretHash is the hex SHA-256 of the token's secret part.
	SecretHash string `json:"secret_hash"`
}

func apiKeyKey(id string) []byte { return append([]byte{prefixGlobal, globalKey}, id...) }

// CreateKey makes an API key and returns it with its token, which is shown
// only this once. An operator key has no log; every other key has one.
func (l *Ledger) CreateKey(ctx context.Context, name string, role Role, logID string) (*APIKey, string, error) {
	release, err := l.enter()
	if err != nil {
		return nil, "", err
	}
	defer release()
	if err := l.writable(); err != nil {
		return nil, "", err
	}
	if !role.Valid() {
		return nil, "", fmt.Errorf("%w: role %q must be operator, admin, auditor or ingest", ErrInvalid, role)
	}
	if name == "" || len(name) > 128 {
		return nil, "", fmt.Errorf("%w: name must be 1–128 bytes", ErrInvalid)
	}
	if role == RoleOperator {
		if logID != "" {
			return nil, "", fmt.Errorf("%w: an operator key is not scoped to a log", ErrInvalid)
		}
	} else if _, err := l.handle(logID); err != nil {
		return nil, "", err
	}
	idb := make([]byte, 8)
	secret := make([]byte, 24)
	if _, err := rand.Read(idb); err != nil {
		return nil, "", err
	}
	if _, err := rand.Read(secret); err != nil {
		return nil, "", err
	}
	id := hex.EncodeToString(idb)
	sec := base64.RawURLEncoding.EncodeToString(secret)
	sum := sha256.Sum256([]byte(sec))
	k := &APIKey{ID: id, Name: name, Role: role, Log: logID, Created: l.cfg.Now().UTC(), SecretHash: hex.EncodeToString(sum[:])}
	if err := l.putKey(k); err != nil {
		return nil, "", err
	}
	return k, tokenPrefix + id + "_" + sec, nil
}

// ErrRevokedToken is returned by EnsureOperatorToken for a token whose key
// was revoked.
var ErrRevokedToken = errors.New("the bootstrap token's key was revoked")

// EnsureOperatorToken makes sure an operator key with exactly this token
// exists (the AUDITLEDGER_ADMIN_TOKEN bootstrap). The key's id is derived
// from the token, so calling it at every start stores one key. A key that
// was revoked stays revoked: it returns ErrRevokedToken (with the key's id)
// and the token does not authenticate; another token makes another key.
func (l *Ledger) EnsureOperatorToken(ctx context.Context, token string) error {
	release, err := l.enter()
	if err != nil {
		return err
	}
	defer release()
	if err := l.writable(); err != nil {
		return err
	}
	if len(token) < 16 {
		return fmt.Errorf("%w: the admin token must be at least 16 characters", ErrInvalid)
	}
	sum := sha256.Sum256([]byte(token))
	id := "boot" + hex.EncodeToString(sum[:6])
	switch k, err := l.key(id); {
	case err == nil && k.Revoked:
		return fmt.Errorf("key %s: %w", id, ErrRevokedToken)
	case err == nil:
		return nil
	case !errors.Is(err, ErrNotFound):
		return err
	}
	k := &APIKey{ID: id, Name: "bootstrap operator", Role: RoleOperator, Created: l.cfg.Now().UTC(), SecretHash: "raw:" + hex.EncodeToString(sum[:])}
	return l.putKey(k)
}

// putKey stores a key record (synced) and puts it in the key cache, under
// keyMu, so that a revocation is seen by the next Authenticate.
func (l *Ledger) putKey(k *APIKey) error {
	v, _ := json.Marshal(k)
	l.keyMu.Lock()
	defer l.keyMu.Unlock()
	if err := l.db.Set(apiKeyKey(k.ID), v, pebble.Sync); err != nil {
		delete(l.keyCache, k.ID) // whatever the store holds now, read it again
		return fmt.Errorf("couldn't store key %s: %w", k.ID, err)
	}
	kk := *k
	l.keyCache[k.ID] = &kk
	return nil
}

// cachedKey is key through the key cache: every key record is written by
// putKey, which updates the cache under the same lock, so the cache never
// holds a value older than the store's. Unknown ids are not cached. The
// caller gets its own copy.
func (l *Ledger) cachedKey(id string) (*APIKey, error) {
	l.keyMu.Lock()
	defer l.keyMu.Unlock()
	k, ok := l.keyCache[id]
	if !ok {
		var err error
		if k, err = l.key(id); err != nil {
			return nil, err
		}
		l.keyCache[id] = k
	}
	kk := *k
	return &kk, nil
}

func (l *Ledger) key(id string) (*APIKey, error) {
	v, closer, err := l.db.Get(apiKeyKey(id))
	if err == pebble.ErrNotFound {
		return nil, fmt.Errorf("key %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read key %q: %w", id, err)
	}
	defer closer.Close()
	var k APIKey
	if err := json.Unmarshal(v, &k); err != nil {
		return nil, fmt.Errorf("couldn't parse key %q: %w", id, err)
	}
	return &k, nil
}

// Authenticate returns the live key a bearer token belongs to, or ErrNotFound.
// The secret is compared in constant time. Keys are read through an
// in-memory cache that every key write updates (putKey), so revocation is
// seen at once.
func (l *Ledger) Authenticate(token string) (*APIKey, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	var id, secret, want string
	if rest, ok := strings.CutPrefix(token, tokenPrefix); ok {
		var found bool
		id, secret, found = strings.Cut(rest, "_")
		if !found {
			return nil, ErrNotFound
		}
		sum := sha256.Sum256([]byte(secret))
		want = hex.EncodeToString(sum[:])
	} else {
		sum := sha256.Sum256([]byte(token))
		id = "boot" + hex.EncodeToString(sum[:6])
		want = "raw:" + hex.EncodeToString(sum[:])
	}
	if id == "" || len(id) > 64 {
		return nil, ErrNotFound
	}
	k, err := l.cachedKey(id)
	if err != nil {
		return nil, ErrNotFound
	}
	if subtle.ConstantTimeCompare([]byte(k.SecretHash), []byte(want)) != 1 || k.Revoked {
		return nil, ErrNotFound
	}
	return k, nil
}

// Keys lists the keys of one log, or every key when logID is empty.
func (l *Ledger) Keys(logID string) ([]*APIKey, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	iter, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixGlobal, globalKey},
		UpperBound: []byte{prefixGlobal, globalKey + 1},
	})
	if err != nil {
		return nil, err
	}
	defer iter.Close()
	var out []*APIKey
	for iter.First(); iter.Valid(); iter.Next() {
		var k APIKey
		if err := json.Unmarshal(iter.Value(), &k); err != nil {
			return nil, fmt.Errorf("couldn't parse key record: %w", err)
		}
		if logID == "" || k.Log == logID {
			out = append(out, &k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, iter.Error()
}

// Key returns one key by id.
func (l *Ledger) Key(id string) (*APIKey, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	return l.key(id)
}

// RevokeKey marks a key revoked; it stops working at once.
func (l *Ledger) RevokeKey(ctx context.Context, id string) (*APIKey, error) {
	release, err := l.enter()
	if err != nil {
		return nil, err
	}
	defer release()
	if err := l.writable(); err != nil {
		return nil, err
	}
	k, err := l.key(id)
	if err != nil {
		return nil, err
	}
	if k.Revoked {
		return k, nil
	}
	k.Revoked = true
	if err := l.putKey(k); err != nil {
		return nil, err
	}
	return k, nil
}
