package assets

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// devCopy copies every asset file into a temporary directory, as the repository's assets/ folder.
func devCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, s := range sources() {
		for _, name := range s.files {
			body, err := files.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// writeLater rewrites a file with a modification time that is certainly different from before.
func writeLater(t *testing.T, path, contents string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(contents), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, h http.Handler, url string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

func TestDevModeReadsFromDisk(t *testing.T) {
	dir := devCopy(t)
	a, err := NewFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	embedded := newAssets(t)
	// Dev mode serves the files as written (readable, not minified; a joined asset is its files joined),
	// under the hash of those bytes; the files New does not minify get the same URL as embedded.
	for _, s := range sources() {
		raw, err := s.join(files.ReadFile)
		if err != nil {
			t.Fatal(err)
		}
		res, body := get(t, a.Handler(), a.URL(s.name))
		if res.StatusCode != http.StatusOK || body != string(raw) {
			t.Errorf("GET %s in dev mode = %d, %d bytes; want 200 and the files as written (%d bytes)", a.URL(s.name), res.StatusCode, len(body), len(raw))
		}
		sum := sha256.Sum256(raw)
		if want := "." + hex.EncodeToString(sum[:])[:hashLen] + "."; !strings.Contains(a.URL(s.name), want) {
			t.Errorf("URL(%q) = %q in dev mode, want the hash of the files as written (%s)", s.name, a.URL(s.name), want)
		}
		if got, want := a.URL(s.name), embedded.URL(s.name); !s.minify && got != want {
			t.Errorf("URL(%q) = %q in dev mode, want %q (same contents, same hash)", s.name, got, want)
		}
	}
	if res, body := get(t, a.Handler(), a.URL("app.js")); res.StatusCode != http.StatusOK || !strings.Contains(body, "// Plain ES2020, no framework, no globals.") {
		t.Error("dev mode's app.js is not readable (its comments are gone)")
	}

	before, embeddedBefore := a.URL("app.css"), embedded.URL("app.css")
	const edited = "/* edited on disk */ body { color: rebeccapurple; }\n"
	writeLater(t, filepath.Join(dir, "app.css"), edited)
	after := a.URL("app.css")
	if after == before || !strings.HasPrefix(after, "/assets/app.") || !strings.HasSuffix(after, ".css") {
		t.Fatalf("URL(app.css) after an edit = %q (before %q), want a new content-hashed URL", after, before)
	}

	h := a.Handler()
	res, body := get(t, h, after)
	if res.StatusCode != http.StatusOK || body != edited {
		t.Fatalf("GET %s = %d %q, want 200 and the edited file", after, res.StatusCode, body)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q in dev mode, want no-cache", cc)
	}
	if ct := res.Header.Get("Content-Type"); ct != "text/css; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	// A page rendered before the edit still gets the stylesheet, as it is now.
	if res, body := get(t, h, before); res.StatusCode != http.StatusOK || body != edited {
		t.Errorf("GET %s (hash from before the edit) = %d %q, want 200 and the current file", before, res.StatusCode, body)
	}
	// The embedded copy is untouched.
	if embedded.URL("app.css") != embeddedBefore {
		t.Error("the embedded app.css changed")
	}

	// A JavaScript edit, too: in the file and in the joined asset that holds it, also gzip-compressed.
	appJS := a.URL("app.js")
	writeLater(t, filepath.Join(dir, "ui.js"), "// edited\n")
	if res, body := get(t, h, a.URL("ui.js")); res.StatusCode != http.StatusOK || body != "// edited\n" ||
		res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("GET ui.js after an edit = %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	passkeys, err := os.ReadFile(filepath.Join(dir, "passkeys.js"))
	if err != nil {
		t.Fatal(err)
	}
	if a.URL("app.js") == appJS {
		t.Error("URL(app.js) did not change when ui.js, one of its files, was edited")
	}
	if res, body := get(t, h, a.URL("app.js")); res.StatusCode != http.StatusOK || body != "// edited\n\n"+string(passkeys) {
		t.Errorf("GET app.js after editing ui.js = %d, %d bytes; want the edited ui.js and passkeys.js joined", res.StatusCode, len(body))
	}
	zipped := fetch(t, a, http.MethodGet, a.URL("app.js"), "gzip")
	if zb, _ := io.ReadAll(zipped.Body); zipped.Header.Get("Content-Encoding") != "gzip" || string(gunzip(t, zb)) != "// edited\n\n"+string(passkeys) {
		t.Error("dev mode's gzip body of app.js is not the edited files")
	}

	for _, bad := range []string{"/assets/nope.12345678.css", "/assets/app.css", "/assets/app.123.css", "/assets/../assets.go"} {
		if res, _ := get(t, h, bad); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d in dev mode, want 404", bad, res.StatusCode)
		}
	}
	if u := a.URL("nope.css"); u != "" {
		t.Errorf("URL(nope.css) = %q, want empty", u)
	}
}

// While a file is briefly missing (an editor saving by rename), the last version read is served.
func TestDevModeKeepsLastVersionWhileAFileIsMissing(t *testing.T) {
	dir := devCopy(t)
	a, err := NewFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	u := a.URL("app.css")
	if err := os.Remove(filepath.Join(dir, "app.css")); err != nil {
		t.Fatal(err)
	}
	if got := a.URL("app.css"); got != u {
		t.Errorf("URL(app.css) with the file missing = %q, want the last one %q", got, u)
	}
	if res, _ := get(t, a.Handler(), u); res.StatusCode != http.StatusOK {
		t.Errorf("GET %s with the file missing = %d, want 200", u, res.StatusCode)
	}
}

func TestDevModeNeedsEveryFile(t *testing.T) {
	dir := devCopy(t)
	if err := os.Remove(filepath.Join(dir, "passkeys.js")); err != nil {
		t.Fatal(err)
	}
	_, err := NewFromDir(dir)
	if err == nil || !strings.Contains(err.Error(), "passkeys.js") || !strings.Contains(err.Error(), "repository root") {
		t.Errorf("NewFromDir without passkeys.js: err = %v, want it to name the file and say where to run from", err)
	}
	if _, err := NewFromDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("NewFromDir of a missing directory succeeded")
	}
}

// The embedded assets keep their year-long immutable lifetime.
func TestEmbeddedStaysImmutable(t *testing.T) {
	a := newAssets(t)
	res, _ := get(t, a.Handler(), a.URL("app.css"))
	if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control = %q", cc)
	}
}
