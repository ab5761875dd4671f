// Package session is the app's server-side session (scs): who is logged in. It is populated once per
// login, after the session JWT has been verified, and from then on it alone authenticates requests.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Keys inside the scs session. Only strings are stored, so scs's gob codec needs no registration.
const (
	keyUserID    = "user_id"
	keyName      = "name"
	keyEmail     = "email"
	keySessionID = "provider_sid"
	keyPublicID  = "public_id"
)

// User is the logged-in person as the session remembers them.
type User struct {
	ID                string
	Name              string
	Email             string
	ProviderSessionID string // the provider session ("sid") the login came from, revoked at logout
	PublicID          string // this app session's name on the account page (never its token)
}

// Device is where a login comes from, kept with its session for the account page.
type Device struct {
	IP        string
	UserAgent string
}

// Created describes the session a login creates, for Store.CreateCtx.
type Created struct {
	UserID            string
	ProviderSessionID string
	PublicID          string
	Device            Device
	At                time.Time
}

// Options configures the session cookie and lifetimes.
type Options struct {
	Secure      bool          // https: Secure flag and the __Host- cookie prefix
	Lifetime    time.Duration // absolute lifetime of a login
	IdleTimeout time.Duration // inactivity after which the login ends
}

// CookieName returns the session cookie's name for the given scheme.
func CookieName(secure bool) string {
	if secure {
		return "__Host-latchkey_session"
	}
	return "latchkey_session"
}

// Store keeps sessions so that they end for good. CommitCtx (scs's end-of-request save) must only update
// a session that still exists and has not expired — never insert one — so a request in flight during a
// logout, revocation or expiry cannot bring the session back. CreateCtx inserts a new session for a
// login; when c.ProviderSessionID is set, only while that provider session of c.UserID is active.
type Store interface {
	scs.CtxStore
	CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, c Created) (created bool, err error)
}

// Manager wraps scs with typed accessors.
type Manager struct {
	sm *scs.SessionManager
}

// New makes a Manager over store with every cookie flag set explicitly.
func New(store Store, opts Options) *Manager {
	sm := scs.New()
	sm.Codec = jsonCodec{}
	sm.Store = creatingStore{store}
	if opts.IdleTimeout > 0 {
		// Refresh the idle expiry in the database at most every IdleTimeout/20 (≤ 1 minute) per session.
		sm.Store = newIdleRefresher(sm.Store.(scs.CtxStore), min(opts.IdleTimeout/20, time.Minute))
	}
	sm.Lifetime = opts.Lifetime
	sm.IdleTimeout = opts.IdleTimeout
	sm.Cookie.Name = CookieName(opts.Secure)
	sm.Cookie.Domain = "" // host-only, as __Host- requires
	sm.Cookie.Path = "/"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = opts.Secure
	sm.Cookie.Persist = true
	return &Manager{sm: sm}
}

// OnError sets what answers a request whose session could not be loaded or saved (the store failed:
// its database or Redis is unreachable). scs's default is a bare 500 "Internal Server Error".
func (m *Manager) OnError(fn func(w http.ResponseWriter, r *http.Request, err error)) {
	m.sm.ErrorFunc = fn
}

// Middleware loads the session for each request and saves it afterwards.
func (m *Manager) Middleware(next http.Handler) http.Handler { return m.sm.LoadAndSave(next) }

// ErrEnded is returned by Login when the login's provider session was revoked, or its user deleted,
// before the app session could be created.
var ErrEnded = errors.New("session: the login's provider session ended before the session was created")

// Login starts a new session for u on device d: the token is renewed first (no session fixation), then
// the user is stored and the session created in the store at once — the only place a session row is
// inserted. It returns u with the new session's public ID.
func (m *Manager) Login(ctx context.Context, u User, d Device) (User, error) {
	if u.ID == "" {
		return u, errors.New("session: login without a user ID")
	}
	if err := m.sm.RenewToken(ctx); err != nil {
		return u, fmt.Errorf("session: renew token: %w", err)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return u, fmt.Errorf("session: public id: %w", err)
	}
	u.PublicID = hex.EncodeToString(b)
	m.sm.Put(ctx, keyUserID, u.ID)
	m.sm.Put(ctx, keyName, u.Name)
	m.sm.Put(ctx, keyEmail, u.Email)
	m.sm.Put(ctx, keySessionID, u.ProviderSessionID)
	m.sm.Put(ctx, keyPublicID, u.PublicID)
	c := Created{UserID: u.ID, ProviderSessionID: u.ProviderSessionID, PublicID: u.PublicID, Device: d, At: time.Now()}
	if _, _, err := m.sm.Commit(context.WithValue(ctx, createKey{}, c)); err != nil {
		// Nothing was created: expire the cookie instead of handing out a token that has no session.
		_ = m.sm.Destroy(ctx)
		return u, fmt.Errorf("session: create: %w", err)
	}
	return u, nil
}

// createKey marks the context of the commit that creates a login's session; its value is the Created.
type createKey struct{}

// creatingStore routes the commit that Login makes to Store.CreateCtx, and every other commit to
// CommitCtx, which only updates.
type creatingStore struct{ Store }

func (c creatingStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if cr, ok := ctx.Value(createKey{}).(Created); ok {
		created, err := c.CreateCtx(ctx, token, b, expiry, cr)
		if err == nil && !created {
			err = ErrEnded
		}
		return err
	}
	return c.Store.CommitCtx(ctx, token, b, expiry)
}

func (c creatingStore) Commit(token string, b []byte, expiry time.Time) error {
	return c.CommitCtx(context.Background(), token, b, expiry)
}

func (c creatingStore) Find(token string) ([]byte, bool, error) {
	return c.FindCtx(context.Background(), token)
}

func (c creatingStore) Delete(token string) error { return c.DeleteCtx(context.Background(), token) }

// User returns the logged-in user, if any.
func (m *Manager) User(ctx context.Context) (User, bool) {
	id := m.sm.GetString(ctx, keyUserID)
	if id == "" {
		return User{}, false
	}
	return User{
		ID:                id,
		Name:              m.sm.GetString(ctx, keyName),
		Email:             m.sm.GetString(ctx, keyEmail),
		ProviderSessionID: m.sm.GetString(ctx, keySessionID),
		PublicID:          m.sm.GetString(ctx, keyPublicID),
	}, true
}

// Rename changes the name the session remembers for its user (after the person changed it).
func (m *Manager) Rename(ctx context.Context, name string) { m.sm.Put(ctx, keyName, name) }

// Logout ends the session: its data is destroyed in the store and the cookie is expired. It returns the
// user who was logged in, if any, so the caller can revoke the provider session too.
func (m *Manager) Logout(ctx context.Context) (User, error) {
	u, _ := m.User(ctx)
	if err := m.sm.Destroy(ctx); err != nil {
		return u, fmt.Errorf("session: destroy: %w", err)
	}
	return u, nil
}
