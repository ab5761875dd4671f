package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
	"github.com/latchkey/latchkey/internal/corbado"
	"github.com/latchkey/latchkey/internal/corbado/corbadotest"
)

// TestBrowserCorbadoHandOver runs Latchkey in Corbado mode against a local fake of Corbado's Frontend and
// Backend APIs. With Corbado's session cookie present (as Corbado's UI leaves it after a login), the
// login page hands over to POST /auth/session and the person lands on the home page with the details
// from the Backend API; Corbado's bundle is loaded from Latchkey's own assets, nothing from elsewhere.
func TestBrowserCorbadoHandOver(t *testing.T) {
	browsertest.Chromium(t)
	const projectID = "pro-4242424242"
	const secret = "corbado1_browsertestsecret"
	fake := corbadotest.New(t, projectID, secret)
	fake.AddUser(corbado.UserDetails{ID: "usr-777", FullName: "Grace Brewster Hopper", Email: "grace@navy.example"})
	base := startServer(t, map[string]string{
		"CORBADO_PROJECT_ID":   projectID,
		"CORBADO_API_SECRET":   secret,
		"CORBADO_FRONTEND_API": fake.FrontendURL(),
		"CORBADO_BACKEND_API":  fake.BackendURL(),
	})
	ctx := browsertest.NewBrowser(t)

	tok := fake.Token(t, corbadotest.TokenClaims{
		Issuer:  "https://" + projectID + ".frontendapi.cloud.corbado.io",
		Subject: "usr-777", Name: "Grace", Email: "grace@old.example", Orig: "grace@old.example",
		IssuedAt: time.Now(), NotBefore: time.Now(), Expires: time.Now().Add(5 * time.Minute),
	})

	browsertest.Step(t, ctx, "open the login page without a Corbado session",
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady(`#corbado-auth`, chromedp.ByQuery),
	)
	var bundle string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`typeof window.Corbado === "object" && typeof window.Corbado.load === "function" && typeof window.Corbado.mountAuthUI === "function"
		? Array.from(document.scripts).map(s => s.src).find(s => s.includes("corbado-web-js")) : ""`, &bundle)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bundle, base+"/assets/corbado-web-js.") {
		t.Fatalf("Corbado bundle not loaded from our assets: %q", bundle)
	}

	browsertest.Step(t, ctx, "Corbado leaves its session cookie; the page hands over",
		chromedp.ActionFunc(func(ctx context.Context) error {
			return network.SetCookie("cbo_session_token", tok).WithURL(base + "/").Do(ctx)
		}),
		chromedp.Navigate(base+"/"),
		browsertest.WaitText("User ID", "usr-777", "Grace Brewster Hopper", "grace@navy.example"),
		browsertest.WaitPath("/home"),
	)

	var foreign []string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`performance.getEntriesByType("resource").map(e => e.name).filter(n => !n.startsWith(location.origin))`, &foreign)); err != nil {
		t.Fatal(err)
	}
	for _, u := range foreign {
		// Corbado's UI may call Corbado's Frontend API (unreachable here); nothing else, never a CDN.
		if !strings.HasPrefix(u, fake.FrontendURL()) && !strings.HasPrefix(u, "https://"+projectID+".frontendapi.corbado.io/") {
			t.Errorf("page loaded %s from another origin", u)
		}
	}
	if v := browsertest.CSPViolations(ctx); len(v) != 0 {
		t.Errorf("Content Security Policy violations: %q", v)
	}
	if n := len(fake.BackendRequests()); n == 0 {
		t.Error("the Backend API was not asked for the user's details")
	}
}
