package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/corbado"
	"github.com/latchkey/latchkey/internal/corbado/corbadotest"
)

const (
	corbadoBrowserProject = "pro-4242424242"
	corbadoBrowserSecret  = "corbado1_browsertestsecret"
)

// corbadoHook runs in every document before its own scripts. It records, at the moment Corbado's bundle
// defines window.Corbado (the bundle's last statement), whether FingerprintJS's monitoring was already
// switched off, and keeps the onLoggedIn callback our glue passes to Corbado.mountAuthUI, so a test can
// play Corbado's UI finishing a login. The real mountAuthUI still runs.
const corbadoHook = `(() => {
  let real;
  Object.defineProperty(window, "Corbado", {
    configurable: true,
    get() { return real; },
    set(v) {
      window.__testFpjsOffAtBundle = window.__fpjs_d_m === true;
      const mount = v.mountAuthUI.bind(v);
      v.mountAuthUI = (el, opts) => {
        window.__testOnLoggedIn = opts && opts.onLoggedIn;
        return mount(el, opts);
      };
      real = v;
    },
  });
})();`

// corbadoBrowser runs Latchkey in Corbado mode against a local fake of Corbado's APIs and returns the
// fake, the base URL and a browser tab that watches CSP violation events and carries corbadoHook.
// Corbado's bundle calls https://pro-4242424242.frontendapi.corbado.io: with browserAPI that host
// reaches the fake's browser-facing Frontend API (session config with cookieDomain, passkey list,
// logout); without, it reaches a closed local port, so Corbado's own calls fail at once and nothing
// leaves the machine.
func corbadoBrowser(t *testing.T, browserAPI bool, cookieDomain string) (*corbadotest.Fake, string, context.Context, *browsertest.CSPEvents) {
	t.Helper()
	browsertest.Chromium(t)
	fake := corbadotest.New(t, corbadoBrowserProject, corbadoBrowserSecret)
	fake.AddUser(corbado.UserDetails{ID: "usr-777", FullName: "Grace Brewster Hopper", Email: "grace@navy.example"})
	base := startServer(t, map[string]string{
		"CORBADO_PROJECT_ID":   corbadoBrowserProject,
		"CORBADO_API_SECRET":   corbadoBrowserSecret,
		"CORBADO_FRONTEND_API": fake.FrontendURL(),
		"CORBADO_BACKEND_API":  fake.BackendURL(),
	})
	host, addr := corbadoBrowserProject+".frontendapi.corbado.io", "127.0.0.1:"+freePort(t)
	if browserAPI {
		host, addr = fake.StartBrowserAPI(t, cookieDomain)
	}
	ctx := browsertest.NewBrowserResolving(t, map[string]string{host: addr})
	csp := browsertest.WatchCSP(t, ctx)
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(corbadoHook).Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	return fake, base, ctx, csp
}

// graceToken is a session token for the fake's user usr-777, valid for ttl from now (negative: expired).
func graceToken(t *testing.T, fake *corbadotest.Fake, ttl time.Duration) string {
	now := time.Now()
	return fake.Token(t, corbadotest.TokenClaims{
		Subject: "usr-777", Name: "Grace", Email: "grace@old.example",
		IssuedAt: now.Add(-time.Minute), NotBefore: now.Add(-time.Minute), Expires: now.Add(ttl),
	})
}

// setTokenCookie sets cbo_session_token as a host-only cookie for base, as Corbado's UI leaves it.
func setTokenCookie(base, tok string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		return network.SetCookie("cbo_session_token", tok).WithURL(base + "/").Do(ctx)
	})
}

// exchanges counts the POST /auth/session requests the current document has made.
func exchanges(t *testing.T, ctx context.Context) int {
	t.Helper()
	var n int
	if err := chromedp.Run(ctx, chromedp.Evaluate(
		`performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname === "/auth/session").length`, &n)); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitJS waits until the JavaScript expression is true.
func waitJS(expr string) chromedp.Action {
	return chromedp.Poll(expr, nil, chromedp.WithPollingTimeout(15*time.Second))
}

// assertNoCSPViolations lets late events arrive, then checks both the page's securitypolicyviolation
// events and the browser's console for Content Security Policy reports.
func assertNoCSPViolations(t *testing.T, ctx context.Context, csp *browsertest.CSPEvents) {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	if v := csp.Violations(); len(v) != 0 {
		t.Errorf("securitypolicyviolation events: %v", v)
	}
	if v := browsertest.CSPViolations(ctx); len(v) != 0 {
		t.Errorf("Content Security Policy reports in the console: %q", v)
	}
}

// TestBrowserCorbadoHandOver runs Latchkey in Corbado mode against a local fake of Corbado's Frontend and
// Backend APIs. With Corbado's session cookie present (as Corbado's UI leaves it after a login), the
// login page hands over to POST /auth/session and the person lands on the home page with the details
// from the Backend API; Corbado's bundle is loaded from Latchkey's own assets, nothing from elsewhere.
// Corbado's UI runs for real on both pages (the home page's passkey list fetches from the fake), and no
// page dispatches a single CSP violation: telemetry is off, FingerprintJS's monitoring ping is off
// before the bundle runs.
func TestBrowserCorbadoHandOver(t *testing.T) {
	fake, base, ctx, csp := corbadoBrowser(t, true, "localhost")
	tok := graceToken(t, fake, 5*time.Minute)

	browsertest.Step(t, ctx, "open the login page without a Corbado session",
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady(`#corbado-auth`, chromedp.ByQuery),
		// Corbado's auth UI has rendered into its element.
		waitJS(`document.querySelector("#corbado-auth .cb-container") !== null`),
	)
	var bundle string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`typeof window.Corbado === "object" && typeof window.Corbado.load === "function" && typeof window.Corbado.mountAuthUI === "function"
		? Array.from(document.scripts).map(s => s.src).find(s => s.includes("corbado-web-js")) : ""`, &bundle)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bundle, base+"/assets/corbado-web-js.") {
		t.Fatalf("Corbado bundle not loaded from our assets: %q", bundle)
	}
	var fpjsOff bool
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.__testFpjsOffAtBundle === true`, &fpjsOff)); err != nil {
		t.Fatal(err)
	}
	if !fpjsOff {
		t.Error("window.__fpjs_d_m was not true when Corbado's bundle ran: FingerprintJS may ping its CDN")
	}

	browsertest.Step(t, ctx, "Corbado leaves its session cookie; the page hands over",
		setTokenCookie(base, tok),
		chromedp.Navigate(base+"/"),
		browsertest.WaitText("User ID", "usr-777", "Grace Brewster Hopper", "grace@navy.example"),
		browsertest.WaitPath("/home"),
	)
	// Corbado's passkey list, with Corbado's session read from the cookie, fetches the passkeys: the
	// moment web-js would send telemetry ("getPasskeys") if it were on.
	listed := func() bool {
		for _, r := range fake.BrowserRequests() {
			if r.Method == "GET" && r.Path == "/v2/me/passkeys" && r.Origin == base {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(15 * time.Second); !listed() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !listed() {
		t.Fatalf("Corbado's UI did not fetch the passkey list from the Frontend API: %+v", fake.BrowserRequests())
	}
	browsertest.Step(t, ctx, "Corbado's passkey list renders",
		waitJS(`document.querySelector("#corbado-passkey-list .cb-passkey-list-container") !== null`),
	)

	var foreign []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`performance.getEntriesByType("resource").map(e => e.name).filter(n => !n.startsWith(location.origin))`, &foreign)); err != nil {
		t.Fatal(err)
	}
	for _, u := range foreign {
		// Corbado's UI calls Corbado's Frontend API (the fake here); nothing else, never a CDN.
		if !strings.HasPrefix(u, fake.FrontendURL()) && !strings.HasPrefix(u, "https://"+corbadoBrowserProject+".frontendapi.corbado.io/") {
			t.Errorf("page loaded %s from another origin", u)
		}
	}
	assertNoCSPViolations(t, ctx, csp)
	if n := len(fake.BackendRequests()); n == 0 {
		t.Error("the Backend API was not asked for the user's details")
	}
}

// After the server refuses a token, the same token is never handed over again (no loop, even when
// Corbado's UI reports the login once more), but a new login, with a new token, is.
func TestBrowserCorbadoNewLoginAfterRefusedToken(t *testing.T) {
	fake, base, ctx, csp := corbadoBrowser(t, true, "localhost")
	expired := graceToken(t, fake, -time.Minute)

	browsertest.Step(t, ctx, "an expired Corbado session is handed over and refused",
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady(`#corbado-auth`, chromedp.ByQuery),
		setTokenCookie(base, expired),
		chromedp.Navigate(base+"/"),
		browsertest.WaitText("Your login took too long and expired. Please log in again."),
		// The login fragment with the error mounted Corbado's UI again.
		waitJS(`typeof window.__testOnLoggedIn === "function"`),
	)
	time.Sleep(time.Second) // a loop would post again meanwhile
	if n := exchanges(t, ctx); n != 1 {
		t.Fatalf("after the refusal: %d POST /auth/session, want 1", n)
	}

	browsertest.Step(t, ctx, "Corbado's UI reports the refused session again: nothing is posted",
		setTokenCookie(base, expired),
		chromedp.Evaluate(`window.__testOnLoggedIn(); true`, nil),
	)
	time.Sleep(time.Second)
	if n := exchanges(t, ctx); n != 1 {
		t.Fatalf("the refused token was handed over again: %d POST /auth/session, want 1", n)
	}

	browsertest.Step(t, ctx, "a new login through Corbado's UI is handed over",
		setTokenCookie(base, graceToken(t, fake, 5*time.Minute)),
		chromedp.Evaluate(`window.__testOnLoggedIn(); true`, nil),
		browsertest.WaitText("User ID", "usr-777", "Grace Brewster Hopper"),
		browsertest.WaitPath("/home"),
	)
	if n := exchanges(t, ctx); n != 2 {
		t.Errorf("%d POST /auth/session in all, want 2", n)
	}
	assertNoCSPViolations(t, ctx, csp)
}

// Corbado's web-js writes cbo_session_token with a domain= attribute: a domain cookie, which a
// host-only deletion does not touch. When Corbado's own logout cannot run (its API is unreachable
// here), logout must still delete that cookie, or the login page it shows hands the stale token over
// and logs the person straight back in. app.localhost (which Chromium resolves to loopback) is a host
// that can carry domain cookies; plain localhost cannot.
func TestBrowserCorbadoLogoutClearsDomainCookie(t *testing.T) {
	fake, base, ctx, csp := corbadoBrowser(t, false, "")
	app := strings.Replace(base, "//localhost:", "//app.localhost:", 1)
	tok := graceToken(t, fake, 5*time.Minute)

	browsertest.Step(t, ctx, "Corbado's web-js writes its cookie with domain=app.localhost; the page hands over",
		chromedp.Navigate(app+"/"),
		chromedp.WaitReady(`#corbado-auth`, chromedp.ByQuery),
		chromedp.Evaluate(fmt.Sprintf(`document.cookie = "cbo_session_token=%s; domain=app.localhost; sameSite=lax; path=/"; true`, tok), nil),
		chromedp.Navigate(app+"/"),
		browsertest.WaitText("User ID", "usr-777"),
		browsertest.WaitPath("/home"),
	)
	var cookies []*network.Cookie
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{app + "/"}).Do(ctx)
		return err
	})); err != nil {
		t.Fatal(err)
	}
	var domains []string
	for _, c := range cookies {
		if c.Name == "cbo_session_token" {
			domains = append(domains, c.Domain)
		}
	}
	if fmt.Sprint(domains) != "[.app.localhost]" {
		t.Fatalf("cbo_session_token cookies by domain: %q, want one domain cookie [.app.localhost]", domains)
	}

	browsertest.Step(t, ctx, "log out",
		chromedp.Click(browsertest.Button("Log out"), chromedp.BySearch),
		browsertest.WaitText("Log in to Latchkey"),
		browsertest.WaitPath("/"),
	)
	time.Sleep(1500 * time.Millisecond) // a hand-over of a surviving cookie would happen meanwhile
	text, err := browsertest.PageText(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "User ID") {
		t.Fatal("logged straight back in after logout: the stale session cookie was handed over")
	}
	if n := exchanges(t, ctx); n != 1 {
		t.Errorf("%d POST /auth/session on this page, want 1 (the login before logout)", n)
	}
	var left string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.cookie`, &left)); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(left, "cbo_session_token") {
		t.Errorf("cbo_session_token survived logout: document.cookie = %q", left)
	}

	browsertest.Step(t, ctx, "open the login page again",
		chromedp.Navigate(app+"/"),
		browsertest.WaitText("Log in to Latchkey"),
	)
	time.Sleep(1500 * time.Millisecond)
	if text, err := browsertest.PageText(ctx); err != nil || strings.Contains(text, "User ID") || exchanges(t, ctx) != 0 {
		t.Errorf("a fresh login page handed a session over after logout (err %v): %q", err, text)
	}
	assertNoCSPViolations(t, ctx, csp)
}
