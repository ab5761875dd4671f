package handlers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/internal/browsertest"
)

// The gallery in real Chromium: every frame loads under the strict CSP (frame-src 'self' on the index,
// frame-ancestors 'self' on the states) with no console error, gallery.js fits each frame to its page,
// the dark column's pages are dark and the light column's light whatever the system setting, and axe
// (WCAG 2.x A and AA) finds nothing on the index or in any of its frames.
//
// LATCHKEY_GALLERY_SCREENSHOT=path.png saves a screenshot of the top of the gallery.
func TestBrowserGallery(t *testing.T) {
	s := newDevStack(t)
	ctx := browsertest.NewBrowser(t)
	csp := browsertest.WatchCSP(t, ctx)
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	// localhost, as the app's pages are always opened (an IP address is no WebAuthn RP ID).
	base := strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1)
	states := handlers.GalleryStates()
	for _, scheme := range []string{"light", "dark"} {
		t.Run("system "+scheme, func(t *testing.T) {
			if err := browsertest.EmulateColorScheme(ctx, scheme); err != nil {
				t.Fatal(err)
			}
			browsertest.Step(t, ctx, "open the gallery",
				chromedp.Navigate(base+"/dev/components"),
				// Load every frame now rather than as it scrolls into view.
				chromedp.Evaluate(`document.querySelectorAll("iframe").forEach((f) => { f.loading = "eager"; })`, nil),
			)
			want := 2 * len(states)
			var loaded int
			deadline := time.Now().Add(90 * time.Second)
			for loaded < want && time.Now().Before(deadline) {
				if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll("iframe")].filter((f) =>
					f.contentDocument && f.contentDocument.readyState === "complete" &&
					f.contentDocument.querySelector("main#app") && parseFloat(f.style.height) > 0).length`, &loaded)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if loaded != want {
				t.Fatalf("%d of %d frames loaded and fitted", loaded, want)
			}

			// Fitted: no frame scrolls, and a tall page (the login) has a tall frame.
			var scrolling []string
			if err := chromedp.Run(ctx, chromedp.Evaluate(`[...document.querySelectorAll("iframe")].filter((f) =>
				f.contentDocument.documentElement.scrollHeight > f.clientHeight + 1).map((f) => f.title)`, &scrolling)); err != nil {
				t.Fatal(err)
			}
			if len(scrolling) > 0 {
				t.Errorf("frames that scroll: %q", scrolling)
			}

			// The columns' pages have the light and the dark page colour, whatever the system setting.
			var backgrounds map[string][]string
			if err := chromedp.Run(ctx, chromedp.Evaluate(`(() => {
				const bg = (sel) => [...new Set([...document.querySelectorAll(sel)].map((f) =>
					getComputedStyle(f.contentDocument.documentElement).backgroundColor))];
				return {light: bg(".theme-light iframe"), dark: bg(".theme-dark iframe")};
			})()`, &backgrounds)); err != nil {
				t.Fatal(err)
			}
			if l, d := backgrounds["light"], backgrounds["dark"]; len(l) != 1 || len(d) != 1 || l[0] == d[0] {
				t.Errorf("page colours: light column %q, dark column %q; want one each, different", l, d)
			}

			// The index in both schemes; every frame once, since each forces its own scheme (?theme=).
			if vs, err := browsertest.Axe(ctx); err != nil {
				t.Fatal(err)
			} else if len(vs) > 0 {
				t.Errorf("axe, gallery index:\n%s", browsertest.FormatViolations(vs))
			}
			if scheme == "light" {
				frames, err := browsertest.AxeFrames(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(frames) != want {
					t.Fatalf("axe ran in %d frames, want %d", len(frames), want)
				}
				for _, f := range frames {
					if len(f.Violations) > 0 {
						t.Errorf("axe, %s:\n%s", strings.TrimPrefix(f.URL, base), browsertest.FormatViolations(f.Violations))
					}
				}
			}
			if path := os.Getenv("LATCHKEY_GALLERY_SCREENSHOT"); path != "" && scheme == "light" {
				var png []byte
				if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&png)); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Clean(path), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	if v := csp.Violations(); len(v) > 0 {
		t.Errorf("CSP violations: %v", v)
	}
	if errs := browsertest.ConsoleErrors(ctx); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
