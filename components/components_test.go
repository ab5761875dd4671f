package components

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

const xss = `<script>alert(1)</script>`

func testPage() Page {
	return Page{
		Title:   "Log in",
		CSSURL:  "/assets/app.1a2b3c4d.css",
		HTMXURL: "/assets/htmx.min.5e6f7a8b.js",
		JSURL:   "/assets/app.9c0d1e2f.js",
		UIURL:   "/assets/ui.3a4b5c6d.js",
		CopyURL: "/assets/copy.7b8c9d0e.js",
		IconURL: "/assets/favicon.0f1e2d3c.svg",

		AccountURL: "/assets/account.4d5e6f70.js",
	}
}

// render renders c and parses it with scripting disabled, so <noscript>
// content is parsed as elements. html.Parse adds the implied html/head/body to a
// fragment, so checks for their absence look at the raw string.
func render(t *testing.T, c templ.Component) (string, *goquery.Document) {
	t.Helper()
	var sb strings.Builder
	if err := c.Render(context.Background(), &sb); err != nil {
		t.Fatalf("render: %v", err)
	}
	node, err := html.ParseWithOptions(strings.NewReader(sb.String()), html.ParseOptionEnableScripting(false))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return sb.String(), goquery.NewDocumentFromNode(node)
}

func norm(s string) string { return strings.Join(strings.Fields(s), " ") }

// accessibleName is a simplified accessible-name computation: aria-label, else
// the element's text.
func accessibleName(s *goquery.Selection) string {
	if l, ok := s.Attr("aria-label"); ok {
		return norm(l)
	}
	return norm(s.Text())
}

// button finds exactly one button with the given accessible name.
func button(t *testing.T, doc *goquery.Document, name string) *goquery.Selection {
	t.Helper()
	found := doc.Find("button").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return accessibleName(s) == name
	})
	if found.Length() != 1 {
		t.Fatalf("want 1 button named %q, got %d", name, found.Length())
	}
	return found
}

// textboxByLabel finds the input a <label for> with the given text points to.
func textboxByLabel(t *testing.T, doc *goquery.Document, label string) *goquery.Selection {
	t.Helper()
	labels := doc.Find("label").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return norm(s.Text()) == label
	})
	if labels.Length() != 1 {
		t.Fatalf("want 1 label %q, got %d", label, labels.Length())
	}
	id, ok := labels.Attr("for")
	if !ok || id == "" {
		t.Fatalf("label %q has no for attribute", label)
	}
	input := doc.Find("input").FilterFunction(func(_ int, s *goquery.Selection) bool {
		v, _ := s.Attr("id")
		return v == id
	})
	if input.Length() != 1 {
		t.Fatalf("label %q: want 1 input with id %q, got %d", label, id, input.Length())
	}
	return input
}

func byTestID(t *testing.T, doc *goquery.Document, id string) *goquery.Selection {
	t.Helper()
	s := doc.Find(`[data-testid="` + id + `"]`)
	if s.Length() != 1 {
		t.Fatalf("want 1 element with data-testid %q, got %d", id, s.Length())
	}
	return s
}

func attr(t *testing.T, s *goquery.Selection, name string) string {
	t.Helper()
	v, ok := s.Attr(name)
	if !ok {
		t.Fatalf("%s: missing attribute %s", goquery.NodeName(s), name)
	}
	return v
}

func wantAttrs(t *testing.T, s *goquery.Selection, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := attr(t, s, k); got != v {
			t.Errorf("%s[%s] = %q, want %q", goquery.NodeName(s), k, got, v)
		}
	}
}

type rendered struct {
	name   string
	c      templ.Component
	page   bool
	static bool // shows no user data: nothing to escape
}

func allComponents() []rendered {
	login := LoginView{Error: xss, Email: "ada@example.com", Name: xss}
	home := HomeView{UserID: "usr-1", Name: xss, Email: "ada@example.com"}
	errv := ErrorView{Status: 400, Title: xss, Message: xss}
	return []rendered{
		{"LoginPage", LoginPage(testPage(), login), true, false},
		{"LoginFragment", LoginFragment(login), false, false},
		{"HomePage", HomePage(testPage(), home), true, false},
		{"HomeFragment", HomeFragment(home), false, false},
		{"ErrorPage", ErrorPage(testPage(), errv), true, false},
		{"ErrorFragment", ErrorFragment(errv), false, false},
		{"LogoutPage", LogoutPage(testPage(), LogoutView{LoggedIn: true, Name: xss}), true, false},
		{"LogoutFragment", LogoutFragment(LogoutView{LoggedIn: true, Name: xss}), false, false},
		{"NotFoundPage", NotFoundPage(testPage()), true, true},
		{"NotFoundFragment", NotFoundFragment(), false, true},
	}
}

func TestPagesAndFragments(t *testing.T) {
	for _, tc := range allComponents() {
		t.Run(tc.name, func(t *testing.T) {
			raw, doc := render(t, tc.c)
			lower := strings.ToLower(raw)

			// No inline script, no inline event handlers, no inline styles (CSP).
			doc.Find("script").Each(func(_ int, s *goquery.Selection) {
				if src, _ := s.Attr("src"); src == "" {
					t.Errorf("inline <script> without src: %q", s.Text())
				}
				if strings.TrimSpace(s.Text()) != "" {
					t.Errorf("<script> has a body: %q", s.Text())
				}
			})
			doc.Find("*").Each(func(_ int, s *goquery.Selection) {
				for _, a := range s.Nodes[0].Attr {
					if strings.HasPrefix(a.Key, "on") || a.Key == "style" || strings.HasPrefix(a.Key, "hx-on") {
						t.Errorf("<%s> has inline attribute %s", goquery.NodeName(s), a.Key)
					}
				}
			})

			// Escaping: the hostile value never becomes markup.
			if strings.Contains(raw, xss) {
				t.Errorf("unescaped %q in output", xss)
			}
			if !tc.static && !strings.Contains(doc.Text(), xss) && !strings.Contains(raw, `value="&lt;script&gt;`) {
				t.Errorf("escaped %q not shown as text", xss)
			}

			if !tc.page {
				for _, tag := range []string{"<!doctype", "<html", "<head", "<body", "<main", "<title"} {
					if strings.Contains(lower, tag) {
						t.Errorf("fragment contains %s", tag)
					}
				}
				if n := doc.Find("script").Length(); n != 0 {
					t.Errorf("fragment has %d script elements, want 0", n)
				}
				return
			}

			if !strings.HasPrefix(lower, "<!doctype html>") {
				t.Errorf("page does not start with <!doctype html>: %.40q", raw)
			}
			if got := attr(t, doc.Find("html"), "lang"); got != "en" {
				t.Errorf("html lang = %q, want en", got)
			}
			if n := doc.Find("main#app").Length(); n != 1 {
				t.Errorf("want 1 main#app, got %d", n)
			}
			if n := doc.Find("main").Length(); n != 1 {
				t.Errorf("want 1 main, got %d", n)
			}
			if n := doc.Find("main#app > section.card").Length(); n != 1 {
				t.Errorf("fragment not inside main#app")
			}
			if got := doc.Find("title").Text(); got != "Log in · Latchkey" {
				t.Errorf("title = %q", got)
			}
			if n := doc.Find(`meta[charset="utf-8"]`).Length(); n != 1 {
				t.Errorf("want meta charset utf-8")
			}
			if n := doc.Find(`meta[name="viewport"]`).Length(); n != 1 {
				t.Errorf("want meta viewport")
			}
			if n := doc.Find(`head link[rel="stylesheet"][href="` + testPage().CSSURL + `"]`).Length(); n != 1 {
				t.Errorf("stylesheet %s not linked", testPage().CSSURL)
			}
			if n := doc.Find(`head link[rel="icon"][type="image/svg+xml"][href="` + testPage().IconURL + `"]`).Length(); n != 1 {
				t.Errorf("SVG favicon %s not linked", testPage().IconURL)
			}
			// The embedded provider's pages load htmx and one script of their own (ui.js and the passkey
			// ceremonies); the scripts only some content needs are not loaded, their URLs are on <body> for
			// ui.js to load when content names them in data-uses.
			scripts := doc.Find("head script")
			if scripts.Length() != 2 {
				t.Fatalf("want 2 head scripts, got %d", scripts.Length())
			}
			body := doc.Find("body")
			if got := attr(t, body, "data-script-copy"); got != testPage().CopyURL {
				t.Errorf("body data-script-copy = %q, want %q", got, testPage().CopyURL)
			}
			if got := attr(t, body, "data-script-account"); got != testPage().AccountURL {
				t.Errorf("body data-script-account = %q, want %q", got, testPage().AccountURL)
			}
			for i, want := range []string{testPage().HTMXURL, testPage().JSURL} {
				s := scripts.Eq(i)
				if got := attr(t, s, "src"); got != want {
					t.Errorf("script %d src = %q, want %q", i, got, want)
				}
				attr(t, s, "defer")
				if _, ok := s.Attr("nonce"); ok {
					t.Errorf("script %d has a nonce attribute without a nonce", i)
				}
			}
			brand := doc.Find(`header a[href="/"]`)
			if brand.Length() != 1 || norm(brand.Text()) != "Latchkey" {
				t.Errorf("header link to / is named %q, want Latchkey", norm(brand.Text()))
			}
			mark := brand.Find("svg.brand-mark")
			if mark.Length() != 1 || attr(t, mark, "aria-hidden") != "true" || attr(t, mark, "focusable") != "false" {
				t.Errorf("brand mark: want one decorative svg.brand-mark (aria-hidden, focusable=false) in the header link")
			}
		})
	}
}

func TestLayoutNonce(t *testing.T) {
	p := testPage()
	p.Nonce = "n0nce-value"
	_, doc := render(t, LoginPage(p, LoginView{}))
	for _, sel := range []string{`link[rel="stylesheet"]`, `script[src]`} {
		doc.Find(sel).Each(func(_ int, s *goquery.Selection) {
			if got := attr(t, s, "nonce"); got != p.Nonce {
				t.Errorf("%s nonce = %q, want %q", sel, got, p.Nonce)
			}
		})
	}
	if n := doc.Find("[nonce]").Length(); n != 3 {
		t.Errorf("want 3 elements with a nonce (stylesheet, 2 scripts), got %d", n)
	}
}

// A page built without the optional asset URLs has no empty src or href (which would load the page itself).
func TestLayoutWithoutOptionalAssets(t *testing.T) {
	p := testPage()
	p.CopyURL, p.AccountURL, p.IconURL, p.JSURL = "", "", "", ""
	_, doc := render(t, LoginPage(p, LoginView{}))
	if n := doc.Find(`link[rel="icon"]`).Length(); n != 0 {
		t.Errorf("%d icon links without an icon URL", n)
	}
	if n := doc.Find("head script").Length(); n != 1 {
		t.Errorf("want 1 head script (htmx) without a page script URL, got %d", n)
	}
	for _, a := range []string{"data-script-copy", "data-script-account"} {
		if _, ok := doc.Find("body").Attr(a); ok {
			t.Errorf("body has %s without its URL", a)
		}
	}
	doc.Find("[src], [href]").Each(func(_ int, s *goquery.Selection) {
		for _, a := range []string{"src", "href"} {
			if v, ok := s.Attr(a); ok && v == "" {
				t.Errorf("<%s> has an empty %s", goquery.NodeName(s), a)
			}
		}
	})
}

func TestLayoutTitleWithoutPageTitle(t *testing.T) {
	_, doc := render(t, HomePage(Page{}, HomeView{}))
	if got := doc.Find("title").Text(); got != "Latchkey" {
		t.Errorf("title = %q, want Latchkey", got)
	}
}

func TestHTMXConfig(t *testing.T) {
	_, doc := render(t, LoginPage(testPage(), LoginView{}))
	meta := doc.Find(`head meta[name="htmx-config"]`)
	if meta.Length() != 1 {
		t.Fatalf("want 1 htmx-config meta, got %d", meta.Length())
	}
	var cfg struct {
		IncludeIndicatorStyles    *bool `json:"includeIndicatorStyles"`
		AllowEval                 *bool `json:"allowEval"`
		AllowScriptTags           *bool `json:"allowScriptTags"`
		HistoryRestoreAsHxRequest *bool `json:"historyRestoreAsHxRequest"`
		RefreshOnHistoryMiss      *bool `json:"refreshOnHistoryMiss"`
		ResponseHandling          []struct {
			Code  string `json:"code"`
			Swap  bool   `json:"swap"`
			Error bool   `json:"error"`
		} `json:"responseHandling"`
	}
	dec := json.NewDecoder(strings.NewReader(attr(t, meta, "content")))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("htmx-config is not the expected JSON: %v", err)
	}
	for name, v := range map[string]*bool{
		"includeIndicatorStyles":    cfg.IncludeIndicatorStyles,
		"allowEval":                 cfg.AllowEval,
		"allowScriptTags":           cfg.AllowScriptTags,
		"historyRestoreAsHxRequest": cfg.HistoryRestoreAsHxRequest,
	} {
		if v == nil || *v {
			t.Errorf("%s must be false", name)
		}
	}
	// A page that is not in the history cache (personal pages never are) is loaded afresh on Back.
	if cfg.RefreshOnHistoryMiss == nil || !*cfg.RefreshOnHistoryMiss {
		t.Error("refreshOnHistoryMiss must be true")
	}
	// Error statuses must be swapped so the server's error fragment is shown.
	want := []struct {
		code        string
		swap, error bool
	}{{"204", false, false}, {"[23]..", true, false}, {"[45]..", true, true}}
	if len(cfg.ResponseHandling) != len(want) {
		t.Fatalf("responseHandling has %d entries, want %d", len(cfg.ResponseHandling), len(want))
	}
	for i, w := range want {
		g := cfg.ResponseHandling[i]
		if g.Code != w.code || g.Swap != w.swap || g.Error != w.error {
			t.Errorf("responseHandling[%d] = %+v, want %+v", i, g, w)
		}
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name string
		v    LoginView
	}{
		{"empty", LoginView{}},
		{"refilled with error", LoginView{Error: "That email address is already registered.", Email: "ada@example.com", Name: "Ada Lovelace"}},
		{"hostile values", LoginView{Error: xss, Email: `"><b>x</b>`, Name: xss}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, doc := render(t, LoginFragment(tc.v))

			if got := norm(doc.Find("h1").Text()); got == "" {
				t.Error("no heading")
			}
			if got := doc.Find("noscript p").Text(); !strings.Contains(got, "JavaScript") {
				t.Errorf("noscript text = %q, want a JavaScript notice", got)
			}

			alert := doc.Find(`[role="alert"]`)
			if alert.Length() != 1 {
				t.Fatalf("want 1 alert, got %d", alert.Length())
			}
			if got := attr(t, alert, "id"); got != "passkey-error" {
				t.Errorf("alert id = %q, want passkey-error", got)
			}
			if got := alert.Text(); got != tc.v.Error {
				t.Errorf("alert text = %q, want %q", got, tc.v.Error)
			}
			if alert.Children().Length() != 0 {
				t.Errorf("alert has child elements: error not escaped")
			}

			form := doc.Find(`form[data-passkey="signup"]`)
			if form.Length() != 1 {
				t.Fatalf("want 1 sign-up form, got %d", form.Length())
			}
			wantAttrs(t, form, map[string]string{"method": "post", "action": "/"})

			email := textboxByLabel(t, doc, "Email address")
			wantAttrs(t, email, map[string]string{
				"type": "email", "name": "email", "autocomplete": "username webauthn", "maxlength": "254", "value": tc.v.Email,
			})
			attr(t, email, "required")
			name := textboxByLabel(t, doc, "Full name")
			wantAttrs(t, name, map[string]string{
				"name": "name", "autocomplete": "name", "maxlength": "100", "value": tc.v.Name,
			})
			attr(t, name, "required")
			for _, in := range []*goquery.Selection{email, name} {
				if in.Closest(`form[data-passkey="signup"]`).Length() != 1 {
					t.Errorf("input %s is outside the sign-up form", attr(t, in, "name"))
				}
			}

			create := button(t, doc, "Create account")
			if got := attr(t, create, "type"); got != "submit" {
				t.Errorf("Create account type = %q, want submit", got)
			}
			if create.Closest(`form[data-passkey="signup"]`).Length() != 1 {
				t.Error("Create account is outside the sign-up form")
			}

			loginBtn := button(t, doc, "Log in with a passkey")
			wantAttrs(t, loginBtn, map[string]string{"type": "button", "data-passkey": "login"})
			if loginBtn.Closest("form").Length() != 0 {
				t.Error("Log in with a passkey must not be inside a form")
			}

			session := doc.Find("form#session-form")
			if session.Length() != 1 {
				t.Fatalf("want 1 #session-form, got %d", session.Length())
			}
			wantAttrs(t, session, map[string]string{
				"method": "post", "action": "/auth/session", "hx-post": "/auth/session",
				"hx-target": "#app", "hx-swap": "innerHTML",
			})
			attr(t, session, "hidden")
			if session.Children().Length() != 0 || strings.TrimSpace(session.Text()) != "" {
				t.Error("#session-form must have no visible content")
			}

			for _, id := range []string{"login", "passkey-error", "signup-form", "signup-email", "signup-name", "signup-submit", "login-button", "session-form"} {
				byTestID(t, doc, id)
			}
		})
	}
}

func TestLoginPageWrapsFragment(t *testing.T) {
	v := LoginView{Error: "oops", Email: "a@example.com", Name: "A"}
	fragment, _ := render(t, LoginFragment(v))
	page, _ := render(t, LoginPage(testPage(), v))
	if !strings.Contains(page, `<main id="app">`+fragment+`</main>`) {
		t.Error("LoginPage does not contain exactly LoginFragment inside main#app")
	}
}

func TestHome(t *testing.T) {
	tests := []struct {
		name string
		v    HomeView
	}{
		{"plain", HomeView{UserID: "usr-12345", Name: "Ada Lovelace", Email: "ada@example.com"}},
		{"hostile", HomeView{UserID: "usr-<i>", Name: xss, Email: `a&b@example.com`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, doc := render(t, HomeFragment(tc.v))
			wantAttrs(t, byTestID(t, doc, "home"), map[string]string{"hx-history": "false", "data-page-title": "Home · Latchkey"})
			if got := norm(doc.Find("h1").Text()); got != norm("Welcome, "+tc.v.Name) {
				t.Errorf("heading = %q", got)
			}
			if n := doc.Find("script").Length(); n != 0 {
				t.Errorf("home has %d script elements", n)
			}
			terms := map[string]struct{ testID, value string }{
				"User ID": {"user-id", tc.v.UserID},
				"Name":    {"user-name", tc.v.Name},
				"Email":   {"user-email", tc.v.Email},
			}
			for term, want := range terms {
				dt := doc.Find("dl dt").FilterFunction(func(_ int, s *goquery.Selection) bool {
					return norm(s.Text()) == term
				})
				if dt.Length() != 1 {
					t.Fatalf("want 1 <dt> %q, got %d", term, dt.Length())
				}
				dd := dt.Next()
				if goquery.NodeName(dd) != "dd" {
					t.Fatalf("<dt> %q not followed by <dd>", term)
				}
				// The value is the <dd> itself, or (the user ID, which has a Copy button) a <code> in it.
				value := dd
				if term == "User ID" {
					value = dd.Children().First()
					if goquery.NodeName(value) != "code" {
						t.Fatalf("User ID value is a <%s>, want <code> (monospace)", goquery.NodeName(value))
					}
				}
				if got := attr(t, value, "data-testid"); got != want.testID {
					t.Errorf("%s data-testid = %q, want %q", term, got, want.testID)
				}
				if got := value.Text(); got != want.value {
					t.Errorf("%s = %q, want %q", term, got, want.value)
				}
				if value.Children().Length() != 0 {
					t.Errorf("%s value rendered as markup", term)
				}
			}

			// Copy user ID: rendered hidden (copy.js shows it: it needs JavaScript), copying the <code> by
			// id, with a polite status for "Copied".
			copyBtn := button(t, doc, "Copy user ID")
			wantAttrs(t, copyBtn, map[string]string{"type": "button", "data-copy": "user-id-value", "data-uses": "copy"})
			attr(t, copyBtn, "hidden")
			if copyBtn.Closest("form").Length() != 0 {
				t.Error("Copy user ID must not be inside a form")
			}
			if id := attr(t, doc.Find(`[data-testid="user-id"]`), "id"); id != "user-id-value" {
				t.Errorf("user ID element id = %q, want user-id-value", id)
			}
			status := doc.Find("#" + attr(t, copyBtn, "data-copy-status"))
			if status.Length() != 1 || attr(t, status, "role") != "status" || strings.TrimSpace(status.Text()) != "" {
				t.Errorf("copy status: want one empty role=status element named by data-copy-status")
			}
			if status.Closest("[hidden]").Length() != 0 {
				t.Error("copy status is inside a hidden element: it would not be announced")
			}
			logout := button(t, doc, "Log out")
			form := logout.Closest("form")
			if form.Length() != 1 {
				t.Fatal("Log out is not in a form")
			}
			wantAttrs(t, form, map[string]string{
				"method": "post", "action": "/logout", "hx-post": "/logout", "hx-target": "#app", "hx-swap": "innerHTML",
			})
		})
	}
}

func TestError(t *testing.T) {
	tests := []struct {
		name      string
		v         ErrorView
		wantTitle string
	}{
		{"title and message", ErrorView{Status: 403, Title: "Not allowed", Message: "Log in first."}, "Not allowed"},
		{"status text fallback", ErrorView{Status: 404, Message: "No such page."}, "Not Found"},
		{"no status", ErrorView{Message: "Try again."}, "Something went wrong"},
		{"hostile", ErrorView{Status: 500, Title: xss, Message: xss}, xss},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, doc := render(t, ErrorFragment(tc.v))
			alert := doc.Find(`[role="alert"]`)
			if alert.Length() != 1 {
				t.Fatalf("want 1 alert, got %d", alert.Length())
			}
			if got := alert.Find("h1").Text(); got != tc.wantTitle {
				t.Errorf("title = %q, want %q", got, tc.wantTitle)
			}
			if got := alert.Find("p").Text(); got != tc.v.Message {
				t.Errorf("message = %q, want %q", got, tc.v.Message)
			}
			if n := doc.Find("script").Length(); n != 0 {
				t.Errorf("error has %d script elements", n)
			}
			back := doc.Find(`a[href="/"]`)
			if back.Length() != 1 || norm(back.Text()) == "" {
				t.Errorf("want one named link back to /")
			}
		})
	}
}

// The 404 is a calm page, not an alarm: no role="alert", plain words and a link back to the start page.
func TestNotFound(t *testing.T) {
	_, doc := render(t, NotFoundFragment())
	root := byTestID(t, doc, "not-found")
	wantAttrs(t, root, map[string]string{
		"data-status": "404", "data-page-title": "Page not found · Latchkey", "data-announce": "Page not found",
	})
	if got := norm(doc.Find("h1").Text()); got != "Page not found" {
		t.Errorf("heading = %q, want Page not found", got)
	}
	if got := norm(byTestID(t, doc, "not-found-message").Text()); !strings.Contains(got, "There is nothing at this address.") {
		t.Errorf("message = %q", got)
	}
	if n := doc.Find(`[role="alert"], .alert`).Length(); n != 0 {
		t.Errorf("404 has %d alert elements, want none", n)
	}
	back := doc.Find(`a[href="/"]`)
	if back.Length() != 1 || norm(back.Text()) != "Go to the start page" {
		t.Errorf("want one link %q to /, got %d named %q", "Go to the start page", back.Length(), norm(back.Text()))
	}
}

func TestLogoutPage(t *testing.T) {
	corbado := &Corbado{ProjectID: "pro-123", FrontendSuffix: "example.com"}
	tests := []struct {
		name        string
		v           LogoutView
		wantTitle   string
		wantHeading string
		wantWords   string
	}{
		{"logged in", LogoutView{LoggedIn: true, Name: "Ada Lovelace"}, "Log out · Latchkey", "Log out", "You are logged in as Ada Lovelace."},
		{"logged in, Corbado mode", LogoutView{LoggedIn: true, Name: "Ada", Corbado: corbado}, "Log out · Latchkey", "Log out", "You are logged in as Ada."},
		{"logged out", LogoutView{}, "Logged out · Latchkey", "You are already logged out", "There is nothing to log out of on this device."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, doc := render(t, LogoutFragment(tc.v))
			root := byTestID(t, doc, "logout-page")
			wantAttrs(t, root, map[string]string{"hx-history": "false", "data-page-title": tc.wantTitle})
			if got := norm(doc.Find("h1").Text()); got != tc.wantHeading {
				t.Errorf("heading = %q, want %q", got, tc.wantHeading)
			}
			if got := norm(byTestID(t, doc, "logout-message").Text()); !strings.Contains(got, tc.wantWords) {
				t.Errorf("message = %q, want it to contain %q", got, tc.wantWords)
			}
			if !tc.v.LoggedIn {
				if n := doc.Find("button, form").Length(); n != 0 {
					t.Errorf("logged out: %d buttons or forms, want none", n)
				}
				login := doc.Find(`a[href="/"]`)
				if login.Length() != 1 || norm(login.Text()) != "Log in" {
					t.Errorf("logged out: want one link Log in to /")
				}
				return
			}
			form := button(t, doc, "Log out").Closest("form")
			if form.Length() != 1 {
				t.Fatal("Log out is not in a form")
			}
			wantAttrs(t, form, map[string]string{
				"method": "post", "action": "/logout", "hx-post": "/logout", "hx-target": "#app", "hx-swap": "innerHTML",
			})
			_, corbadoLogout := form.Attr("data-corbado-logout")
			if corbadoLogout != (tc.v.Corbado != nil) {
				t.Errorf("data-corbado-logout = %v, want %v (only in Corbado mode)", corbadoLogout, tc.v.Corbado != nil)
			}
			if tc.v.Corbado != nil {
				if got := attr(t, doc.Find("[data-corbado-project-id]"), "data-corbado-project-id"); got != "pro-123" {
					t.Errorf("Corbado project id = %q", got)
				}
			}
		})
	}
}
