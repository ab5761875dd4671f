package components

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

func TestLoginBusy(t *testing.T) {
	for _, tc := range []struct {
		busy   bool
		status string
	}{
		{false, ""},
		{true, "Waiting for your passkey…"},
	} {
		_, doc := render(t, LoginFragment(LoginView{Busy: tc.busy}))
		if got := norm(byTestID(t, doc, "passkey-status").Text()); got != tc.status {
			t.Errorf("Busy %v: status %q, want %q", tc.busy, got, tc.status)
		}
		for _, name := range []string{"Log in with a passkey", "Create account"} {
			if _, disabled := button(t, doc, name).Attr("disabled"); disabled != tc.busy {
				t.Errorf("Busy %v: %q disabled = %v", tc.busy, name, disabled)
			}
		}
	}
}

func testGallery() GalleryView {
	return GalleryView{
		CSSURL: "/assets/gallery.11111111.css",
		JSURL:  "/assets/gallery.22222222.js",
		Groups: []GalleryGroup{
			{Name: "Log in", ID: "login", States: []GalleryState{
				{Slug: "login-empty", Title: "Empty", Component: "LoginFragment", File: "components/login.templ"},
				{Slug: "login-busy", Title: "Busy", Component: "LoginFragment", File: "components/login.templ"},
			}},
			{Name: "Home", ID: "home", States: []GalleryState{
				{Slug: "home-short-name", Title: "Short name", Component: "HomeFragment", File: "components/home.templ"},
			}},
		},
	}
}

func TestGalleryPage(t *testing.T) {
	p := testPage()
	p.Title, p.Nonce = "Component gallery", "n0nce"
	raw, doc := render(t, GalleryPage(p, testGallery()))
	if !strings.HasPrefix(raw, "<!doctype html>") {
		t.Errorf("not a whole document: %.40q", raw)
	}
	if got := doc.Find("title").Text(); got != "Component gallery · Latchkey" {
		t.Errorf("title %q", got)
	}
	if got := doc.Find("h1").Text(); got != "Component gallery" {
		t.Errorf("h1 %q", got)
	}
	wantAttrs(t, doc.Find(`link[href="/assets/gallery.11111111.css"]`), map[string]string{"rel": "stylesheet", "nonce": "n0nce"})
	wantAttrs(t, doc.Find(`link[href="`+p.CSSURL+`"]`), map[string]string{"rel": "stylesheet", "nonce": "n0nce"})
	wantAttrs(t, doc.Find(`script[src="/assets/gallery.22222222.js"]`), map[string]string{"nonce": "n0nce"})
	if doc.Find(`script[src="`+p.JSURL+`"]`).Length() != 0 {
		t.Error("the gallery loads the passkey script")
	}
	if got := norm(doc.Find(".gallery-header p").First().Text()); !strings.HasPrefix(got, "3 states") {
		t.Errorf("intro %q", got)
	}

	busy := doc.Find(`[data-state="login-busy"]`)
	if got := busy.Find("h3").Text(); got != "Busy" {
		t.Errorf("state heading %q", got)
	}
	if got := busy.Find(`[data-testid="gallery-source"]`).Text(); got != "LoginFragment — components/login.templ" {
		t.Errorf("source %q", got)
	}
	wantAttrs(t, busy.Find(`.theme-light iframe`), map[string]string{
		"src": "/dev/components/login-busy?theme=light", "title": "Log in: Busy (light)", "loading": "lazy",
	})
	wantAttrs(t, busy.Find(`.theme-dark iframe`), map[string]string{
		"src": "/dev/components/login-busy?theme=dark", "title": "Log in: Busy (dark)", "loading": "lazy",
	})
	if href, _ := doc.Find(`nav a[href="#home"]`).Attr("href"); href != "#home" || doc.Find("#home").Length() != 1 {
		t.Error("the table of contents does not link to the Home group")
	}
	ids := map[string]int{}
	doc.Find("[id]").Each(func(_ int, s *goquery.Selection) { ids[s.AttrOr("id", "")]++ })
	for id, n := range ids {
		if n > 1 {
			t.Errorf("id %q used %d times", id, n)
		}
	}
}

func TestGalleryFrame(t *testing.T) {
	for _, theme := range []string{"light", "dark"} {
		raw, doc := render(t, GalleryFrame(testPage(), theme, HomeFragment(HomeView{Name: "Ada"})))
		if !strings.HasPrefix(raw, "<!doctype html>") || doc.Find("main#app").Length() != 1 {
			t.Fatalf("%s: not a page in the Layout", theme)
		}
		if got := norm(doc.Find(`[data-testid="user-name"]`).Text()); got != "Ada" {
			t.Errorf("%s: content %q", theme, got)
		}
		if doc.Find("#app > .theme-"+theme+" > [data-testid=home]").Length() != 1 || doc.Find(".theme-light, .theme-dark").Length() != 1 {
			t.Errorf("%s: the fragment is not in (only) a .theme-%s marker in #app", theme, theme)
		}
	}
}
