package handlers

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/a-h/templ"

	"github.com/latchkey/latchkey/components"
)

// The component gallery (dev mode only, LATCHKEY_DEV=true): GET /dev/components lists every state of
// every component, each shown light and dark; GET /dev/components/{state}?theme=light|dark is that state
// as a page of its own, rendered by the real Layout and component from a view model.
//
// Why a page per state in an iframe, rather than all states inline or <iframe srcdoc>: the components
// have fixed ids (login-heading, passkey-error, …), so states side by side in one document would repeat
// them (an axe violation, and label/aria references would point at the wrong copy). A page per state is
// a real document with its own title, nonce and CSP, which axe and the browser see exactly as in the app,
// and it can be opened, linked and reloaded on its own. srcdoc frames would inherit the index's one CSP
// and nonce and put whole escaped documents into attributes. So the index allows frames from its own
// origin (frame-src 'self') and the state pages allow being framed by it (frame-ancestors 'self',
// X-Frame-Options SAMEORIGIN) — only on these dev-mode routes; every other page keeps frame-ancestors
// 'none' and DENY.
//
// The state pages are static: no passkey script (it would start a passkey autofill request in every
// frame). Without LATCHKEY_DEV every /dev/ address is the ordinary 404.

// dev serves everything under /dev/ (one route in the table): the gallery in dev mode, 404 otherwise.
func (h *Handler) dev(w http.ResponseWriter, r *http.Request) {
	if !h.deps.Dev {
		h.notFound(w, r)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/dev")
	switch {
	case rest == "/components" || rest == "/components/":
		h.gallery(w, r)
	case strings.HasPrefix(rest, "/components/"):
		h.galleryState(w, r, strings.TrimPrefix(rest, "/components/"))
	default:
		h.notFound(w, r)
	}
}

// gallery renders the index: every state, light and dark side by side.
func (h *Handler) gallery(w http.ResponseWriter, r *http.Request) {
	v := components.GalleryView{CSSURL: h.deps.Assets.URL("gallery.css"), JSURL: h.deps.Assets.URL("gallery.js")}
	for _, g := range galleryGroups() {
		vg := components.GalleryGroup{Name: g.name, ID: g.id}
		for _, s := range g.states {
			vg.States = append(vg.States, s.GalleryState)
		}
		v.Groups = append(v.Groups, vg)
	}
	setCSPDirective(w.Header(), "frame-src", "'self'")
	p := h.page(r, "Component gallery")
	p.JSURL, p.Corbado = h.deps.Assets.URL("ui.js"), nil // no passkey ceremonies
	c := components.GalleryPage(p, v)
	h.render(w, r, http.StatusOK, c, c)
}

// galleryState renders one state as a whole page, in the theme the query asks for (light by default).
func (h *Handler) galleryState(w http.ResponseWriter, r *http.Request, slug string) {
	var state *galleryState
	for _, g := range galleryGroups() {
		for i := range g.states {
			if g.states[i].Slug == slug {
				state = &g.states[i]
			}
		}
	}
	if state == nil {
		h.notFound(w, r)
		return
	}
	theme := r.URL.Query().Get("theme")
	switch theme {
	case "":
		theme = "light"
	case "light", "dark":
	default:
		h.fail(w, r, http.StatusBadRequest, "Unknown theme", "The theme must be light or dark.", fmt.Errorf("gallery theme %q", theme))
		return
	}
	hdr := w.Header()
	hdr.Set("X-Frame-Options", "SAMEORIGIN")
	setCSPDirective(hdr, "frame-ancestors", "'self'")
	if r.Header.Get("Sec-Fetch-Dest") == "iframe" {
		// In the gallery's frames, templ's live-reload proxy (task dev) must not add its reload script: a
		// page holds one event stream per frame, and browsers allow only six connections per host. The
		// gallery page itself reloads, and its frames with it. Opened on its own, a state reloads itself.
		hdr.Set("templ-skip-modify", "true")
	}
	p := h.page(r, state.pageTitle)
	p.JSURL, p.Corbado = h.deps.Assets.URL("ui.js"), nil // static: no passkey ceremonies, no Corbado bundle
	c := components.GalleryFrame(p, theme, state.content)
	h.render(w, r, http.StatusOK, c, c)
}

// setCSPDirective sets one directive of the Content-Security-Policy that securityHeaders wrote, replacing
// it if present. Without a policy it does nothing.
func setCSPDirective(hdr http.Header, name, value string) {
	csp := hdr.Get("Content-Security-Policy")
	if csp == "" {
		return
	}
	var out []string
	found := false
	for _, d := range strings.Split(csp, ";") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		if f := strings.Fields(d); strings.EqualFold(f[0], name) {
			if found {
				continue
			}
			d, found = name+" "+value, true
		}
		out = append(out, d)
	}
	if !found {
		out = append(out, name+" "+value)
	}
	hdr.Set("Content-Security-Policy", strings.Join(out, "; "))
}

// galleryGroup is one component with its states.
type galleryGroup struct {
	name, id string
	states   []galleryState
}

// galleryState is one state: what the gallery lists, the title of its page and the fragment it shows.
type galleryState struct {
	components.GalleryState
	pageTitle string
	content   templ.Component
}

// galleryMessage is words the app shows, as a state of the login page's alert.
type galleryMessage struct {
	slug, title, words string
}

// Words with a state of their own: limited's answer (middleware.go; a format, shown for a 20-second
// wait) and loginWithoutJavaScript's (pages.go).
const (
	galleryRateLimitWords    = "Too many attempts. Please wait %d seconds and try again."
	galleryNoJavaScriptWords = "Passkeys need JavaScript. Turn it on for this site, then try again."
)

// galleryMessages are the words the login page's alert can show, taken from where the app says them:
// the session exchange (pages.go), the rate limit (middleware.go), the passkey endpoints (passkeys.go)
// and the embedded provider (internal/provider). TestGalleryMessagesAreTheAppsWords checks that each is
// still said there.
func galleryMessages() []galleryMessage {
	return []galleryMessage{
		{"rate-limited", "Rate limited", fmt.Sprintf(galleryRateLimitWords, 20)},
		{"two-tokens", "Two session cookies at once", msgTwoTokens},
		{"not-confirmed", "Login not confirmed", msgLoginNotConfirmed},
		{"not-logged-in", "No session cookie", "You are not logged in. Log in with your passkey."},
		{"token-expired", "Login token expired", "Your login took too long and expired. Please log in again."},
		{"keys-unreachable", "Key set unreachable (503)", msgKeysUnreachable},
		{"server-error", "Server error", "Something went wrong on our side. Please try again."},
		{"prompt-expired", "Ceremony cookie expired or missing", "This passkey prompt has expired or was not started here. Please try again."},
		{"email-taken", "Email already registered", "This email is already registered. Log in with your passkey instead."},
		{"passkey-registered", "Passkey already registered", "This passkey is already registered. Log in with it instead."},
		{"unknown-passkey", "Unknown passkey", "This passkey is not known here. Create an account first, or use another passkey."},
		{"not-verified", "Device did not verify the user", "Your device did not confirm it was you (no PIN, fingerprint or face check). Please try again."},
		{"prompt-timed-out", "Passkey prompt timed out", "The passkey prompt timed out. Please try again."},
		{"verification-failed", "Passkey not verified", "The passkey could not be verified. Please try again."},
		{"unreadable-response", "Passkey response unreadable", "The passkey response could not be read. Please try again."},
		{"signup-not-started", "Sign-up not started here", "This sign-up was not started here. Please try again."},
		{"login-not-started", "Log-in not started here", "This log-in was not started here. Please try again."},
		{"signup-completed", "Sign-up already completed", "This sign-up was already completed. Please start again."},
		{"login-completed", "Log-in already completed", "This log-in was already completed. Please start again."},
		// Sign-up field words: passkeys.js shows them under their field; here they are in the alert.
		{"field-no-email", "Sign-up field: no email", "Enter your email address."},
		{"field-bad-email", "Sign-up field: invalid email", "Enter a valid email address, like name@example.com."},
		{"field-lookalike-email", "Sign-up field: look-alike characters", "Your email address contains invisible or look-alike characters. Type it again using plain letters."},
		{"field-no-name", "Sign-up field: no name", "Enter your full name."},
		{"field-long-name", "Sign-up field: name too long", "Your name can be at most 100 characters."},
		{"field-odd-name", "Sign-up field: unshowable name", "Your name contains characters that cannot be shown."},
	}
}

// galleryErrorPage is an error page the app renders through fail (render.go).
type galleryErrorPage struct {
	slug, title string
	v           components.ErrorView
}

// galleryErrorPages are the error pages, with the app's words (pages.go, middleware.go; checked like
// galleryMessages).
func galleryErrorPages() []galleryErrorPage {
	return []galleryErrorPage{
		{"server", "Server error (500)", components.ErrorView{Status: http.StatusInternalServerError,
			Title: "Something went wrong", Message: "Something went wrong on our side. Please try again."}},
		{"logout-failed", "Log out failed (500)", components.ErrorView{Status: http.StatusInternalServerError,
			Title: "Something went wrong", Message: "We could not log you out. Please try again."}},
		{"cross-origin", "Cross-site request refused (403)", components.ErrorView{Status: http.StatusForbidden,
			Title: "Request refused", Message: "This request came from another site, so it was refused. Open Latchkey directly and try again."}},
	}
}

// galleryNameTooLongWords is the provider's answer to a name over 100 characters (internal/provider).
const galleryNameTooLongWords = "Your name can be at most 100 characters."

// galleryAccount is an account's passkeys (a synced one, one bound to a security key, one with a clone
// warning), sessions (this device first) and activity, as the account page shows them.
//
// No provider icon: account.templ passes the icon's data: URI to src as a string, which templ's URL
// sanitizer replaces with about:invalid#TemplFailedSanitizationURL (then blocked by img-src), so no icon
// shows in the app either; with an icon here every account state fails TestBrowserGallery.
func galleryAccount() ([]components.PasskeyRow, []components.SessionRow, []components.ActivityRow) {
	passkeys := []components.PasskeyRow{
		{ID: "cGFzc2tleS1vbmU", Name: "Google Password Manager", Provider: "Google Password Manager", Synced: true,
			Created: "2 Dec 2026", LastUsed: "2 Dec 2026, 01:15 UTC"},
		{ID: "cGFzc2tleS10d28", Name: "Office security key", Provider: "YubiKey 5 Series", Created: "14 Nov 2026", LastUsed: "Never"},
		{ID: "cGFzc2tleS10aHJlZQ", Name: "Old laptop", Created: "3 Mar 2026", LastUsed: "1 Dec 2026, 22:40 UTC",
			CloneWarning: "1 Dec 2026, 22:40 UTC"},
	}
	sessions := []components.SessionRow{
		{ID: "ses-current", Device: "Chrome 156 on macOS", IP: "192.0.2.10", Created: "2 Dec 2026, 01:15 UTC", LastSeen: "just now", Current: true},
		{ID: "ses-phone", Device: "Safari on iPhone", IP: "2001:db8::1", Created: "30 Nov 2026, 08:02 UTC", LastSeen: "1 Dec 2026, 19:30 UTC"},
		{ID: "ses-work", Device: "Firefox 140 on Windows", IP: "198.51.100.7", Created: "28 Nov 2026, 09:00 UTC", LastSeen: "28 Nov 2026, 17:45 UTC"},
	}
	activity := []components.ActivityRow{
		{When: "2 Dec 2026, 01:15 UTC", What: "Logged in", Detail: "Google Password Manager", IP: "192.0.2.10", Device: "Chrome 156 on macOS"},
		{When: "1 Dec 2026, 22:40 UTC", What: "Possible passkey copy", Detail: "Old laptop", IP: "203.0.113.5", Device: "Edge on Windows"},
		{When: "14 Nov 2026, 10:12 UTC", What: "Passkey added", Detail: "Office security key", IP: "198.51.100.7", Device: "Firefox 140 on Windows"},
	}
	return passkeys, sessions, activity
}

// Names for the home page's states: short, the longest allowed (100 characters) and right-to-left.
const (
	galleryLongName = "Maria Theresia Walburga Amalia Christina Leopoldina Josepha Eleonora Antonia von Habsburg-Lothringen" // 100 characters
	galleryArabic   = "فاطمة الزهراء بنت عبد الله"
	galleryHebrew   = "נועה בת־שבע כהן"
	galleryPersian  = "نیلوفر محمدی‌نژاد" // with a zero-width non-joiner, as Persian writes it
)

// galleryGroups lists every state of every component, in the order the gallery shows them.
func galleryGroups() []galleryGroup {
	state := func(slug, title, component, file, pageTitle string, content templ.Component) galleryState {
		return galleryState{
			GalleryState: components.GalleryState{Slug: slug, Title: title, Component: component, File: file},
			pageTitle:    pageTitle,
			content:      content,
		}
	}
	login := func(slug, title string, v components.LoginView) galleryState {
		return state("login-"+slug, title, "LoginFragment", "components/login.templ", "Log in", components.LoginFragment(v))
	}
	loginStates := []galleryState{
		login("empty", "Empty", components.LoginView{}),
		login("busy", "Busy: waiting for the passkey", components.LoginView{Busy: true}),
		login("no-javascript", "Sign-up posted without JavaScript (fields kept)", components.LoginView{
			Error: galleryNoJavaScriptWords,
			Email: "ada@example.com", Name: "Ada Lovelace",
		}),
	}
	for _, m := range galleryMessages() {
		loginStates = append(loginStates, login("error-"+m.slug, "Error: "+m.title, components.LoginView{Error: m.words}))
	}

	home := func(slug, title string, v components.HomeView) galleryState {
		return state("home-"+slug, title, "HomeFragment", "components/home.templ", "Home", components.HomeFragment(v))
	}
	const userID = "usr-5f2b8c1e9a7d4e3f8b6c0a1d2e3f4a5b"
	homeStates := []galleryState{
		home("short-name", "Short name", components.HomeView{UserID: userID, Name: "Ada", Email: "ada@example.com"}),
		home("long-name", "Longest name (100 characters) and a long email", components.HomeView{
			UserID: userID, Name: galleryLongName,
			Email: "maria.theresia.walburga.amalia.christina@habsburg-lothringen-este.example",
		}),
		home("arabic-name", "Right-to-left name: Arabic", components.HomeView{UserID: userID, Name: galleryArabic, Email: "fatima@example.com"}),
		home("hebrew-name", "Right-to-left name: Hebrew", components.HomeView{UserID: userID, Name: galleryHebrew, Email: "noa@example.com"}),
		home("persian-name", "Right-to-left name: Persian", components.HomeView{UserID: userID, Name: galleryPersian, Email: "niloufar@example.com"}),
	}

	// The account sections, under the home page's details as in the app (HomeFragment includes them).
	account := func(slug, title string, v components.AccountView) galleryState {
		home := components.HomeView{UserID: userID, Name: "Ada Lovelace", Email: "ada@example.com", Account: &v}
		return state("account-"+slug, title, "AccountSections", "components/account.templ", "Home", components.HomeFragment(home))
	}
	passkeys, sessions, activity := galleryAccount()
	accountStates := []galleryState{
		account("full", "Passkeys, sessions and activity", components.AccountView{
			ManagePasskeys: true, Passkeys: passkeys, DisplayName: "Ada Lovelace", Sessions: sessions, Activity: activity,
		}),
		account("renaming", "Renaming a passkey", components.AccountView{
			ManagePasskeys: true, Passkeys: passkeys, Renaming: passkeys[0].ID, DisplayName: "Ada Lovelace", Sessions: sessions, Activity: activity,
		}),
		account("deleting", "Deleting a passkey", components.AccountView{
			ManagePasskeys: true, Passkeys: passkeys, Deleting: passkeys[1].ID, DisplayName: "Ada Lovelace", Sessions: sessions, Activity: activity,
		}),
		account("deleting-last", "Deleting the only passkey", components.AccountView{
			ManagePasskeys: true, Passkeys: passkeys[:1], Deleting: passkeys[0].ID, DisplayName: "Ada Lovelace", Sessions: sessions[:1],
		}),
		account("name-error", "Name refused", components.AccountView{
			ManagePasskeys: true, Passkeys: passkeys[:1], DisplayName: galleryLongName + "!", NameError: galleryNameTooLongWords,
			Sessions: sessions[:1],
		}),
		account("new", "New account: one passkey, this device, no activity", components.AccountView{
			ManagePasskeys: true, Passkeys: passkeys[:1], DisplayName: "Ada Lovelace", Sessions: sessions[:1],
		}),
		account("corbado", "Corbado mode: sessions and activity only", components.AccountView{Sessions: sessions, Activity: activity}),
	}

	logout := func(slug, title string, v components.LogoutView) galleryState {
		return state("logout-"+slug, title, "LogoutFragment", "components/logout.templ", v.Title(), components.LogoutFragment(v))
	}
	logoutStates := []galleryState{
		logout("logged-in", "Logged in: confirm log out", components.LogoutView{LoggedIn: true, Name: "Ada Lovelace"}),
		logout("logged-out", "Already logged out", components.LogoutView{}),
	}

	errorStates := []galleryState{
		state("not-found", "Not found (404)", "NotFoundFragment", "components/errors.templ", "Page not found", components.NotFoundFragment()),
	}
	for _, e := range galleryErrorPages() {
		errorStates = append(errorStates, state("error-"+e.slug, e.title, "ErrorFragment", "components/errors.templ", e.v.Title, components.ErrorFragment(e.v)))
	}

	return []galleryGroup{
		{name: "Log in", id: "login", states: loginStates},
		{name: "Home", id: "home", states: homeStates},
		{name: "Account", id: "account", states: accountStates},
		{name: "Log out", id: "logout", states: logoutStates},
		{name: "Not found and errors", id: "errors", states: errorStates},
	}
}
