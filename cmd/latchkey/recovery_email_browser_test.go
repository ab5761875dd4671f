package main

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/mailtest"
)

// TestBrowserRecoveryEmailLink: with a mail server, a person who lost every passkey asks for a link on
// "Lost your passkey?", opens it from the delivered mail, logs in and adds a new passkey; the link works
// once.
func TestBrowserRecoveryEmailLink(t *testing.T) {
	browsertest.Chromium(t)
	mails := mailtest.Start(t)
	base := startServer(t, map[string]string{
		"LATCHKEY_SMTP_URL":  fmt.Sprintf("smtp://%s:%d", mails.Host, mails.Port),
		"LATCHKEY_SMTP_FROM": "login@example.com",
	})
	ctx := browsertest.NewBrowser(t)
	noAutofill(t, ctx)
	auth, err := browsertest.AddVirtualAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const name = "Dorothy Vaughan"
	email := fmt.Sprintf("dv-%d@example.com", time.Now().UnixNano())
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		browsertest.Step(t, ctx, what, actions...)
	}
	step("sign up",
		chromedp.Navigate(base+"/"),
		chromedp.SendKeys(browsertest.Textbox("Email address"), email),
		chromedp.SendKeys(browsertest.Textbox("Full name"), name),
		chromedp.Click(browsertest.Button("Create account")),
		browsertest.WaitText("Your recovery codes"),
	)
	creds, err := browsertest.Credentials(ctx, auth)
	if err != nil || len(creds) != 1 {
		t.Fatalf("authenticator holds %d passkeys, %v", len(creds), err)
	}
	if err := browsertest.RemoveCredential(ctx, auth, creds[0].CredentialID); err != nil {
		t.Fatal(err)
	}
	step("log out and ask for a link",
		chromedp.Click(browsertest.Button("Log out")),
		chromedp.Click(`//a[normalize-space()="Lost your passkey?"]`),
		chromedp.SendKeys(browsertest.Textbox("Email address for the link"), email),
		chromedp.Click(browsertest.Button("Email me a link")),
		browsertest.WaitText("If an account uses that address"),
	)
	wait, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs := mails.Wait(wait, 2) // the sign-up confirmation, then the link
	link := regexp.MustCompile(`http://localhost:\d+/recover/[A-Za-z0-9_-]{43}`)
	var url string
	for _, m := range msgs {
		text, _, ok := mailtest.Parts(m.Data)
		if found := link.FindString(text); ok && found != "" {
			url = found
		}
	}
	if url == "" {
		t.Fatalf("no recovery link among %d delivered mails", len(msgs))
	}
	step("open the link from the mail, log in and add a passkey",
		chromedp.Navigate(url),
		chromedp.Click(browsertest.Button("Log in and add a passkey")),
		browsertest.WaitPath("/account/recover"),
		chromedp.Click(browsertest.Button("Add a passkey")),
		browsertest.WaitText("Passkey added"),
		browsertest.WaitPath("/home"),
	)
	step("the link works once",
		chromedp.Navigate(url),
		browsertest.WaitText("already"),
	)
}
