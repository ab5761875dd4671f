// Package session is the app's server-side session (scs): who is logged in. It is populated once per
// login, after the session JWT has been verified, and from then on it alone authenticates requests.
package session

import (
	"context"
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
	keyLoginAt   = "login_at"
)

// User is the logged-in person as the session remembers them.
type User struct {
	ID                string
	Name              string
	Email             string
	ProviderSessionID string // the provider session ("sid") the login came from, revoked at logout
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

// Manager wraps scs with typed accessors.
type Manager struct {
	sm *scs.SessionManager
}

// New makes a Manager over store with every cookie flag set explicitly.
func New(store scs.CtxStore, opts Options) *Manager {
	sm := scs.New()
	sm.Codec = jsonCodec{}
	sm.Store = store
	if opts.IdleTimeout > 0 {
		// Refresh the idle expiry in the database at most every IdleTimeout/20 (≤ 1 minute) per session.
		sm.Store = newIdleRefresher(store, min(opts.IdleTimeout/20, time.Minute))
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

// Middleware loads the session for each request and saves it afterwards.
func (m *Manager) Middleware(next http.Handler) http.Handler { return m.sm.LoadAndSave(next) }

// Login starts a new session for u: the token is renewed first (no session fixation), then the user is stored.
func (m *Manager) Login(ctx context.Context, u User) error {
	if u.ID == "" {
		return errors.New("session: login without a user ID")
	}
	if err := m.sm.RenewToken(ctx); err != nil {
		return fmt.Errorf("session: renew token: %w", err)
	}
	m.sm.Put(ctx, keyUserID, u.ID)
	m.sm.Put(ctx, keyName, u.Name)
	m.sm.Put(ctx, keyEmail, u.Email)
	m.sm.Put(ctx, keySessionID, u.ProviderSessionID)
	m.sm.Put(ctx, keyLoginAt, time.Now().UTC().Format(time.RFC3339))
	return nil
}

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
	}, true
}

// Logout ends the session: its data is destroyed in the store and the cookie is expired. It returns the
// user who was logged in, if any, so the caller can revoke the provider session too.
func (m *Manager) Logout(ctx context.Context) (User, error) {
	u, _ := m.User(ctx)
	if err := m.sm.Destroy(ctx); err != nil {
		return u, fmt.Errorf("session: destroy: %w", err)
	}
	return u, nil
}
