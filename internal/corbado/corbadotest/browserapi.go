package corbadotest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// BrowserRequest records one request that reached the browser-facing Frontend API (StartBrowserAPI),
// CORS preflights included.
type BrowserRequest struct {
	Method string
	Path   string
	Origin string // the Origin header
}

// StartBrowserAPI serves, over HTTPS with httptest's self-signed certificate, the part of Corbado's
// Frontend API that the web-js bundle calls from a browser once a session exists: GET
// /v2/session-config (session management on, the cbo_session_token cookie written with
// domain=cookieDomain), GET /v2/me/passkeys (an empty list) and POST /v2/me/logout, with CORS for any
// origin, credentials allowed. Every other path answers 404 in Corbado's error shape. The server is
// closed in t.Cleanup; a second call returns the running one.
//
// The bundle calls https://{ProjectID}.frontendapi.corbado.io (its default Frontend API), so the browser
// must resolve host to addr and accept the certificate (browsertest.NewBrowserResolving).
func (f *Fake) StartBrowserAPI(t testing.TB, cookieDomain string) (host, addr string) {
	t.Helper()
	host = f.ProjectID + ".frontendapi.corbado.io"
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.browserAPI == nil {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /v2/session-config", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{
				"useSessionManagement": true,
				"frontendApiUrl":       "", // the bundle then keeps using https://{host}
				"sessionTokenCookieConfig": map[string]any{
					"domain": cookieDomain, "secure": false, "sameSite": "lax", "path": "/",
					"lifetimeSeconds": int(DefaultTTL.Seconds()),
				},
			})
		})
		mux.HandleFunc("GET /v2/me/passkeys", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{
				"passkeys": []any{},
				"paging":   map[string]int{"page": 1, "totalPages": 1, "totalItems": 0},
			})
		})
		mux.HandleFunc("POST /v2/me/logout", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, map[string]any{})
		})
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusNotFound, "not_found")
		})
		f.browserAPI = httptest.NewTLSServer(f.browserCORS(mux))
		t.Cleanup(f.browserAPI.Close)
	}
	u, err := url.Parse(f.browserAPI.URL)
	if err != nil {
		t.Fatalf("corbadotest: %v", err)
	}
	return host, u.Host
}

// BrowserRequests returns the requests the browser-facing Frontend API has received, oldest first.
func (f *Fake) BrowserRequests() []BrowserRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]BrowserRequest(nil), f.browserReqs...)
}

// browserCORS records each request and admits the calling origin with credentials, as Corbado does for
// the origins a project allows; it answers preflights itself.
func (f *Fake) browserCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		f.mu.Lock()
		f.browserReqs = append(f.browserReqs, BrowserRequest{Method: r.Method, Path: r.URL.Path, Origin: origin})
		f.mu.Unlock()
		h := w.Header()
		h.Add("Vary", "Origin")
		if origin != "" {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
