package browsertest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
)

// WatchCSP sees the securitypolicyviolation events of every page the tab loads, in order, even when the
// page deletes the binding it reports through; a clean page reports none.
func TestWatchCSPRecordsViolationEvents(t *testing.T) {
	base := newLocalhostServer(t, map[string]string{
		"/":      page(`<p id="done"></p><script src="/ok.js"></script>`),
		"/ok.js": `document.getElementById("done").textContent = "clean";`,
		"/bad": page(`<p id="done"></p><script src="/hide.js"></script>` +
			`<script>document.title = "inline ran";</script><script src="/bad.js"></script>`),
		"/hide.js": `delete globalThis.__browsertestCSPViolation;`,
		"/bad.js": `fetch("https://blocked.example/x").catch(() => {}).finally(() => {
  document.getElementById("done").textContent = "blocked";
});`,
	})
	ctx := browsertest.NewBrowser(t)
	csp := browsertest.WatchCSP(t, ctx)

	browsertest.Step(t, ctx, "clean page", chromedp.Navigate(base+"/"), browsertest.WaitText("clean"))
	time.Sleep(300 * time.Millisecond) // events are dispatched asynchronously
	if v := csp.Violations(); len(v) != 0 {
		t.Fatalf("clean page: violations %v, want none", v)
	}

	browsertest.Step(t, ctx, "page with an inline script and a foreign fetch",
		chromedp.Navigate(base+"/bad"), browsertest.WaitText("blocked"))
	want := []string{
		fmt.Sprintf("enforce script-src-elem blocked %q on %s/bad (from %s/bad:1)", "inline", base, base),
		fmt.Sprintf("enforce connect-src blocked %q on %s/bad (from %s/bad.js:1)", "https://blocked.example/x", base, base),
	}
	var got []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = got[:0]
		for _, v := range csp.Violations() {
			got = append(got, v.String())
		}
		if len(got) >= len(want) {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("violations:\n got  %q\n want %q", got, want)
	}
}

// NewBrowserResolving sends a made-up HTTPS host to a local TLS server with a self-signed certificate.
func TestNewBrowserResolvingMapsHostAndAcceptsCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, page(`<p>fake answered for `+r.Host+r.URL.Path+`</p>`))
	}))
	t.Cleanup(srv.Close)
	ctx := browsertest.NewBrowserResolving(t, map[string]string{"api.fake.invalid": srv.Listener.Addr().String()})
	browsertest.Step(t, ctx, "open the mapped host",
		chromedp.Navigate("https://api.fake.invalid/hello"),
		browsertest.WaitText("fake answered for api.fake.invalid/hello"),
	)
}
