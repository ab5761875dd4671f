package session_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
)

func newManager(t *testing.T, secure bool) (*session.Manager, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return session.New(dbSessions{st.SessionStore()}, session.Options{Secure: secure, Lifetime: time.Hour, IdleTimeout: time.Hour}), st
}

// dbSessions is the database's scs store as a session.Store (the app wires the same adapter).
type dbSessions struct{ *store.SessionStore }

func (s dbSessions) CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, c session.Created) (bool, error) {
	return s.SessionStore.CreateCtx(ctx, token, data, expiry, store.NewSession{UserID: c.UserID,
		ProviderSessionID: c.ProviderSessionID, PublicID: c.PublicID, IP: c.Device.IP, UserAgent: c.Device.UserAgent, CreatedAt: c.At})
}

// serve runs one request through the middleware and the given action, returning the response.
func serve(m *session.Manager, cookie *http.Cookie, action func(w http.ResponseWriter, r *http.Request)) *http.Response {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/", nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	m.Middleware(http.HandlerFunc(action)).ServeHTTP(rec, req)
	return rec.Result()
}

func sessionCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// providerLogin stores user u with a passkey and an active provider session, as a finished ceremony does.
func providerLogin(t *testing.T, st *store.Store, u session.User) {
	t.Helper()
	now := time.Now()
	err := st.CreateUserWithPasskey(context.Background(),
		store.User{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: now},
		store.Passkey{CredentialID: []byte("cred-" + u.ID), UserID: u.ID, PublicKey: []byte{1}, CreatedAt: now},
		store.UsedChallenge{Hash: []byte("challenge-" + u.ID), ExpiresAt: now.Add(time.Hour)},
		store.ProviderSession{ID: u.ProviderSessionID, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoginRenewsTokenAndLogoutDestroys(t *testing.T) {
	m, st := newManager(t, false)
	name := session.CookieName(false)
	want := session.User{ID: "usr-1", Name: "Ada", Email: "ada@example.com", ProviderSessionID: "ses-1"}
	providerLogin(t, st, want)

	// An anonymous session exists first (an attacker could have planted its token).
	resp := serve(m, nil, func(w http.ResponseWriter, r *http.Request) {})
	if sessionCookie(t, resp, name) != nil {
		t.Fatal("an untouched session set a cookie")
	}
	planted := &http.Cookie{Name: name, Value: "planted-token-value-0123456789abcdef012"}

	resp = serve(m, planted, func(w http.ResponseWriter, r *http.Request) {
		var err error
		if want, err = m.Login(r.Context(), want, session.Device{IP: "192.0.2.7", UserAgent: "Test/1"}); err != nil {
			t.Fatal(err)
		}
	})
	if len(want.PublicID) != 32 {
		t.Errorf("Login gave public id %q, want 32 hex digits", want.PublicID)
	}
	c := sessionCookie(t, resp, name)
	if c == nil || c.Value == planted.Value {
		t.Fatalf("login kept the planted token (fixation): %+v", c)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie flags = %+v", c)
	}

	var got session.User
	var ok bool
	serve(m, c, func(w http.ResponseWriter, r *http.Request) { got, ok = m.User(r.Context()) })
	if !ok || got != want {
		t.Fatalf("User = %+v, %v; want %+v", got, ok, want)
	}
	if _, found, _ := st.SessionStore().Find(c.Value); !found {
		t.Fatal("session not in the database")
	}

	var out session.User
	resp = serve(m, c, func(w http.ResponseWriter, r *http.Request) {
		var err error
		if out, err = m.Logout(r.Context()); err != nil {
			t.Fatal(err)
		}
	})
	if out != want {
		t.Errorf("Logout returned %+v, want %+v", out, want)
	}
	if cleared := sessionCookie(t, resp, name); cleared == nil || cleared.MaxAge >= 0 {
		t.Errorf("logout did not expire the cookie: %+v", cleared)
	}
	if _, found, _ := st.SessionStore().Find(c.Value); found {
		t.Error("session still in the database after logout")
	}
	serve(m, c, func(w http.ResponseWriter, r *http.Request) { _, ok = m.User(r.Context()) })
	if ok {
		t.Error("the logged-out token still authenticates")
	}
}

func TestSecureCookie(t *testing.T) {
	m, _ := newManager(t, true)
	resp := serve(m, nil, func(w http.ResponseWriter, r *http.Request) {
		if err := loginErr(m.Login(r.Context(), session.User{ID: "usr-2"}, session.Device{})); err != nil {
			t.Fatal(err)
		}
	})
	c := sessionCookie(t, resp, "__Host-latchkey_session")
	if c == nil || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly {
		t.Fatalf("https cookie = %+v, want __Host- prefix, Secure, Path=/, no Domain", c)
	}
}

func TestLoginWithoutUserIDRefused(t *testing.T) {
	m, _ := newManager(t, false)
	serve(m, nil, func(w http.ResponseWriter, r *http.Request) {
		if _, err := m.Login(r.Context(), session.User{}, session.Device{}); err == nil {
			t.Error("Login accepted a user without an ID")
		}
	})
}

// TestLoginRefusedWhenProviderSessionEnded: a login whose provider session was revoked (or whose user
// was deleted) before the app session was created gets ErrEnded, no session row and no logged-in cookie.
func TestLoginRefusedWhenProviderSessionEnded(t *testing.T) {
	m, st := newManager(t, false)
	u := session.User{ID: "usr-9", Name: "Ada", Email: "ada9@example.com", ProviderSessionID: "ses-9"}
	providerLogin(t, st, u)
	if err := st.RevokeProviderSession(context.Background(), u.ProviderSessionID, time.Now()); err != nil {
		t.Fatal(err)
	}
	var err error
	resp := serve(m, nil, func(w http.ResponseWriter, r *http.Request) { _, err = m.Login(r.Context(), u, session.Device{}) })
	if !errors.Is(err, session.ErrEnded) {
		t.Fatalf("Login = %v, want ErrEnded", err)
	}
	var rows int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("session rows = %d, %v; want 0", rows, err)
	}
	if c := sessionCookie(t, resp, session.CookieName(false)); c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("the refused login's cookie = %+v, want an expired, empty one", c)
	}
}

// loginErr drops Login's user, keeping its error.
func loginErr(_ session.User, err error) error { return err }
