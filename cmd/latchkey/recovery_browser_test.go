package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/testlog"
)

// TestBrowserRecovery: a person signs up and keeps the recovery codes, loses every passkey (the virtual
// authenticator is wiped), recovers with a code, adds a new passkey on the page recovery lands on, logs
// out and logs in with the new passkey; the used code fails a second time; an operator's one-time link
// (latchkey users recover EMAIL) works once.
func TestBrowserRecovery(t *testing.T) {
	browsertest.Chromium(t)
	t.Run("sqlite", func(t *testing.T) { recoveryJourney(t, "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db")) })
	t.Run("postgres", func(t *testing.T) { recoveryJourney(t, postgresSchema(t)) })
}

func recoveryJourney(t *testing.T, dbURL string) {
	base := startServer(t, map[string]string{"LATCHKEY_CEREMONY_TIMEOUT": "5s", "LATCHKEY_DATABASE_URL": dbURL})
	ctx := browsertest.NewBrowser(t)
	noAutofill(t, ctx)
	auth, err := browsertest.AddVirtualAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const name = "Mary Jackson"
	email := fmt.Sprintf("mj-%d@example.com", time.Now().UnixNano())
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		browsertest.Step(t, ctx, what, actions...)
	}
	lostLink := `//a[normalize-space()="Lost your passkey?"]`
	recoverWith := func(code string) chromedp.Action {
		return chromedp.Tasks{
			chromedp.Click(lostLink),
			chromedp.WaitVisible(browsertest.Textbox("Recovery code")),
			browsertest.WaitPath("/recover"),
			chromedp.SendKeys(browsertest.Textbox("Email address"), email),
			chromedp.SendKeys(browsertest.Textbox("Recovery code"), code),
			chromedp.Click(browsertest.Button("Log in with a recovery code")),
		}
	}

	step("sign up; the recovery codes are shown",
		chromedp.Navigate(base+"/"),
		chromedp.SendKeys(browsertest.Textbox("Email address"), email),
		chromedp.SendKeys(browsertest.Textbox("Full name"), name),
		chromedp.Click(browsertest.Button("Create account")),
		browsertest.WaitText("Your recovery codes", "They are shown only now.", "Recovery codes", "Create new recovery codes"),
	)
	var shown string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('[data-testid="recovery-codes"]').textContent`, &shown)); err != nil {
		t.Fatal(err)
	}
	codes := strings.Fields(shown)
	code := regexp.MustCompile(`^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$`)
	if len(codes) != 10 || !code.MatchString(codes[0]) {
		t.Fatalf("home page shows codes %q, want 10 like xxxx-xxxx-xxxx", codes)
	}
	var download string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.querySelector('a[download]').href`, &download)); err != nil || !strings.HasPrefix(download, "data:text/plain") {
		t.Fatalf("Download link = %q, %v", download, err)
	}

	// Every passkey is lost.
	creds, err := browsertest.Credentials(ctx, auth)
	if err != nil || len(creds) != 1 {
		t.Fatalf("authenticator holds %d passkeys, %v", len(creds), err)
	}
	if err := browsertest.RemoveCredential(ctx, auth, creds[0].CredentialID); err != nil {
		t.Fatal(err)
	}
	step("log out; the codes are not shown again and the lost passkey does not log in",
		chromedp.Reload(),
		browsertest.WaitText("Recovery codes"),
		chromedp.Click(browsertest.Button("Log out")),
		chromedp.Click(browsertest.Button("Log in with a passkey")),
		chromedp.WaitVisible(`[data-testid="passkey-error"]:not(:empty)`, chromedp.ByQuery),
	)
	step("recover with a code: the landing page asks for a new passkey",
		recoverWith(codes[3]),
		browsertest.WaitText("Welcome back, "+name, "add a passkey for this device"),
		browsertest.WaitPath("/account/recover"),
	)
	step("add a new passkey, then home",
		chromedp.Click(browsertest.Button("Add a passkey")),
		browsertest.WaitText("Passkey added", "Recovery code used"),
		browsertest.WaitPath("/home"),
	)
	if creds, err := browsertest.Credentials(ctx, auth); err != nil || len(creds) != 1 {
		t.Fatalf("authenticator holds %d passkeys after adding one, %v", len(creds), err)
	}
	step("log out, log in with the new passkey",
		chromedp.Click(browsertest.Button("Log out")),
		chromedp.Click(browsertest.Button("Log in with a passkey")),
		browsertest.WaitText("Passkeys", name, "Logged in"),
		browsertest.WaitPath("/home"),
	)
	step("log out; the used code fails a second time",
		chromedp.Click(browsertest.Button("Log out")),
		chromedp.WaitVisible(lostLink),
		recoverWith(codes[3]),
		browsertest.WaitText("That email address and recovery code do not match, or the code was used already."),
		browsertest.WaitPath("/recover"),
	)
	t.Run("a11y recover page", func(t *testing.T) { checkPage(t, ctx, "recover page with an error") })

	// An operator's one-time link.
	out := &testlog.Buffer{}
	env := map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_PUBLIC_URL": base}
	if err := run(context.Background(), []string{"latchkey", "users", "recover", strings.ToUpper(email)}, func(k string) string { return env[k] }, out); err != nil {
		t.Fatalf("latchkey users recover: %v", err)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(base) + `/recover/[A-Za-z0-9_-]{43}`).FindString(out.String())
	if link == "" {
		t.Fatalf("latchkey users recover printed %q, want a link under %s/recover/", out.String(), base)
	}
	step("the admin link shows a confirm button",
		chromedp.Navigate(link),
		browsertest.WaitText("Recover your account"),
	)
	t.Run("a11y link page", func(t *testing.T) { checkPage(t, ctx, "recovery link page") })
	step("the admin link logs in and lands on the recovery page",
		chromedp.Click(browsertest.Button("Log in and add a passkey")),
		browsertest.WaitText("Welcome back, "+name),
		browsertest.WaitPath("/account/recover"),
	)
	t.Run("a11y landing page", func(t *testing.T) { checkPage(t, ctx, "recovery landing page") })
	step("the admin link works once",
		chromedp.Navigate(link),
		browsertest.WaitText("This recovery link has been used already."),
	)
}
