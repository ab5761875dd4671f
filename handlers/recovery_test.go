package handlers_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testlog"
)

// Words the recovery pages answer with.
const (
	wantRecoverWrong   = "That email address and recovery code do not match, or the code was used already. Check both and try again."
	wantRecoverTooMany = "Too many attempts. Wait 15 minutes, then try again."
	wantLinkUnknown    = "This recovery link is not valid. Check that you copied all of it, or ask for a new one."
	wantLinkUsed       = "This recovery link has been used already. Each link works once: ask for a new one."
	wantLinkExpired    = "This recovery link has expired. Links work for 15 minutes: ask for a new one."
)

// newStackTrusting is newStack behind a trusted proxy at 127.0.0.1, so X-Forwarded-For picks the
// client IP.
func newStackTrusting(t *testing.T) *stack {
	t.Helper()
	env := map[string]string{
		"LATCHKEY_PUBLIC_URL":      "http://localhost:8080",
		"LATCHKEY_DATABASE_URL":    "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"),
		"LATCHKEY_RATE_LIMIT":      "off",
		"LATCHKEY_TRUSTED_PROXIES": "127.0.0.1/32",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
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

// signedUp logs u in (the session exchange right after sign-up) and returns the client and the
// recovery codes the home page showed.
func signedUp(t *testing.T, s *stack, tok string) (*http.Client, []string) {
	t.Helper()
	c := s.client()
	resp, body := withT(s, t).do(c, req{method: "POST", path: "/auth/session", htmx: true, token: tok})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d", resp.StatusCode)
	}
	codes := strings.Fields(doc(t, body).Find(`[data-testid="recovery-codes"]`).Text())
	if len(codes) != 10 {
		t.Fatalf("home after sign-up shows %d recovery codes, want 10", len(codes))
	}
	return c, codes
}

func recoverWith(t *testing.T, s *stack, c *http.Client, email, code, ip string) (*http.Response, string) {
	t.Helper()
	r := req{method: "POST", path: "/recover", body: url.Values{"email": {email}, "code": {code}}.Encode(),
		contentType: "application/x-www-form-urlencoded"}
	if ip != "" {
		r.header = map[string]string{"X-Forwarded-For": ip}
	}
	return withT(s, t).do(c, r)
}

// TestRecoveryCodesShownOnce: the first home page after sign-up shows 10 codes with Copy and Download;
// later pages never show them again; a new set shows once and kills the old one.
func TestRecoveryCodesShownOnce(t *testing.T) {
	s := newStack(t)
	_, tok := s.account("once@example.com", "Ada")
	c, codes := signedUp(t, s, tok)

	_, body := withT(s, t).do(c, req{method: "GET", path: "/home"})
	d := doc(t, body)
	if n := d.Find(`[data-testid="recovery-codes-panel"]`).Length(); n != 0 {
		t.Fatalf("second home page shows the codes again (%d panels)", n)
	}
	if got := strings.TrimSpace(d.Find(`#recovery-codes-heading`).Text()); got != "Recovery codes" {
		t.Fatalf("account page section heading = %q, want Recovery codes", got)
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="new-recovery-codes"]`).Text()); got != "Create new recovery codes" {
		t.Fatalf("button = %q", got)
	}

	resp, body := postForm(t, s, c, "/account/recovery-codes", nil, true)
	d = doc(t, body)
	fresh := strings.Fields(d.Find(`[data-testid="recovery-codes"]`).Text())
	if resp.StatusCode != http.StatusOK || len(fresh) != 10 {
		t.Fatalf("new codes: status %d, %d codes; want 200 and 10", resp.StatusCode, len(fresh))
	}
	href, _ := d.Find(`[data-testid="download-recovery-codes"]`).Attr("href")
	text, err := url.PathUnescape(strings.TrimPrefix(href, "data:text/plain;charset=utf-8,"))
	if err != nil || !strings.Contains(text, strings.Join(fresh, "\n")) {
		t.Fatalf("download link holds %q, want the new codes", text)
	}
	if got := strings.TrimSpace(d.Find(`[data-testid="copy-recovery-codes"]`).Text()); got != "Copy recovery codes" {
		t.Fatalf("copy button = %q", got)
	}

	// The old set is dead, the new one works.
	other := s.client()
	if resp, body := recoverWith(t, s, other, "once@example.com", codes[0], ""); resp.StatusCode != http.StatusUnauthorized || alertText(t, body) != wantRecoverWrong {
		t.Fatalf("old code: status %d, alert %q", resp.StatusCode, alertText(t, body))
	}
	resp, _ = recoverWith(t, s, other, "once@example.com", fresh[0], "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/recover" {
		t.Fatalf("new code: status %d to %q, want 303 to /account/recover", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestRecoverWithCode: an unknown email, a wrong code and a used code get the same status and words; the
// right code logs in and lands on the page that adds a passkey, which also lists the old ones with
// Delete; every attempt on a known account is in its activity log.
func TestRecoverWithCode(t *testing.T) {
	s := newStack(t)
	u, tok := s.account("codes@example.com", "Ada")
	_, codes := signedUp(t, s, tok)
	c := s.client()
	for _, tc := range []struct {
		name, email, code string
		status            int
		alert, location   string
	}{
		{"unknown email", "nobody@example.com", codes[0], http.StatusUnauthorized, wantRecoverWrong, ""},
		{"wrong code", "codes@example.com", "2345-6789-abcd", http.StatusUnauthorized, wantRecoverWrong, ""},
		{"right code", "Codes@Example.com", codes[0], http.StatusSeeOther, "", "/account/recover"},
		{"used code", "codes@example.com", codes[0], http.StatusUnauthorized, wantRecoverWrong, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := recoverWith(t, s, s.client(), tc.email, tc.code, "")
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Fatalf("status %d to %q, want %d to %q", resp.StatusCode, resp.Header.Get("Location"), tc.status, tc.location)
			}
			if tc.alert != "" && alertText(t, body) != tc.alert {
				t.Fatalf("alert %q, want %q", alertText(t, body), tc.alert)
			}
		})
	}

	// htmx: HX-Redirect to the landing page, logged in there.
	r := req{method: "POST", path: "/recover", htmx: true, body: url.Values{"email": {"codes@example.com"}, "code": {codes[1]}}.Encode(),
		contentType: "application/x-www-form-urlencoded"}
	resp, _ := withT(s, t).do(c, r)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("HX-Redirect") != "/account/recover" {
		t.Fatalf("htmx: status %d, HX-Redirect %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	resp, body := withT(s, t).do(c, req{method: "GET", path: "/account/recover"})
	d := doc(t, body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(d.Find("h1").Text()) != "Welcome back, Ada" {
		t.Fatalf("landing: status %d, h1 %q", resp.StatusCode, d.Find("h1").Text())
	}
	if got := strings.TrimSpace(d.Find(`button[data-passkey="add"]`).Text()); got != "Add a passkey" {
		t.Fatalf("landing add button = %q", got)
	}
	if n := d.Find(`[data-testid="passkey-row"] button:contains("Delete")`).Length(); n != 1 {
		t.Fatalf("landing lists %d passkeys with Delete, want 1", n)
	}
	if got := d.Find(`[data-testid="go-home"]`).AttrOr("href", ""); got != "/home" {
		t.Fatalf("go home link = %q", got)
	}
	// Logged out, the landing page sends to the login page, which offers "Lost your passkey?".
	resp, _ = withT(s, t).do(s.client(), req{method: "GET", path: "/account/recover"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("landing logged out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = withT(s, t).do(s.client(), req{method: "GET", path: "/"})
	if got := doc(t, body).Find(`a[href="/recover"]`).Text(); got != "Lost your passkey?" {
		t.Fatalf("login page link = %q", got)
	}

	acts, err := s.app.Store().RecentActivity(context.Background(), u.ID, 20)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range acts {
		kinds = append(kinds, a.Kind)
	}
	got := strings.Join(kinds, ", ")
	for _, want := range []string{"Recovery code used", "Recovery code refused", "Recovery codes created"} {
		if !strings.Contains(got, want) {
			t.Errorf("activity %q lacks %q", got, want)
		}
	}
}

// TestRecoverRateLimits: five wrong codes per account in 15 minutes (from any address), then 429 even
// for the right code — unknown addresses alike; and 20 attempts per client IP, whatever the accounts.
func TestRecoverRateLimits(t *testing.T) {
	s := newStackTrusting(t)
	_, tok := s.account("limited@example.com", "Ada")
	_, codes := signedUp(t, s, tok)
	c := s.client()
	for i := range 5 {
		if resp, _ := recoverWith(t, s, c, "limited@example.com", "2345-6789-abcd", fmt.Sprintf("192.0.2.%d", i+1)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp, body := recoverWith(t, s, c, "limited@example.com", codes[0], "198.51.100.7")
	if resp.StatusCode != http.StatusTooManyRequests || alertText(t, body) != wantRecoverTooMany || resp.Header.Get("Retry-After") != "900" {
		t.Fatalf("6th attempt on the account: %d %q Retry-After %q; want 429", resp.StatusCode, alertText(t, body), resp.Header.Get("Retry-After"))
	}
	for i := range 5 {
		if resp, _ := recoverWith(t, s, c, "ghost@example.com", "2345-6789-abcd", fmt.Sprintf("192.0.2.%d", i+1)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unknown address %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	if resp, _ := recoverWith(t, s, c, "ghost@example.com", "2345-6789-abcd", "198.51.100.7"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("6th attempt on an unknown address: %d, want 429 like a known one", resp.StatusCode)
	}

	// Per IP: 20 attempts over 20 accounts from one address, then 429; another address still gets in.
	for i := range 20 {
		if resp, _ := recoverWith(t, s, c, fmt.Sprintf("x%d@example.com", i), "2345-6789-abcd", "203.0.113.5"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("IP attempt %d: status %d, want 401", i+1, resp.StatusCode)
		}
	}
	if resp, _ := recoverWith(t, s, c, "fresh@example.com", "2345-6789-abcd", "203.0.113.5"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("21st attempt from one IP: %d, want 429", resp.StatusCode)
	}
	if resp, _ := recoverWith(t, s, c, "fresh@example.com", "2345-6789-abcd", "203.0.113.6"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("another IP: %d, want 401", resp.StatusCode)
	}
}

// TestRecoveryLink: GET shows a confirm button and uses nothing; the POST logs in once; a second use,
// an expired link and an unknown one get clear 4xx pages.
func TestRecoveryLink(t *testing.T) {
	s := newStack(t)
	u, _ := s.account("link@example.com", "Ada")
	token, _, err := s.app.Recovery().CreateLink(context.Background(), "link@example.com")
	if err != nil {
		t.Fatal(err)
	}
	path := "/recover/" + token
	for range 2 { // a link scanner's GET does not use the link up
		resp, body := withT(s, t).do(s.client(), req{method: "GET", path: path})
		d := doc(t, body)
		if resp.StatusCode != http.StatusOK || d.Find(`form[method="post"][action="`+path+`"] button`).Text() != "Log in and add a passkey" {
			t.Fatalf("GET link: status %d, no confirm button", resp.StatusCode)
		}
	}
	c := s.client()
	resp, _ := withT(s, t).do(c, req{method: "POST", path: path})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/recover" {
		t.Fatalf("POST link: %d to %q, want 303 to /account/recover", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !loggedIn(t, s, c) {
		t.Fatal("not logged in after the link")
	}

	now := time.Now()
	expired := "expired-token-0123456789"
	sum := sha256.Sum256([]byte(expired))
	if err := s.app.Store().CreateRecoveryLink(context.Background(), store.RecoveryLink{Hash: sum[:], UserID: u.ID,
		CreatedAt: now.Add(-16 * time.Minute), ExpiresAt: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path string
		status             int
		alert              string
	}{
		{"used, POST", "POST", path, http.StatusGone, wantLinkUsed},
		{"used, GET", "GET", path, http.StatusGone, wantLinkUsed},
		{"expired, GET", "GET", "/recover/" + expired, http.StatusGone, wantLinkExpired},
		{"expired, POST", "POST", "/recover/" + expired, http.StatusGone, wantLinkExpired},
		{"unknown", "GET", "/recover/nope", http.StatusNotFound, wantLinkUnknown},
		{"unknown, POST", "POST", "/recover/nope", http.StatusNotFound, wantLinkUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := s.client()
			resp, body := withT(s, t).do(c, req{method: tc.method, path: tc.path})
			if resp.StatusCode != tc.status || alertText(t, body) != tc.alert {
				t.Fatalf("status %d, alert %q; want %d, %q", resp.StatusCode, alertText(t, body), tc.status, tc.alert)
			}
			if loggedIn(t, s, c) {
				t.Fatal("logged in by a dead link")
			}
		})
	}
}
