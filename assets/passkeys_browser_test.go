package assets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/assets"
	"github.com/latchkey/latchkey/components"
)

// The messages passkeys.js shows (kept in sync with passkeys.js by this test).
const (
	msgNotCreated  = "The passkey was not created: the prompt was closed or timed out. Try again when you are ready."
	msgNoPasskey   = "No passkey was used. This device may have none for this site."
	msgExists      = "This device already has a passkey for this account. Log in instead."
	msgUnsupported = "This browser has no passkey support. Use a current browser such as Chrome, Safari, Edge or Firefox."
	msgNetwork     = "Could not reach the server. Check your connection and try again."
	msgTaken       = "That email address is already registered."
	msgNewDevice   = "On a new device? Choose “Log in with a passkey”, then “Use a phone or tablet”, and scan the QR code with the phone that has your passkey. Once you are in, you can add a passkey for this device."
	msgUnknown     = "This passkey is not known here."
	msgBadEmail    = "Enter a valid email address, like name@example.com."
	msgWaiting     = "Waiting for your passkey…"
)

// noAutofill makes a tab's browser report no passkey autofill, so a page with a passkey in the
// authenticator does not log in by itself (Chromium answers a pending autofill request at once when
// presence is simulated) and the steps test the buttons they name.
const noAutofill = `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`

type testUser struct {
	handle      []byte
	email, name string
	creds       []webauthn.Credential
	forgotten   bool // the server answers its passkey as unknown (deleted)
}

func (u *testUser) WebAuthnID() []byte                         { return u.handle }
func (u *testUser) WebAuthnName() string                       { return u.email }
func (u *testUser) WebAuthnDisplayName() string                { return u.name }
func (u *testUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// provider is a minimal, single-browser stand-in for the embedded provider's
// /passkeys/* endpoints, built on go-webauthn, so passkeys.js's encoding is
// checked against the real library.
type provider struct {
	wa        *webauthn.WebAuthn
	assets    *assets.Assets
	mu        sync.Mutex
	users     map[string]*testUser // by email
	pending   *testUser
	reg       *webauthn.SessionData
	login     *webauthn.SessionData
	current   *testUser
	errs      []string // ceremony failures the server saw
	autofills int      // autofill begins
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *provider) fail(w http.ResponseWriter, err error) {
	p.mu.Lock()
	p.errs = append(p.errs, err.Error())
	p.mu.Unlock()
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": "The passkey could not be checked."})
}

func (p *provider) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /assets/", p.assets.Handler())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy",
			"default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'")
		pg := components.Page{Title: "Log in", CSSURL: p.assets.URL("app.css"),
			HTMXURL: p.assets.URL("htmx.min.js"), JSURL: p.assets.URL("app.js")}
		_ = components.LoginPage(pg, components.LoginView{}).Render(r.Context(), w)
	})
	mux.HandleFunc("POST /passkeys/signup/begin", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Email, Name string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			p.fail(w, err)
			return
		}
		switch in.Email {
		case "taken@example.com":
			writeJSON(w, http.StatusConflict, map[string]string{"error": msgTaken, "code": "email_taken"})
			return
		case "bad@":
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": msgBadEmail, "code": "invalid_fields",
				"fields": map[string]string{"email": msgBadEmail}})
			return
		case "drop@example.com":
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		u, ok := p.users[in.Email]
		if !ok {
			u = &testUser{handle: []byte(rand.Text()), email: in.Email, name: in.Name}
		}
		exclude := make([]protocol.CredentialDescriptor, 0, len(u.creds))
		for _, c := range u.creds {
			exclude = append(exclude, c.Descriptor())
		}
		creation, session, err := p.wa.BeginRegistration(u, webauthn.WithExclusions(exclude),
			webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		p.pending, p.reg = u, session
		writeJSON(w, http.StatusOK, creation)
	})
	mux.HandleFunc("POST /passkeys/signup/finish", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.reg == nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "no ceremony"})
			return
		}
		cred, err := p.wa.FinishRegistration(p.pending, *p.reg, r)
		p.reg = nil
		if err != nil {
			p.fail(w, fmt.Errorf("finish registration: %w", err))
			return
		}
		p.pending.creds = append(p.pending.creds, *cred)
		p.users[p.pending.email] = p.pending
		p.current = p.pending
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	loginBegin := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/passkeys/login/autofill" {
			p.mu.Lock()
			p.autofills++
			p.mu.Unlock()
		}
		assertion, session, err := p.wa.BeginDiscoverableLogin()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		p.mu.Lock()
		p.login = session
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, assertion)
	}
	mux.HandleFunc("POST /passkeys/login/begin", loginBegin)
	mux.HandleFunc("POST /passkeys/login/autofill", loginBegin)
	mux.HandleFunc("POST /passkeys/login/finish", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.login == nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "no ceremony"})
			return
		}
		var found *testUser
		_, err := p.wa.FinishDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			for _, u := range p.users {
				if bytes.Equal(u.handle, handle) {
					found = u
					return u, nil
				}
			}
			return nil, errors.New("unknown user handle")
		}, *p.login, r)
		p.login = nil
		if found != nil && found.forgotten {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msgUnknown + " Create an account first, or use another passkey.", "code": "unknown_passkey"})
			return
		}
		if err != nil {
			p.fail(w, fmt.Errorf("finish login: %w", err))
			return
		}
		p.current = found
		writeJSON(w, http.StatusOK, map[string]string{})
	})
	mux.HandleFunc("POST /auth/session", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		u := p.current
		p.current = nil
		p.mu.Unlock()
		if u == nil || r.Header.Get("HX-Request") != "true" {
			w.WriteHeader(http.StatusUnauthorized)
			_ = components.ErrorFragment(components.ErrorView{Status: 401, Message: "No session."}).Render(r.Context(), w)
			return
		}
		_ = components.HomeFragment(components.HomeView{UserID: hex.EncodeToString(u.handle), Name: u.name,
			Email: u.email}).Render(r.Context(), w)
	})
	return mux
}

// browserEvents collects exceptions and console/log errors the page reports.
type browserEvents struct {
	mu   sync.Mutex
	errs []string
}

func (b *browserEvents) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		b.errs = append(b.errs, "exception: "+e.ExceptionDetails.Text)
	case *log.EventEntryAdded:
		if e.Entry.Level == log.LevelError {
			b.errs = append(b.errs, "log: "+e.Entry.Text)
		}
	}
}

func (b *browserEvents) unexpected() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.errs {
		// Failed fetches of the deliberate 409/closed-connection answers are expected.
		if strings.Contains(e, "Failed to load resource") {
			continue
		}
		out = append(out, e)
	}
	return out
}

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "Chromium not found (apt-get install -y --no-install-recommends chromium): skipping the passkeys.js browser test"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func newTab(t *testing.T, parent context.Context) (context.Context, *browserEvents) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	ev := &browserEvents{}
	chromedp.ListenTarget(ctx, ev.listen)
	// WebAuthn needs a focused document: bring the tab to the front.
	if err := chromedp.Run(ctx, page.BringToFront(), log.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start tab: %v", err)
	}
	return ctx, ev
}

// alertText is the alert's first paragraph: the outcome in words (further paragraphs and buttons offer
// the way forward).
func alertText(ctx context.Context) (string, error) {
	var s string
	err := chromedp.Run(ctx, chromedp.Evaluate(`(() => {
		const box = document.querySelector("#passkey-error");
		const first = box && box.querySelector("p");
		return ((first || box || {}).textContent || "").trim();
	})()`, &s))
	return s, err
}

// waitAlert waits until #passkey-error holds want.
func waitAlert(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		var err error
		if got, err = alertText(ctx); err != nil {
			t.Fatalf("read alert: %v", err)
		}
		if strings.TrimSpace(got) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("alert = %q, want %q", got, want)
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

const (
	emailBox   = `#signup-email`
	nameBox    = `#signup-name`
	createBtn  = `//button[normalize-space()="Create account"]`
	loginBtn   = `//button[normalize-space()="Log in with a passkey"]`
	homeHeader = `main#app [data-testid="home-heading"]`
)

// addAuthenticator adds a virtual platform authenticator to the tab (presence and verification
// simulated) and returns its ID.
func addAuthenticator(t *testing.T, ctx context.Context) cdpwebauthn.AuthenticatorID {
	t.Helper()
	var id cdpwebauthn.AuthenticatorID
	run(t, ctx, "virtual authenticator", cdpwebauthn.Enable().WithEnableUI(false),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			id, err = cdpwebauthn.AddVirtualAuthenticator(&cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
				Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			}).Do(ctx)
			return err
		}))
	return id
}

func signUp(t *testing.T, ctx context.Context, base, email, name string) {
	t.Helper()
	run(t, ctx, "sign up "+email,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(emailBox, chromedp.ByQuery),
		chromedp.SendKeys(emailBox, email, chromedp.ByQuery),
		chromedp.SendKeys(nameBox, name, chromedp.ByQuery),
		chromedp.Click(createBtn),
	)
}

func TestPasskeysJSInChromium(t *testing.T) {
	bin := chromium(t)
	a, err := assets.New()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	base := fmt.Sprintf("http://localhost:%d", port) // localhost: an IP is not a valid RP ID
	wa, err := webauthn.New(&webauthn.Config{
		RPID: "localhost", RPDisplayName: "Latchkey test", RPOrigins: []string{base},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 20 * time.Second, TimeoutUVD: 20 * time.Second},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 20 * time.Second, TimeoutUVD: 20 * time.Second},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{wa: wa, assets: a, users: map[string]*testUser{}}
	srv := httptest.NewUnstartedServer(p.routes())
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	// Not t.TempDir: Chromium's helpers may still write into the profile just after exit.
	profile, err := os.MkdirTemp("", "passkeys-js-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(profile) })
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(browser) // close Chromium gracefully
		cancelBrowser()
	})
	if err := chromedp.Run(browser); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	t.Run("no passkey support", func(t *testing.T) {
		ctx, _ := newTab(t, browser)
		var disabled []bool
		run(t, ctx, "load without PublicKeyCredential",
			chromedp.ActionFunc(func(ctx context.Context) error {
				_, err := page.AddScriptToEvaluateOnNewDocument(`delete window.PublicKeyCredential;`).Do(ctx)
				return err
			}),
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(emailBox, chromedp.ByQuery),
		)
		waitAlert(t, ctx, msgUnsupported)
		run(t, ctx, "read buttons", chromedp.Evaluate(
			`[...document.querySelectorAll('button[data-passkey="login"], form[data-passkey="signup"] button')].map(b => b.disabled)`,
			&disabled))
		if len(disabled) != 2 || !disabled[0] || !disabled[1] {
			t.Errorf("passkey buttons disabled = %v, want both disabled", disabled)
		}
	})

	ctx, events := newTab(t, browser)
	// This tab: no autofill (the buttons are under test), a switch to slow the prompt down so its busy
	// state can be seen, and a record of the Signal API calls.
	run(t, ctx, "page hooks", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(noAutofill + `
			const get = navigator.credentials.get.bind(navigator.credentials);
			navigator.credentials.get = async (o) => {
				if (window.__slowPrompt) await new Promise((r) => setTimeout(r, 1500));
				return get(o);
			};
			window.__signals = [];
			PublicKeyCredential.signalUnknownCredential = async (o) => { window.__signals.push(o); };`).Do(ctx)
		return err
	}))
	authID := addAuthenticator(t, ctx)

	name := `Ada <b>Lovelace</b>`
	t.Run("sign up hands over to the session form", func(t *testing.T) {
		signUp(t, ctx, base, "ada@example.com", name)
		var heading, path string
		run(t, ctx, "wait for home", chromedp.WaitVisible(homeHeader, chromedp.ByQuery),
			chromedp.Text(homeHeader, &heading, chromedp.ByQuery),
			chromedp.Evaluate(`location.pathname`, &path))
		if heading != "Welcome, "+name {
			t.Errorf("heading = %q", heading)
		}
		if path != "/" {
			t.Errorf("path = %q: the hand-over should be an htmx swap, not a navigation", path)
		}
	})

	t.Run("log in hands over to the session form", func(t *testing.T) {
		run(t, ctx, "log in", chromedp.Navigate(base+"/"), chromedp.WaitVisible(loginBtn), chromedp.Click(loginBtn),
			chromedp.WaitVisible(homeHeader, chromedp.ByQuery))
	})

	t.Run("busy while the prompt is open", func(t *testing.T) {
		run(t, ctx, "slow prompt", chromedp.Navigate(base+"/"), chromedp.WaitVisible(loginBtn),
			chromedp.Evaluate(`window.__slowPrompt = true`, nil), chromedp.Click(loginBtn))
		var state struct {
			Status   string `json:"status"`
			Disabled []bool `json:"disabled"`
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			run(t, ctx, "read busy state", chromedp.Evaluate(`({
				status: document.querySelector("#passkey-status").textContent,
				disabled: [...document.querySelectorAll('button[data-passkey="login"], form[data-passkey="signup"] button[type="submit"]')].map((b) => b.disabled),
			})`, &state))
			if state.Status == msgWaiting {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if state.Status != msgWaiting || len(state.Disabled) != 2 || !state.Disabled[0] || !state.Disabled[1] {
			t.Errorf("while the prompt is open: status %q, buttons disabled %v; want %q and both disabled", state.Status, state.Disabled, msgWaiting)
		}
		run(t, ctx, "the slow log-in completes", chromedp.WaitVisible(homeHeader, chromedp.ByQuery),
			chromedp.Evaluate(`window.__slowPrompt = false`, nil))
	})

	t.Run("existing passkey on this device", func(t *testing.T) {
		signUp(t, ctx, base, "ada@example.com", "Ada")
		waitAlert(t, ctx, msgExists)
		var busy, disabled bool
		run(t, ctx, "button restored", chromedp.Evaluate(
			`document.querySelector('form[data-passkey="signup"] button').hasAttribute("aria-busy")`, &busy),
			chromedp.Evaluate(`document.querySelector('form[data-passkey="signup"] button').disabled`, &disabled))
		if busy || disabled {
			t.Errorf("after the ceremony: aria-busy=%v disabled=%v, want both false", busy, disabled)
		}
	})

	t.Run("email already registered offers to log in and explains a new device", func(t *testing.T) {
		signUp(t, ctx, base, "taken@example.com", "Someone")
		waitAlert(t, ctx, msgTaken)
		var text string
		var offers int
		run(t, ctx, "read the offer", chromedp.Text("#passkey-error", &text, chromedp.ByQuery),
			chromedp.Evaluate(`[...document.querySelectorAll('#passkey-error button')].filter((b) => b.textContent === "Log in instead").length`, &offers))
		if !strings.Contains(text, msgNewDevice) || offers != 1 {
			t.Errorf("alert %q with %d \"Log in instead\" buttons; want the new-device words and one button", text, offers)
		}
		run(t, ctx, "log in from the offer", chromedp.Click(`//button[normalize-space()="Log in instead"]`),
			chromedp.WaitVisible(homeHeader, chromedp.ByQuery))
	})

	t.Run("a field error marks its field and takes focus", func(t *testing.T) {
		signUp(t, ctx, base, "bad@", "Someone")
		var field struct {
			Invalid, DescribedBy, Error, Focused string
			Hidden                               bool
		}
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			run(t, ctx, "read the field", chromedp.Evaluate(`(() => {
				const input = document.querySelector("#signup-email");
				const slot = document.querySelector("#signup-email-error");
				return {Invalid: input.getAttribute("aria-invalid") || "", DescribedBy: input.getAttribute("aria-describedby") || "",
					Error: slot.textContent, Hidden: slot.hidden, Focused: document.activeElement.id};
			})()`, &field))
			if field.Invalid != "" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if field.Invalid != "true" || !strings.Contains(field.DescribedBy, "signup-email-error") || field.Error != msgBadEmail ||
			field.Hidden || field.Focused != "signup-email" {
			t.Errorf("email field after a field error: %+v", field)
		}
	})

	t.Run("network failure", func(t *testing.T) {
		signUp(t, ctx, base, "drop@example.com", "Someone")
		waitAlert(t, ctx, msgNetwork)
	})

	t.Run("unknown passkey is signalled to the password manager", func(t *testing.T) {
		p.mu.Lock()
		p.users["ada@example.com"].forgotten = true
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.users["ada@example.com"].forgotten = false
			p.mu.Unlock()
		}()
		run(t, ctx, "log in with a deleted passkey", chromedp.Navigate(base+"/"), chromedp.WaitVisible(loginBtn), chromedp.Click(loginBtn))
		waitAlert(t, ctx, msgUnknown+" Create an account first, or use another passkey.")
		var signals []map[string]string
		run(t, ctx, "read signals", chromedp.Evaluate(`window.__signals`, &signals))
		if len(signals) != 1 || signals[0]["rpId"] != "localhost" || signals[0]["credentialId"] == "" {
			t.Errorf("signalUnknownCredential calls = %v, want one for rpId localhost", signals)
		}
	})

	t.Run("cancelled prompt, then a new attempt succeeds", func(t *testing.T) {
		run(t, ctx, "fail user verification", chromedp.ActionFunc(func(ctx context.Context) error {
			return cdpwebauthn.SetUserVerified(authID, false).Do(ctx)
		}))
		signUp(t, ctx, base, "grace@example.com", "Grace")
		waitAlert(t, ctx, msgNotCreated)
		run(t, ctx, "verify again", chromedp.ActionFunc(func(ctx context.Context) error {
			return cdpwebauthn.SetUserVerified(authID, true).Do(ctx)
		}), chromedp.Click(loginBtn), chromedp.WaitVisible(homeHeader, chromedp.ByQuery))
	})

	t.Run("no passkey on this device offers the ways forward", func(t *testing.T) {
		tab, _ := newTab(t, browser)
		run(t, tab, "no autofill", chromedp.ActionFunc(func(ctx context.Context) error {
			_, err := page.AddScriptToEvaluateOnNewDocument(noAutofill).Do(ctx)
			return err
		}))
		addAuthenticator(t, tab) // empty
		run(t, tab, "log in", chromedp.Navigate(base+"/"), chromedp.WaitVisible(loginBtn), chromedp.Click(loginBtn))
		waitAlert(t, tab, msgNoPasskey)
		var focused string
		run(t, tab, "create an account from the offer", chromedp.Click(`//button[normalize-space()="Create an account"]`),
			chromedp.Evaluate(`document.activeElement.id`, &focused))
		if focused != "signup-email" {
			t.Errorf("after \"Create an account\", focus is on %q, want the email field", focused)
		}
	})

	t.Run("passkey autofill logs in without a click", func(t *testing.T) {
		var creds []*cdpwebauthn.Credential
		run(t, ctx, "read the passkey", chromedp.ActionFunc(func(c context.Context) error {
			var err error
			creds, err = cdpwebauthn.GetCredentials(authID).Do(c)
			return err
		}))
		if len(creds) == 0 {
			t.Fatal("no passkey to offer")
		}
		tab, _ := newTab(t, browser)
		other := addAuthenticator(t, tab)
		run(t, tab, "copy the passkey", chromedp.ActionFunc(func(c context.Context) error {
			return cdpwebauthn.AddCredential(other, creds[0]).Do(c)
		}))
		p.mu.Lock()
		before := p.autofills
		p.mu.Unlock()
		run(t, tab, "open the login page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(homeHeader, chromedp.ByQuery))
		p.mu.Lock()
		after := p.autofills
		p.mu.Unlock()
		if after <= before {
			t.Errorf("home reached without an autofill begin (%d -> %d)", before, after)
		}
	})

	p.mu.Lock()
	if len(p.errs) != 0 {
		t.Errorf("server rejected ceremonies: %v", p.errs)
	}
	p.mu.Unlock()
	if errs := events.unexpected(); len(errs) != 0 {
		t.Errorf("browser errors (CSP violations, exceptions): %v", errs)
	}
}
