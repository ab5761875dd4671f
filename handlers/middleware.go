package handlers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/ratelimit"
)

type nonceKey struct{}

func nonceFrom(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

// CSPSources are origins added to the Content-Security-Policy (only Corbado mode has any).
type CSPSources struct {
	Connect []string // fetch/XHR targets
	Img     []string // images
}

// securityHeaders sets a strict Content-Security-Policy with a fresh nonce per response, and the other
// headers every page should carry.
func securityHeaders(next http.Handler, secure bool, extra CSPSources) http.Handler {
	connect := strings.Join(append([]string{"'self'"}, extra.Connect...), " ")
	img := strings.Join(append([]string{"'self'", "data:"}, extra.Img...), " ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce := base64.RawStdEncoding.EncodeToString(b)
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src 'self' 'nonce-%[1]s'; "+
			"style-src 'self' 'nonce-%[1]s'; img-src %[2]s; connect-src %[3]s; form-action 'self'; "+
			"frame-ancestors 'none'; base-uri 'none'", nonce, img, connect))
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "same-origin")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
		hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if secure {
			hdr.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey{}, nonce)))
	})
}

// crossOrigin answers a cross-site state-changing request refused by http.CrossOriginProtection.
func (h *Handler) crossOrigin(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusForbidden, "Request refused",
		"This request came from another site, so it was refused. Open Latchkey directly and try again.",
		fmt.Errorf("cross-origin request refused (Origin %q, Sec-Fetch-Site %q)", r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")))
}

// recoverer turns a panic into a logged 500 with plain words.
func (h *Handler) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				h.log.ErrorContext(r.Context(), "panic", "path", logPath(r), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "Something went wrong on our side. Please try again.", nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status code for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests writes one debug record per request (never headers or bodies: they carry tokens).
func (h *Handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		h.log.DebugContext(r.Context(), "request", "method", r.Method, "path", logPath(r), "status", sw.status, "duration", time.Since(start))
	})
}

// notFound answers an address with nothing at it: a calm page with plain words and a way back (no alert:
// a mistyped link is not an error of the user's).
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.logFailure(r, http.StatusNotFound, nil)
	h.render(w, r, http.StatusNotFound, components.NotFoundPage(h.page(r, "Page not found")), components.NotFoundFragment())
}

// favicon answers the automatic /favicon.ico request of browsers (and tools) that do not read the
// layout's <link rel="icon">: a redirect to the SVG favicon at its content-hashed URL, cached for a day
// only, since that URL changes with the icon. Never a logged 404.
func (h *Handler) favicon(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=86400")
	u := h.deps.Assets.URL("favicon.svg")
	if u == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// limited refuses a client over its budget for class with 429, Retry-After and plain words: JSON for
// the passkey script, the login page (or fragment) for the session exchange. Refusals are counted in
// latchkey_rate_limited_total{class}.
func (h *Handler) limited(class string, next http.HandlerFunc) http.HandlerFunc {
	if h.deps.RateLimit == nil {
		return next
	}
	refused := h.metrics.RateLimited(class)
	return func(w http.ResponseWriter, r *http.Request) {
		ip := ratelimit.ClientIP(r, h.deps.TrustedProxies)
		ok, wait := h.deps.RateLimit.Allow(class, ip)
		if ok {
			next(w, r)
			return
		}
		refused.Inc()
		secs := int(math.Ceil(wait.Seconds()))
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		msg := fmt.Sprintf("Too many attempts. Please wait %d seconds and try again.", secs)
		err := fmt.Errorf("rate limit exceeded for %s (%s)", ratelimit.Key(ip), class)
		if strings.HasPrefix(r.URL.Path, "/passkeys/") {
			h.failJSON(w, r, http.StatusTooManyRequests, msg, err)
			return
		}
		h.logFailure(r, http.StatusTooManyRequests, err)
		h.renderLogin(w, r, http.StatusTooManyRequests, components.LoginView{Error: msg})
	}
}
