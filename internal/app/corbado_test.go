package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/corbado"
	"github.com/latchkey/latchkey/internal/corbado/corbadotest"
	"github.com/latchkey/latchkey/internal/testlog"
)

const (
	projectID = "pro-1234567890"
	apiSecret = "corbado1_testsecretvalue"
)

type corbadoStack struct {
	fake *corbadotest.Fake
	srv  *httptest.Server
	logs *testlog.Buffer
}

// newCorbadoStack runs Latchkey in Corbado mode against a local fake of Corbado's Frontend and Backend APIs.
func newCorbadoStack(t *testing.T, env map[string]string) *corbadoStack {
	t.Helper()
	fake := corbadotest.New(t, projectID, apiSecret)
	full := map[string]string{
		"LATCHKEY_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"),
		"CORBADO_PROJECT_ID":    projectID,
		"CORBADO_API_SECRET":    apiSecret,
		"CORBADO_FRONTEND_API":  fake.FrontendURL(),
		"CORBADO_BACKEND_API":   fake.BackendURL(),
		"LATCHKEY_RATE_LIMIT":   "off",
	}
	for k, v := range env {
		if v == "-" {
			delete(full, k)
		} else {
			full[k] = v
		}
	}
	cfg, err := config.Load(func(k string) string { return full[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() { srv.Close(); _ = a.Close() })
	return &corbadoStack{fake: fake, srv: srv, logs: logs}
}

// exchange posts the token as Corbado's cookie (name given) with htmx and returns status and body.
func (s *corbadoStack) exchange(t *testing.T, cookieName, tok string) (*http.Response, string, *http.Client) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("POST", s.srv.URL+"/auth/session", nil)
	req.Header.Set("HX-Request", "true")
	req.AddCookie(&http.Cookie{Name: cookieName, Value: tok})
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), c
}

func text(t *testing.T, body, sel string) string {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(d.Find(sel).Text())
}

func claims(iss string) corbadotest.TokenClaims {
	now := time.Now()
	return corbadotest.TokenClaims{Issuer: iss, Subject: "usr-42", Name: "Claim Name", Email: "claim@example.com",
		Phone: "+4915112345678", Orig: "claim@example.com", IssuedAt: now, NotBefore: now, Expires: now.Add(5 * time.Minute)}
}

func TestCorbadoIssuers(t *testing.T) {
	s := newCorbadoStack(t, map[string]string{"CORBADO_API_SECRET": "-"})
	for _, tc := range []struct {
		name, iss  string
		wantStatus int
	}{
		{"cloud issuer", s.fake.IssuerCloud(), 200},
		{"legacy issuer", s.fake.IssuerLegacy(), 200},
		{"custom domain (the configured frontend API)", s.fake.FrontendURL(), 200},
		{"wrong issuer", "https://pro-999.frontendapi.cloud.corbado.io", 401},
		{"look-alike issuer", "https://" + projectID + ".frontendapi.corbado.io.evil.example", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, _ := s.exchange(t, "cbo_session_token", s.fake.Token(t, claims(tc.iss)))
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, text(t, body, `[role="alert"]`))
			}
			if tc.wantStatus == 200 {
				// Without an API secret, name and email come from the token's claims.
				if got := text(t, body, `[data-testid="user-name"]`); got != "Claim Name" {
					t.Errorf("name = %q", got)
				}
				if got := text(t, body, `[data-testid="user-id"]`); got != "usr-42" {
					t.Errorf("user ID = %q", got)
				}
			}
		})
	}
	if n := len(s.fake.BackendRequests()); n != 0 {
		t.Errorf("%d Backend API requests without an API secret", n)
	}
	t.Run("legacy cookie name", func(t *testing.T) {
		if resp, _, _ := s.exchange(t, "cbo_short_session", s.fake.Token(t, claims(s.fake.IssuerCloud()))); resp.StatusCode != 200 {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

func TestCorbadoBackendAPIDetails(t *testing.T) {
	s := newCorbadoStack(t, nil)
	s.fake.AddUser(corbado.UserDetails{ID: "usr-42", FullName: "Ada King, Countess of Lovelace", Email: "ada@example.com"})
	resp, body, c := s.exchange(t, "cbo_session_token", s.fake.Token(t, claims(s.fake.IssuerCloud())))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := text(t, body, `[data-testid="user-name"]`); got != "Ada King, Countess of Lovelace" {
		t.Errorf("name = %q, want the Backend API's full name", got)
	}
	if got := text(t, body, `[data-testid="user-email"]`); got != "ada@example.com" {
		t.Errorf("email = %q, want the Backend API's primary email", got)
	}
	reqs := s.fake.BackendRequests()
	if len(reqs) == 0 {
		t.Fatal("no Backend API request")
	}
	for _, r := range reqs {
		if !r.AuthOK {
			t.Errorf("%s %s sent without correct Basic auth", r.Method, r.Path)
		}
	}
	// Once per login: browsing afterwards does not call Corbado again.
	before := len(reqs)
	for i := 0; i < 3; i++ {
		resp, err := c.Get(s.srv.URL + "/home")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("/home status %d", resp.StatusCode)
		}
	}
	if after := len(s.fake.BackendRequests()); after != before {
		t.Errorf("browsing made %d more Backend API requests", after-before)
	}
}

func TestCorbadoBackendAPIFailureStillLogsIn(t *testing.T) {
	s := newCorbadoStack(t, nil)
	s.fake.SetBackendDown(true)
	resp, body, _ := s.exchange(t, "cbo_session_token", s.fake.Token(t, claims(s.fake.IssuerCloud())))
	if resp.StatusCode != 200 || text(t, body, `[data-testid="user-email"]`) != "claim@example.com" {
		t.Fatalf("status %d email %q, want 200 with the token's email", resp.StatusCode, text(t, body, `[data-testid="user-email"]`))
	}
	if !strings.Contains(s.logs.String(), "Corbado Backend API failed") {
		t.Error("no warning logged")
	}
	if strings.Contains(s.logs.String(), apiSecret) {
		t.Error("the API secret appears in the log")
	}
}

func TestCorbadoKeyRotationAndOutage(t *testing.T) {
	s := newCorbadoStack(t, map[string]string{"CORBADO_API_SECRET": "-"})
	ok := func(name string) {
		t.Helper()
		if resp, body, _ := s.exchange(t, "cbo_session_token", s.fake.Token(t, claims(s.fake.IssuerCloud()))); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", name, resp.StatusCode, text(t, body, `[role="alert"]`))
		}
	}
	ok("first login")
	start := s.fake.JWKSRequests()
	ok("second login")
	if n := s.fake.JWKSRequests() - start; n != 0 {
		t.Errorf("a login with a cached key fetched the JWKS %d times", n)
	}

	s.fake.RotateKey()
	ok("after rotation")
	if n := s.fake.JWKSRequests() - start; n != 1 {
		t.Errorf("rotation caused %d JWKS fetches, want exactly 1", n)
	}

	s.fake.SetJWKSDown(true)
	ok("JWKS down, key cached")

	// An unknown kid while the key set is up (and was just fetched): a bad token, 401 with generic words.
	s.fake.SetJWKSDown(false)
	c := claims(s.fake.IssuerCloud())
	c.KID = "never-seen-kid"
	const outage = "We cannot check your login right now because the login service is unreachable. Please try again in a minute."
	resp, body, _ := s.exchange(t, "cbo_session_token", s.fake.Token(t, c))
	if msg := text(t, body, `[role="alert"]`); resp.StatusCode != http.StatusUnauthorized || msg != "We could not confirm your login. Please log in again." {
		t.Errorf("unknown kid, key set up: status %d, alert %q; want 401 and the generic words", resp.StatusCode, msg)
	}

	// An unknown kid while the key set cannot be fetched: our outage, not the person's fault — 503 with a
	// time to retry and words that say so, and the token kept for that retry.
	down := newCorbadoStack(t, map[string]string{"CORBADO_API_SECRET": "-"})
	down.fake.SetJWKSDown(true)
	c = claims(down.fake.IssuerCloud())
	c.KID = "never-seen-kid"
	resp, body, _ = down.exchange(t, "cbo_session_token", down.fake.Token(t, c))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "60" {
		t.Fatalf("unknown kid with JWKS down: status %d, Retry-After %q; want 503, 60", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if msg := text(t, body, `[role="alert"]`); msg != outage {
		t.Errorf("outage message = %q, want %q", msg, outage)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "cbo_session_token" && ck.MaxAge < 0 {
			t.Error("the outage deleted the person's token, so the retry cannot work")
		}
	}
}

func TestCorbadoPagesAndCSP(t *testing.T) {
	s := newCorbadoStack(t, nil)
	resp, err := http.Get(s.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	d, _ := goquery.NewDocumentFromReader(strings.NewReader(body))
	if pid, _ := d.Find("#corbado-auth").Attr("data-corbado-project-id"); pid != projectID {
		t.Errorf("login page mounts Corbado for %q, want %q", pid, projectID)
	}
	src, _ := d.Find(`script[src*="corbado-web-js"]`).Attr("src")
	if !strings.HasPrefix(src, "/assets/corbado-web-js.") {
		t.Errorf("Corbado bundle src = %q, want our own /assets/", src)
	}
	if d.Find(`button:contains("Create account")`).Length() != 0 {
		t.Error("the embedded sign-up form is shown in Corbado mode")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "https://"+projectID+".frontendapi.corbado.io") {
		t.Errorf("CSP does not admit Corbado's frontend API: %q", csp)
	}
	for _, path := range []string{"/passkeys/login/begin", "/passkeys/signup/begin"} {
		r, _ := http.Post(s.srv.URL+path, "application/json", strings.NewReader("{}"))
		r.Body.Close()
		if r.StatusCode != 404 {
			t.Errorf("%s in Corbado mode: status %d, want 404", path, r.StatusCode)
		}
	}
}

// The glue comes before Corbado's bundle, both deferred (they run in document order): it switches
// FingerprintJS's monitoring ping off before any of the bundle's code runs. No inline script.
func TestCorbadoGlueLoadsBeforeBundle(t *testing.T) {
	s := newCorbadoStack(t, nil)
	for _, path := range []string{"/", "/home"} {
		resp, err := http.Get(s.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		d, err := goquery.NewDocumentFromReader(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		d.Find("head script").Each(func(_ int, sc *goquery.Selection) {
			src, _ := sc.Attr("src")
			_, deferred := sc.Attr("defer")
			name, _, _ := strings.Cut(strings.TrimPrefix(src, "/assets/"), ".")
			got = append(got, fmt.Sprintf("%s defer=%v", name, deferred))
		})
		// copy.js is not a head script: ui.js loads it for the content that names it (data-uses).
		want := []string{"htmx defer=true", "ui defer=true", "corbado defer=true", "corbado-web-js defer=true"}
		if !slices.Equal(got, want) {
			t.Errorf("GET %s (after redirects): head scripts %q, want %q", path, got, want)
		}
		if src, _ := d.Find("body").Attr("data-script-copy"); !strings.HasPrefix(src, "/assets/copy.") {
			t.Errorf("GET %s: body data-script-copy = %q, want copy.js's URL", path, src)
		}
		if src, ok := d.Find("body").Attr("data-script-account"); ok {
			t.Errorf("GET %s: body data-script-account = %q in Corbado mode (no passkeys to add here)", path, src)
		}
	}
}

func TestEmbeddedCSPAdmitsNoCorbado(t *testing.T) {
	cfg, err := config.Load(func(k string) string {
		if k == "LATCHKEY_DATABASE_URL" {
			return "sqlite:" + filepath.Join(t.TempDir(), "x.db")
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := httptest.NewRecorder()
	a.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "corbado") {
		t.Errorf("embedded mode CSP admits Corbado: %q", csp)
	}
	if strings.Contains(rec.Body.String(), "corbado-web-js") {
		t.Error("embedded mode loads the Corbado bundle")
	}
}
