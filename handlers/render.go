package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/a-h/templ"

	"github.com/latchkey/latchkey/components"
)

// wantsFragment reports whether htmx asked for a fragment: an htmx request that is neither boosted nor
// a history restore (those need the full page).
func wantsFragment(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" &&
		r.Header.Get("HX-Boosted") == "" &&
		r.Header.Get("HX-History-Restore-Request") == ""
}

// render writes the fragment for htmx and the full page otherwise. It always sends Vary: HX-Request.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page, fragment templ.Component) {
	w.Header().Add("Vary", "HX-Request")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	c := page
	if wantsFragment(r) {
		c = fragment
	}
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil && !errors.Is(err, context.Canceled) {
		h.log.ErrorContext(r.Context(), "render failed", "path", logPath(r), "err", err)
	}
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
	return components.Page{
		Title:   title,
		CSSURL:  h.deps.Assets.URL("app.css"),
		HTMXURL: h.deps.Assets.URL("htmx.min.js"),
		JSURL:   h.deps.Assets.URL("passkeys.js"),
		UIURL:   h.deps.Assets.URL("ui.js"),
		CopyURL: h.deps.Assets.URL("copy.js"),
		IconURL: h.deps.Assets.URL("favicon.svg"),
		Nonce:   nonceFrom(r.Context()),
		Corbado: h.deps.Corbado,
	}
}

// fail is the one place an error becomes a log record and a page or fragment with plain words.
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
