package browsertest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/latchkey/latchkey/internal/browsertest"
)

// axeSRI is the Subresource Integrity hash npm's axe-core 4.14.1 package publishes for axe.min.js (its
// sri-history.json); the vendored file must be that exact file.
const axeSRI = "sha256-KTSJmUUM3yhJqOcLeRL8LahahJ2jnA0NU5T1HUqe2Vw="

func TestAxeSourceIsThePinnedRelease(t *testing.T) {
	src := browsertest.AxeSource()
	if want := "/*! axe v" + browsertest.AxeVersion + "\n"; !strings.HasPrefix(src, want) {
		t.Errorf("axe.min.js starts %q, want %q", src[:min(len(src), 20)], want)
	}
	sum := sha256.Sum256([]byte(src))
	if got := "sha256-" + base64.StdEncoding.EncodeToString(sum[:]); got != axeSRI {
		t.Errorf("axe.min.js hash %s, want the published %s", got, axeSRI)
	}
	readme, err := os.ReadFile(filepath.Join("axe", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"axe-core@" + browsertest.AxeVersion, axeSRI, "MPL-2.0"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("axe/README.md does not mention %q", want)
		}
	}
}

// The app never carries axe: its binary does not depend on this package.
func TestAppDoesNotImportBrowsertest(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/latchkey/latchkey/cmd/latchkey").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/latchkey/latchkey/handlers") {
		t.Fatalf("go list -deps ./cmd/latchkey lacks the handlers package; the listing is not what this test assumes:\n%s", out)
	}
	if slices.Contains(deps, "github.com/latchkey/latchkey/internal/browsertest") {
		t.Errorf("cmd/latchkey depends on internal/browsertest: axe-core would ship in the app")
	}
}

// appLikeCSP is as strict as the app's policy: nothing but same-origin scripts and styles.
const appLikeCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// newStrictServer serves files (path → content) on http://localhost:PORT with appLikeCSP; paths under
// /frames may frame, and be framed by, the same origin.
func newStrictServer(t *testing.T, files map[string]string) string {
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
		if strings.HasSuffix(r.URL.Path, ".css") {
			ctype = "text/css; charset=utf-8"
		}
		policy := appLikeCSP
		if strings.HasPrefix(r.URL.Path, "/frames") { // pages in frames, and the page framing them
			policy = strings.Replace(policy, "frame-ancestors 'none'", "frame-ancestors 'self'; frame-src 'self'", 1)
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Security-Policy", policy)
		_, _ = w.Write([]byte(body))
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return "http://" + ln.Addr().String()
}

// styledPage is an HTML page with /style.css and body.
func styledPage(title, body string) string {
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>` + title + `</title>` +
		`<link rel="stylesheet" href="/style.css"></head><body><main>` + body + `</main></body></html>`
}

// Dark mode: grey on black fails contrast; light mode is black on white. The transition makes the
// colours change over 300 ms, which Axe must wait out.
const styleCSS = `body { background: #fff; color: #000; transition: background-color .3s, color .3s; }
@media (prefers-color-scheme: dark) { body { background: #000; color: #444; } }
.low { color: #ccc; }
.wide { width: 600px; }
.tall { height: 1500px; }`

func violationIDs(vs []browsertest.Violation) []string {
	ids := make([]string, 0, len(vs))
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	return ids
}

// Axe is injected into pages whose CSP allows no inline or eval'd script, without a CSP violation, finds
// what it should (and only with the tags asked for), and reports the failing elements; AxeFrames does
// the same inside frames.
func TestAxeUnderStrictCSP(t *testing.T) {
	localhostBase := func(base string) string { // passkeys need localhost; keep the habit
		return strings.Replace(base, "127.0.0.1", "localhost", 1)
	}
	base := localhostBase(newStrictServer(t, map[string]string{
		"/style.css": styleCSS,
		"/clean":     styledPage("Clean", `<h1>Hello</h1><label for="e">Email</label><input id="e" type="email">`),
		"/broken": styledPage("Broken", `<h1>Broken</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input id="nolabel" type="text">`+
			`<p class="low">faint</p>`),
		"/frames": styledPage("Frames", `<h1>Frames</h1>`+
			`<iframe src="/frames/clean" title="Clean"></iframe><iframe src="/frames/broken" title="Broken"></iframe>`),
		"/frames/clean":  styledPage("Clean", `<h1>Clean</h1>`),
		"/frames/broken": styledPage("Broken", `<h1>Broken</h1><input id="nolabel" type="text">`),
	}))
	ctx := browsertest.NewBrowser(t)
	csp := browsertest.WatchCSP(t, ctx)
	if err := browsertest.EmulateColorScheme(ctx, "light"); err != nil {
		t.Fatal(err)
	}

	browsertest.Step(t, ctx, "clean page", chromedp.Navigate(base+"/clean"), browsertest.WaitText("Hello"))
	start := time.Now()
	vs, err := browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("axe inject + run on a small page: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if len(vs) != 0 {
		t.Errorf("clean page: violations\n%s", browsertest.FormatViolations(vs))
	}
	// A second run reuses the injected axe.
	if vs, err := browsertest.Axe(ctx); err != nil || len(vs) != 0 {
		t.Errorf("second run on the clean page: %v, %v", vs, err)
	}
	t.Logf("axe run again: %s", time.Since(start).Round(time.Millisecond))

	browsertest.Step(t, ctx, "broken page", chromedp.Navigate(base+"/broken"), browsertest.WaitText("Broken"))
	vs, err = browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"color-contrast", "image-alt", "label"}
	if got := violationIDs(vs); !slices.Equal(got, want) {
		t.Errorf("violations %q, want %q:\n%s", got, want, browsertest.FormatViolations(vs))
	}
	msg := browsertest.FormatViolations(vs)
	for _, s := range []string{"image-alt (critical)", `<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">`, "#nolabel", "contrast"} {
		if !strings.Contains(msg, s) {
			t.Errorf("the failure message lacks %q:\n%s", s, msg)
		}
	}
	// Contrast is a level AA rule: asking for level A only leaves it out.
	vs, err = browsertest.Axe(ctx, "wcag2a")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := violationIDs(vs), []string{"image-alt", "label"}; !slices.Equal(got, want) {
		t.Errorf("wcag2a only: violations %q, want %q", got, want)
	}

	t.Run("frames", func(t *testing.T) { axeFrames(t, ctx, base) })

	time.Sleep(200 * time.Millisecond) // violation events are dispatched asynchronously
	if v := csp.Violations(); len(v) != 0 {
		t.Errorf("injecting and running axe caused CSP violations: %v", v)
	}
	if v := browsertest.CSPViolations(ctx); len(v) != 0 {
		t.Errorf("CSP console messages: %q", v)
	}
}

// The colour scheme and viewport helpers change what the page sees; the overflow check names the wide
// element; the screenshot covers the whole page at scale 1.
func TestEmulationOverflowAndScreenshot(t *testing.T) {
	base := newStrictServer(t, map[string]string{
		"/style.css": styleCSS,
		"/page":      styledPage("Page", `<h1>Page</h1><p class="tall">Tall</p>`),
		"/wide":      styledPage("Wide", `<h1>Wide</h1><div class="wide" id="w">Too wide</div>`),
	})
	base = strings.Replace(base, "127.0.0.1", "localhost", 1)
	ctx := browsertest.NewBrowser(t)
	browsertest.Step(t, ctx, "open the page", chromedp.Navigate(base+"/page"), browsertest.WaitText("Tall"))

	for _, tt := range []struct {
		scheme    string
		contrasts bool // whether the body text passes axe's contrast rule
	}{{"dark", false}, {"light", true}, {"dark", false}} {
		if err := browsertest.EmulateColorScheme(ctx, tt.scheme); err != nil {
			t.Fatal(err)
		}
		var dark bool
		if err := chromedp.Run(ctx, chromedp.Evaluate(`matchMedia("(prefers-color-scheme: dark)").matches`, &dark)); err != nil {
			t.Fatal(err)
		}
		if dark != (tt.scheme == "dark") {
			t.Errorf("after EmulateColorScheme(%s), prefers-color-scheme: dark matches = %v", tt.scheme, dark)
		}
		// Right after the switch the colours are mid-transition; Axe waits for the end.
		vs, err := browsertest.Axe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := !slices.Contains(violationIDs(vs), "color-contrast"); got != tt.contrasts {
			t.Errorf("%s: contrast passes = %v, want %v:\n%s", tt.scheme, got, tt.contrasts, browsertest.FormatViolations(vs))
		}
	}
	if err := browsertest.EmulateColorScheme(ctx, "sepia"); err == nil {
		t.Errorf("EmulateColorScheme(sepia) succeeded")
	}

	if err := browsertest.SetViewport(ctx, 375, 600); err != nil {
		t.Fatal(err)
	}
	o, err := browsertest.HorizontalOverflow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.InnerWidth != 375 || o.Overflows() {
		t.Errorf("narrow page at 375 px: %s, want a 375 px viewport and no overflow", o)
	}
	file := filepath.Join(t.TempDir(), "shots", "page.png")
	data, err := browsertest.FullPageScreenshot(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Fatalf("screenshot file: %v (same bytes as returned: %v)", err, bytes.Equal(onDisk, data))
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 375 || b.Dy() < 1500 {
		t.Errorf("screenshot is %dx%d, want 375 wide and the whole page (≥ 1500) tall", b.Dx(), b.Dy())
	}

	browsertest.Step(t, ctx, "open the wide page", chromedp.Navigate(base+"/wide"), browsertest.WaitText("Too wide"))
	o, err = browsertest.HorizontalOverflow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Overflows() || o.InnerWidth != 375 || len(o.Culprits) != 1 || !strings.HasPrefix(o.Culprits[0], "div#w.wide") {
		t.Errorf("wide page at 375 px: %s, want an overflow caused by div#w.wide", o)
	}
}

// axeFrames checks that AxeFrames tests each frame in its own isolated world (the frames' CSP allows no
// injected script) and that Axe tests the main document without entering the frames.
func axeFrames(t *testing.T, ctx context.Context, base string) {
	browsertest.Step(t, ctx, "open the page with frames",
		chromedp.Navigate(base+"/frames"),
		chromedp.Poll(`[...document.querySelectorAll("iframe")].every((f) => f.contentDocument &&
  f.contentDocument.readyState === "complete" && f.contentDocument.body && f.contentDocument.body.innerText.trim() !== "")`, nil),
	)

	start := time.Now()
	vs, err := browsertest.Axe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("axe on the main document: %s", time.Since(start).Round(time.Millisecond))
	if len(vs) != 0 {
		t.Errorf("main document (frames not entered): violations\n%s", browsertest.FormatViolations(vs))
	}

	frames, err := browsertest.AxeFrames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 {
		t.Fatalf("AxeFrames returned %d frames, want 2: %+v", len(frames), frames)
	}
	if f := frames[0]; f.URL != base+"/frames/clean" || len(f.Violations) != 0 {
		t.Errorf("first frame %s: violations\n%s", f.URL, browsertest.FormatViolations(f.Violations))
	}
	if f := frames[1]; f.URL != base+"/frames/broken" || !slices.Equal(violationIDs(f.Violations), []string{"label"}) {
		t.Errorf("second frame %s: violations %q, want [label]", f.URL, violationIDs(f.Violations))
	}
	// The frames' pages never saw axe: it ran in isolated worlds.
	var leaked bool
	if err := chromedp.Run(ctx, chromedp.Evaluate(
		`[...document.querySelectorAll("iframe")].some((f) => "axe" in f.contentWindow)`, &leaked)); err != nil {
		t.Fatal(err)
	}
	if leaked {
		t.Errorf("axe is visible to a frame's own scripts")
	}
}
