// Package assets embeds the static files of the login UI (stylesheet, favicon,
// scripts and htmx) and serves them under content-hashed URLs with a long cache
// lifetime.
//
// Vendored third-party code:
//   - htmx-2.0.11.min.js is dist/htmx.min.js from the npm package htmx.org@2.0.11
//     (https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.11.tgz), unmodified;
//     its licence (Zero-Clause BSD) is in htmx.LICENSE.
//   - corbado-web-js-3.5.0.min.js and corbado-web-js-3.5.0.css are dist/bundle/index.js and
//     dist/bundle/index.css from the npm package @corbado/web-js@3.5.0, used only in Corbado mode; the
//     JavaScript is unmodified, the stylesheet has its two @import rules of Google Fonts removed (nothing is
//     fetched from a CDN at run time; the font stacks fall back to system fonts). Their licence (MIT) is
//     in corbado-web-js.LICENSE.
package assets

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

// Prefix is the URL path under which Handler serves the assets.
const Prefix = "/assets/"

// hashLen is the number of hex digits of the SHA-256 content hash put into a URL.
const hashLen = 8

//go:embed app.css favicon.svg passkeys.js ui.js copy.js corbado.js htmx-2.0.11.min.js corbado-web-js-3.5.0.min.js corbado-web-js-3.5.0.css gallery.css gallery.js
var files embed.FS

// source maps a logical asset name to its embedded file.
type source struct {
	name string // logical name used by templates, e.g. "htmx.min.js"
	file string // embedded file name
}

// sources lists every served asset. A function, so there is no package-level mutable state.
func sources() []source {
	return []source{
		{name: "app.css", file: "app.css"},
		{name: "passkeys.js", file: "passkeys.js"},
		{name: "ui.js", file: "ui.js"},
		{name: "copy.js", file: "copy.js"},
		{name: "favicon.svg", file: "favicon.svg"},
		{name: "htmx.min.js", file: "htmx-2.0.11.min.js"},
		{name: "corbado.js", file: "corbado.js"},
		{name: "corbado-web-js.js", file: "corbado-web-js-3.5.0.min.js"},
		{name: "corbado-web-js.css", file: "corbado-web-js-3.5.0.css"},
		{name: "gallery.css", file: "gallery.css"}, // the component gallery (dev mode only)
		{name: "gallery.js", file: "gallery.js"},
	}
}

// file is one asset ready to serve.
type file struct {
	url         string // e.g. /assets/app.1a2b3c4d.css
	etag        string
	contentType string
	body        []byte
	gzipOnce    sync.Once
	gzipped     []byte // body compressed with gzip on first use, nil when that does not make it smaller
}

// Assets holds the embedded files and their hashed URLs. It is read-only after
// New and safe for concurrent use. In dev mode (NewFromDir) the files come from
// disk instead, re-read whenever they change.
type Assets struct {
	byName map[string]*file // logical name -> file
	byPath map[string]*file // hashed file name (without Prefix) -> file
	dev    *devFiles        // dev mode: files read from a directory; nil for the embedded files
}

// New reads the embedded files and computes their content hashes.
func New() (*Assets, error) {
	a := &Assets{byName: map[string]*file{}, byPath: map[string]*file{}}
	for _, s := range sources() {
		body, err := files.ReadFile(s.file)
		if err != nil {
			return nil, fmt.Errorf("assets: read %s: %w", s.file, err)
		}
		f, hashed, err := newFile(s.name, body)
		if err != nil {
			return nil, err
		}
		a.byName[s.name] = f
		a.byPath[hashed] = f
	}
	return a, nil
}

// newFile hashes body and returns the asset ready to serve and its hashed file name.
func newFile(name string, body []byte) (*file, string, error) {
	ct, err := contentType(name)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])[:hashLen]
	hashed := hashedName(name, hash)
	return &file{
		url:         Prefix + hashed,
		etag:        `"` + hash + `"`,
		contentType: ct,
		body:        body,
	}, hashed, nil
}

// hashedName puts hash before the last extension: "htmx.min.js" -> "htmx.min.<hash>.js".
func hashedName(name, hash string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + hash + ext
}

func contentType(name string) (string, error) {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8", nil
	case ".js":
		return "text/javascript; charset=utf-8", nil
	case ".svg":
		return "image/svg+xml", nil
	default:
		return "", fmt.Errorf("assets: no content type known for %q", name)
	}
}

// URL returns the content-hashed URL path of the asset with the given logical
// name ("app.css", "passkeys.js" or "htmx.min.js"), e.g. "/assets/app.1a2b3c4d.css".
// It returns "" for an unknown name.
func (a *Assets) URL(name string) string {
	if a.dev != nil {
		if f, ok := a.dev.byName(name); ok {
			return f.url
		}
		return ""
	}
	if f, ok := a.byName[name]; ok {
		return f.url
	}
	return ""
}

// Handler serves the assets at their hashed URLs (GET and HEAD only) with an
// immutable, year-long cache lifetime. Unknown names and stale hashes get 404.
// Mount it at Prefix without stripping the prefix (mux.Handle("GET /assets/", a.Handler()));
// a request path that has already been stripped of Prefix is accepted too.
func (a *Assets) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, Prefix), "/")
		f, ok := a.byPath[name]
		if a.dev != nil {
			f, ok = a.dev.byPath(name)
		}
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		if a.dev != nil {
			h.Set("Cache-Control", "no-cache") // dev mode: always revalidate (ETag), so an edit shows on reload
		} else {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		h.Add("Vary", "Accept-Encoding")
		body, etag := f.body, f.etag
		if gz := f.gzip(); gz != nil && acceptsGzip(r) {
			body, etag = gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

// gzip returns the compressed body, compressing it on first use (start-up stays fast).
func (f *file) gzip() []byte {
	f.gzipOnce.Do(func() { f.gzipped = compress(f.body) })
	return f.gzipped
}

// compress gzips body at the best compression; nil when it would not help.
func compress(body []byte) []byte {
	if len(body) < 1024 {
		return nil
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil
	}
	if _, err := zw.Write(body); err != nil {
		return nil
	}
	if err := zw.Close(); err != nil || buf.Len() >= len(body) {
		return nil // serving uncompressed is always correct
	}
	return buf.Bytes()
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip (and does not refuse it with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0"
		}
	}
	return false
}
