package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/httpgzip"
)

// wantsFragment reports whether htmx asked for a fragment: an htmx request that is neither boosted nor
// a history restore (those need the full page).
func wantsFragment(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" &&
		r.Header.Get("HX-Boosted") == "" &&
		r.Header.Get("HX-History-Restore-Request") == ""
}

// render writes the fragment for htmx and the full page otherwise. It always sends Vary: HX-Request.
// The body is gzip-compressed for clients that accept it (see writeHTML).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page, fragment templ.Component) {
	h.renderHTML(w, r, status, page, fragment, true)
}

// renderUncompressed is render for an answer that shows a secret once (a new set of recovery codes): it
// is never compressed. BREACH recovers a secret from the compressed size of answers that hold it next
// to input an attacker chose, over many requests. Recovery codes are new in each such answer, and no
// page reflects a query into the body, so compressing would likely be safe; but this answer is rare and
// small, and sending it as it is leaves nothing to argue. Everything else is safe to compress: the CSP
// nonce is new in every answer, the session cookie travels in headers, the tokens of /recover/{token}
// and /confirm/{token} pages are the requested URL itself, and http.CrossOriginProtection refuses the
// cross-site POSTs whose fields the sign-up and name forms show again.
func (h *Handler) renderUncompressed(w http.ResponseWriter, r *http.Request, status int, page, fragment templ.Component) {
	h.renderHTML(w, r, status, page, fragment, false)
}

func (h *Handler) renderHTML(w http.ResponseWriter, r *http.Request, status int, page, fragment templ.Component, compress bool) {
	w.Header().Add("Vary", "HX-Request")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	c := page
	if wantsFragment(r) {
		c = fragment
	}
	buf := h.gzip.Buffer()
	defer h.gzip.Put(buf)
	if err := c.Render(r.Context(), buf); err != nil && !errors.Is(err, context.Canceled) {
		h.log.ErrorContext(r.Context(), "render failed", "path", logPath(r), "err", err)
	}
	h.writeHTML(w, r, status, buf.Bytes(), compress)
}

// minGzip is the smallest HTML body worth compressing: below it, gzip's 18 bytes of framing and the CPU
// buy next to nothing (an htmx fragment of a line or two).
const minGzip = 1024

// htmlGzipLevel is the compression level of small rendered pages (up to bigPage bytes: the login page,
// 4.3 KB, among them): level 5 makes the login page 1% larger than level 9 at less than half its time; level 1
// would be 7% larger (the login page's budget counts every byte), and on a small page the time is small.
// Bigger pages — the account page, which every logged-in request renders — use bigPageGzipLevel: there
// compressing at level 5 took about as long as everything else the request does, level 1 a fraction of
// it, for a slightly larger answer. BenchmarkHTMLGzip measures the cost per page.
const (
	htmlGzipLevel    = 5
	bigPage          = 5 << 10
	bigPageGzipLevel = 1
)

// writeHTML sends body with its Content-Length, gzip-compressed (Content-Encoding: gzip) when compress
// is true, the client accepts gzip and the body is at least minGzip bytes. Every answer that may be
// compressed says Vary: Accept-Encoding.
func (h *Handler) writeHTML(w http.ResponseWriter, r *http.Request, status int, body []byte, compress bool) {
	hdr := w.Header()
	if compress {
		hdr.Add("Vary", "Accept-Encoding")
		if len(body) >= minGzip && httpgzip.Accepts(r) {
			pool := h.gzip
			if len(body) > bigPage {
				pool = h.gzipBig
			}
			if gz, ok := pool.Compress(body); ok {
				defer pool.Put(gz)
				hdr.Set("Content-Encoding", "gzip")
				body = gz.Bytes()
			}
		}
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a HEAD request's body is dropped by net/http, its Content-Length kept
}

// redirect sends htmx to url with HX-Redirect and everyone else with 303 See Other.
func redirect(w http.ResponseWriter, r *http.Request, url string) {
	w.Header().Add("Vary", "HX-Request")
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", url)
		w.WriteHeader(http.StatusOK)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}

// page is the layout's view model for this request.
func (h *Handler) page(r *http.Request, title string) components.Page {
	p := components.Page{
		Title:   title,
		CSSURL:  h.deps.Assets.URL("app.css"),
		HTMXURL: h.deps.Assets.URL("htmx.min.js"),
		JSURL:   h.deps.Assets.URL("app.js"),
		UIURL:   h.deps.Assets.URL("ui.js"),
		CopyURL: h.deps.Assets.URL("copy.js"),
		IconURL: h.deps.Assets.URL("favicon.svg"),
		Nonce:   nonceFrom(r.Context()),
		Corbado: h.deps.Corbado,
	}
	if h.deps.Ceremonies != nil { // adding a passkey is the embedded provider's
		p.AccountURL = h.deps.Assets.URL("account.js")
	}
	return p
}

// fail is the one place an error becomes a log record and a page or fragment with plain words.
// sessionStoreFailed answers a request whose session could not be read or saved because the session
// store (the database, or Redis) failed: 503 with a retry hint, in plain words; the cause goes to the
// log.
func (h *Handler) sessionStoreFailed(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", "5")
	h.fail(w, r, http.StatusServiceUnavailable, "Temporarily unavailable",
		"We could not check your login just now. Please try again in a moment.", fmt.Errorf("session store: %w", err))
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, title, message string, err error) {
	h.logFailure(r, status, err)
	v := components.ErrorView{Status: status, Title: title, Message: message}
	h.render(w, r, status, components.ErrorPage(h.page(r, title), v), components.ErrorFragment(v))
}

// failJSON is fail for the JSON endpoints the passkey script calls: {"error": "plain words"}.
func (h *Handler) failJSON(w http.ResponseWriter, r *http.Request, status int, message string, err error) {
	h.logFailure(r, status, err)
	writeJSON(w, status, map[string]string{"error": message})
}

func (h *Handler) logFailure(r *http.Request, status int, err error) {
	level := h.log.WarnContext
	if status >= 500 {
		level = h.log.ErrorContext
	}
	errText := "<nil>"
	if err != nil {
		errText = err.Error()
	}
	level(r.Context(), "request failed", "method", r.Method, "path", logPath(r), "status", status, "err", errText)
}

// writeJSONCached writes v as a 200 JSON answer, keeping the Cache-Control the caller set.
func writeJSONCached(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// logPath is the request path as logs show it: the token of a one-time link (/recover/{token},
// /confirm/{token}) is a password, so it is replaced by "{token}".
func logPath(r *http.Request) string {
	p := r.URL.Path
	for _, prefix := range []string{"/recover/", "/confirm/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" && rest != "email" {
			return prefix + "{token}"
		}
	}
	return p
}
