package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
)

// a11yName is 100 characters (the longest name sign-up accepts) with an 86-letter word in it: the home
// page must wrap it rather than scroll sideways, even 320 px wide.
const a11yName = "Hubert Blaine Wolfeschlegelsteinhausenbergerdorffwelchevoralternwarengewissenhaftschaferswessensc"

// a11yEmail is a long address with a long unbroken local part.
const a11yEmail = "hubert.blaine.wolfeschlegelsteinhausenbergerdorff@example.com"

// viewportHeight is the height used with each tested width: a desktop window, or a phone.
func viewportHeight(width int) int {
	if width >= 1024 {
		return 900
	}
	return 740
}

// view puts the tab into one colour scheme at one width.
func view(t *testing.T, ctx context.Context, scheme string, width int) {
	t.Helper()
	if err := browsertest.SetViewport(ctx, width, viewportHeight(width)); err != nil {
		t.Fatal(err)
	}
	if err := browsertest.EmulateColorScheme(ctx, scheme); err != nil {
		t.Fatal(err)
	}
}

// checkPage runs axe on the page the tab shows, in light and dark, 1280 and 375 px wide (one subtest
// each, every violation in the failure), and checks that it does not scroll sideways at 1280, 375 or
// 320 px in either scheme.
func checkPage(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	for _, scheme := range []string{"light", "dark"} {
		for _, width := range []int{1280, 375, 320} {
			t.Run(fmt.Sprintf("%s-%d", scheme, width), func(t *testing.T) {
				view(t, ctx, scheme, width)
				if width != 320 {
					vs, err := browsertest.Axe(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if len(vs) != 0 {
						t.Errorf("%s, %s, %d px: %d axe violation(s):\n%s", page, scheme, width, len(vs),
							browsertest.FormatViolations(vs))
					}
				}
				o, err := browsertest.HorizontalOverflow(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if o.InnerWidth != width {
					t.Fatalf("viewport is %d px wide, want %d", o.InnerWidth, width)
				}
				if o.Overflows() {
					browsertest.Diagnose(t, ctx, fmt.Sprintf("overflow %s %s %d", page, scheme, width))
					t.Errorf("%s, %s, %d px: scrolls sideways: %s", page, scheme, width, o)
				}
			})
		}
	}
}

// httpStatus answers GET url's status code and body.
func httpStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// alertText returns the text of the page's role="alert" elements, joined.
func alertText(t *testing.T, ctx context.Context) string {
	t.Helper()
	var text string
	if err := chromedp.Run(ctx, chromedp.Evaluate(
		`[...document.querySelectorAll('[role="alert"]')].map((e) => e.innerText.trim()).filter(Boolean).join(" | ")`,
		&text)); err != nil {
		t.Fatalf("read the alerts: %v", err)
	}
	return text
}

// submitWithoutScript submits the form of the textbox labelled label the way a browser without
// JavaScript would (HTMLFormElement.submit fires no submit event, so neither passkeys.js nor htmx
// takes over).
func submitWithoutScript(label string) chromedp.Action {
	return chromedp.Evaluate(fmt.Sprintf(`(() => {
  const input = document.evaluate(%q, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
  if (!input || !input.form) throw new Error("no form around the textbox %s");
  HTMLFormElement.prototype.submit.call(input.form);
  return true;
})()`, browsertest.Textbox(label), label), nil)
}

// signUp creates an account with the virtual authenticator and waits for the home page.
func signUp(email, name string) []chromedp.Action {
	return []chromedp.Action{
		chromedp.Navigate("about:blank"), // replaced below by the caller's base URL
		chromedp.SendKeys(browsertest.Textbox("Email address"), email),
		chromedp.SendKeys(browsertest.Textbox("Full name"), name),
		chromedp.Click(browsertest.Button("Create account")),
		browsertest.WaitText("User ID", name, email),
		browsertest.WaitPath("/home"),
	}
}

// galleryStructures fetches every state page the gallery index frames and groups their URLs by markup
// structure: the document with its text reduced to a marker for "some text" and the values of attributes
// other than class, role, dir, lang, type, hidden, id and aria-* dropped. States that differ only in
// their words share a structure. Each group lists its URLs in gallery order; the map is keyed by the first.
func galleryStructures(t *testing.T, base, index string) map[string][]string {
	t.Helper()
	frameSrc := regexp.MustCompile(`<iframe[^>]*\ssrc="([^"]+)"`)
	text := regexp.MustCompile(`>[^<]*<`)
	attr := regexp.MustCompile(`\s([a-zA-Z][a-zA-Z0-9_:-]*)="[^"]*"`)
	keep := regexp.MustCompile(`^(class|role|dir|lang|type|hidden|id|aria-[a-z]+)$`)
	byStructure := map[string]string{} // structure -> first URL
	groups := map[string][]string{}
	matches := frameSrc.FindAllStringSubmatch(index, -1)
	if len(matches) == 0 {
		t.Fatal("the gallery index frames no state pages")
	}
	for _, m := range matches {
		src := html.UnescapeString(m[1])
		status, page := httpStatus(t, base+src)
		if status != http.StatusOK {
			t.Fatalf("GET %s: status %d, want 200", src, status)
		}
		structure := text.ReplaceAllStringFunc(page, func(s string) string {
			if strings.TrimSpace(s[1:len(s)-1]) == "" {
				return "><"
			}
			return ">T<"
		})
		structure = attr.ReplaceAllStringFunc(structure, func(s string) string {
			if name := attr.FindStringSubmatch(s)[1]; !keep.MatchString(name) {
				return " " + name
			}
			return s
		})
		first, ok := byStructure[structure]
		if !ok {
			first = src
			byStructure[structure] = src
		}
		groups[first] = append(groups[first], src)
	}
	t.Logf("gallery: %d states, %d distinct structures", len(matches), len(groups))
	return groups
}

// TestBrowserAccessibility runs axe-core (WCAG 2.0–2.2 A and AA) on every page of the real server, in
// light and dark and at desktop and phone widths, and checks that no page scrolls sideways at 375 or
// 320 px: the login page, the 404 page, the sign-up refused for want of JavaScript, the home page of a
// person with a 100-character name, and /dev/components when the dev build has it.
func TestBrowserAccessibility(t *testing.T) {
	browsertest.Chromium(t) // skip (or fail on CI) before starting the server
	base := startServer(t, nil)
	ctx := browsertest.NewBrowser(t)
	csp := browsertest.WatchCSP(t, ctx)
	if _, err := browsertest.AddVirtualAuthenticator(ctx); err != nil {
		t.Fatal(err)
	}
	timed := func(name string, f func(t *testing.T)) {
		t.Helper()
		start := time.Now()
		t.Run(name, f)
		t.Logf("%s: %s", name, time.Since(start).Round(time.Millisecond))
	}
	step := func(t *testing.T, name string, actions ...chromedp.Action) {
		t.Helper()
		browsertest.Step(t, ctx, name, actions...)
	}
	// Pages load at the desktop size in light; checkPage changes both.
	reset := func(t *testing.T) { t.Helper(); view(t, ctx, "light", 1280) }

	timed("login", func(t *testing.T) {
		reset(t)
		step(t, "open the login page",
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(browsertest.Textbox("Email address")),
			chromedp.WaitVisible(browsertest.Button("Log in with a passkey")),
		)
		checkPage(t, ctx, "login page")
	})

	timed("not found", func(t *testing.T) {
		if status, body := httpStatus(t, base+"/no-such-page"); status != http.StatusNotFound || !strings.Contains(body, "Page not found") {
			t.Fatalf("GET /no-such-page: status %d, want 404 with the words Page not found", status)
		}
		reset(t)
		step(t, "open /no-such-page",
			chromedp.Navigate(base+"/no-such-page"),
			browsertest.WaitText("Page not found"),
		)
		checkPage(t, ctx, "404 page")
	})

	timed("sign-up without JavaScript", func(t *testing.T) {
		reset(t)
		step(t, "post the sign-up form without the passkey script",
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(browsertest.Textbox("Email address")),
			// No script reacts to typing here: set the values at once.
			chromedp.SetValue(browsertest.Textbox("Email address"), a11yEmail),
			chromedp.SetValue(browsertest.Textbox("Full name"), a11yName),
			submitWithoutScript("Email address"),
			browsertest.WaitText("Passkeys need JavaScript"),
		)
		if got := alertText(t, ctx); !strings.Contains(got, "Passkeys need JavaScript") {
			t.Fatalf("role=alert holds %q, want the words about JavaScript", got)
		}
		checkPage(t, ctx, "sign-up error page")
	})

	timed("home", func(t *testing.T) {
		reset(t)
		actions := signUp(a11yEmail, a11yName)
		actions[0] = chromedp.Navigate(base + "/")
		step(t, "sign up with a 100-character name", actions...)
		checkPage(t, ctx, "home page")
	})

	timed("dev components", func(t *testing.T) {
		// The component gallery exists only in dev mode (LATCHKEY_DEV=true), on a server of its own that
		// reads the assets from ./assets, so it runs from the repository root.
		t.Chdir(moduleRoot(t))
		devBase := startServer(t, map[string]string{"LATCHKEY_DEV": "true"})
		if status, _ := httpStatus(t, devBase+"/dev/components"); status == http.StatusNotFound {
			t.Log("GET /dev/components with LATCHKEY_DEV=true: 404; no component gallery to check yet")
			return
		} else if status != http.StatusOK {
			t.Fatalf("GET /dev/components with LATCHKEY_DEV=true: status %d, want 200", status)
		}
		reset(t)
		// Each state is a page of its own in a (lazy) frame; many differ only in their words (26 login
		// messages). Axe runs on the index in both schemes, then in one frame of each distinct markup
		// structure: loading and testing all of them would take half a minute.
		_, index := httpStatus(t, devBase+"/dev/components")
		groups := galleryStructures(t, devBase, index)
		reps := make([]string, 0, len(groups))
		for _, g := range groups {
			reps = append(reps, g[0])
		}
		step(t, "open /dev/components", chromedp.Navigate(devBase+"/dev/components"), chromedp.WaitReady("body"))
		for _, scheme := range []string{"light", "dark"} {
			t.Run(scheme, func(t *testing.T) {
				view(t, ctx, scheme, 1280)
				vs, err := browsertest.Axe(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(vs) != 0 {
					t.Errorf("/dev/components, %s: %d axe violation(s):\n%s", scheme, len(vs), browsertest.FormatViolations(vs))
				}
			})
		}
		// Each frame's page sets its own theme (?theme=light or dark), so one pass covers both.
		t.Run("states", func(t *testing.T) {
			repsJSON, err := json.Marshal(reps)
			if err != nil {
				t.Fatal(err)
			}
			step(t, "keep one frame per structure and load them",
				chromedp.Evaluate(fmt.Sprintf(`(() => { const keep = new Set(%s);
  document.querySelectorAll("iframe").forEach((f) => { if (keep.has(f.getAttribute("src"))) f.loading = "eager"; else f.remove(); });
  return true; })()`, repsJSON), nil),
				chromedp.Poll(`[...document.querySelectorAll("iframe")].every((f) => { try {
  const d = f.contentDocument;
  return d && d.readyState === "complete" && d.location.href !== "about:blank" && d.body && d.body.children.length > 0;
} catch (e) { return false; } })`, nil, chromedp.WithPollingInterval(100*time.Millisecond)),
			)
			results, err := browsertest.AxeFrames(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != len(reps) {
				t.Fatalf("axe ran in %d frames, want the %d kept", len(results), len(reps))
			}
			for _, r := range results {
				if len(r.Violations) == 0 {
					continue
				}
				url := strings.TrimPrefix(r.URL, devBase)
				same := ""
				if more := groups[url][1:]; len(more) > 0 {
					same = fmt.Sprintf(" (and %d more states of the same structure, such as %s)", len(more), more[0])
				}
				t.Errorf("%s%s: %d axe violation(s):\n%s", url, same, len(r.Violations), browsertest.FormatViolations(r.Violations))
			}
		})
	})

	// axe is injected over DevTools and must not trip the pages' Content Security Policy.
	time.Sleep(100 * time.Millisecond) // violation events arrive asynchronously
	if v := csp.Violations(); len(v) != 0 {
		t.Errorf("Content Security Policy violations: %v", v)
	}
}

// moduleRoot is the directory holding go.mod, found upwards from the working directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// screenshotDir is where TestBrowserScreenshots writes: $LATCHKEY_SCREENSHOTS (a relative path is taken
// from the module root, so `LATCHKEY_SCREENSHOTS=docs go test ./cmd/latchkey/` writes into ./docs), or
// a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LATCHKEY_SCREENSHOTS")
	switch {
	case dir == "":
		return t.TempDir()
	case filepath.IsAbs(dir):
		return dir
	default:
		return filepath.Join(moduleRoot(t), dir)
	}
}

// meanLuma is the average brightness (0–255) of img, sampled on a grid.
func meanLuma(img image.Image) float64 {
	b := img.Bounds()
	var sum float64
	var n int
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum += (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 257
			n++
		}
	}
	return sum / float64(n)
}

// TestBrowserScreenshots takes full-page PNG screenshots of the login, 404 and home pages, light and
// dark, 375 px wide (and the login page 1280 px wide in light), at scale 1. `task screenshots` writes them
// into docs/ for the README; otherwise they go into a temporary directory and are only checked: each
// decodes as a PNG of the width asked for, and a dark page is darker than its light twin.
func TestBrowserScreenshots(t *testing.T) {
	browsertest.Chromium(t)
	dir := screenshotDir(t)
	base := startServer(t, nil)
	ctx := browsertest.NewBrowser(t)
	if _, err := browsertest.AddVirtualAuthenticator(ctx); err != nil {
		t.Fatal(err)
	}

	luma := map[string]float64{} // by file name
	shoot := func(name, scheme string, width int) {
		t.Helper()
		view(t, ctx, scheme, width)
		file := filepath.Join(dir, fmt.Sprintf("%s-%s-%d.png", name, scheme, width))
		data, err := browsertest.FullPageScreenshot(ctx, file)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", file, err)
		}
		if b := img.Bounds(); b.Dx() != width || b.Dy() < viewportHeight(width) {
			t.Errorf("%s is %dx%d, want %d wide and at least %d tall", file, b.Dx(), b.Dy(), width, viewportHeight(width))
		}
		luma[fmt.Sprintf("%s-%d-%s", name, width, scheme)] = meanLuma(img)
		t.Logf("%s: %d bytes", file, len(data))
	}
	step := func(name string, actions ...chromedp.Action) {
		t.Helper()
		browsertest.Step(t, ctx, name, actions...)
	}

	view(t, ctx, "light", 375)
	step("open the login page",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(browsertest.Button("Log in with a passkey")),
	)
	shoot("login", "light", 375)
	shoot("login", "dark", 375)
	shoot("login", "light", 1280)

	view(t, ctx, "light", 375)
	step("open /no-such-page", chromedp.Navigate(base+"/no-such-page"), browsertest.WaitText("Page not found"))
	shoot("not-found", "light", 375)
	shoot("not-found", "dark", 375)

	view(t, ctx, "light", 375)
	actions := signUp("ada@example.com", "Ada Lovelace")
	actions[0] = chromedp.Navigate(base + "/")
	step("sign up", actions...)
	shoot("home", "light", 375)
	shoot("home", "dark", 375)

	for _, page := range []string{"login", "not-found", "home"} {
		light, dark := luma[page+"-375-light"], luma[page+"-375-dark"]
		if dark >= light {
			t.Errorf("%s at 375 px: the dark screenshot (mean brightness %.0f) is not darker than the light one (%.0f)",
				page, dark, light)
		}
	}
}
