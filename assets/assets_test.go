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
	"regexp"
	"strings"
	"testing"
)

func newAssets(t *testing.T) *Assets {
	t.Helper()
	a, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestURL(t *testing.T) {
	a := newAssets(t)
	tests := []struct {
		name, file string
		pattern    string
	}{
		{"app.css", "app.css", `^/assets/app\.([0-9a-f]{8})\.css$`},
		{"passkeys.js", "passkeys.js", `^/assets/passkeys\.([0-9a-f]{8})\.js$`},
		{"htmx.min.js", "htmx-2.0.11.min.js", `^/assets/htmx\.min\.([0-9a-f]{8})\.js$`},
		{"copy.js", "copy.js", `^/assets/copy\.([0-9a-f]{8})\.js$`},
		{"favicon.svg", "favicon.svg", `^/assets/favicon\.([0-9a-f]{8})\.svg$`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := a.URL(tc.name)
			m := regexp.MustCompile(tc.pattern).FindStringSubmatch(u)
			if m == nil {
				t.Fatalf("URL(%q) = %q, want match %s", tc.name, u, tc.pattern)
			}
			body, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(body)
			if want := hex.EncodeToString(sum[:])[:8]; m[1] != want {
				t.Errorf("hash in URL = %s, want content hash %s", m[1], want)
			}
			if again := newAssets(t).URL(tc.name); again != u {
				t.Errorf("URL not stable: %q then %q", u, again)
			}
		})
	}
	if u := a.URL("nope.css"); u != "" {
		t.Errorf("URL of unknown name = %q, want empty", u)
	}
}

func TestHandler(t *testing.T) {
	a := newAssets(t)
	h := a.Handler()
	htmx, err := os.ReadFile("htmx-2.0.11.min.js")
	if err != nil {
		t.Fatal(err)
	}
	css, err := os.ReadFile("app.css")
	if err != nil {
		t.Fatal(err)
	}
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
		{"passkeys js", http.MethodGet, a.URL("passkeys.js"), 200, "text/javascript; charset=utf-8", nil},
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
				t.Errorf("body differs from the embedded file (%d bytes, want %d)", len(body), len(tc.wantBody))
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
	a.Handler().ServeHTTP(first, httptest.NewRequest(http.MethodGet, a.URL("passkeys.js"), nil))
	etag := first.Header().Get("ETag")

	req := httptest.NewRequest(http.MethodGet, a.URL("passkeys.js"), nil)
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

// Clients that accept gzip get the (much smaller) compressed body with its own ETag; others get the
// original bytes; both decode to the same file.
func TestGzip(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	url := a.URL("corbado-web-js.js")
	get := func(acceptEncoding string) *http.Response {
		req := httptest.NewRequest("GET", url, nil)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		return rec.Result()
	}
	plain := get("")
	plainBody, _ := io.ReadAll(plain.Body)
	if plain.Header.Get("Content-Encoding") != "" || len(plainBody) < 500_000 {
		t.Fatalf("plain: encoding %q, %d bytes", plain.Header.Get("Content-Encoding"), len(plainBody))
	}
	for _, ae := range []string{"gzip", "br, gzip, deflate", "gzip;q=0.8"} {
		resp := get(ae)
		if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("%q: Content-Encoding %q Vary %q", ae, resp.Header.Get("Content-Encoding"), resp.Header.Get("Vary"))
		}
		if resp.Header.Get("ETag") == plain.Header.Get("ETag") {
			t.Error("compressed and plain bodies share an ETag")
		}
		compressed, _ := io.ReadAll(resp.Body)
		zr, err := gzip.NewReader(bytes.NewReader(compressed))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(unzipped, plainBody) {
			t.Fatalf("%q: gzip body does not decode to the file (%v)", ae, err)
		}
		if n := len(compressed); n > len(plainBody)/3 {
			t.Errorf("%q: compressed length %d of %d", ae, n, len(plainBody))
		}
	}
	if resp := get("gzip;q=0"); resp.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it with q=0")
	}
}
