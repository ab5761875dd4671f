package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/verify"
)

// Session JWT cookies: Corbado's current name and its legacy one.
const (
	SessionTokenCookie       = "cbo_session_token"
	LegacySessionTokenCookie = "cbo_short_session"
)

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.deps.Sessions.User(r.Context()); ok {
		redirect(w, r, "/home")
		return
	}
	h.renderLogin(w, r, http.StatusOK, components.LoginView{})
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, v components.LoginView) {
	v.Corbado = h.deps.Corbado
	v.Recovery = h.deps.Recovery != nil
	h.render(w, r, status, components.LoginPage(h.page(r, "Log in"), v), components.LoginFragment(v))
}

// loginWithoutJavaScript answers the sign-up form when it was submitted without the passkey script.
func (h *Handler) loginWithoutJavaScript(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	h.logFailure(r, http.StatusBadRequest, errors.New("sign-up form posted without JavaScript"))
	h.renderLogin(w, r, http.StatusBadRequest, components.LoginView{
		Error: "Passkeys need JavaScript. Turn it on for this site, then try again.",
		Email: truncate(r.PostForm.Get("email"), 254),
		Name:  truncate(r.PostForm.Get("name"), 100),
	})
}

func (h *Handler) homePage(w http.ResponseWriter, r *http.Request) {
	u, ok := h.deps.Sessions.User(r.Context())
	if !ok {
		redirect(w, r, "/")
		return
	}
	// ?rename=ID and ?delete=ID open a passkey's rename form or delete confirmation (plain links and
	// forms, so they work as full pages too).
	st := homeState{renaming: r.URL.Query().Get("rename"), deleting: r.URL.Query().Get("delete")}
	if cur, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil && cur.Path == recoveredPath && wantsFragment(r) {
		// The recovery landing page swaps home in after the new passkey: the address follows.
		w.Header().Set("HX-Push-Url", "/home")
	}
	if st.renaming != "" || st.deleting != "" {
		st.focus = "passkeys-heading"
	}
	h.renderHomeWith(w, r, http.StatusOK, u, st)
}

// homeState is what the home page shows besides the user: what to announce after the swap, where focus
// goes, and the open passkey form or name error.
type homeState struct {
	announce, focus, renaming, deleting, nameError string
	codes                                          []string // recovery codes made just now, shown this once
}

// renderHome renders the home page of u; announce is what a screen reader hears after the swap.
func (h *Handler) renderHome(w http.ResponseWriter, r *http.Request, u session.User, announce string) {
	h.renderHomeWith(w, r, http.StatusOK, u, homeState{announce: announce})
}

func (h *Handler) renderHomeWith(w http.ResponseWriter, r *http.Request, status int, u session.User, st homeState) {
	acc, err := h.account(r.Context(), u, st.renaming, st.deleting)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not load your account. Please try again.", err)
		return
	}
	if acc != nil {
		acc.NameError = st.nameError
		acc.RecoveryCodes = h.deps.Recovery != nil
	}
	if h.deps.Recovery != nil && st.codes == nil {
		// The first set of recovery codes is made the first time the account's home page is shown
		// (right after sign-up) and shown that once.
		if st.codes, err = h.deps.Recovery.FirstCodes(r.Context(), u.ID); err != nil {
			h.log.ErrorContext(r.Context(), "making the first recovery codes failed", "user_id", u.ID, "err", err)
		}
	}
	v := components.HomeView{Announce: st.announce, Focus: st.focus, UserID: u.ID, Name: u.Name, Email: u.Email,
		Corbado: h.deps.Corbado, Account: acc, RecoveryCodes: recoveryCodesView(st.codes)}
	if h.deps.EmailConfirm != nil {
		if ok, err := h.deps.EmailConfirm.EmailConfirmed(r.Context(), u.ID); err == nil {
			v.EmailConfirmed = &ok
		} else {
			h.log.ErrorContext(r.Context(), "reading whether the email address is confirmed failed", "user_id", u.ID, "err", err)
		}
	}
	if v.RecoveryCodes != nil { // a secret shown once: never compressed (renderUncompressed says why)
		h.renderUncompressed(w, r, status, components.HomePage(h.page(r, "Home"), v), components.HomeFragment(v))
		return
	}
	h.render(w, r, status, components.HomePage(h.page(r, "Home"), v), components.HomeFragment(v))
}

// exchangeSession verifies the session JWT cookie once and turns it into a server-side session.
func (h *Handler) exchangeSession(w http.ResponseWriter, r *http.Request) {
	raw, n := sessionTokenCookie(r)
	o := h.metrics.Exchange
	switch {
	case n > 1:
		o.Failed(metrics.ReasonTwoTokens)
		// A second token cookie may have been planted (from a sibling subdomain, with a longer path so it is
		// sent first) to log the victim into the planter's account. Refuse both, whatever the order.
		h.logFailure(r, http.StatusUnauthorized, fmt.Errorf("%d session token cookies in one request", n))
		h.clearTokenCookies(w, r)
		h.renderLogin(w, r, http.StatusUnauthorized, components.LoginView{Error: msgTwoTokens})
		return
	case raw == "":
		o.Failed(metrics.ReasonNoToken)
		h.logFailure(r, http.StatusUnauthorized, errors.New("no session token cookie"))
		h.renderLogin(w, r, http.StatusUnauthorized, components.LoginView{Error: "You are not logged in. Log in with your passkey."})
		return
	}
	u, err := h.deps.Authenticator.Authenticate(r.Context(), raw)
	if err != nil {
		status, msg, reason := http.StatusUnauthorized, msgLoginNotConfirmed, metrics.ReasonTokenInvalid
		switch {
		case errors.Is(err, verify.ErrExpired):
			msg, reason = "Your login took too long and expired. Please log in again.", metrics.ReasonTokenExpired
		case errors.Is(err, verify.ErrUnavailable):
			// Fail closed: a key we have never seen is not trusted, even while the key set is unreachable.
			// That is our outage, not the person's fault: 503 with a time to come back.
			status, msg, reason = http.StatusServiceUnavailable, msgKeysUnreachable, metrics.ReasonKeysUnavailable
			w.Header().Set("Retry-After", "60")
		case !isVerifyError(err):
			status, msg, reason = http.StatusInternalServerError, "Something went wrong on our side. Please try again.", metrics.ReasonInternal
		}
		o.Failed(reason)
		h.logFailure(r, status, err)
		if status != http.StatusServiceUnavailable {
			h.clearTokenCookies(w, r) // keep a possibly good token for the retry after an outage
		}
		h.renderLogin(w, r, status, components.LoginView{Error: msg})
		return
	}
	u, err = h.deps.Sessions.Login(r.Context(), u, h.device(r))
	if err != nil {
		if errors.Is(err, session.ErrEnded) {
			o.Failed(metrics.ReasonSessionEnded)
			h.logFailure(r, http.StatusUnauthorized, err)
			h.clearTokenCookies(w, r)
			h.renderLogin(w, r, http.StatusUnauthorized, components.LoginView{Error: msgLoginNotConfirmed})
			return
		}
		o.Failed(metrics.ReasonInternal)
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "Something went wrong on our side. Please try again.", err)
		return
	}
	o.Succeeded()
	h.log.InfoContext(r.Context(), "session started", "user_id", u.ID)
	h.record(r.Context(), u.ID, activity.LogIn, "")
	if !wantsFragment(r) {
		redirect(w, r, "/home")
		return
	}
	w.Header().Set("HX-Push-Url", "/home")
	h.renderHome(w, r, u, "Logged in as "+u.Name)
}

// device is where a request comes from, as the account page shows it: the client IP (behind trusted
// proxies) and the user agent, cut to 512 bytes.
func (h *Handler) device(r *http.Request) session.Device {
	return session.Device{IP: ratelimit.ClientIP(r, h.deps.TrustedProxies), UserAgent: truncate(r.UserAgent(), 512)}
}

// Words the exchange answers with (tests assert them).
const (
	msgLoginNotConfirmed = "We could not confirm your login. Please log in again."
	msgTwoTokens         = "Your browser sent two different logins at once, so neither was used. Please log in again."
	// msgKeysUnreachable is the answer while the login service's key set cannot be fetched.
	msgKeysUnreachable = "We cannot check your login right now because the login service is unreachable. Please try again in a minute."
)

// sessionTokenCookie returns the session JWT cookie's value and how many session token cookies, under
// either name and empty or not, the request carries.
func sessionTokenCookie(r *http.Request) (raw string, n int) {
	for _, c := range r.Cookies() {
		if c.Name != SessionTokenCookie && c.Name != LegacySessionTokenCookie {
			continue
		}
		n++
		if raw == "" {
			raw = c.Value
		}
	}
	return raw, n
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	u, err := h.deps.Sessions.Logout(r.Context())
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not log you out. Please try again.", err)
		return
	}
	if h.deps.Ceremonies != nil && u.ProviderSessionID != "" {
		if err := h.deps.Ceremonies.Revoke(r.Context(), u.ProviderSessionID); err != nil {
			h.log.ErrorContext(r.Context(), "revoke provider session failed", "user_id", u.ID, "err", err)
		}
	}
	h.clearTokenCookies(w, r)
	// Forget what the browser kept of the logged-in pages: htmx's history cache and any provider state in
	// DOM storage. htmx also gets an event, for browsers that ignore Clear-Site-Data.
	w.Header().Set("Clear-Site-Data", `"storage"`)
	w.Header().Set("HX-Trigger", "latchkey:logged-out")
	if u.ID != "" {
		h.log.InfoContext(r.Context(), "logged out", "user_id", u.ID)
	}
	if !wantsFragment(r) {
		redirect(w, r, "/")
		return
	}
	w.Header().Set("HX-Push-Url", "/")
	h.renderLogin(w, r, http.StatusOK, components.LoginView{Announce: "Logged out"})
}

// clearTokenCookies expires both session token cookies twice: host-only (as the embedded provider sets
// them) and with Domain=<request host> (as Corbado's web-js writes cbo_session_token, "domain=…"). A
// browser keeps a host-only and a domain cookie of one name apart, so deleting only one would leave a
// stale token that the next login page hands over again. The domain variant is sent only when the host
// is a DNS name: never for an IP address, where a Domain attribute is refused or means host-only anyway,
// and never for a name net/http would reject (it would drop the attribute and send a duplicate). For
// "localhost" (and any name without a registrable domain) Chromium reads Domain=<host> as host-only, so
// the second header deletes the same cookie again, which is harmless.
func (h *Handler) clearTokenCookies(w http.ResponseWriter, r *http.Request) {
	domain := strings.ToLower(r.Host)
	if strings.HasPrefix(domain, "[") { // an IPv6 literal, with or without a port
		domain = ""
	} else if i := strings.LastIndexByte(domain, ':'); i >= 0 {
		domain = domain[:i]
	}
	// A DNS name: dot-separated labels of 1–63 letters, digits and inner hyphens, at most 253 bytes, the
	// last label not a number (URL hosts ending in a decimal or 0x-hex number are IPv4 addresses).
	labels := strings.Split(domain, ".")
	last := labels[len(labels)-1]
	isNumber := last != ""
	hex := strings.HasPrefix(last, "0x")
	for i := 0; i < len(last); i++ {
		c := last[i]
		if !(c >= '0' && c <= '9' || hex && i >= 2 && c >= 'a' && c <= 'f' || hex && i == 1) {
			isNumber = false
		}
	}
	if len(domain) > 253 || isNumber {
		domain = ""
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			domain = ""
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				domain = ""
			}
		}
	}
	for _, name := range []string{SessionTokenCookie, LegacySessionTokenCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.deps.Secure, SameSite: http.SameSiteLaxMode})
		if domain != "" {
			http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Domain: domain, MaxAge: -1, HttpOnly: true, Secure: h.deps.Secure, SameSite: http.SameSiteLaxMode})
		}
	}
}

// relatedOrigins serves the WebAuthn related origins document, {"origins": [...]}: the other origins
// whose pages browsers let use this site's passkeys. Without any it is a 404, like any missing page.
func (h *Handler) relatedOrigins(w http.ResponseWriter, r *http.Request) {
	if len(h.deps.RelatedOrigins) == 0 {
		h.notFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSONCached(w, map[string][]string{"origins": h.deps.RelatedOrigins})
}

func (h *Handler) jwks(w http.ResponseWriter, r *http.Request) {
	body, err := h.deps.Keys.JWKS(r.Context())
	if err != nil {
		h.failJSON(w, r, http.StatusInternalServerError, "The signing keys are not available right now.", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body)
}

func isVerifyError(err error) bool {
	for _, target := range []error{verify.ErrMissing, verify.ErrTooLarge, verify.ErrMalformed, verify.ErrAlgorithm,
		verify.ErrNoKeyID, verify.ErrUnknownKey, verify.ErrSignature, verify.ErrExpired, verify.ErrNotYetValid,
		verify.ErrIssuer, verify.ErrClaims, verify.ErrRevoked} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "")
	}
	return s
}
