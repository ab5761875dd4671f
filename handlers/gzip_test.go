package handlers_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func gunzipString(t *testing.T, body string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	return string(b)
}

// withoutNonce replaces the answer's CSP nonce in body, so two answers can be compared.
func withoutNonce(t *testing.T, resp *http.Response, body string) string {
	t.Helper()
	m := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(resp.Header.Get("Content-Security-Policy"))
	if m == nil {
		t.Fatal("no CSP nonce")
	}
	return strings.ReplaceAll(body, m[1], "NONCE")
}

// checkLength fails unless the answer's Content-Length is the length of body.
func checkLength(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("%s: Content-Length = %q, body %d bytes", what, cl, len(body))
	}
}

// Rendered pages are gzip-compressed for a client that accepts gzip, and only then; both answers say
// Vary: Accept-Encoding and HX-Request, carry their Content-Length, and hold the same page; HEAD answers
// the headers alone.
func TestHTMLGzip(t *testing.T) {
	s := newStack(t)
	c := s.client()
	get := func(method, ae string, htmx bool) (*http.Response, string) {
		t.Helper()
		r := req{method: method, path: "/", htmx: htmx, header: map[string]string{"Accept-Encoding": ae}}
		if ae == "" {
			r.header = map[string]string{"Accept-Encoding": "identity"} // net/http would ask for gzip itself
		}
		return withT(s, t).do(c, r)
	}

	for _, htmx := range []bool{false, true} {
		zipped, zbody := get(http.MethodGet, "gzip, deflate, br, zstd", htmx)
		plain, pbody := get(http.MethodGet, "", htmx)
		if zipped.StatusCode != http.StatusOK || plain.StatusCode != http.StatusOK {
			t.Fatalf("htmx %v: status %d and %d, want 200", htmx, zipped.StatusCode, plain.StatusCode)
		}
		if enc := zipped.Header.Get("Content-Encoding"); enc != "gzip" {
			t.Fatalf("htmx %v: Content-Encoding = %q for a client that accepts gzip, want gzip", htmx, enc)
		}
		if enc := plain.Header.Get("Content-Encoding"); enc != "" {
			t.Errorf("htmx %v: Content-Encoding = %q for a client that does not accept gzip", htmx, enc)
		}
		unzipped := gunzipString(t, zbody)
		if withoutNonce(t, zipped, unzipped) != withoutNonce(t, plain, pbody) {
			t.Errorf("htmx %v: the gzip page does not decode to the page sent without gzip", htmx)
		}
		if len(zbody) > len(pbody)/2 {
			t.Errorf("htmx %v: gzip body %d bytes of %d", htmx, len(zbody), len(pbody))
		}
		if !strings.Contains(pbody, "Log in with a passkey") {
			t.Errorf("htmx %v: not the login page", htmx)
		}
		for _, r := range []struct {
			what string
			resp *http.Response
			body string
		}{{"gzip", zipped, zbody}, {"plain", plain, pbody}} {
			checkLength(t, r.what, r.resp, r.body)
			vary := strings.Join(r.resp.Header.Values("Vary"), ", ")
			if !strings.Contains(vary, "Accept-Encoding") || !strings.Contains(vary, "HX-Request") {
				t.Errorf("htmx %v, %s: Vary = %q, want Accept-Encoding and HX-Request", htmx, r.what, vary)
			}
		}
	}

	// Refused or not offered: plain.
	for _, ae := range []string{"gzip;q=0", "br", "identity, *;q=0"} {
		if resp, _ := get(http.MethodGet, ae, false); resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", ae, resp.Header.Get("Content-Encoding"))
		}
	}

	// HEAD: the headers of GET, no body.
	_, plainBody := get(http.MethodGet, "", false)
	head, hbody := get(http.MethodHead, "", false)
	if head.StatusCode != http.StatusOK || hbody != "" || head.Header.Get("Content-Length") != strconv.Itoa(len(plainBody)) {
		t.Errorf("HEAD: status %d, %d body bytes, Content-Length %q (GET: %d bytes)", head.StatusCode, len(hbody), head.Header.Get("Content-Length"), len(plainBody))
	}
	zhead, zhbody := get(http.MethodHead, "gzip", false)
	if n, err := strconv.Atoi(zhead.Header.Get("Content-Length")); zhead.StatusCode != http.StatusOK || zhbody != "" ||
		zhead.Header.Get("Content-Encoding") != "gzip" || err != nil || n <= 0 || n >= len(plainBody) {
		t.Errorf("HEAD with gzip: status %d, %d body bytes, Content-Encoding %q, Content-Length %q", zhead.StatusCode, len(zhbody),
			zhead.Header.Get("Content-Encoding"), zhead.Header.Get("Content-Length"))
	}
}

// A small fragment (a line or two) is not worth compressing.
func TestHTMLGzipSkipsSmallBodies(t *testing.T) {
	s := newStack(t)
	resp, body := s.do(s.client(), req{method: "GET", path: "/no-such-page", htmx: true, header: map[string]string{"Accept-Encoding": "gzip"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", resp.StatusCode)
	}
	if len(body) >= 1024 {
		t.Fatalf("the not-found fragment is %d bytes: pick a smaller answer for this test", len(body))
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" || !strings.Contains(body, "Page not found") {
		t.Errorf("a %d-byte fragment: Content-Encoding %q, body %q", len(body), enc, body)
	}
	checkLength(t, "small fragment", resp, body)
}

// Answers that show recovery codes are never compressed (BREACH: renderUncompressed in render.go), the
// first home page after sign-up and a new set alike; the home page without codes is.
func TestRecoveryCodesNeverCompressed(t *testing.T) {
	s := newStack(t)
	_, tok := s.account("breach@example.com", "Ada")
	c := s.client()
	gz := map[string]string{"Accept-Encoding": "gzip"}

	check := func(what string, resp *http.Response, body string, wantCodes bool) {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", what, resp.StatusCode)
		}
		checkLength(t, what, resp, body)
		enc := resp.Header.Get("Content-Encoding")
		if enc == "gzip" {
			body = gunzipString(t, body)
		}
		codes := strings.Fields(doc(t, body).Find(`[data-testid="recovery-codes"]`).Text())
		if hasCodes := len(codes) == 10; hasCodes != wantCodes {
			t.Fatalf("%s: %d recovery codes shown, want them: %v", what, len(codes), wantCodes)
		}
		if wantCodes && enc != "" {
			t.Errorf("%s: the answer with recovery codes is compressed (%s)", what, enc)
		}
		if wantCodes && slices.Contains(resp.Header.Values("Vary"), "Accept-Encoding") {
			t.Errorf("%s: Vary: Accept-Encoding on an answer that is never compressed", what)
		}
		if !wantCodes && enc != "gzip" {
			t.Errorf("%s: the home page without codes is not compressed (Content-Encoding %q)", what, enc)
		}
	}

	for _, htmx := range []bool{true, false} {
		if !htmx {
			// A full page, too: a client without htmx posts the exchange and follows the redirect; the
			// codes show on that first home page. Start again with a fresh account.
			_, tok = s.account("breach-full@example.com", "Ada")
			c = s.client()
			resp, _ := s.do(c, req{method: "POST", path: "/auth/session", token: tok})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("exchange without htmx: status %d, want 303", resp.StatusCode)
			}
			resp, body := s.do(c, req{method: "GET", path: "/home", header: gz})
			check("first home page (full)", resp, body, true)
			continue
		}
		resp, body := s.do(c, req{method: "POST", path: "/auth/session", htmx: true, token: tok, header: gz})
		check("home after sign-up (fragment)", resp, body, true)
		resp, body = s.do(c, req{method: "GET", path: "/home", header: gz})
		check("next home page", resp, body, false)
		resp, body = s.do(c, req{method: "POST", path: "/account/recovery-codes", body: url.Values{}.Encode(),
			contentType: "application/x-www-form-urlencoded", htmx: true, header: gz})
		check("new recovery codes", resp, body, true)
	}
}

// BenchmarkHTMLGzip measures what compressing costs a rendered page: the authenticated home page, full,
// with and without Accept-Encoding: gzip (the difference is the compression).
func BenchmarkHTMLGzip(b *testing.B) {
	s := newStackTB(b)
	_, tok := s.account("bench@example.com", "Bench Mark")
	c := s.client()
	if resp, _ := s.do(c, req{method: "POST", path: "/auth/session", token: tok}); resp.StatusCode != http.StatusSeeOther {
		b.Fatalf("exchange: status %d", resp.StatusCode)
	}
	s.do(c, req{method: "GET", path: "/home"}) // the first home page shows recovery codes: uncompressed
	u, _ := url.Parse(s.srv.URL)
	cookies := c.Jar.Cookies(u)
	for _, ae := range []string{"identity", "gzip"} {
		b.Run(ae, func(b *testing.B) {
			size := 0
			b.ReportAllocs()
			for b.Loop() {
				hr, _ := http.NewRequest("GET", "/home", nil)
				for _, ck := range cookies {
					hr.AddCookie(ck)
				}
				hr.Header.Set("Accept-Encoding", ae)
				rec := newRecorder()
				s.app.Handler.ServeHTTP(rec, hr)
				if rec.code != http.StatusOK {
					b.Fatalf("status %d", rec.code)
				}
				size = rec.body.Len()
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}

// recorder is a minimal http.ResponseWriter for the benchmark (httptest.ResponseRecorder copies headers
// on every write).
type recorder struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}
