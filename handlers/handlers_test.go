package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/internal/token"
)

// stack is the whole application over a real SQLite file, served by httptest.
type stack struct {
	t   testing.TB
	srv *httptest.Server
	app *app.App
	log *testlog.Buffer
}

func newStack(t *testing.T) *stack { return newStackTB(t) }

// newStackTB is newStack for tests and benchmarks alike.
func newStackTB(t testing.TB) *stack {
	t.Helper()
	env := map[string]string{
		"LATCHKEY_PUBLIC_URL":   "http://localhost:8080",
		"LATCHKEY_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"),
		"LATCHKEY_LOG_LEVEL":    "debug",
		"LATCHKEY_RATE_LIMIT":   "off", // TestRateLimit covers the limiter
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		_ = a.Close()
	})
	return &stack{t: t, srv: srv, app: a, log: logs}
}

// client is a browser-like client with its own cookie jar that does not follow redirects.
func (s *stack) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// account creates a user with a passkey and an active provider session, and returns a session JWT for it.
func (s *stack) account(email, name string) (store.User, string) {
	s.t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	u := store.User{ID: "usr-" + strings.ReplaceAll(email, "@", "-at-"), Email: email, Name: name, CreatedAt: now}
	ps := store.ProviderSession{ID: "ses-" + u.ID, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	p := store.Passkey{CredentialID: []byte("cred-" + email), UserID: u.ID, PublicKey: []byte{1}, CreatedAt: now}
	ch := store.UsedChallenge{Hash: []byte("challenge-" + email), ExpiresAt: now.Add(time.Hour)}
	if err := s.app.Store().CreateUserWithPasskey(ctx, u, p, ch, ps); err != nil {
		s.t.Fatal(err)
	}
	tok, _, err := s.app.Minter().Mint(ctx, token.Claims{Subject: u.ID, Name: u.Name, Email: u.Email, SessionID: ps.ID})
	if err != nil {
		s.t.Fatal(err)
	}
	return u, tok
}

type req struct {
	method, path string
	body         string
	contentType  string
	htmx         bool
	token        string
	header       map[string]string
}

func (s *stack) do(c *http.Client, r req) (*http.Response, string) {
	s.t.Helper()
	hr, err := http.NewRequest(r.method, s.srv.URL+r.path, strings.NewReader(r.body))
	if err != nil {
		s.t.Fatal(err)
	}
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	}
	if r.htmx {
		hr.Header.Set("HX-Request", "true")
	}
	if r.token != "" {
		hr.AddCookie(&http.Cookie{Name: "cbo_session_token", Value: r.token})
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := c.Do(hr)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func doc(t *testing.T, body string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func alertText(t *testing.T, body string) string {
	t.Helper()
	return strings.TrimSpace(doc(t, body).Find(`[role="alert"]`).Text())
}

func TestLoginPageFullAndFragment(t *testing.T) {
	s := newStack(t)
	c := s.client()
	for _, tc := range []struct {
		name     string
		htmx     bool
		header   map[string]string
		wantFull bool
	}{
		{"normal request gets the full page", false, nil, true},
		{"htmx request gets the fragment", true, nil, false},
		{"boosted htmx request gets the full page", true, map[string]string{"HX-Boosted": "true"}, true},
		{"history restore gets the full page", true, map[string]string{"HX-History-Restore-Request": "true"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(c, req{method: "GET", path: "/", htmx: tc.htmx, header: tc.header})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "HX-Request") {
				t.Errorf("Vary = %q, want HX-Request", resp.Header.Values("Vary"))
			}
			d := doc(t, body)
			if full := strings.HasPrefix(strings.ToLower(body), "<!doctype html>"); full != tc.wantFull {
				t.Errorf("full page = %v, want %v", full, tc.wantFull)
			}
			if d.Find(`button:contains("Log in with a passkey")`).Length() != 1 {
				t.Error("no 'Log in with a passkey' button")
			}
			if d.Find(`button:contains("Create account")`).Length() != 1 {
				t.Error("no 'Create account' button")
			}
		})
	}
}

func TestHomeRequiresSession(t *testing.T) {
	s := newStack(t)
	c := s.client()
	resp, _ := s.do(c, req{method: "GET", path: "/home"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("plain request: status %d Location %q, want 303 /", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = s.do(c, req{method: "GET", path: "/home", htmx: true})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("HX-Redirect") != "/" {
		t.Errorf("htmx request: status %d HX-Redirect %q, want 200 /", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
}

func TestSessionExchangeLoginAndLogout(t *testing.T) {
	s := newStack(t)
	u, tok := s.account("ada@example.com", "Ada Lovelace")
	c := s.client()

	resp, body := s.do(c, req{method: "POST", path: "/auth/session", htmx: true, token: tok})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("HX-Push-Url"); got != "/home" {
		t.Errorf("HX-Push-Url = %q, want /home", got)
	}
	d := doc(t, body)
	if strings.Contains(body, "<html") {
		t.Error("htmx exchange returned a full page, want the home fragment")
	}
	for testid, want := range map[string]string{"user-id": u.ID, "user-name": u.Name, "user-email": u.Email} {
		if got := strings.TrimSpace(d.Find(`[data-testid="` + testid + `"]`).Text()); got != want {
			t.Errorf("%s = %q, want %q", testid, got, want)
		}
	}
	var sessionCookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "latchkey_session" {
			sessionCookie = ck
		}
	}
	if sessionCookie == nil || !sessionCookie.HttpOnly || sessionCookie.SameSite != http.SameSiteLaxMode || sessionCookie.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, Path=/", sessionCookie)
	}

	// The scs session alone now authenticates: /home works as a full page without the JWT.
	resp, body = s.do(c, req{method: "GET", path: "/home"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, u.ID) || !strings.HasPrefix(strings.ToLower(body), "<!doctype html>") {
		t.Fatalf("home after login: status %d, body has user ID: %v", resp.StatusCode, strings.Contains(body, u.ID))
	}
	if d := doc(t, body); d.Find(`button:contains("Log out")`).Length() != 1 {
		t.Error("home page has no 'Log out' button")
	}
	// The login page sends a logged-in person home.
	if resp, _ := s.do(c, req{method: "GET", path: "/"}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Errorf("GET / while logged in: %d %q, want 303 /home", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, body = s.do(c, req{method: "POST", path: "/logout", htmx: true})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("HX-Push-Url") != "/" {
		t.Fatalf("logout: status %d HX-Push-Url %q", resp.StatusCode, resp.Header.Get("HX-Push-Url"))
	}
	if doc(t, body).Find(`button:contains("Log in with a passkey")`).Length() != 1 {
		t.Error("logout did not return the login fragment")
	}
	cleared := map[string]bool{}
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			cleared[ck.Name] = true
		}
	}
	for _, name := range []string{"cbo_session_token", "cbo_short_session", "latchkey_session"} {
		if !cleared[name] {
			t.Errorf("logout did not clear cookie %s", name)
		}
	}

	// The old scs cookie no longer works, and the old JWT cannot start a new session: its provider
	// session was revoked.
	old := s.client()
	old.Jar.SetCookies(mustURL(t, s.srv.URL), []*http.Cookie{{Name: "latchkey_session", Value: sessionCookie.Value}})
	if resp, _ := s.do(old, req{method: "GET", path: "/home"}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logged-out session cookie replayed: status %d, want 303", resp.StatusCode)
	}
	resp, body = s.do(s.client(), req{method: "POST", path: "/auth/session", htmx: true, token: tok})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked JWT replayed: status %d, want 401", resp.StatusCode)
	}
	if msg := alertText(t, body); !strings.Contains(msg, "log in again") {
		t.Errorf("alert = %q", msg)
	}
}

func TestSessionExchangeWithoutHTMXRedirects(t *testing.T) {
	s := newStack(t)
	_, tok := s.account("grace@example.com", "Grace Hopper")
	c := s.client()
	resp, _ := s.do(c, req{method: "POST", path: "/auth/session", token: tok})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("status %d Location %q, want 303 /home", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The legacy cookie name is accepted too (with a token of its own: each JWT starts one session).
	_, tok2 := s.account("grace2@example.com", "Grace Hopper")
	hr, _ := http.NewRequest("POST", s.srv.URL+"/auth/session", nil)
	hr.AddCookie(&http.Cookie{Name: "cbo_short_session", Value: tok2})
	resp2, err := s.client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusSeeOther {
		t.Errorf("legacy cookie: status %d, want 303", resp2.StatusCode)
	}
}

func TestSessionExchangeRefusesBadTokens(t *testing.T) {
	s := newStack(t)
	u, good := s.account("bad@example.com", "Bad Tokens")
	expiredMinter, err := token.NewMinter(context.Background(), s.app.Store(), token.Options{
		Issuer: "http://localhost:8080", TTL: time.Minute,
		Now: func() time.Time { return time.Now().Add(-10 * time.Minute) },
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := expiredMinter.Mint(context.Background(), token.Claims{Subject: u.ID, Name: u.Name, Email: u.Email, SessionID: "ses-" + u.ID})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	for _, tc := range []struct {
		name, token, wantWords string
	}{
		{"no cookie", "", "not logged in"},
		{"garbage", "not-a-jwt", "could not confirm"},
		{"tampered payload", tampered, "could not confirm"},
		{"expired", expired, "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.client()
			resp, body := s.do(c, req{method: "POST", path: "/auth/session", htmx: true, token: tc.token})
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", resp.StatusCode)
			}
			if msg := alertText(t, body); !strings.Contains(msg, tc.wantWords) {
				t.Errorf("alert %q does not say %q", msg, tc.wantWords)
			}
			if tc.token != "" && strings.Contains(s.log.String(), tc.token) {
				t.Error("the token appeared in the log")
			}
			if resp, _ := s.do(c, req{method: "GET", path: "/home"}); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("a session was created: /home status %d", resp.StatusCode)
			}
		})
	}
}

func TestSignupBegin(t *testing.T) {
	s := newStack(t)
	s.account("taken@example.com", "Taken")
	for _, tc := range []struct {
		name, body, contentType string
		wantStatus              int
		wantWords               string
	}{
		{"valid", `{"email":"New@Example.com","name":"New Person"}`, "application/json", 200, ""},
		{"email taken (any case)", `{"email":"TAKEN@example.com","name":"Someone"}`, "application/json", 409, "already registered"},
		{"bad email", `{"email":"not-an-email","name":"Someone"}`, "application/json", 400, "valid email"},
		{"missing name", `{"email":"x@example.com","name":"  "}`, "application/json", 400, "full name"},
		{"unknown field", `{"email":"x@example.com","name":"X","admin":true}`, "application/json", 400, "expected shape"},
		{"trailing data", `{"email":"x@example.com","name":"X"} {}`, "application/json", 400, "extra data"},
		{"wrong type", `{"email":1,"name":"X"}`, "application/json", 400, "expected shape"},
		{"empty body", ``, "application/json", 400, "empty"},
		{"form encoded", `email=x%40example.com&name=X`, "application/x-www-form-urlencoded", 415, "JSON"},
		{"huge body", `{"email":"x@example.com","name":"` + strings.Repeat("a", 70<<10) + `"}`, "application/json", 413, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(s.client(), req{method: "POST", path: "/passkeys/signup/begin", body: tc.body, contentType: tc.contentType})
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantStatus != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tc.wantWords) {
					t.Errorf("error body %q does not say %q", body, tc.wantWords)
				}
				for _, ck := range resp.Cookies() {
					if ck.Name == "latchkey_ceremony" {
						t.Error("a refused begin set a ceremony cookie")
					}
				}
				return
			}
			var opts struct {
				PublicKey struct {
					Challenge              string
					RP                     struct{ ID string }
					User                   struct{ Name, DisplayName string }
					AuthenticatorSelection struct {
						ResidentKey, UserVerification string
					}
				}
			}
			if err := json.Unmarshal([]byte(body), &opts); err != nil {
				t.Fatal(err)
			}
			pk := opts.PublicKey
			if pk.Challenge == "" || pk.RP.ID != "localhost" || pk.User.Name != "new@example.com" || pk.User.DisplayName != "New Person" ||
				pk.AuthenticatorSelection.ResidentKey != "required" || pk.AuthenticatorSelection.UserVerification != "required" {
				t.Errorf("creation options = %+v", pk)
			}
			var ceremony *http.Cookie
			for _, ck := range resp.Cookies() {
				if ck.Name == "latchkey_ceremony" {
					ceremony = ck
				}
			}
			if ceremony == nil || !ceremony.HttpOnly || ceremony.SameSite != http.SameSiteStrictMode || ceremony.MaxAge <= 0 || ceremony.MaxAge > 300 {
				t.Errorf("ceremony cookie = %+v, want HttpOnly, SameSite=Strict, at most 5 minutes", ceremony)
			}
			if _, err := s.app.Store().UserByEmail(context.Background(), "new@example.com"); err == nil {
				t.Error("begin wrote the user to the database")
			}
		})
	}
}

func TestLoginBeginAndFinishWithoutBegin(t *testing.T) {
	s := newStack(t)
	c := s.client()
	resp, body := s.do(c, req{method: "POST", path: "/passkeys/login/begin", body: `{}`, contentType: "application/json"})
	if resp.StatusCode != 200 {
		t.Fatalf("login begin: %d %s", resp.StatusCode, body)
	}
	var opts struct {
		PublicKey struct {
			Challenge        string
			RPID             string `json:"rpId"`
			UserVerification string
		}
	}
	if err := json.Unmarshal([]byte(body), &opts); err != nil || opts.PublicKey.Challenge == "" ||
		opts.PublicKey.RPID != "localhost" || opts.PublicKey.UserVerification != "required" {
		t.Errorf("assertion options = %s", body)
	}
	for _, path := range []string{"/passkeys/login/finish", "/passkeys/signup/finish"} {
		t.Run(path+" without begin", func(t *testing.T) {
			resp, body := s.do(s.client(), req{method: "POST", path: path, body: `{"id":"x"}`, contentType: "application/json"})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired or was not started here") {
				t.Errorf("status %d body %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("login finish with garbage after begin", func(t *testing.T) {
		resp, body := s.do(c, req{method: "POST", path: "/passkeys/login/finish", body: `{"id":"x"}`, contentType: "application/json"})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "could not be read") {
			t.Errorf("status %d body %s", resp.StatusCode, body)
		}
	})
}

func TestCrossSitePostRefused(t *testing.T) {
	s := newStack(t)
	for _, path := range []string{"/logout", "/auth/session", "/passkeys/signup/begin", "/passkeys/login/begin"} {
		t.Run(path, func(t *testing.T) {
			resp, body := s.do(s.client(), req{method: "POST", path: path, body: `{}`, contentType: "application/json",
				header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}})
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(alertText(t, body), "another site") {
				t.Errorf("status %d alert %q", resp.StatusCode, alertText(t, body))
			}
		})
	}
}

func TestNoJavaScriptFallback(t *testing.T) {
	s := newStack(t)
	resp, body := s.do(s.client(), req{method: "POST", path: "/", body: "email=a%40b.co&name=Ann", contentType: "application/x-www-form-urlencoded"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(alertText(t, body), "need JavaScript") {
		t.Errorf("status %d alert %q", resp.StatusCode, alertText(t, body))
	}
	if v, _ := doc(t, body).Find(`input[name="email"]`).Attr("value"); v != "a@b.co" {
		t.Errorf("email not kept in the form: %q", v)
	}
}

func TestInfrastructureRoutes(t *testing.T) {
	s := newStack(t)
	c := s.client()
	t.Run("healthz", func(t *testing.T) {
		if resp, body := s.do(c, req{method: "GET", path: "/healthz"}); resp.StatusCode != 200 || strings.TrimSpace(body) != "ok" {
			t.Errorf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("jwks", func(t *testing.T) {
		resp, body := s.do(c, req{method: "GET", path: "/.well-known/jwks"})
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &set) != nil || len(set.Keys) == 0 {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
		for _, k := range set.Keys {
			if k["kid"] == "" || k["alg"] != "ES256" || k["d"] != nil {
				t.Errorf("key %v: want kid, alg ES256, no private part", k)
			}
		}
	})
	t.Run("not found", func(t *testing.T) {
		resp, body := s.do(c, req{method: "GET", path: "/nope"})
		d := doc(t, body)
		if resp.StatusCode != 404 || !strings.Contains(d.Find(`[data-testid="not-found-message"]`).Text(), "There is nothing at this address.") {
			t.Errorf("status %d body %q", resp.StatusCode, body)
		}
	})
	t.Run("security headers", func(t *testing.T) {
		resp, body := s.do(c, req{method: "GET", path: "/"})
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self' 'nonce-", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("CSP allows unsafe sources: %q", csp)
		}
		nonce := csp[strings.Index(csp, "'nonce-")+7:]
		nonce = nonce[:strings.Index(nonce, "'")]
		doc(t, body).Find("script").Each(func(_ int, sel *goquery.Selection) {
			if n, _ := sel.Attr("nonce"); n != nonce {
				t.Errorf("script nonce %q, want %q", n, nonce)
			}
		})
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
			t.Error("missing nosniff or Referrer-Policy")
		}
		resp2, _ := s.do(c, req{method: "GET", path: "/"})
		if resp2.Header.Get("Content-Security-Policy") == csp {
			t.Error("the CSP nonce did not change between responses")
		}
	})
	t.Run("asset", func(t *testing.T) {
		_, body := s.do(c, req{method: "GET", path: "/"})
		src, _ := doc(t, body).Find(`script[src*="htmx"]`).Attr("src")
		resp, _ := s.do(c, req{method: "GET", path: src})
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: status %d Cache-Control %q", src, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	})
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
