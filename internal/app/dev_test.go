package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func devGet(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost:8080"+path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body), rec.Result().Header
}

// LATCHKEY_DEV=true turns on the gallery and serves the assets from ./assets; off, neither.
func TestDevModeWiring(t *testing.T) {
	// Dev mode reads ./assets: run from a copy of the repository's assets, edited below.
	root := t.TempDir()
	if err := os.CopyFS(filepath.Join(root, "assets"), os.DirFS("../../assets")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)

	prod, _ := mustStart(t, sqliteURL(t), nil)
	if code, _, _ := devGet(t, prod.Handler, "/dev/components"); code != http.StatusNotFound {
		t.Errorf("/dev/components without dev mode = %d, want 404", code)
	}

	dev, logs := mustStart(t, sqliteURL(t), map[string]string{"LATCHKEY_DEV": "true"})
	if !strings.Contains(logs.String(), "dev mode (LATCHKEY_DEV=true)") {
		t.Errorf("no dev-mode warning in the log:\n%s", logs)
	}
	if code, body, _ := devGet(t, dev.Handler, "/dev/components"); code != http.StatusOK || !strings.Contains(body, "Component gallery") {
		t.Fatalf("/dev/components in dev mode = %d", code)
	}

	cssURL := func(h http.Handler) string {
		_, body, _ := devGet(t, h, "/")
		i := strings.Index(body, `href="/assets/app.`)
		if i < 0 {
			t.Fatalf("no stylesheet link on the login page")
		}
		rest := body[i+len(`href="`):]
		return rest[:strings.IndexByte(rest, '"')]
	}
	before := cssURL(dev.Handler)
	const edited = "/* edited while running */\n"
	path := filepath.Join(root, "assets", "app.css")
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	after := cssURL(dev.Handler)
	if after == before {
		t.Fatalf("the stylesheet URL did not change after an edit (%s)", after)
	}
	if code, body, hdr := devGet(t, dev.Handler, after); code != http.StatusOK || body != edited || hdr.Get("Cache-Control") != "no-cache" {
		t.Errorf("GET %s = %d %q (Cache-Control %q), want the edited file, no-cache", after, code, body, hdr.Get("Cache-Control"))
	}
	// Without dev mode the embedded stylesheet is served, whatever is on disk.
	if code, body, _ := devGet(t, prod.Handler, cssURL(prod.Handler)); code != http.StatusOK || body == edited {
		t.Errorf("without dev mode: %d, edited file served = %v", code, body == edited)
	}
}

// Dev mode started away from the repository root says where to run it from.
func TestDevModeNeedsTheAssetsFolder(t *testing.T) {
	t.Chdir(t.TempDir())
	_, _, err := start(t, sqliteURL(t), map[string]string{"LATCHKEY_DEV": "true"})
	if err == nil || !strings.Contains(err.Error(), "repository root") {
		t.Errorf("app.New in dev mode without ./assets: err = %v, want it to say to run from the repository root", err)
	}
}
