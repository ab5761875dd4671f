package handlers_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/testlog"
)

// newDevStack is newStack with LATCHKEY_DEV=true. Dev mode reads the assets from ./assets, so the test
// runs from the repository root.
func newDevStack(t *testing.T) *stack {
	t.Helper()
	t.Chdir("..")
	env := map[string]string{
		"LATCHKEY_PUBLIC_URL":   "http://localhost:8080",
		"LATCHKEY_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"),
		"LATCHKEY_RATE_LIMIT":   "off",
		"LATCHKEY_DEV":          "true",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		_ = a.Close()
	})
	return &stack{t: t, srv: srv, app: a, log: logs}
}

var nonceAttr = regexp.MustCompile(`nonce="[^"]*"`)

// Without LATCHKEY_DEV, every /dev/ address is the ordinary 404 page, the same as any unknown address.
func TestGalleryIsNotFoundWithoutDevMode(t *testing.T) {
	s := newStack(t)
	c := s.client()
	_, missing := s.do(c, req{method: "GET", path: "/no-such-page"})
	missing = nonceAttr.ReplaceAllString(missing, "")
	for _, path := range []string{"/dev/components", "/dev/components/", "/dev/components/login-empty",
		"/dev/components/login-busy?theme=dark", "/dev/components/nope", "/dev/", "/dev/anything"} {
		t.Run(path, func(t *testing.T) {
			resp, body := s.do(c, req{method: "GET", path: path})
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("GET %s = %d without dev mode, want 404", path, resp.StatusCode)
			}
			if got := nonceAttr.ReplaceAllString(body, ""); got != missing {
				t.Errorf("GET %s is not the ordinary 404 page:\n%s", path, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "frame-src") {
				t.Errorf("CSP = %q", csp)
			}
			if xfo := resp.Header.Get("X-Frame-Options"); xfo != "DENY" {
				t.Errorf("X-Frame-Options = %q, want DENY", xfo)
			}
			if strings.Contains(body, "Component gallery") || strings.Contains(body, "theme-") {
				t.Error("the 404 shows gallery content")
			}
		})
	}
}

// cspDirectives splits a Content-Security-Policy into directive name -> value.
func cspDirectives(t *testing.T, csp string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if name == "" {
			continue
		}
		if _, dup := out[name]; dup {
			t.Errorf("CSP repeats %s: %q", name, csp)
		}
		out[name] = value
	}
	return out
}

func TestGalleryIndex(t *testing.T) {
	s := newDevStack(t)
	c := s.client()
	for _, path := range []string{"/dev/components", "/dev/components/"} {
		resp, body := s.do(c, req{method: "GET", path: path})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d in dev mode, want 200:\n%s", path, resp.StatusCode, body)
		}
		csp := cspDirectives(t, resp.Header.Get("Content-Security-Policy"))
		if csp["frame-src"] != "'self'" || csp["default-src"] != "'none'" || csp["frame-ancestors"] != "'none'" ||
			!strings.HasPrefix(csp["script-src"], "'self' 'nonce-") {
			t.Errorf("CSP = %q, want the app's policy plus frame-src 'self'", resp.Header.Get("Content-Security-Policy"))
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
		}
		d := doc(t, body)
		if got := strings.TrimSpace(d.Find("title").Text()); got != "Component gallery · Latchkey" {
			t.Errorf("title = %q", got)
		}

		states := handlers.GalleryStates()
		if len(states) < 30 {
			t.Fatalf("only %d states", len(states))
		}
		articles := d.Find(`[data-testid="gallery-state"]`)
		if articles.Length() != len(states) {
			t.Errorf("%d states shown, want %d", articles.Length(), len(states))
		}
		for _, st := range states {
			a := d.Find(`[data-testid="gallery-state"][data-state="` + st.Slug + `"]`)
			if a.Length() != 1 {
				t.Errorf("state %s shown %d times", st.Slug, a.Length())
				continue
			}
			if got := strings.TrimSpace(a.Find("h3").Text()); got != st.Title {
				t.Errorf("state %s heading %q, want %q", st.Slug, got, st.Title)
			}
			if got := strings.TrimSpace(a.Find(`[data-testid="gallery-source"]`).Text()); got != st.Component+" — "+st.File {
				t.Errorf("state %s source %q", st.Slug, got)
			}
			light, dark := a.Find(`[data-testid="gallery-frame-light"]`), a.Find(`[data-testid="gallery-frame-dark"]`)
			if src, _ := light.Attr("src"); src != "/dev/components/"+st.Slug+"?theme=light" {
				t.Errorf("state %s light frame src %q", st.Slug, src)
			}
			if src, _ := dark.Attr("src"); src != "/dev/components/"+st.Slug+"?theme=dark" {
				t.Errorf("state %s dark frame src %q", st.Slug, src)
			}
			if !dark.Parent().HasClass("theme-dark") || !light.Parent().HasClass("theme-light") {
				t.Errorf("state %s: the frames are not in the .theme-light and .theme-dark columns", st.Slug)
			}
		}
		// Every id on the page is unique, and so is every frame's title (axe: duplicate-id, frame-title-unique).
		ids, titles := map[string]bool{}, map[string]bool{}
		d.Find("[id]").Each(func(_ int, e *goquery.Selection) {
			id, _ := e.Attr("id")
			if ids[id] {
				t.Errorf("duplicate id %q", id)
			}
			ids[id] = true
		})
		d.Find("iframe").Each(func(_ int, e *goquery.Selection) {
			title, _ := e.Attr("title")
			if title == "" || titles[title] {
				t.Errorf("iframe title %q empty or repeated", title)
			}
			titles[title] = true
		})
	}
}

// The states and what each must show.
func TestGalleryStatePages(t *testing.T) {
	s := newDevStack(t)
	c := s.client()
	words := handlers.GalleryWords()
	for _, st := range handlers.GalleryStates() {
		for _, theme := range []string{"light", "dark"} {
			t.Run(st.Slug+"/"+theme, func(t *testing.T) {
				resp, body := s.do(c, req{method: "GET", path: "/dev/components/" + st.Slug + "?theme=" + theme})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d:\n%s", resp.StatusCode, body)
				}
				if xfo := resp.Header.Get("X-Frame-Options"); xfo != "SAMEORIGIN" {
					t.Errorf("X-Frame-Options = %q, want SAMEORIGIN", xfo)
				}
				csp := cspDirectives(t, resp.Header.Get("Content-Security-Policy"))
				if csp["frame-ancestors"] != "'self'" || csp["default-src"] != "'none'" || csp["frame-src"] != "" {
					t.Errorf("CSP = %q, want the app's policy with frame-ancestors 'self'", resp.Header.Get("Content-Security-Policy"))
				}
				if resp.Header.Get("templ-skip-modify") != "" {
					t.Error("templ-skip-modify set outside a frame")
				}
				d := doc(t, body)
				if d.Find("html").Length() != 1 || d.Find("main#app").Length() != 1 || d.Find(`link[rel="stylesheet"]`).Length() == 0 {
					t.Fatal("not a whole page in the Layout")
				}
				if d.Find("h1").Length() != 1 {
					t.Errorf("%d h1 headings", d.Find("h1").Length())
				}
				// Static: no passkey script.
				d.Find("script[src]").Each(func(_ int, e *goquery.Selection) {
					if src, _ := e.Attr("src"); strings.Contains(src, "passkeys") {
						t.Errorf("the state loads %s", src)
					}
				})
				if d.Find(`#app > .theme-`+theme).Length() != 1 || d.Find(`.theme-light, .theme-dark`).Length() != 1 {
					t.Errorf("theme %s: the page is not marked with (only) .theme-%s", theme, theme)
				}
				if w, ok := words[st.Slug]; ok {
					shown := handlers.GalleryShown(st.Slug, w)
					if !strings.Contains(strings.Join(strings.Fields(d.Find(`#app`).Text()), " "), shown) {
						t.Errorf("the page does not show %q", shown)
					}
				}
				switch {
				case strings.HasPrefix(st.Slug, "login-error-"), st.Slug == "login-no-javascript":
					if got := alertText(t, body); got != handlers.GalleryShown(st.Slug, words[st.Slug]) {
						t.Errorf("alert = %q, want %q", got, handlers.GalleryShown(st.Slug, words[st.Slug]))
					}
				case strings.HasPrefix(st.Slug, "login-"):
					if got := alertText(t, body); got != "" {
						t.Errorf("alert = %q, want empty", got)
					}
				}
			})
		}
	}
}

func TestGalleryBusyAndNames(t *testing.T) {
	s := newDevStack(t)
	c := s.client()
	get := func(slug string) *goquery.Document {
		t.Helper()
		resp, body := s.do(c, req{method: "GET", path: "/dev/components/" + slug})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", slug, resp.StatusCode)
		}
		return doc(t, body)
	}

	busy := get("login-busy")
	if got := strings.TrimSpace(busy.Find(`[data-testid="passkey-status"]`).Text()); got != "Waiting for your passkey…" {
		t.Errorf("busy status = %q", got)
	}
	for _, id := range []string{"login-button", "signup-submit"} {
		if _, disabled := busy.Find(`[data-testid="` + id + `"]`).Attr("disabled"); !disabled {
			t.Errorf("busy: %s is not disabled", id)
		}
	}
	empty := get("login-empty")
	if got := strings.TrimSpace(empty.Find(`[data-testid="passkey-status"]`).Text()); got != "" {
		t.Errorf("empty status = %q", got)
	}
	for _, id := range []string{"login-button", "signup-submit"} {
		if _, disabled := empty.Find(`[data-testid="` + id + `"]`).Attr("disabled"); disabled {
			t.Errorf("empty: %s is disabled", id)
		}
	}

	for slug, wantName := range map[string]string{
		"home-short-name":   "Ada",
		"home-long-name":    "Maria Theresia Walburga Amalia Christina Leopoldina Josepha Eleonora Antonia von Habsburg-Lothringen",
		"home-arabic-name":  "فاطمة الزهراء بنت عبد الله",
		"home-hebrew-name":  "נועה בת־שבע כהן",
		"home-persian-name": "نیلوفر محمدی\u200cنژاد",
	} {
		got := strings.TrimSpace(get(slug).Find(`[data-testid="user-name"]`).Text())
		if got != wantName {
			t.Errorf("%s: name %q, want %q", slug, got, wantName)
		}
		if slug == "home-long-name" && len([]rune(got)) != 100 {
			t.Errorf("the long name has %d characters, want 100 (the most sign-up accepts)", len([]rune(got)))
		}
	}
	if got := get("not-found").Find("h1").Text(); !strings.Contains(got, "Page not found") {
		t.Errorf("not-found heading %q", got)
	}
}

func TestGalleryStateErrors(t *testing.T) {
	s := newDevStack(t)
	c := s.client()
	if resp, _ := s.do(c, req{method: "GET", path: "/dev/components/no-such-state"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown state = %d, want 404", resp.StatusCode)
	}
	if resp, _ := s.do(c, req{method: "GET", path: "/dev/other"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/dev/other = %d, want 404", resp.StatusCode)
	}
	resp, body := s.do(c, req{method: "GET", path: "/dev/components/login-empty?theme=sepia"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "The theme must be light or dark.") {
		t.Errorf("theme=sepia = %d, want 400 and the reason", resp.StatusCode)
	}
	// In a frame, templ's live-reload proxy is told not to add its script (one event stream per frame).
	resp, _ = s.do(c, req{method: "GET", path: "/dev/components/login-empty?theme=dark", header: map[string]string{"Sec-Fetch-Dest": "iframe"}})
	if resp.Header.Get("templ-skip-modify") != "true" {
		t.Error("a framed state page lacks templ-skip-modify: true")
	}
	// The app's own pages keep refusing frames in dev mode.
	resp, _ = s.do(c, req{method: "GET", path: "/"})
	if csp := cspDirectives(t, resp.Header.Get("Content-Security-Policy")); csp["frame-ancestors"] != "'none'" || csp["frame-src"] != "" ||
		resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET / in dev mode: CSP %q, X-Frame-Options %q", resp.Header.Get("Content-Security-Policy"), resp.Header.Get("X-Frame-Options"))
	}
}

// Dev mode serves the assets from ./assets as they are on disk, uncached.
func TestDevModeServesAssetsFromDisk(t *testing.T) {
	s := newDevStack(t)
	c := s.client()
	_, body := s.do(c, req{method: "GET", path: "/"})
	href, _ := doc(t, body).Find(`link[rel="stylesheet"]`).Attr("href")
	resp, css := s.do(c, req{method: "GET", path: href})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET %s = %d, Cache-Control %q", href, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	disk, err := os.ReadFile("assets/app.css")
	if err != nil {
		t.Fatal(err)
	}
	if css != string(disk) {
		t.Error("the stylesheet served is not assets/app.css as on disk")
	}
}

// The words each state shows are the words the app says: every one is still a string literal in the
// handlers or the provider (outside this gallery), so a reworded message shows up here as a failure.
func TestGalleryMessagesAreTheAppsWords(t *testing.T) {
	var sources strings.Builder
	for _, pattern := range []string{"*.go", "../internal/provider/*.go"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") || filepath.Base(f) == "dev.go" {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			sources.Write(b)
		}
	}
	if sources.Len() == 0 {
		t.Fatal("no sources read")
	}
	src := sources.String()
	for slug, words := range handlers.GalleryWords() {
		if !strings.Contains(src, strconv.Quote(words)) {
			t.Errorf("state %s shows %q, which the app no longer says: update galleryMessages in handlers/dev.go", slug, words)
		}
	}
}
