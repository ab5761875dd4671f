package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
)

// appWith builds the real app over a fresh SQLite file with the given environment (plus a database URL).
func appWith(t *testing.T, env map[string]string) *app.App {
	t.Helper()
	if env["LATCHKEY_DATABASE_URL"] == "" {
		env["LATCHKEY_DATABASE_URL"] = "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// On an https public URL every cookie is Secure, the server-side ones carry the __Host- prefix, and HSTS is sent.
func TestHTTPSCookiesAndHSTS(t *testing.T) {
	a := appWith(t, map[string]string{"LATCHKEY_PUBLIC_URL": "https://login.example.com"})

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/passkeys/signup/begin", strings.NewReader(`{"email":"a@example.com","name":"A"}`))
	req.Header.Set("Content-Type", "application/json")
	a.Handler.ServeHTTP(rec, req)
	resp := rec.Result()
	if resp.StatusCode != 200 {
		t.Fatalf("begin: %d", resp.StatusCode)
	}
	if c := cookieNamed(resp, "__Host-latchkey_ceremony"); c == nil || !c.Secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly {
		t.Errorf("ceremony cookie = %+v, want __Host- prefix, Secure, HttpOnly, Path=/", c)
	}
	if cookieNamed(resp, "latchkey_ceremony") != nil {
		t.Error("an unprefixed ceremony cookie was set on https")
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("HSTS = %q", hsts)
	}

	// The session exchange sets the __Host- session cookie.
	u := "usr-https"
	tok := mintFor(t, a, u)
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("POST", "/auth/session", nil)
	req.AddCookie(&http.Cookie{Name: "cbo_session_token", Value: tok})
	a.Handler.ServeHTTP(rec, req)
	resp = rec.Result()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("exchange: %d", resp.StatusCode)
	}
	if c := cookieNamed(resp, "__Host-latchkey_session"); c == nil || !c.Secure || !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie = %+v", c)
	}

	// Logout clears the token cookies with the Secure flag too.
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("POST", "/logout", nil)
	a.Handler.ServeHTTP(rec, req)
	if c := cookieNamed(rec.Result(), "cbo_session_token"); c == nil || !c.Secure || c.MaxAge >= 0 {
		t.Errorf("cleared token cookie = %+v", c)
	}
}

func TestPlainLocalhostHasNoHSTS(t *testing.T) {
	a := appWith(t, map[string]string{})
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent on plain-http localhost")
	}
}

// Over the limit, the ceremony endpoints answer 429 with Retry-After and JSON words the script shows, and
// the session exchange answers 429 with the login page's alert; other clients are unaffected.
func TestRateLimit(t *testing.T) {
	a := appWith(t, map[string]string{"LATCHKEY_RATE_LIMIT": "3/min", "LATCHKEY_TRUSTED_PROXIES": "10.0.0.1"})
	post := func(path, remote, xff string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", path, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		a.Handler.ServeHTTP(rec, req)
		return rec
	}
	for i := 0; i < 3; i++ {
		if rec := post("/passkeys/login/begin", "192.0.2.1:1234", ""); rec.Code != 200 {
			t.Fatalf("request %d: %d", i+1, rec.Code)
		}
	}
	rec := post("/passkeys/login/begin", "192.0.2.1:1234", "")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d, want 429", rec.Code)
	}
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(rec.Body.String(), `"error":"Too many attempts`) {
		t.Errorf("body = %s", rec.Body.String())
	}
	// The exchange has its own budget: the client that used up "begin" may still exchange (401 here: it
	// has no token), and over that budget the login page shows the words in the alert.
	for i := 0; i < 3; i++ {
		if rec := post("/auth/session", "192.0.2.1:1234", ""); rec.Code != http.StatusUnauthorized {
			t.Fatalf("exchange %d after the begin budget was used up: %d, want 401 (not limited)", i+1, rec.Code)
		}
	}
	rec = post("/auth/session", "192.0.2.1:1234", "")
	if got := alertText(t, rec.Body.String()); rec.Code != http.StatusTooManyRequests || got != "Too many attempts. Please wait 20 seconds and try again." {
		t.Errorf("exchange over the limit: %d, alert %q", rec.Code, got)
	}
	if got := rec.Header().Get("Retry-After"); got != "20" {
		t.Errorf("exchange over the limit: Retry-After %q, want 20", got)
	}
	// Another client is not affected; X-Forwarded-For from an untrusted peer does not buy a new budget.
	if rec := post("/passkeys/login/begin", "192.0.2.2:1234", ""); rec.Code != 200 {
		t.Errorf("another client: %d", rec.Code)
	}
	if rec := post("/passkeys/login/begin", "192.0.2.1:1234", "198.51.100.9"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("spoofed X-Forwarded-For from an untrusted peer: %d, want 429", rec.Code)
	}
	// Behind the trusted proxy, each forwarded client has its own budget.
	for i := 0; i < 3; i++ {
		if rec := post("/passkeys/login/begin", "10.0.0.1:80", "198.51.100.9"); rec.Code != 200 {
			t.Fatalf("proxied client request %d: %d", i+1, rec.Code)
		}
	}
	if rec := post("/passkeys/login/begin", "10.0.0.1:80", "198.51.100.9"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("proxied client over its limit: %d", rec.Code)
	}
	if rec := post("/passkeys/login/begin", "10.0.0.1:80", "198.51.100.10"); rec.Code != 200 {
		t.Errorf("another proxied client: %d", rec.Code)
	}
	// Pages are not rate limited.
	for i := 0; i < 10; i++ {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		a.Handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET / limited: %d", rec.Code)
		}
	}
}

// mintFor stores an account with a provider session and mints its session JWT.
func mintFor(t *testing.T, a *app.App, userID string) string {
	t.Helper()
	s := &stack{t: t, app: a}
	_, tok := s.account(userID+"@example.com", "HTTPS User")
	return tok
}
