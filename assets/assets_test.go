package assets

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/httpgzip"
)

func newAssets(t *testing.T) *Assets {
	t.Helper()
	a, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// served is the body Handler sends for the asset name to a client that does not accept gzip.
func served(t *testing.T, a *Assets, name string) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, a.URL(name), nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d", a.URL(name), rec.Code)
	}
	return rec.Body.Bytes()
}

// Every asset's URL carries the hash of the bytes served at it (minified or not), and is stable.
func TestURL(t *testing.T) {
	a := newAssets(t)
	for _, s := range sources() {
		t.Run(s.name, func(t *testing.T) {
			ext := path.Ext(s.name)
			pattern := `^/assets/` + regexp.QuoteMeta(strings.TrimSuffix(s.name, ext)) + `\.([0-9a-f]{8})` + regexp.QuoteMeta(ext) + `$`
			u := a.URL(s.name)
			m := regexp.MustCompile(pattern).FindStringSubmatch(u)
			if m == nil {
				t.Fatalf("URL(%q) = %q, want match %s", s.name, u, pattern)
			}
			sum := sha256.Sum256(served(t, a, s.name))
			if want := hex.EncodeToString(sum[:])[:8]; m[1] != want {
				t.Errorf("hash in URL = %s, want the hash of the served bytes %s", m[1], want)
			}
			if again := newAssets(t).URL(s.name); again != u {
				t.Errorf("URL not stable: %q then %q", u, again)
			}
		})
	}
	if u := a.URL("nope.css"); u != "" {
		t.Errorf("URL of unknown name = %q, want empty", u)
	}
}

// The project's own CSS and JavaScript are served minified: no comments, much smaller, the same rules
// and code. Vendored files are served exactly as vendored.
func TestMinified(t *testing.T) {
	a := newAssets(t)
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name    string
		source  int      // bytes of the source file(s)
		keep    []string // what must survive minification
		comment string   // a comment of the source that must not
	}{
		{"app.css", len(read("app.css")), []string{":root{", "--color-accent:#1e40af", "@media(prefers-color-scheme:dark)", ".theme-dark,:root:has(#app>.theme-dark)"}, "Latchkey — a small design system"},
		{"app.js", len(read("ui.js")) + 1 + len(read("passkeys.js")), []string{`"/passkeys/login/begin"`, `"latchkey:add-passkey"`, `"data-script-"`, `"htmx:afterSettle"`, `"Waiting for your passkey…"`}, "Plain ES2020"},
		{"account.js", len(read("account.js")), []string{`"latchkey:add-passkey"`, `signalAllAcceptedCredentials`, `"Passkey added"`}, "Loaded only on pages"},
		{"copy.js", len(read("copy.js")), []string{`"button[data-copy]"`, `"Copied"`}, "Latchkey copy buttons"},
		{"ui.js", len(read("ui.js")), []string{`"htmx:afterSettle"`, `"data-script-"`}, "Plain ES2020"},
		{"corbado.js", len(read("corbado.js")), []string{"mountAuthUI"}, "Plain ES2020"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := string(served(t, a, tc.name))
			if len(body) > tc.source*7/10 {
				t.Errorf("served %d bytes of %d: not minified", len(body), tc.source)
			}
			for _, k := range tc.keep {
				if !strings.Contains(body, k) {
					t.Errorf("minified %s lost %q", tc.name, k)
				}
			}
			if strings.Contains(body, tc.comment) {
				t.Errorf("minified %s still has the comment %q", tc.name, tc.comment)
			}
		})
	}
	for name, file := range map[string]string{"htmx.min.js": "htmx-2.0.11.min.js", "favicon.svg": "favicon.svg",
		"corbado-web-js.js": "corbado-web-js-3.5.0.min.js", "corbado-web-js.css": "corbado-web-js-3.5.0.css"} {
		if body := served(t, a, name); string(body) != read(file) {
			t.Errorf("%s: served %d bytes, not the vendored file %s (%d bytes)", name, len(body), file, len(read(file)))
		}
	}
}

func TestHandler(t *testing.T) {
	a := newAssets(t)
	h := a.Handler()
	htmx, err := os.ReadFile("htmx-2.0.11.min.js")
	if err != nil {
		t.Fatal(err)
	}
	css := served(t, a, "app.css")      // minified
	stale := "/assets/app.00000000.css" // same shape, wrong hash
	favicon, err := os.ReadFile("favicon.svg")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, method, path string
		wantStatus         int
		wantType           string
		wantBody           []byte
	}{
		{"css", http.MethodGet, a.URL("app.css"), 200, "text/css; charset=utf-8", css},
		{"htmx", http.MethodGet, a.URL("htmx.min.js"), 200, "text/javascript; charset=utf-8", htmx},
		{"app js", http.MethodGet, a.URL("app.js"), 200, "text/javascript; charset=utf-8", nil},
		{"account js", http.MethodGet, a.URL("account.js"), 200, "text/javascript; charset=utf-8", nil},
		{"copy js", http.MethodGet, a.URL("copy.js"), 200, "text/javascript; charset=utf-8", nil},
		{"favicon", http.MethodGet, a.URL("favicon.svg"), 200, "image/svg+xml", favicon},
		{"head", http.MethodHead, a.URL("app.css"), 200, "text/css; charset=utf-8", []byte{}},
		{"stripped prefix", http.MethodGet, strings.TrimPrefix(a.URL("app.css"), "/assets"), 200, "text/css; charset=utf-8", css},
		{"unhashed name", http.MethodGet, "/assets/app.css", 404, "", nil},
		{"vendored file name", http.MethodGet, "/assets/htmx-2.0.11.min.js", 404, "", nil},
		{"stale hash", http.MethodGet, stale, 404, "", nil},
		{"licence not served", http.MethodGet, "/assets/htmx.LICENSE", 404, "", nil},
		{"go source not served", http.MethodGet, "/assets/assets.go", 404, "", nil},
		{"directory", http.MethodGet, "/assets/", 404, "", nil},
		{"post", http.MethodPost, a.URL("app.css"), 405, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)

			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if tc.wantStatus == 405 {
				if got := res.Header.Get("Allow"); got != "GET, HEAD" {
					t.Errorf("Allow = %q", got)
				}
			}
			if tc.wantStatus != 200 {
				if cc := res.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
					t.Errorf("error response cached as immutable: %q", cc)
				}
				return
			}
			if got := res.Header.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q", got)
			}
			if res.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if tc.wantBody != nil && string(body) != string(tc.wantBody) {
				t.Errorf("body differs from the file served (%d bytes, want %d)", len(body), len(tc.wantBody))
			}
			if tc.method == http.MethodGet && len(body) == 0 {
				t.Error("empty body")
			}
		})
	}
}

func TestHandlerConditionalGet(t *testing.T) {
	a := newAssets(t)
	first := httptest.NewRecorder()
	a.Handler().ServeHTTP(first, httptest.NewRequest(http.MethodGet, a.URL("app.js"), nil))
	etag := first.Header().Get("ETag")

	req := httptest.NewRequest(http.MethodGet, a.URL("app.js"), nil)
	req.Header.Set("If-None-Match", etag)
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("status = %d, want 304", rec.Code)
	}
}

func TestMountedOnMux(t *testing.T) {
	a := newAssets(t)
	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix, a.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	res, err := http.Get(srv.URL + a.URL("htmx.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `version:"2.0.11"`) {
		t.Errorf("status %d, htmx 2.0.11 not served", res.StatusCode)
	}
}

func TestVendoredHTMX(t *testing.T) {
	body, err := os.ReadFile("htmx-2.0.11.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `version:"2.0.11"`) {
		t.Error("vendored htmx is not version 2.0.11")
	}
	lic, err := os.ReadFile("htmx.LICENSE")
	if err != nil || !strings.Contains(string(lic), "BSD") {
		t.Errorf("htmx.LICENSE missing or not the BSD licence: %v", err)
	}
}

// fetch sends method to the asset's URL with the Accept-Encoding given ("" for none) and more headers.
func fetch(t *testing.T, a *Assets, method, url, acceptEncoding string, more ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, url, nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	for i := 0; i+1 < len(more); i += 2 {
		req.Header.Set(more[i], more[i+1])
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip body: %v", err)
	}
	return out
}

// Every asset: a client that accepts gzip gets the compressed body with its own ETag and Content-Length,
// one that does not gets the original bytes, both decode to the same file, both say Vary:
// Accept-Encoding, HEAD answers the same headers without a body, and each ETag revalidates its own
// representation.
func TestGzip(t *testing.T) {
	a := newAssets(t)
	for _, s := range sources() {
		t.Run(s.name, func(t *testing.T) {
			url := a.URL(s.name)
			plain := fetch(t, a, http.MethodGet, url, "")
			plainBody, _ := io.ReadAll(plain.Body)
			zipped := fetch(t, a, http.MethodGet, url, "gzip, deflate, br, zstd")
			zippedBody, _ := io.ReadAll(zipped.Body)

			if enc := plain.Header.Get("Content-Encoding"); enc != "" {
				t.Errorf("Content-Encoding %q to a client that did not ask for gzip", enc)
			}
			if enc := zipped.Header.Get("Content-Encoding"); enc != "gzip" {
				t.Fatalf("Content-Encoding = %q to a client that accepts gzip, want gzip", enc)
			}
			if !bytes.Equal(gunzip(t, zippedBody), plainBody) {
				t.Fatal("the gzip body does not decode to the body sent without gzip")
			}
			if len(zippedBody) >= len(plainBody) {
				t.Errorf("gzip body %d bytes, plain %d: compressing did not help", len(zippedBody), len(plainBody))
			}
			for _, res := range []struct {
				what string
				r    *http.Response
				body []byte
			}{{"plain", plain, plainBody}, {"gzip", zipped, zippedBody}} {
				if v := res.r.Header.Values("Vary"); !slices.Contains(v, "Accept-Encoding") {
					t.Errorf("%s: Vary = %q, want Accept-Encoding", res.what, v)
				}
				if cl := res.r.Header.Get("Content-Length"); cl != strconv.Itoa(len(res.body)) {
					t.Errorf("%s: Content-Length = %q, body %d bytes", res.what, cl, len(res.body))
				}
				if cc := res.r.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
					t.Errorf("%s: Cache-Control = %q", res.what, cc)
				}
			}
			pe, ze := plain.Header.Get("ETag"), zipped.Header.Get("ETag")
			hash := strings.TrimSuffix(path.Ext(strings.TrimSuffix(url, path.Ext(url))), "")[1:]
			if pe != `"`+hash+`"` || ze != `"`+hash+`-gz"` {
				t.Errorf("ETags %s (plain) and %s (gzip), want \"%s\" and \"%s-gz\"", pe, ze, hash, hash)
			}

			// HEAD: the same headers, no body.
			for _, ae := range []string{"", "gzip"} {
				head := fetch(t, a, http.MethodHead, url, ae)
				get := plain
				if ae != "" {
					get = zipped
				}
				body, _ := io.ReadAll(head.Body)
				if head.StatusCode != http.StatusOK || len(body) != 0 {
					t.Errorf("HEAD (%q): status %d, %d body bytes", ae, head.StatusCode, len(body))
				}
				for _, h := range []string{"Content-Length", "Content-Encoding", "ETag", "Content-Type"} {
					if head.Header.Get(h) != get.Header.Get(h) {
						t.Errorf("HEAD (%q) %s = %q, GET says %q", ae, h, head.Header.Get(h), get.Header.Get(h))
					}
				}
			}

			// Revalidation: each representation by its own ETag.
			for _, tc := range []struct {
				ae, etag string
				want     int
			}{{"gzip", ze, 304}, {"", pe, 304}, {"gzip", pe, 200}, {"", ze, 200}} {
				if res := fetch(t, a, http.MethodGet, url, tc.ae, "If-None-Match", tc.etag); res.StatusCode != tc.want {
					t.Errorf("If-None-Match %s with Accept-Encoding %q: status %d, want %d", tc.etag, tc.ae, res.StatusCode, tc.want)
				}
			}
		})
	}
}

// Only a client that accepts gzip gets it: q=0 refuses, other codings are not gzip, "*" accepts it.
func TestGzipOnlyWhenAccepted(t *testing.T) {
	a := newAssets(t)
	url := a.URL("htmx.min.js")
	for ae, want := range map[string]string{
		"gzip": "gzip", "GZIP": "gzip", "x-gzip": "gzip", "br, gzip;q=0.5": "gzip", "*": "gzip", "deflate, *;q=0.1": "gzip",
		"": "", "identity": "", "br, zstd": "", "gzip;q=0": "", "gzip; q=0.000": "", "*, gzip;q=0": "", "*;q=0": "",
	} {
		if got := fetch(t, a, http.MethodGet, url, ae).Header.Get("Content-Encoding"); got != want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", ae, got, want)
		}
	}
}

// The vendored htmx is served from its committed zopfli copy, which decodes to the vendored file and is
// smaller than what Go's best gzip makes of it (else it is not worth keeping).
func TestPrecompressedHTMX(t *testing.T) {
	raw, err := os.ReadFile("htmx-2.0.11.min.js")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("htmx-2.0.11.min.js.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gunzip(t, committed), raw) {
		t.Fatal("htmx-2.0.11.min.js.gz does not decode to htmx-2.0.11.min.js: make it again (see the package documentation)")
	}
	if best := httpgzip.Best(raw); len(committed) >= len(best) {
		t.Errorf("htmx-2.0.11.min.js.gz is %d bytes, Go's best gzip %d: not worth keeping", len(committed), len(best))
	}
	a := newAssets(t)
	body, _ := io.ReadAll(fetch(t, a, http.MethodGet, a.URL("htmx.min.js"), "gzip").Body)
	if !bytes.Equal(body, committed) {
		t.Errorf("served %d gzip bytes, not the committed copy (%d bytes)", len(body), len(committed))
	}
	if _, err := precompressed("htmx-2.0.11.min.js.gz", append(bytes.Clone(raw), ' ')); err == nil {
		t.Error("a gzip copy that decodes to other bytes was accepted")
	}
}

// BenchmarkNew measures what New adds to start-up: reading, minifying and hashing every asset (gzip is
// done per file, on its first request).
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}
