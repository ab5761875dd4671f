package handlers_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/token"
)

// loginAgain starts another provider session of u (a log-in on another device) and exchanges it from a
// new client with the given user agent.
func loginAgain(t *testing.T, s *stack, u store.User, credentialID []byte, userAgent string) *http.Client {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	ps := store.ProviderSession{ID: "ses-" + rand.Text(), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	ch := store.UsedChallenge{Hash: []byte(rand.Text()), ExpiresAt: now.Add(time.Hour)}
	if err := s.app.Store().RecordLogin(ctx, credentialID, 0, false, false, now, ch, ps); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.app.Minter().Mint(ctx, token.Claims{Subject: u.ID, Name: u.Name, Email: u.Email, SessionID: ps.ID})
	if err != nil {
		t.Fatal(err)
	}
	c := s.client()
	resp, _ := withT(s, t).do(c, req{method: "POST", path: "/auth/session", htmx: true, token: tok, header: map[string]string{"User-Agent": userAgent}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("log-in on %s: status %d", userAgent, resp.StatusCode)
	}
	return c
}

const (
	uaChromeWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	uaSafariIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
	uaFirefoxLinux  = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
)

func postForm(t *testing.T, s *stack, c *http.Client, path string, form url.Values, htmx bool) (*http.Response, string) {
	t.Helper()
	return withT(s, t).do(c, req{method: "POST", path: path, body: form.Encode(), contentType: "application/x-www-form-urlencoded", htmx: htmx})
}

// TestAccountSessions: the home page lists where the person is logged in (browser and OS, this device
// marked); Revoke ends another session, which lands on the login page at its very next request; "Log out
// everywhere else" keeps only this one; both are in the activity log.
func TestAccountSessions(t *testing.T) {
	s := newStack(t)
	u, _ := s.account("sessions@example.com", "Ada")
	cred := []byte("cred-sessions@example.com")
	laptop := loginAgain(t, s, u, cred, uaChromeWindows)
	phone := loginAgain(t, s, u, cred, uaSafariIPhone)
	tablet := loginAgain(t, s, u, cred, uaFirefoxLinux)

	_, body := s.do(laptop, req{method: "GET", path: "/home"})
	d := doc(t, body)
	rows := d.Find(`[data-testid="session-row"]`)
	if rows.Length() != 3 {
		t.Fatalf("%d session rows, want 3", rows.Length())
	}
	text := d.Find(`[data-testid="session-list"]`).Text()
	for _, want := range []string{"Chrome 131 on Windows", "Safari 18 on iPhone", "Firefox 133 on Linux", "127.0.0.1"} {
		if !strings.Contains(text, want) {
			t.Errorf("sessions list lacks %q:\n%s", want, text)
		}
	}
	current := d.Find(`[data-testid="session-row"]:has([data-testid="this-device"])`)
	if current.Length() != 1 || !strings.Contains(current.Text(), "Chrome 131 on Windows") || current.Find("form").Length() != 0 {
		t.Errorf("this device: %d rows marked (%q); it must be the laptop's and have no Revoke", current.Length(), current.Text())
	}
	var phoneID string
	d.Find(`[data-testid="session-row"]`).Each(func(_ int, r *goquery.Selection) {
		if strings.Contains(r.Text(), "iPhone") {
			phoneID, _ = r.Attr("data-session-id")
		}
	})
	if phoneID == "" {
		t.Fatal("no session id on the phone's row")
	}

	// Someone else's session ID, or this device's, cannot be revoked here.
	if resp, _ := postForm(t, s, laptop, "/account/sessions/revoke", url.Values{"id": {"not-a-session"}}, true); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoking an unknown session: status %d, want 404", resp.StatusCode)
	}
	resp, body := postForm(t, s, laptop, "/account/sessions/revoke", url.Values{"id": {phoneID}}, true)
	if resp.StatusCode != http.StatusOK || doc(t, body).Find(`[data-testid="session-row"]`).Length() != 2 {
		t.Fatalf("revoke: status %d", resp.StatusCode)
	}
	if got := doc(t, body).Find(`[data-testid="home"]`).AttrOr("data-announce", ""); got != "Session revoked" {
		t.Errorf("announcement %q, want \"Session revoked\"", got)
	}
	// The phone's next click (an htmx request) sends it to the login page.
	resp, _ = s.do(phone, req{method: "POST", path: "/account/sessions/revoke-others", htmx: true})
	if resp.Header.Get("HX-Redirect") != "/" {
		t.Errorf("the revoked phone's next request: status %d, HX-Redirect %q; want the login page", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	if loggedIn(t, s, phone) {
		t.Error("the revoked phone is still logged in")
	}

	resp, body = postForm(t, s, laptop, "/account/sessions/revoke-others", nil, true)
	if resp.StatusCode != http.StatusOK || doc(t, body).Find(`[data-testid="session-row"]`).Length() != 1 {
		t.Fatalf("log out everywhere else: status %d", resp.StatusCode)
	}
	if loggedIn(t, s, tablet) || !loggedIn(t, s, laptop) {
		t.Error("everywhere else: the tablet must be logged out and the laptop not")
	}
	_, body = s.do(laptop, req{method: "GET", path: "/home"})
	activity := doc(t, body).Find(`[data-testid="activity-list"]`).Text()
	for _, want := range []string{"Session revoked", "Logged out everywhere else", "Logged in"} {
		if !strings.Contains(activity, want) {
			t.Errorf("recent activity lacks %q:\n%s", want, activity)
		}
	}
}

// TestAccountPasskeys: rename (and its refusal), delete with confirmation (the last-passkey warning), and
// the deleting session survives while the others end.
func TestAccountPasskeys(t *testing.T) {
	s := newStack(t)
	u, tok := s.account("keys@example.com", "Ada")
	cred := []byte("cred-keys@example.com")
	id := base64.RawURLEncoding.EncodeToString(cred)
	c := s.client()
	if resp, _ := exchange(t, s, c, tok); resp.StatusCode != http.StatusOK {
		t.Fatal("log-in failed")
	}
	other := loginAgain(t, s, u, cred, uaSafariIPhone)

	_, body := s.do(c, req{method: "GET", path: "/home?rename=" + id, htmx: true})
	d := doc(t, body)
	if d.Find(`[data-testid="passkey-name-input"]`).Length() != 1 || d.Find(`[data-testid="passkey-save"]`).Text() != "Save" {
		t.Fatalf("?rename shows no Passkey name textbox and Save button")
	}
	if got := textboxByLabelIn(t, d, "Passkey name"); got == "" {
		t.Error("the rename textbox is not labelled Passkey name")
	}
	for _, bad := range []string{"", "   ", strings.Repeat("x", 65), "bad\u202ename"} {
		resp, _ := postForm(t, s, c, "/account/passkeys/rename", url.Values{"id": {id}, "name": {bad}}, true)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("rename to %q: status %d, want 400", bad, resp.StatusCode)
		}
	}
	resp, body := postForm(t, s, c, "/account/passkeys/rename", url.Values{"id": {id}, "name": {"Work laptop"}}, true)
	if resp.StatusCode != http.StatusOK || !strings.Contains(doc(t, body).Find(`[data-testid="passkey-name"]`).Text(), "Work laptop") {
		t.Fatalf("rename: status %d", resp.StatusCode)
	}

	_, body = s.do(c, req{method: "GET", path: "/home?delete=" + id, htmx: true})
	d = doc(t, body)
	if d.Find(`[data-testid="last-passkey-warning"]`).Length() != 1 || d.Find(`button:contains("Delete passkey")`).Length() != 1 {
		t.Fatal("?delete of the only passkey shows no last-passkey warning and Delete passkey button")
	}
	resp, body = postForm(t, s, c, "/account/passkeys/delete", url.Values{"id": {id}}, true)
	if resp.StatusCode != http.StatusOK || doc(t, body).Find(`[data-testid="passkey-row"]`).Length() != 0 {
		t.Fatalf("delete: status %d", resp.StatusCode)
	}
	if !loggedIn(t, s, c) || loggedIn(t, s, other) {
		t.Error("after deleting a passkey: this session must stay and the other end")
	}
	_, body = s.do(c, req{method: "GET", path: "/home"})
	if a := doc(t, body).Find(`[data-testid="activity-list"]`).Text(); !strings.Contains(a, "Passkey renamed: Work laptop") ||
		!strings.Contains(a, "Passkey removed: Work laptop") {
		t.Errorf("recent activity:\n%s", a)
	}
	if resp, _ := postForm(t, s, c, "/account/passkeys/delete", url.Values{"id": {id}}, true); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleting it again: status %d, want 404", resp.StatusCode)
	}
}

// TestAccountCloneWarningShown: a passkey whose sign count went backwards carries the warning on its row.
func TestAccountCloneWarningShown(t *testing.T) {
	s := newStack(t)
	u, tok := s.account("clone@example.com", "Ada")
	c := s.client()
	if resp, _ := exchange(t, s, c, tok); resp.StatusCode != http.StatusOK {
		t.Fatal("log-in failed")
	}
	_, body := s.do(c, req{method: "GET", path: "/home"})
	if doc(t, body).Find(`[data-testid="clone-warning"]`).Length() != 0 {
		t.Fatal("a warning before any clone")
	}
	now := time.Now()
	ps := store.ProviderSession{ID: "ses-clone-2", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.app.Store().RecordLogin(context.Background(), []byte("cred-clone@example.com"), 1, false, true, now,
		store.UsedChallenge{Hash: []byte("clone-challenge"), ExpiresAt: now.Add(time.Hour)}, ps); err != nil {
		t.Fatal(err)
	}
	_, body = s.do(c, req{method: "GET", path: "/home"})
	if w := doc(t, body).Find(`[data-testid="clone-warning"]`).Text(); !strings.Contains(w, "sign count went backwards") {
		t.Errorf("clone warning = %q", w)
	}
}

// TestAccountName: the name is edited on the account page, refused in plain words when invalid, and the
// page (and its Signal API data) shows the new one.
func TestAccountName(t *testing.T) {
	s := newStack(t)
	_, tok := s.account("name@example.com", "Ada")
	c := s.client()
	if resp, _ := exchange(t, s, c, tok); resp.StatusCode != http.StatusOK {
		t.Fatal("log-in failed")
	}
	resp, body := postForm(t, s, c, "/account/name", url.Values{"name": {"bad\u202ename"}}, true)
	d := doc(t, body)
	if resp.StatusCode != http.StatusBadRequest || d.Find(`#account-name[aria-invalid="true"][aria-describedby="account-name-error"]`).Length() != 1 ||
		strings.TrimSpace(d.Find(`#account-name-error`).Text()) != "Your name contains characters that cannot be shown." {
		t.Fatalf("invalid name: status %d, error %q", resp.StatusCode, d.Find(`#account-name-error`).Text())
	}
	resp, body = postForm(t, s, c, "/account/name", url.Values{"name": {"Ada Lovelace"}}, true)
	d = doc(t, body)
	if resp.StatusCode != http.StatusOK || d.Find(`[data-testid="user-name"]`).Text() != "Ada Lovelace" ||
		d.Find(`[data-passkey-signal]`).AttrOr("data-display-name", "") != "Ada Lovelace" {
		t.Fatalf("rename: status %d, name %q", resp.StatusCode, d.Find(`[data-testid="user-name"]`).Text())
	}
	_, body = s.do(c, req{method: "GET", path: "/home"})
	if got := doc(t, body).Find(`[data-testid="user-name"]`).Text(); got != "Ada Lovelace" {
		t.Errorf("after reload, name = %q", got)
	}
}

// textboxByLabelIn returns the id of the input the label with text names, or "".
func textboxByLabelIn(t *testing.T, d *goquery.Document, text string) string {
	t.Helper()
	id := ""
	d.Find("label").Each(func(_ int, l *goquery.Selection) {
		if strings.TrimSpace(l.Text()) == text {
			if f := l.AttrOr("for", ""); f != "" && d.Find("input#"+f).Length() == 1 {
				id = f
			}
		}
	})
	return id
}
