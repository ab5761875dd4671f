package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/mailtest"
	"github.com/latchkey/latchkey/internal/softauthn"
)

const wantLinkEmailed = "If an account uses that address, we sent a link to it. It works once, for 15 minutes."

// emailLinkPath matches the path of the recovery link in a delivered mail.
var emailLinkPath = regexp.MustCompile(`http://localhost:8080(/recover/[A-Za-z0-9_-]{43})\b`)

func askForLink(t *testing.T, s *stack, email string) (*http.Response, string) {
	t.Helper()
	return withT(s, t).do(s.client(), req{method: "POST", path: "/recover/email", body: url.Values{"email": {email}}.Encode(),
		contentType: "application/x-www-form-urlencoded"})
}

// TestRecoveryEmailLink is the email journey against an in-process SMTP server: a registered address
// gets one multipart mail whose link confirms with a button, logs in once and lands on
// /account/recover; an unknown address gets the same page and no mail.
func TestRecoveryEmailLink(t *testing.T) {
	mails := mailtest.Start(t)
	s, logs := newStackEnv(t, map[string]string{
		"LATCHKEY_SMTP_URL":  fmt.Sprintf("smtp://%s:%d", mails.Host, mails.Port),
		"LATCHKEY_SMTP_FROM": "login@example.com",
	})
	u, _ := s.account("mail@example.com", "Ada")

	resp, body := withT(s, t).do(s.client(), req{method: "GET", path: "/recover"})
	if resp.StatusCode != http.StatusOK || doc(t, body).Find(`form[action="/recover/email"] button`).Text() != "Email me a link" {
		t.Fatalf("GET /recover: status %d, no Email me a link form", resp.StatusCode)
	}
	for _, email := range []string{"nobody@example.com", "Mail@Example.com"} {
		t.Run(email, func(t *testing.T) {
			resp, body := askForLink(t, s, email)
			d := doc(t, body)
			if resp.StatusCode != http.StatusOK || strings.TrimSpace(d.Find(`[data-testid="recover-email-sent"]`).Text()) != wantLinkEmailed ||
				alertText(t, body) != "" {
				t.Fatalf("status %d, said %q, alert %q", resp.StatusCode, d.Find(`[data-testid="recover-email-sent"]`).Text(), alertText(t, body))
			}
		})
	}
	s.app.WaitMail()
	msgs := mails.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "mail@example.com" || msgs[0].From != "login@example.com" {
		t.Fatalf("delivered %d messages (%+v), want one to mail@example.com", len(msgs), msgs)
	}
	text, html, ok := mailtest.Parts(msgs[0].Data)
	if !ok {
		t.Fatalf("not multipart/alternative with text/plain and text/html:\n%s", msgs[0].Data)
	}
	m := emailLinkPath.FindStringSubmatch(text)
	if m == nil || !strings.Contains(html, `href="http://localhost:8080`+m[1]+`"`) {
		t.Fatalf("no link in the text part, or not the same in the HTML part:\n%s\n%s", text, html)
	}
	path := m[1]
	if strings.Contains(logs.String(), path) {
		t.Error("the log holds the link")
	}

	resp, body = withT(s, t).do(s.client(), req{method: "GET", path: path})
	if resp.StatusCode != http.StatusOK || doc(t, body).Find(`form[method="post"][action="`+path+`"] button`).Text() != "Log in and add a passkey" {
		t.Fatalf("GET link: status %d, no confirm button", resp.StatusCode)
	}
	c := s.client()
	resp, _ = withT(s, t).do(c, req{method: "POST", path: path})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/recover" {
		t.Fatalf("POST link: %d to %q, want 303 to /account/recover", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !loggedIn(t, s, c) {
		t.Fatal("not logged in after the emailed link")
	}
	c2 := s.client()
	resp, body = withT(s, t).do(c2, req{method: "POST", path: path})
	if resp.StatusCode != http.StatusGone || alertText(t, body) != wantLinkUsed || loggedIn(t, s, c2) {
		t.Fatalf("second use: status %d, alert %q; want 410, %q", resp.StatusCode, alertText(t, body), wantLinkUsed)
	}
	acts, err := s.app.Store().RecentActivity(context.Background(), u.ID, 20)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, a := range acts {
		kinds = append(kinds, a.Kind)
	}
	if !slices.Contains(kinds, "Recovery link emailed") || !slices.Contains(kinds, "Recovered with a link") {
		t.Errorf("activity = %q, want Recovery link emailed and Recovered with a link", kinds)
	}
	if token := strings.TrimPrefix(path, "/recover/"); strings.Contains(logs.String(), token) {
		t.Error("the log holds the link's token")
	} else if !strings.Contains(logs.String(), "/recover/{token}") {
		t.Error("the requests to the link were not logged as /recover/{token}")
	}
}

// TestRecoveryEmailLinkOff: without a mail server the recover page does not offer the link and the
// route is a 404.
func TestRecoveryEmailLinkOff(t *testing.T) {
	s := newStack(t)
	resp, body := withT(s, t).do(s.client(), req{method: "GET", path: "/recover"})
	d := doc(t, body)
	if resp.StatusCode != http.StatusOK || d.Find(`[data-testid="recover-email-form"]`).Length() != 0 || strings.Contains(body, "Email me a link") {
		t.Fatalf("GET /recover: status %d, offers an emailed link without SMTP", resp.StatusCode)
	}
	resp, body = askForLink(t, s, "mail@example.com")
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, wantLinkEmailed) {
		t.Fatalf("POST /recover/email without SMTP: status %d, want 404", resp.StatusCode)
	}
}

// TestSignupEmailConfirmation: with SMTP set, sign-up mails a confirmation link (the account works at
// once); its GET shows a button, its POST confirms the address once, and the home page says so.
func TestSignupEmailConfirmation(t *testing.T) {
	mails := mailtest.Start(t)
	e := newHostileEnv(t, map[string]string{
		"LATCHKEY_SMTP_URL":  fmt.Sprintf("smtp://%s:%d", mails.Host, mails.Port),
		"LATCHKEY_SMTP_FROM": "login@example.com",
	})
	s := e.s
	b := e.beginSignup(t, "new@example.com", "Nia")
	tok := e.finish(t, signupFinish, b, e.create(t, b, softauthn.Tweaks{}))
	c := s.client()
	if resp, _ := withT(s, t).do(c, req{method: "POST", path: "/auth/session", htmx: true, token: tok}); resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d", resp.StatusCode)
	}
	status := func() string {
		t.Helper()
		resp, body := withT(s, t).do(c, req{method: "GET", path: "/home"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /home: status %d", resp.StatusCode)
		}
		return strings.TrimSpace(doc(t, body).Find(`[data-testid="email-status"]`).Text())
	}
	if got := status(); got != "Email not confirmed yet" {
		t.Errorf("home before confirming says %q", got)
	}
	s.app.WaitMail()
	msgs := mails.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "new@example.com" {
		t.Fatalf("delivered %d messages, want one to new@example.com", len(msgs))
	}
	text, _, ok := mailtest.Parts(msgs[0].Data)
	m := regexp.MustCompile(`http://localhost:8080(/confirm/[A-Za-z0-9_-]{43})\b`).FindStringSubmatch(text)
	if !ok || m == nil {
		t.Fatalf("no confirmation link in\n%s", msgs[0].Data)
	}
	path := m[1]
	for range 2 { // a link scanner's GET confirms nothing
		resp, body := withT(s, t).do(s.client(), req{method: "GET", path: path})
		if resp.StatusCode != http.StatusOK || doc(t, body).Find(`form[method="post"][action="`+path+`"] button`).Text() != "Confirm my email address" {
			t.Fatalf("GET link: status %d, no confirm button", resp.StatusCode)
		}
	}
	if got := status(); got != "Email not confirmed yet" {
		t.Errorf("home after GETs says %q", got)
	}
	for _, tc := range []struct {
		name, path string
		status     int
		testid     string
		words      string
	}{
		{"confirm", path, http.StatusOK, "confirm-email-done", "Thank you: your email address is confirmed."},
		{"again", path, http.StatusGone, "confirm-email-error", "This confirmation link has been used already: your email address is confirmed."},
		{"unknown", "/confirm/nope", http.StatusNotFound, "confirm-email-error", "This confirmation link is not valid. Check that you copied all of it."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := withT(s, t).do(s.client(), req{method: "POST", path: tc.path})
			if got := strings.TrimSpace(doc(t, body).Find(`[data-testid="` + tc.testid + `"]`).Text()); resp.StatusCode != tc.status || got != tc.words {
				t.Fatalf("status %d, said %q; want %d, %q", resp.StatusCode, got, tc.status, tc.words)
			}
		})
	}
	if got := status(); got != "Email confirmed" {
		t.Errorf("home after confirming says %q", got)
	}
	if strings.Contains(e.logs.String(), strings.TrimPrefix(path, "/confirm/")) {
		t.Error("the log holds the confirmation link's token")
	}
}

// TestNoEmailStatusWithoutSMTP: without a mail server the home page shows no confirmation status and
// /confirm/ links are 404.
func TestNoEmailStatusWithoutSMTP(t *testing.T) {
	s := newStack(t)
	_, tok := s.account("plain@example.com", "Pat")
	c := s.client()
	if resp, _ := withT(s, t).do(c, req{method: "POST", path: "/auth/session", htmx: true, token: tok}); resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d", resp.StatusCode)
	}
	resp, body := withT(s, t).do(c, req{method: "GET", path: "/home"})
	if resp.StatusCode != http.StatusOK || doc(t, body).Find(`[data-testid="email-status"]`).Length() != 0 {
		t.Fatalf("GET /home: status %d, shows an email status without SMTP", resp.StatusCode)
	}
	if resp, _ := withT(s, t).do(s.client(), req{method: "GET", path: "/confirm/abc"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /confirm/abc without SMTP: status %d, want 404", resp.StatusCode)
	}
}
