package handlers_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The layout links the SVG favicon at its content-hashed URL, which serves image/svg+xml; the browser's
// own /favicon.ico request is redirected there and never logged as a failure.
func TestFavicon(t *testing.T) {
	s := newStack(t)
	c := s.client()
	_, body := s.do(c, req{method: "GET", path: "/"})
	links := doc(t, body).Find(`head link[rel="icon"]`)
	if links.Length() != 1 {
		t.Fatalf("want 1 icon link, got %d", links.Length())
	}
	if typ, _ := links.Attr("type"); typ != "image/svg+xml" {
		t.Errorf("icon link type = %q, want image/svg+xml", typ)
	}
	href, _ := links.Attr("href")
	if !regexp.MustCompile(`^/assets/favicon\.[0-9a-f]{8}\.svg$`).MatchString(href) {
		t.Fatalf("icon href = %q, want /assets/favicon.<hash>.svg", href)
	}

	resp, svg := s.do(c, req{method: "GET", path: href})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("GET %s: status %d Content-Type %q, want 200 image/svg+xml", href, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(svg, "<svg ") || !strings.Contains(svg, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("favicon body is not a standalone SVG: %.60q", svg)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("favicon Cache-Control = %q, want immutable", cc)
	}

	resp, _ = s.do(c, req{method: "GET", path: "/favicon.ico"})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != href {
		t.Errorf("GET /favicon.ico: status %d Location %q, want 302 %s", resp.StatusCode, resp.Header.Get("Location"), href)
	}
	if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=86400") {
		t.Errorf("GET /favicon.ico Cache-Control = %q, want a day (the hashed URL changes with the icon)", cc)
	}
	if logs := s.log.String(); strings.Contains(logs, "request failed") && strings.Contains(logs, "favicon") {
		t.Errorf("favicon request logged as a failure:\n%s", logs)
	}
}

// An unknown address is a calm 404 page: plain words and a link back, no alert; htmx gets the fragment.
func TestNotFoundPage(t *testing.T) {
	s := newStack(t)
	c := s.client()
	for _, htmx := range []bool{false, true} {
		resp, body := s.do(c, req{method: "GET", path: "/no/such/page", htmx: htmx})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("htmx %v: status %d, want 404", htmx, resp.StatusCode)
		}
		if full := strings.HasPrefix(strings.ToLower(body), "<!doctype html>"); full == htmx {
			t.Errorf("htmx %v: full page = %v", htmx, full)
		}
		d := doc(t, body)
		if got := strings.TrimSpace(d.Find("h1").Text()); got != "Page not found" {
			t.Errorf("htmx %v: heading %q, want Page not found", htmx, got)
		}
		if got := d.Find(`[data-testid="not-found-message"]`).Text(); !strings.Contains(got, "There is nothing at this address.") {
			t.Errorf("htmx %v: message %q", htmx, got)
		}
		if n := d.Find(`[role="alert"]`).Length(); n != 0 {
			t.Errorf("htmx %v: %d role=alert elements on the 404, want none", htmx, n)
		}
		if d.Find(`[data-testid="not-found"] a[href="/"]`).Length() != 1 {
			t.Errorf("htmx %v: no link back to /", htmx)
		}
	}
	// Real errors still use an alert.
	resp, body := s.do(c, req{method: "POST", path: "/logout", header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(alertText(t, body), "another site") {
		t.Errorf("cross-site POST: status %d alert %q, want 403 with a role=alert", resp.StatusCode, alertText(t, body))
	}
}

// GET /logout, for someone who typed the address: logged in, a Log out button posting to /logout (and
// no logout by the GET itself); logged out, the words and a link to log in.
func TestLogoutPage(t *testing.T) {
	s := newStack(t)
	c := s.client()

	resp, body := s.do(c, req{method: "GET", path: "/logout"})
	d := doc(t, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logged out: status %d", resp.StatusCode)
	}
	if got := strings.TrimSpace(d.Find("h1").Text()); got != "You are already logged out" {
		t.Errorf("logged out: heading %q", got)
	}
	if got := d.Find("title").Text(); got != "Logged out · Latchkey" {
		t.Errorf("logged out: title %q", got)
	}
	if d.Find(`main a[href="/"]:contains("Log in")`).Length() != 1 {
		t.Error("logged out: no Log in link to /")
	}
	if n := d.Find(`main button, main form`).Length(); n != 0 {
		t.Errorf("logged out: %d buttons or forms, want none", n)
	}

	_, tok := s.account("leaving@example.com", "Ada Leaving")
	if resp, _ := exchange(t, s, c, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d", resp.StatusCode)
	}
	for _, htmx := range []bool{false, true} {
		resp, body = s.do(c, req{method: "GET", path: "/logout", htmx: htmx})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("logged in (htmx %v): status %d", htmx, resp.StatusCode)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("logged in (htmx %v): Cache-Control %q, want no-store", htmx, cc)
		}
		d = doc(t, body)
		if !strings.Contains(d.Find(`[data-testid="logout-message"]`).Text(), "You are logged in as Ada Leaving.") {
			t.Errorf("logged in (htmx %v): message %q", htmx, d.Find(`[data-testid="logout-message"]`).Text())
		}
		btn := d.Find(`button:contains("Log out")`)
		if btn.Length() != 1 {
			t.Fatalf("logged in (htmx %v): %d Log out buttons, want 1", htmx, btn.Length())
		}
		form := btn.Closest("form")
		method, _ := form.Attr("method")
		action, _ := form.Attr("action")
		hxPost, _ := form.Attr("hx-post")
		if method != "post" || action != "/logout" || hxPost != "/logout" {
			t.Errorf("logged in (htmx %v): form method %q action %q hx-post %q, want a POST to /logout", htmx, method, action, hxPost)
		}
		if n := d.Find(`[hx-history="false"]`).Length(); n != 1 {
			t.Errorf("logged in (htmx %v): %d hx-history=false elements, want 1 (the page shows a name)", htmx, n)
		}
	}
	if !loggedIn(t, s, c) {
		t.Fatal("GET /logout logged the user out; only the POST may")
	}
	if resp, _ := s.do(c, req{method: "POST", path: "/logout"}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /logout: status %d", resp.StatusCode)
	}
	if loggedIn(t, s, c) {
		t.Error("still logged in after the form's POST /logout")
	}
}
