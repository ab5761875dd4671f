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
	msgCancelled   = "You cancelled the passkey prompt, or it timed out. Try again when you are ready."
	msgExists      = "This device already has a passkey for this account. Log in instead."
	msgUnsupported = "This browser has no passkey support. Use a current browser such as Chrome, Safari, Edge or Firefox."
	msgNetwork     = "Could not reach the server. Check your connection and try again."
	msgTaken       = "That email address is already registered."
)

type testUser struct {
	handle      []byte
	email, name string
	creds       []webauthn.Credential
}

func (u *testUser) WebAuthnID() []byte                         { return u.handle }
func (u *testUser) WebAuthnName() string                       { return u.email }
func (u *testUser) WebAuthnDisplayName() string                { return u.name }
func (u *testUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// provider is a minimal, single-browser stand-in for the embedded provider's
// /passkeys/* endpoints, built on go-webauthn, so passkeys.js's encoding is
// checked against the real library.
type provider struct {
	wa      *webauthn.WebAuthn
	assets  *assets.Assets
	mu      sync.Mutex
	users   map[string]*testUser // by email
	pending *testUser
	reg     *webauthn.SessionData
	login   *webauthn.SessionData
	current *testUser
	errs    []string // ceremony failures the server saw
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
			HTMXURL: p.assets.URL("htmx.min.js"), JSURL: p.assets.URL("passkeys.js")}
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
			writeJSON(w, http.StatusConflict, map[string]string{"error": msgTaken})
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
	mux.HandleFunc("POST /passkeys/login/begin", func(w http.ResponseWriter, r *http.Request) {
		assertion, session, err := p.wa.BeginDiscoverableLogin()
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		p.mu.Lock()
		p.login = session
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, assertion)
	})
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

func alertText(ctx context.Context) (string, error) {
	var s string
	err := chromedp.Run(ctx, chromedp.Text("#passkey-error", &s, chromedp.ByQuery))
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
	var authID cdpwebauthn.AuthenticatorID
	run(t, ctx, "virtual authenticator", cdpwebauthn.Enable().WithEnableUI(false),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			authID, err = cdpwebauthn.AddVirtualAuthenticator(&cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
				Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			}).Do(ctx)
			return err
		}))

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

	t.Run("server error text is shown", func(t *testing.T) {
		signUp(t, ctx, base, "taken@example.com", "Someone")
		waitAlert(t, ctx, msgTaken)
	})

	t.Run("network failure", func(t *testing.T) {
		signUp(t, ctx, base, "drop@example.com", "Someone")
		waitAlert(t, ctx, msgNetwork)
	})

	t.Run("cancelled prompt, then a new attempt succeeds", func(t *testing.T) {
		run(t, ctx, "fail user verification", chromedp.ActionFunc(func(ctx context.Context) error {
			return cdpwebauthn.SetUserVerified(authID, false).Do(ctx)
		}))
		signUp(t, ctx, base, "grace@example.com", "Grace")
		waitAlert(t, ctx, msgCancelled)
		run(t, ctx, "verify again", chromedp.ActionFunc(func(ctx context.Context) error {
			return cdpwebauthn.SetUserVerified(authID, true).Do(ctx)
		}), chromedp.Click(loginBtn), chromedp.WaitVisible(homeHeader, chromedp.ByQuery))
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
