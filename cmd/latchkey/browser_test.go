package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/testdb"
	"github.com/latchkey/latchkey/internal/testlog"
)

// freePort returns a TCP port on localhost that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatalf("split %s: %v", ln.Addr(), err)
	}
	return port
}

// startServer runs the real program (run) on a fresh port with a fresh
// SQLite database, waits until /healthz answers 200 and returns the base URL
// (http://localhost:PORT: passkeys need localhost, not an IP). The server is
// stopped when the test ends; an error from run other than on cancel fails
// the test.
func startServer(t *testing.T, extraEnv map[string]string) string {
	t.Helper()
	port := freePort(t)
	base := "http://localhost:" + port
	env := map[string]string{
		"LATCHKEY_ADDR":             "localhost:" + port,
		"LATCHKEY_PUBLIC_URL":       base,
		"LATCHKEY_DATABASE_URL":     "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"),
		"LATCHKEY_CEREMONY_TIMEOUT": "20s",
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	getenv := func(key string) string { return env[key] }

	out := &testlog.Buffer{}
	t.Cleanup(func() { // runs last: after the server has stopped
		if t.Failed() {
			t.Logf("server output:\n%s", out.String())
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	var runErr error
	go func() {
		defer close(stopped)
		runErr = run(ctx, []string{"latchkey"}, getenv, out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
			if runErr != nil && !errors.Is(runErr, context.Canceled) {
				t.Errorf("run returned: %v", runErr)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("run did not return within 15s of cancel")
		}
	})

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-stopped:
			t.Fatalf("run returned before the server was healthy: %v", runErr)
		default:
		}
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s/healthz: not healthy after 15s: %v", base, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// homeUserID reads the user ID the home page shows after its "User ID" label.
func homeUserID(t *testing.T, ctx context.Context) string {
	t.Helper()
	text, err := browsertest.PageText(ctx)
	if err != nil {
		t.Fatalf("read page text: %v", err)
	}
	m := regexp.MustCompile(`User ID\s*:?\s*(\S+)`).FindStringSubmatch(text)
	if m == nil {
		browsertest.Diagnose(t, ctx, "user ID")
		t.Fatalf("no user ID on the home page")
	}
	return m[1]
}

// TestBrowserSignUpLogOutLogIn drives the real server with headless Chromium
// and a virtual authenticator, finding every control by its accessible name:
// sign up, log out, the /home redirect, log in with the passkey, and reload.
func TestBrowserSignUpLogOutLogIn(t *testing.T) {
	browsertest.Chromium(t) // skip (or fail on CI) before starting the server
	t.Run("sqlite", func(t *testing.T) { signUpLogOutLogIn(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		signUpLogOutLogIn(t, map[string]string{"LATCHKEY_DATABASE_URL": postgresSchema(t)})
	})
}

// pageScripts returns the paths of the page's script elements.
func pageScripts(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var srcs []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.scripts].map((s) => new URL(s.src || location.href).pathname)`, &srcs)); err != nil {
		t.Fatalf("read the page's scripts: %v", err)
	}
	return srcs
}

// postgresSchema returns a database URL for a fresh, empty schema in the local PostgreSQL, dropped when
// the test ends. It skips without PostgreSQL, and fails instead when CI is set.
func postgresSchema(t *testing.T) string { return testdb.PostgresURL(t) }

func signUpLogOutLogIn(t *testing.T, env map[string]string) {
	base := startServer(t, env)
	ctx := browsertest.NewBrowser(t)
	noAutofill(t, ctx) // this journey tests the buttons; TestBrowserPasskeyAutofill tests autofill
	authID, err := browsertest.AddVirtualAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const name = "Ada Lovelace"
	email := fmt.Sprintf("ada-%d@example.com", time.Now().UnixNano())
	loginButton := browsertest.Button("Log in with a passkey")
	step := func(name string, actions ...chromedp.Action) {
		t.Helper()
		browsertest.Step(t, ctx, name, actions...)
	}
	path := func() string {
		t.Helper()
		var p string
		if err := chromedp.Run(ctx, chromedp.Evaluate(`location.pathname`, &p)); err != nil {
			t.Fatalf("read location: %v", err)
		}
		return p
	}

	step("open the login page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(browsertest.Textbox("Email address")),
	)
	// The login page loads only what it needs: not copy.js or account.js, which ui.js loads once content
	// that names them (data-uses) is in the page.
	if got := pageScripts(t, ctx); slices.ContainsFunc(got, func(s string) bool {
		return strings.HasPrefix(s, "/assets/copy.") || strings.HasPrefix(s, "/assets/account.")
	}) {
		t.Errorf("the login page loads %q, want neither copy.js nor account.js", got)
	}
	step("sign up",
		chromedp.SendKeys(browsertest.Textbox("Email address"), email),
		chromedp.SendKeys(browsertest.Textbox("Full name"), name),
		chromedp.Click(browsertest.Button("Create account")),
		browsertest.WaitText("User ID", name, email),
		browsertest.WaitPath("/home"),
	)
	oriented(t, ctx, "after sign-up", "Home · Latchkey", "home-heading", "Logged in as "+name)
	userID := homeUserID(t, ctx)
	if !strings.HasPrefix(userID, "usr-") {
		t.Errorf("user ID %q does not start with usr-", userID)
	}
	// The home page swapped in names copy.js and account.js: they are loaded now, once each, and bring
	// their hidden buttons to life.
	for _, perm := range []string{"clipboard-write", "clipboard-read"} {
		grant := browser.SetPermission(&browser.PermissionDescriptor{Name: perm}, browser.PermissionSettingGranted).WithOrigin(base)
		if err := chromedp.Run(ctx, grant); err != nil {
			t.Fatalf("grant %s: %v", perm, err)
		}
	}
	step("copy the user ID (copy.js, loaded with the home page)",
		chromedp.WaitVisible(`[data-testid="add-passkey"]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid="copy-user-id"]`, chromedp.ByQuery),
		browsertest.WaitText("Copied"),
	)
	var copied string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`navigator.clipboard.readText()`, &copied, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	})); err != nil || copied != userID {
		t.Errorf("clipboard holds %q (%v), want the user ID %q", copied, err, userID)
	}
	scripts := pageScripts(t, ctx)
	for _, want := range []string{"/assets/copy.", "/assets/account."} {
		if n := len(slices.DeleteFunc(slices.Clone(scripts), func(s string) bool { return !strings.HasPrefix(s, want) })); n != 1 {
			t.Errorf("the home page has %d scripts %s*, want 1 (scripts: %q)", n, want, scripts)
		}
	}

	creds, err := browsertest.Credentials(ctx, authID)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 1 || !creds[0].IsResidentCredential {
		t.Fatalf("authenticator holds %d credentials after sign-up, want 1 resident one", len(creds))
	}
	passkey := creds[0]
	// Keep the passkey out of the authenticator while logged out: with passkey
	// autofill on the login page, Chromium would otherwise log straight back
	// in by itself, and the steps below would not test what they name.
	if err := browsertest.RemoveCredential(ctx, authID, passkey.CredentialID); err != nil {
		t.Fatal(err)
	}

	step("log out",
		chromedp.Click(browsertest.Button("Log out")),
		chromedp.WaitVisible(loginButton),
		browsertest.WaitPath("/"),
	)
	oriented(t, ctx, "after logout", "Log in · Latchkey", "login-heading", "Logged out")
	backAfterLogout(t, ctx, name, email)
	step("open /home while logged out",
		chromedp.Navigate(base+"/home"),
		chromedp.WaitVisible(loginButton),
		browsertest.WaitPath("/"),
	)
	if got := path(); got != "/" {
		t.Errorf("after /home while logged out, path = %q, want /", got)
	}
	step("sign up again with the same email: plain words in the alert",
		chromedp.SendKeys(browsertest.Textbox("Email address"), email),
		chromedp.SendKeys(browsertest.Textbox("Full name"), name),
		chromedp.Click(browsertest.Button("Create account")),
		browsertest.WaitText("This email is already registered"),
	)
	var alert string
	if err := chromedp.Run(ctx, chromedp.Text(`[role="alert"]`, &alert, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(alert, "already registered") {
		t.Errorf("role=alert holds %q, want the already-registered words", alert)
	}

	if err := browsertest.AddCredential(ctx, authID, passkey); err != nil {
		t.Fatal(err)
	}
	step("log in with the passkey",
		chromedp.Click(loginButton),
		browsertest.WaitText("User ID", name, email),
		browsertest.WaitPath("/home"),
	)
	oriented(t, ctx, "after log-in", "Home · Latchkey", "home-heading", "Logged in as "+name)
	if got := homeUserID(t, ctx); got != userID {
		t.Errorf("after log-in, user ID = %q, want %q", got, userID)
	}

	step("reload /home",
		chromedp.Reload(),
		browsertest.WaitText("User ID", name, email),
		browsertest.WaitPath("/home"),
	)
	if got := homeUserID(t, ctx); got != userID {
		t.Errorf("after reload, user ID = %q, want %q", got, userID)
	}

	// The one expected error: the browser reports the 409 of the refused second sign-up.
	var unexpected []string
	for _, e := range browsertest.ConsoleErrors(ctx) {
		if !strings.Contains(e, "status of 409") || !strings.Contains(e, "/passkeys/signup/begin") {
			unexpected = append(unexpected, e)
		}
	}
	if len(unexpected) != 0 {
		t.Errorf("browser console errors: %q", unexpected)
	}
	if v := browsertest.CSPViolations(ctx); len(v) != 0 {
		t.Errorf("Content Security Policy violations: %q", v)
	}
}

// backAfterLogout presses Back right after logging out, as the next person at a shared computer would: no
// name or email may come back, neither from htmx's history cache nor from the browser's, and nothing
// personal may stay in sessionStorage.
func backAfterLogout(t *testing.T, ctx context.Context, name, email string) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.__beforeBack = true; history.back(); true`, nil)); err != nil {
		t.Fatalf("history.back: %v", err)
	}
	// Back to /home either reloads the page (a history-cache miss: the server answers with the login
	// page) or restores it from a cache; give either time to finish, then read what the page shows.
	var (
		text, stored string
		reloaded     bool
	)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := chromedp.Run(ctx,
			chromedp.Evaluate(`window.__beforeBack === undefined && document.readyState === "complete" && location.pathname === "/"`, &reloaded),
		)
		if err == nil && reloaded || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // a late restore would land now
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`document.body.innerText`, &text),
		chromedp.Evaluate(`JSON.stringify(Object.entries(sessionStorage))`, &stored),
	); err != nil {
		t.Fatalf("read the page after Back: %v", err)
	}
	for _, private := range []string{name, email} {
		if strings.Contains(text, private) {
			t.Errorf("Back after logout shows %q on the page:\n%s", private, text)
		}
		if strings.Contains(stored, private) {
			t.Errorf("sessionStorage still holds %q after logout", private)
		}
	}
	if !reloaded {
		t.Errorf("Back after logout did not load a fresh page at / (text:\n%s)", text)
	}
}

// noAutofill makes the browser report no passkey autofill, so a login page does not log in by itself
// while the authenticator holds a passkey (Chromium answers a pending autofill request at once when
// presence is simulated): the steps then test the buttons they name.
func noAutofill(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(`PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`).Do(ctx)
		return err
	})); err != nil {
		t.Fatalf("turn off autofill: %v", err)
	}
}

// oriented asserts what a keyboard or screen-reader user gets after a swap: the document title of the
// new page, focus on its heading, and the polite announcement of what happened.
func oriented(t *testing.T, ctx context.Context, when, title, headingID, announcement string) {
	t.Helper()
	var got struct {
		Title, Focused, Announced string
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := chromedp.Run(ctx, chromedp.Evaluate(`({Title: document.title, Focused: document.activeElement.id,
			Announced: document.querySelector("#announcer").textContent})`, &got)); err != nil {
			t.Fatalf("%s: read orientation: %v", when, err)
		}
		if got.Title == title && got.Focused == headingID && got.Announced == announcement || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.Title != title || got.Focused != headingID || got.Announced != announcement {
		t.Errorf("%s: title %q, focus on #%s, announced %q; want %q, #%s, %q", when, got.Title, got.Focused, got.Announced,
			title, headingID, announcement)
	}
}

// device opens a new tab with the browser's cookies cleared (a device that has never logged in here; the
// devices of a test take turns), brought to the front (WebAuthn needs a focused document); it closes
// when the test ends.
func device(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Run(ctx, network.ClearBrowserCookies(), page.BringToFront()); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// TestBrowserPasskeyAutofill: on a device without a passkey, "Log in with a passkey" says the device may
// have none, and signing up again with a registered email explains the new-device way; a browser whose
// authenticator holds the passkey opens the login page and is logged in from the email field's passkey
// suggestion, without a click.
func TestBrowserPasskeyAutofill(t *testing.T) {
	browsertest.Chromium(t)
	// A short ceremony timeout: a device with no passkey fails only when the prompt times out.
	base := startServer(t, map[string]string{"LATCHKEY_CEREMONY_TIMEOUT": "5s"})
	browser := browsertest.NewBrowser(t)

	// The first device signs up (no autofill: there is nothing to offer yet).
	first := device(t, browser)
	noAutofill(t, first)
	firstAuth, err := browsertest.AddVirtualAuthenticator(first)
	if err != nil {
		t.Fatal(err)
	}
	const name = "Grace Hopper"
	email := fmt.Sprintf("grace-%d@example.com", time.Now().UnixNano())
	browsertest.Step(t, first, "sign up on the first device",
		chromedp.Navigate(base+"/"),
		chromedp.SendKeys(browsertest.Textbox("Email address"), email),
		chromedp.SendKeys(browsertest.Textbox("Full name"), name),
		chromedp.Click(browsertest.Button("Create account")),
		browsertest.WaitText("User ID", name, email),
	)
	creds, err := browsertest.Credentials(first, firstAuth)
	if err != nil || len(creds) != 1 {
		t.Fatalf("first device holds %d passkeys (%v), want 1", len(creds), err)
	}

	// A new device, without the passkey.
	fresh := device(t, browser)
	noAutofill(t, fresh)
	if _, err := browsertest.AddVirtualAuthenticator(fresh); err != nil {
		t.Fatal(err)
	}
	browsertest.Step(t, fresh, "log in on a device with no passkey",
		chromedp.Navigate(base+"/"),
		chromedp.Click(browsertest.Button("Log in with a passkey")),
		browsertest.WaitText("No passkey was used. This device may have none for this site.", "Use a phone or tablet"),
	)
	browsertest.Step(t, fresh, "sign up again with the registered email",
		chromedp.SendKeys(browsertest.Textbox("Email address"), email),
		chromedp.SendKeys(browsertest.Textbox("Full name"), name),
		chromedp.Click(browsertest.Button("Create account")),
		browsertest.WaitText("This email is already registered.", "On a new device?", "add a passkey for this device"),
	)
	var offer int
	if err := chromedp.Run(fresh, chromedp.Evaluate(`[...document.querySelectorAll('[role="alert"] button')].filter((b) => b.textContent === "Log in instead").length`, &offer)); err != nil || offer != 1 {
		t.Errorf("the already-registered alert offers %d \"Log in instead\" buttons (%v), want 1", offer, err)
	}

	// A device that holds the passkey, with autofill: the login page logs in from the suggestion.
	synced := device(t, browser)
	syncedAuth, err := browsertest.AddVirtualAuthenticator(synced)
	if err != nil {
		t.Fatal(err)
	}
	if err := browsertest.AddCredential(synced, syncedAuth, creds[0]); err != nil {
		t.Fatal(err)
	}
	var autofill string
	browsertest.Step(t, synced, "open the login page: the passkey offered in the email field is accepted",
		chromedp.Navigate(base+"/"),
		chromedp.AttributeValue(browsertest.Textbox("Email address"), "autocomplete", &autofill, nil),
		browsertest.WaitText("User ID", name, email),
		browsertest.WaitPath("/home"),
	)
	if autofill != "username webauthn" {
		t.Errorf("email field autocomplete = %q, want \"username webauthn\"", autofill)
	}
	oriented(t, synced, "after autofill log-in", "Home · Latchkey", "home-heading", "Logged in as "+name)
}
