package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/corbado/corbadotest"
)

// corbadoCookieApp is the real app in Corbado mode against a local fake of Corbado, over a fresh SQLite
// file; publicURL "" keeps the default http://localhost:8080.
func corbadoCookieApp(t *testing.T, publicURL string) http.Handler {
	t.Helper()
	fake := corbadotest.New(t, "pro-31415926", "corbado1_cookietestsecret")
	env := map[string]string{
		"LATCHKEY_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"),
		"LATCHKEY_PUBLIC_URL":   publicURL,
		"LATCHKEY_RATE_LIMIT":   "off",
		"CORBADO_PROJECT_ID":    fake.ProjectID,
		"CORBADO_API_SECRET":    "corbado1_cookietestsecret",
		"CORBADO_FRONTEND_API":  fake.FrontendURL(),
		"CORBADO_BACKEND_API":   fake.BackendURL(),
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
	return a.Handler
}

// tokenCookieHeaders returns the Set-Cookie lines of a response for the two session token cookies, in order.
func tokenCookieHeaders(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Set-Cookie") {
		if strings.HasPrefix(line, "cbo_session_token=") || strings.HasPrefix(line, "cbo_short_session=") {
			out = append(out, line)
		}
	}
	return out
}

// wantCleared is what clearing the token cookies sends: each name expired host-only and, when domain is
// not "", again with Domain=domain.
func wantCleared(domain, flags string) []string {
	var out []string
	for _, name := range []string{"cbo_session_token", "cbo_short_session"} {
		out = append(out, name+"=; Path=/; Max-Age=0; HttpOnly"+flags+"; SameSite=Lax")
		if domain != "" {
			out = append(out, name+"=; Path=/; Domain="+domain+"; Max-Age=0; HttpOnly"+flags+"; SameSite=Lax")
		}
	}
	return out
}

// Corbado's web-js writes cbo_session_token with a domain= attribute; a browser keeps that cookie apart
// from a host-only one of the same name. Logout therefore expires both names both ways, with the
// request's host name (no port) as Domain, and never with an IP address or a name net/http would drop.
func TestLogoutClearsHostOnlyAndDomainTokenCookies(t *testing.T) {
	h := corbadoCookieApp(t, "")
	for _, tc := range []struct {
		host       string
		wantDomain string
	}{
		{"example.com", "example.com"},
		{"Login.Example.COM:8443", "login.example.com"},
		{"localhost:8080", "localhost"},
		{"localhost", "localhost"},
		{"app.localhost:3000", "app.localhost"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"a-b.c-d.example:80", "a-b.c-d.example"},
		{"127.0.0.1:8080", ""},
		{"192.168.0.1", ""},
		{"[::1]:8080", ""},
		{"[2001:db8::1]", ""},
		{"10.1", ""},         // a URL host ending in a number is an IPv4 address
		{"0x7f000001", ""},   // so is one ending in a 0x-hex number
		{"example.0x1F", ""}, // …in any case
		{"under_score.example", ""},
		{"-lead.example", ""},
		{"trail-.example", ""},
		{"example.com.", ""},
		{"a..example", ""},
		{strings.Repeat("a", 64) + ".example", ""},
	} {
		t.Run(tc.host, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/logout", nil)
			req.Host = tc.host
			req.Header.Set("HX-Request", "true")
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("POST /logout: status %d, want 200: %s", rec.Code, rec.Body)
			}
			if got, want := tokenCookieHeaders(rec.Header()), wantCleared(tc.wantDomain, ""); !slices.Equal(got, want) {
				t.Errorf("Set-Cookie for the token cookies:\n got  %q\n want %q", got, want)
			}
		})
	}
}

// On an https public URL both variants carry Secure (a browser refuses to let a non-Secure Set-Cookie
// touch a Secure cookie).
func TestLogoutClearsDomainTokenCookiesSecureOnHTTPS(t *testing.T) {
	h := corbadoCookieApp(t, "https://login.example.com")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "https://login.example.com/logout", nil)
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST /logout: status %d, want 303", rec.Code)
	}
	if got, want := tokenCookieHeaders(rec.Header()), wantCleared("login.example.com", "; Secure"); !slices.Equal(got, want) {
		t.Errorf("Set-Cookie for the token cookies:\n got  %q\n want %q", got, want)
	}
}

// A refused token is cleared the same way, so the login page shown with the error cannot hand it over again.
func TestRefusedTokenClearsHostOnlyAndDomainTokenCookies(t *testing.T) {
	h := corbadoCookieApp(t, "")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/auth/session", nil)
	req.Host = "app.example.com:8080"
	req.Header.Set("HX-Request", "true")
	req.AddCookie(&http.Cookie{Name: "cbo_session_token", Value: "not.a.jwt"})
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("POST /auth/session: status %d, want 401: %s", rec.Code, rec.Body)
	}
	if got, want := tokenCookieHeaders(rec.Header()), wantCleared("app.example.com", ""); !slices.Equal(got, want) {
		t.Errorf("Set-Cookie for the token cookies:\n got  %q\n want %q", got, want)
	}
}
