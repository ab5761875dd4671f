package pageweight

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A site whose page links a stylesheet (sent gzip), a script (sent as it is) and, when icon is set, an
// icon; /favicon.ico answers too.
func site(t *testing.T, page string) *httptest.Server {
	t.Helper()
	css := strings.Repeat("body{color:red}", 100)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(page))
	})
	mux.HandleFunc("GET /a.css", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding %q, want gzip", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gz(t, css))
	})
	mux.HandleFunc("GET /js/b.js", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("let b = 1;")) })
	mux.HandleFunc("GET /i.svg", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<svg/>")) })
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/i.svg", http.StatusFound) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestMeasure(t *testing.T) {
	const head = `<!doctype html><html><head><link rel="stylesheet" href="/a.css"><script src="js/b.js" defer></script>`
	tests := []struct {
		name, page string
		wantKinds  []string
		wantURLs   []string
	}{
		{"icon linked", head + `<link rel="icon" href="/i.svg"></head><body></body></html>`,
			[]string{"html", "stylesheet", "script", "icon"}, []string{"", "/a.css", "js/b.js", "/i.svg"}},
		{"no icon link: /favicon.ico, as browsers do", head + `</head><body><script>inline()</script></body></html>`,
			[]string{"html", "stylesheet", "script", "icon"}, []string{"", "/a.css", "js/b.js", "/favicon.ico"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := site(t, tc.page)
			w, err := Measure(context.Background(), srv.Client(), srv.URL+"/")
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Files) != len(tc.wantKinds) {
				t.Fatalf("%d files, want %d:\n%s", len(w.Files), len(tc.wantKinds), w)
			}
			for i, f := range w.Files {
				if f.Kind != tc.wantKinds[i] || (i > 0 && f.URL != tc.wantURLs[i]) {
					t.Errorf("file %d: %s %s, want %s %s", i, f.Kind, f.URL, tc.wantKinds[i], tc.wantURLs[i])
				}
			}
			html, css, js, icon := w.Files[0], w.Files[1], w.Files[2], w.Files[3]
			if html.Wire != len(tc.page) || html.Encoding != "" {
				t.Errorf("html: %d bytes %q, want %d plain", html.Wire, html.Encoding, len(tc.page))
			}
			if css.Encoding != "gzip" || css.Decoded != 1500 || css.Wire != len(gz(t, strings.Repeat("body{color:red}", 100))) {
				t.Errorf("stylesheet: %d bytes on the wire (%s), %d decoded", css.Wire, css.Encoding, css.Decoded)
			}
			if js.Wire != 10 || js.Decoded != 10 || icon.Wire != 6 {
				t.Errorf("script %d/%d bytes, icon %d bytes", js.Wire, js.Decoded, icon.Wire)
			}
			if want := html.Wire + css.Wire + js.Wire + icon.Wire; w.Total() != want {
				t.Errorf("Total = %d, want %d", w.Total(), want)
			}
			if want := html.Decoded + 1500 + 10 + 6; w.TotalDecoded() != want {
				t.Errorf("TotalDecoded = %d, want %d", w.TotalDecoded(), want)
			}
			if s := w.String(); !strings.Contains(s, "total") || !strings.Contains(s, "/a.css") {
				t.Errorf("String has no total or file:\n%s", s)
			}
		})
	}
}

func TestMeasureFailures(t *testing.T) {
	srv := site(t, `<html><head><script src="/missing.js"></script></head></html>`)
	if _, err := Measure(context.Background(), srv.Client(), srv.URL+"/"); err == nil || !strings.Contains(err.Error(), "/missing.js: status 404") {
		t.Errorf("a missing script: err = %v, want its 404", err)
	}
	if _, err := Measure(context.Background(), srv.Client(), srv.URL+"/nope"); err == nil || !strings.Contains(err.Error(), "status 404") {
		t.Errorf("a missing page: err = %v", err)
	}
	bad := site(t, "plain text, no HTML")
	if _, err := Measure(context.Background(), bad.Client(), bad.URL+"/"); err == nil || !strings.Contains(err.Error(), "not an HTML document") {
		t.Errorf("not HTML: err = %v", err)
	}
}
