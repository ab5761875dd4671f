package browsertest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
)

const csp = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"

// createJS registers a passkey for a fixed RP ID "localhost" and writes the
// outcome into #result.
const createJS = `
const out = document.getElementById("result");
const random = (n) => crypto.getRandomValues(new Uint8Array(n));
navigator.credentials.create({publicKey: {
  challenge: random(32),
  rp: {id: "localhost", name: "Harness"},
  user: {id: random(16), name: "ada@example.com", displayName: "Ada"},
  pubKeyCredParams: [{type: "public-key", alg: -7}],
  authenticatorSelection: {residentKey: "required", requireResidentKey: true, userVerification: "required"},
  timeout: 15000,
}}).then(
  (cred) => { out.textContent = "created " + cred.id; },
  (err) => { out.textContent = "failed " + err.name + ": " + err.message; },
);
`

// page returns an HTML page whose body is body.
func page(body string) string {
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>harness</title>` +
		`</head><body>` + body + `</body></html>`
}

// newLocalhostServer serves files (path → content) on http://localhost:PORT
// with a strict CSP. localhost, not 127.0.0.1: an IP is not a valid RP ID.
func newLocalhostServer(t *testing.T, files map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "localhost:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		ctype := "text/html; charset=utf-8"
		if strings.HasSuffix(r.URL.Path, ".js") {
			ctype = "text/javascript; charset=utf-8"
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Security-Policy", csp)
		_, _ = w.Write([]byte(body))
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatalf("split %s: %v", ln.Addr(), err)
	}
	return "http://localhost:" + port
}

func TestVirtualAuthenticatorCreatesResidentCredential(t *testing.T) {
	base := newLocalhostServer(t, map[string]string{
		"/":          page(`<p id="result"></p><script src="/create.js"></script>`),
		"/create.js": createJS,
	})
	ctx := browsertest.NewBrowser(t)
	authID, err := browsertest.AddVirtualAuthenticator(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var result string
	browsertest.Step(t, ctx, "create a passkey",
		chromedp.Navigate(base+"/"),
		browsertest.WaitText("created "),
		chromedp.Text("#result", &result, chromedp.ByQuery),
	)
	credID, ok := strings.CutPrefix(strings.TrimSpace(result), "created ")
	if !ok {
		t.Fatalf("result = %q, want a created credential", result)
	}

	creds, err := browsertest.Credentials(ctx, authID)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 1 {
		t.Fatalf("authenticator holds %d credentials, want 1", len(creds))
	}
	c := creds[0]
	if !c.IsResidentCredential {
		t.Error("credential is not resident (discoverable)")
	}
	if c.RpID != "localhost" {
		t.Errorf("credential RP ID = %q, want localhost", c.RpID)
	}
	fromPage, err := base64.RawURLEncoding.DecodeString(credID)
	if err != nil {
		t.Fatalf("page credential ID %q: %v", credID, err)
	}
	fromCDP, err := base64.StdEncoding.DecodeString(c.CredentialID)
	if err != nil {
		t.Fatalf("CDP credential ID %q: %v", c.CredentialID, err)
	}
	if !bytes.Equal(fromPage, fromCDP) {
		t.Errorf("CDP credential ID %x differs from the page's %x", fromCDP, fromPage)
	}

	// Taking the credential out and putting it back leaves exactly it.
	if err := browsertest.RemoveCredential(ctx, authID, c.CredentialID); err != nil {
		t.Fatal(err)
	}
	if creds, err := browsertest.Credentials(ctx, authID); err != nil || len(creds) != 0 {
		t.Fatalf("after remove: %d credentials, err %v; want 0", len(creds), err)
	}
	if err := browsertest.AddCredential(ctx, authID, c); err != nil {
		t.Fatal(err)
	}
	if creds, err := browsertest.Credentials(ctx, authID); err != nil || len(creds) != 1 || creds[0].CredentialID != c.CredentialID {
		t.Fatalf("after add: %v, err %v; want the one credential back", creds, err)
	}

	if errs := browsertest.ConsoleErrors(ctx); len(errs) != 0 {
		t.Errorf("console errors: %q", errs)
	}
}

func TestConsoleErrorsAndCSPViolationsAreRecorded(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		js       string
		wantErrs []string // substrings, each in some console error
		wantCSP  bool
	}{
		{
			name: "clean page records nothing",
			body: `<p id="done"></p><script src="/app.js"></script>`,
			js:   `document.getElementById("done").textContent = "ready";`,
		},
		{
			name:     "console.error and uncaught exception",
			body:     `<p id="done"></p><script src="/app.js"></script>`,
			js:       `document.getElementById("done").textContent = "ready"; console.error("boom", 42); throw new Error("kaput");`,
			wantErrs: []string{"console.error: boom 42", "kaput"},
		},
		{
			name:     "inline script blocked by CSP",
			body:     `<p id="done"></p><script>document.title = "inline ran";</script><script src="/app.js"></script>`,
			js:       `document.getElementById("done").textContent = "ready";`,
			wantErrs: []string{"Content Security Policy"},
			wantCSP:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := newLocalhostServer(t, map[string]string{"/": page(tt.body), "/app.js": tt.js})
			ctx := browsertest.NewBrowser(t)
			browsertest.Step(t, ctx, "load page", chromedp.Navigate(base+"/"), browsertest.WaitText("ready"))

			// Console events arrive asynchronously: wait for what is
			// expected, or give a clean page a moment to report anything.
			deadline := time.Now().Add(5 * time.Second)
			if len(tt.wantErrs) == 0 {
				deadline = time.Now().Add(500 * time.Millisecond)
			}
			for time.Now().Before(deadline) && !containsAll(browsertest.ConsoleErrors(ctx), tt.wantErrs) {
				time.Sleep(50 * time.Millisecond)
			}
			if len(tt.wantErrs) == 0 {
				time.Sleep(time.Until(deadline))
			}

			errs := browsertest.ConsoleErrors(ctx)
			if len(tt.wantErrs) == 0 && len(errs) != 0 {
				t.Errorf("console errors = %q, want none", errs)
			}
			if !containsAll(errs, tt.wantErrs) {
				t.Errorf("console errors = %q, want ones containing each of %q", errs, tt.wantErrs)
			}
			if got := len(browsertest.CSPViolations(ctx)) > 0; got != tt.wantCSP {
				t.Errorf("CSP violations = %q, want any: %v", browsertest.CSPViolations(ctx), tt.wantCSP)
			}
		})
	}
}

// containsAll reports whether every one of subs occurs in some message.
func containsAll(msgs, subs []string) bool {
	for _, sub := range subs {
		found := false
		for _, m := range msgs {
			if strings.Contains(m, sub) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestSelectorsFindControlsByAccessibleName(t *testing.T) {
	base := newLocalhostServer(t, map[string]string{
		"/": page(`<form>
<label for="email">Email address</label><input id="email" type="email">
<label>Full name <input type="text" name="name"></label>
<input type="text" aria-label="Nick &quot;the&quot; name">
<button type="button">Create account</button>
<input type="submit" value="Log in with a passkey">
</form>`),
	})
	ctx := browsertest.NewBrowser(t)
	browsertest.Step(t, ctx, "load page", chromedp.Navigate(base+"/"))

	tests := []struct {
		name string
		sel  string
		want int
	}{
		{"label for", browsertest.Textbox("Email address"), 1},
		{"enclosing label", browsertest.Textbox("Full name"), 1},
		{"aria-label with quotes", browsertest.Textbox(`Nick "the" name`), 1},
		{"button text", browsertest.Button("Create account"), 1},
		{"submit value", browsertest.Button("Log in with a passkey"), 1},
		{"unknown button", browsertest.Button("Delete account"), 0},
		{"label is not a button", browsertest.Button("Email address"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expr, err := json.Marshal("count(" + tt.sel + ")")
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := chromedp.Run(ctx, chromedp.Evaluate(
				`document.evaluate(`+string(expr)+`, document, null, XPathResult.NUMBER_TYPE, null).numberValue`, &n)); err != nil {
				t.Fatalf("evaluate %s: %v", tt.sel, err)
			}
			if n != tt.want {
				t.Errorf("%s matched %d nodes, want %d", tt.sel, n, tt.want)
			}
			if tt.want > 0 {
				browsertest.Step(t, ctx, tt.name, chromedp.WaitVisible(tt.sel))
			}
		})
	}
}
