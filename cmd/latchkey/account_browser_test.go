package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
)

// recordSignals makes the page record its WebAuthn Signal API calls in window.__signals (and not pass them
// on), so a test can see what the password manager was told.
func recordSignals(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(`window.__signals = [];
			for (const name of ["signalUnknownCredential", "signalAllAcceptedCredentials", "signalCurrentUserDetails"]) {
				PublicKeyCredential[name] = async (o) => { window.__signals.push({ name, ...o }); };
			}`).Do(ctx)
		return err
	})); err != nil {
		t.Fatalf("record signals: %v", err)
	}
}

// signals returns the recorded Signal API calls named name.
func signals(t *testing.T, ctx context.Context, name string) []map[string]any {
	t.Helper()
	var all []map[string]any
	if err := chromedp.Run(ctx, chromedp.Evaluate(`window.__signals || []`, &all)); err != nil {
		t.Fatalf("read signals: %v", err)
	}
	var out []map[string]any
	for _, s := range all {
		if s["name"] == name {
			out = append(out, s)
		}
	}
	return out
}

// waitSignals waits up to 5 s for at least one recorded Signal API call named name and returns them: the
// account page's script (account.js) is loaded when the page's content asks for it, so its calls come a
// moment after the page shows.
func waitSignals(t *testing.T, ctx context.Context, name string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := signals(t, ctx, name)
		if len(got) > 0 || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rowButton is the XPath of the button named name in the list row that mentions text.
func rowButton(text, name string) string {
	return fmt.Sprintf(`//li[contains(normalize-space(), %q)]//button[normalize-space()=%q]`, text, name)
}

// TestBrowserAccountPage: a person manages their passkeys and sessions on the home page — adds a passkey
// from another authenticator and logs in with it, renames one, deletes one (the log-in with it is then
// refused and the password manager told), revokes another browser's session (it lands on the login page
// at its next click) and logs out everywhere else.
func TestBrowserAccountPage(t *testing.T) {
	browsertest.Chromium(t)
	t.Run("sqlite", func(t *testing.T) { accountPage(t, nil) })
	t.Run("postgres", func(t *testing.T) {
		accountPage(t, map[string]string{"LATCHKEY_DATABASE_URL": postgresSchema(t)})
	})
}

func accountPage(t *testing.T, env map[string]string) {
	if env == nil {
		env = map[string]string{}
	}
	env["LATCHKEY_CEREMONY_TIMEOUT"] = "5s"
	base := startServer(t, env)
	ctx := browsertest.NewBrowser(t)
	noAutofill(t, ctx)
	recordSignals(t, ctx)
	first, err := browsertest.AddVirtualAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const name = "Katherine Johnson"
	email := fmt.Sprintf("kj-%d@example.com", time.Now().UnixNano())
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		browsertest.Step(t, ctx, what, actions...)
	}
	passkeyRows := func() int {
		t.Helper()
		var n int
		if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('[data-testid="passkey-row"]').length`, &n)); err != nil {
			t.Fatal(err)
		}
		return n
	}
	step("sign up",
		chromedp.Navigate(base+"/"),
		chromedp.SendKeys(browsertest.Textbox("Email address"), email),
		chromedp.SendKeys(browsertest.Textbox("Full name"), name),
		chromedp.Click(browsertest.Button("Create account")),
		browsertest.WaitText("Passkeys", "Sessions", "Recent activity", "Signed up"),
	)
	if n := len(waitSignals(t, ctx, "signalAllAcceptedCredentials")); n == 0 {
		t.Error("the account page did not signal the accepted passkeys")
	}
	if shots := os.Getenv("LATCHKEY_ACCOUNT_SCREENSHOT"); shots != "" {
		if _, err := browsertest.FullPageScreenshot(ctx, shots); err != nil {
			t.Log(err)
		}
	}
	creds, err := browsertest.Credentials(ctx, first)
	if err != nil || len(creds) != 1 {
		t.Fatalf("first authenticator: %d passkeys, %v", len(creds), err)
	}

	// Another authenticator (a security key, a phone): the first one is put away.
	if err := chromedp.Run(ctx, cdpwebauthn.RemoveVirtualAuthenticator(first)); err != nil {
		t.Fatal(err)
	}
	second, err := browsertest.AddVirtualAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	step("add a passkey",
		chromedp.Click(browsertest.Button("Add a passkey")),
		browsertest.WaitText("Passkey added"),
	)
	if n := passkeyRows(); n != 2 {
		t.Fatalf("%d passkeys listed after adding one, want 2", n)
	}
	step("log out, log in with the new passkey",
		chromedp.Click(browsertest.Button("Log out")),
		chromedp.Click(browsertest.Button("Log in with a passkey")),
		browsertest.WaitText("Passkeys", name),
		browsertest.WaitPath("/home"),
	)

	step("rename the first passkey",
		chromedp.WaitVisible(`(//li[@data-testid="passkey-row"])[1]//button[normalize-space()="Rename"]`),
		chromedp.Click(`(//li[@data-testid="passkey-row"])[1]//button[normalize-space()="Rename"]`),
		chromedp.WaitVisible(browsertest.Textbox("Passkey name")),
		chromedp.Evaluate(`document.querySelector('[data-testid="passkey-name-input"]').value = ""`, nil),
		chromedp.SendKeys(browsertest.Textbox("Passkey name"), "Office laptop"),
		chromedp.Click(browsertest.Button("Save")),
		browsertest.WaitText("Office laptop", "Passkey renamed: Office laptop"),
	)

	step("delete the second passkey",
		chromedp.Click(`(//li[@data-testid="passkey-row"])[2]//button[normalize-space()="Delete"]`),
		chromedp.Click(browsertest.Button("Delete passkey")),
		browsertest.WaitText("Passkey removed"),
	)
	if n := passkeyRows(); n != 1 {
		t.Fatalf("%d passkeys listed after deleting one, want 1", n)
	}
	step("log out; the deleted passkey is refused and the password manager told",
		chromedp.Click(browsertest.Button("Log out")),
		chromedp.Click(browsertest.Button("Log in with a passkey")),
		browsertest.WaitText("This passkey is not known here."),
	)
	if got := signals(t, ctx, "signalUnknownCredential"); len(got) != 1 || got[0]["credentialId"] == "" {
		t.Errorf("signalUnknownCredential calls = %v, want one", got)
	}

	// Back with the first authenticator, and a second browser holding the same passkey (another device).
	if err := chromedp.Run(ctx, cdpwebauthn.RemoveVirtualAuthenticator(second)); err != nil {
		t.Fatal(err)
	}
	again, err := browsertest.AddVirtualAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := browsertest.AddCredential(ctx, again, creds[0]); err != nil {
		t.Fatal(err)
	}
	step("log in on the first device",
		chromedp.Click(browsertest.Button("Log in with a passkey")),
		browsertest.WaitText("Sessions", name),
	)
	other := browsertest.NewBrowser(t)
	noAutofill(t, other)
	otherAuth, err := browsertest.AddVirtualAuthenticator(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := browsertest.AddCredential(other, otherAuth, creds[0]); err != nil {
		t.Fatal(err)
	}
	logInOther := func(what string) {
		t.Helper()
		browsertest.Step(t, other, what,
			chromedp.Navigate(base+"/"),
			chromedp.Click(browsertest.Button("Log in with a passkey")),
			browsertest.WaitText("Sessions", name),
		)
	}
	logInOther("log in on the other device")
	step("the first device sees two sessions and revokes the other",
		chromedp.Reload(),
		browsertest.WaitText("This device"),
		chromedp.Click(`(//li[@data-testid="session-row"][not(.//*[@data-testid="this-device"])])[1]//button[normalize-space()="Revoke"]`),
		browsertest.WaitText("Session revoked"),
	)
	browsertest.Step(t, other, "the revoked device lands on the login page at its next click",
		chromedp.Click(`(//li[@data-testid="passkey-row"])[1]//button[normalize-space()="Rename"]`),
		chromedp.WaitVisible(browsertest.Button("Log in with a passkey")),
		browsertest.WaitPath("/"),
	)

	logInOther("log in on the other device again")
	step("log out everywhere else",
		chromedp.Reload(),
		chromedp.Click(browsertest.Button("Log out everywhere else")),
		browsertest.WaitText("Logged out everywhere else"),
	)
	browsertest.Step(t, other, "the other device is logged out",
		chromedp.Reload(),
		chromedp.WaitVisible(browsertest.Button("Log in with a passkey")),
		browsertest.WaitPath("/"),
	)
	var text string
	if err := chromedp.Run(ctx, chromedp.Text(`[data-testid="session-list"]`, &text, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if strings.Count(text, "This device") != 1 {
		t.Errorf("after everywhere else the sessions list is %q, want only this device", text)
	}
}
