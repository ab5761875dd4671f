// Package assets embeds the static files of the login UI (stylesheet, favicon,
// scripts and htmx) and serves them under content-hashed URLs with a long cache
// lifetime.
//
// The project's own stylesheets and scripts are minified when New reads them (a few milliseconds at
// start-up; BenchmarkNew measures it), so the hash in a URL is that of the bytes served. Every file is
// served gzip-compressed to clients that accept it: compressed once, on its first request, at the best
// level, or taken from a committed precompressed copy (see below). Dev mode (NewFromDir) serves the
// files as written, neither minified nor precompressed.
//
// Vendored third-party code:
//   - htmx-2.0.11.min.js is dist/htmx.min.js from the npm package htmx.org@2.0.11
//     (https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.11.tgz), unmodified;
//     its licence (Zero-Clause BSD) is in htmx.LICENSE. htmx-2.0.11.min.js.gz is the same file
//     compressed with zopfli (Debian package zopfli), 3% smaller than Go's best gzip:
//     zopfli --i1000 -c htmx-2.0.11.min.js > htmx-2.0.11.min.js.gz
//     New checks that it decodes to htmx-2.0.11.min.js byte for byte.
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
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tdewolff/minify/v2"
	"github.com/tdewolff/minify/v2/css"
	"github.com/tdewolff/minify/v2/js"

	"github.com/latchkey/latchkey/internal/httpgzip"
)

// Prefix is the URL path under which Handler serves the assets.
const Prefix = "/assets/"

// hashLen is the number of hex digits of the SHA-256 content hash put into a URL.
const hashLen = 8

//go:embed app.css favicon.svg passkeys.js account.js ui.js copy.js corbado.js htmx-2.0.11.min.js htmx-2.0.11.min.js.gz corbado-web-js-3.5.0.min.js corbado-web-js-3.5.0.css gallery.css gallery.js
var files embed.FS

// source maps a logical asset name to its embedded file, or to the files it joins.
type source struct {
	name   string   // logical name used by templates, e.g. "htmx.min.js"
	files  []string // embedded files, joined in this order (scripts of their own scope: one request, one gzip stream)
	minify bool     // the project's own CSS or JavaScript: minified by New
	gz     string   // a committed gzip copy of the file (the vendored htmx); "" compresses on first use
}

// sources lists every served asset. A function, so there is no package-level mutable state.
func sources() []source {
	one := func(name, file string, minify bool) source {
		return source{name: name, files: []string{file}, minify: minify}
	}
	htmx := one("htmx.min.js", "htmx-2.0.11.min.js", false)
	htmx.gz = "htmx-2.0.11.min.js.gz"
	return []source{
		one("app.css", "app.css", true),
		// Every page of the embedded provider: ui.js and passkeys.js in one file (smaller than two).
		{name: "app.js", files: []string{"ui.js", "passkeys.js"}, minify: true},
		one("ui.js", "ui.js", true), // alone in Corbado mode and in the gallery
		one("account.js", "account.js", true),
		one("copy.js", "copy.js", true),
		one("favicon.svg", "favicon.svg", false),
		htmx,
		one("corbado.js", "corbado.js", true),
		one("corbado-web-js.js", "corbado-web-js-3.5.0.min.js", false),
		one("corbado-web-js.css", "corbado-web-js-3.5.0.css", false),
		one("gallery.css", "gallery.css", true), // the component gallery (dev mode only)
		one("gallery.js", "gallery.js", true),
	}
}

// join reads the files of s with read and joins them, a newline apart.
func (s source) join(read func(string) ([]byte, error)) ([]byte, error) {
	if len(s.files) == 1 {
		return read(s.files[0])
	}
	var out []byte
	for i, name := range s.files {
		b, err := read(name)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, '\n')
		}
		out = append(out, b...)
	}
	return out, nil
}

// file is one asset ready to serve.
type file struct {
	url         string // e.g. /assets/app.1a2b3c4d.css
	etag        string
	contentType string
	body        []byte
	gzipOnce    sync.Once
	gzipped     []byte // body compressed with gzip (on first use, or from a committed copy); nil when that is not smaller
}

// Assets holds the embedded files and their hashed URLs. It is read-only after
// New and safe for concurrent use. In dev mode (NewFromDir) the files come from
// disk instead, re-read whenever they change.
type Assets struct {
	byName map[string]*file // logical name -> file
	byPath map[string]*file // hashed file name (without Prefix) -> file
	dev    *devFiles        // dev mode: files read from a directory; nil for the embedded files
}

// New reads the embedded files, minifies the project's own CSS and JavaScript, and computes their
// content hashes.
func New() (*Assets, error) {
	a := &Assets{byName: map[string]*file{}, byPath: map[string]*file{}}
	m := newMinifier()
	for _, s := range sources() {
		body, err := s.join(files.ReadFile)
		if err != nil {
			return nil, fmt.Errorf("assets: read %s: %w", s.name, err)
		}
		if s.minify {
			if body, err = minified(m, s.name, body); err != nil {
				return nil, err
			}
		}
		f, hashed, err := newFile(s.name, body)
		if err != nil {
			return nil, err
		}
		if s.gz != "" {
			if f.gzipped, err = precompressed(s.gz, body); err != nil {
				return nil, err
			}
			f.gzipOnce.Do(func() {}) // already compressed
		}
		a.byName[s.name] = f
		a.byPath[hashed] = f
	}
	return a, nil
}

// newMinifier minifies CSS and JavaScript. The scripts are written as ES2020, and stay so.
func newMinifier() *minify.M {
	m := minify.New()
	m.Add("text/css", &css.Minifier{})
	m.Add("text/javascript", &js.Minifier{Version: 2020})
	return m
}

// minified is body (the file of the asset called name) minified.
func minified(m *minify.M, name string, body []byte) ([]byte, error) {
	mediaType := "text/javascript"
	if path.Ext(name) == ".css" {
		mediaType = "text/css"
	}
	var out bytes.Buffer
	// A bytes.Reader, not m.Bytes: the parser works on its own copy (it may write into a buffer it is given).
	if err := m.Minify(mediaType, &out, bytes.NewReader(body)); err != nil {
		return nil, fmt.Errorf("assets: minify %s: %w", name, err)
	}
	return out.Bytes(), nil
}

// precompressed reads the committed gzip copy gzName and checks that it decodes to body.
func precompressed(gzName string, body []byte) ([]byte, error) {
	gz, err := files.ReadFile(gzName)
	if err != nil {
		return nil, fmt.Errorf("assets: read %s: %w", gzName, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("assets: %s is not gzip: %w", gzName, err)
	}
	decoded, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(decoded, body) {
		return nil, fmt.Errorf("assets: %s does not decode to the file it compresses; make it again (see the package documentation)", gzName)
	}
	return gz, nil
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
// A client that accepts gzip gets the compressed body (Content-Encoding: gzip, its own ETag); every
// answer says Vary: Accept-Encoding, so a shared cache keeps the two apart.
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
		if httpgzip.Accepts(r) {
			if gz := f.gzip(); gz != nil {
				body, etag = gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
				h.Set("Content-Encoding", "gzip")
				// ServeContent leaves Content-Length out when Content-Encoding is set (and would send the
				// body chunked); it replaces this one for a range and removes it for a 304.
				h.Set("Content-Length", strconv.Itoa(len(gz)))
			}
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
	})
}

// gzip returns the compressed body, compressing it on first use (start-up stays fast: the 1 MB Corbado
// bundle is compressed only when Corbado mode first serves it).
func (f *file) gzip() []byte {
	f.gzipOnce.Do(func() { f.gzipped = httpgzip.Best(f.body) })
	return f.gzipped
}
