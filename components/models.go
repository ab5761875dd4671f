// Package components holds the templ views of Latchkey: the page layout and the
// login, home and error pages, each also available as a fragment that htmx
// swaps into <main id="app">. Components take view-model structs and hold no
// business logic.
package components

import (
	"net/http"

	"github.com/a-h/templ"
)

// htmxConfig is the content of the htmx-config meta tag (htmx 2.0.11 option
// names): no inline indicator styles, no eval and no script execution from
// swapped content (CSP friendly), and 4xx/5xx responses are swapped in too so the
// server's error fragment reaches the page.
const htmxConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,` +
	`"historyRestoreAsHxRequest":false,"refreshOnHistoryMiss":true,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},` +
	`{"code":"[45]..","swap":true,"error":true}]}`

// Page is what the layout needs: the page title and the hashed asset URLs
// (from assets.URL), plus the CSP nonce put on the script and link tags when it
// is not empty.
type Page struct {
	Title   string
	CSSURL  string
	HTMXURL string
	JSURL   string // the embedded provider's script: ui.js and the passkey ceremonies (passkeys.js) in one file
	UIURL   string // ui.js alone, in Corbado mode: orientation after swaps, and loading the scripts below
	// Scripts that only some content needs, loaded by ui.js when content naming them in data-uses is in
	// the page or swapped in (never on the login page). Empty: not offered.
	CopyURL    string // copy buttons (data-uses="copy"): the user ID and recovery codes on the home page; both modes
	AccountURL string // the account page's "Add a passkey" and Signal API (data-uses="account"); embedded provider
	IconURL    string // the SVG favicon; no icon link when empty
	Nonce      string
	Corbado    *Corbado // set in Corbado mode: the layout loads UIURL, Corbado's bundle and our glue instead of JSURL
}

// Corbado is what Corbado mode needs on a page: the project to mount Corbado's UI for, and the URLs of
// the vendored @corbado/web-js bundle, its stylesheet and Latchkey's glue script.
type Corbado struct {
	ProjectID      string
	FrontendSuffix string // Corbado.load's frontendApiUrlSuffix; empty for the bundle's default
	BundleURL      string
	StyleURL       string
	GlueURL        string
}

// LoginView is the login page's data: Error is shown in the alert region,
// Email and Name refill the sign-up form.
type LoginView struct {
	Announce string // what a screen reader hears after the swap, e.g. "Logged out"
	Error    string
	Email    string
	Name     string
	Corbado  *Corbado // set in Corbado mode: Corbado's UI replaces the sign-up form and log-in button
	Busy     bool     // a prompt is open: the status says so, the passkey buttons are disabled (as passkeys.js does)
	Recovery bool     // account recovery is on: the "Lost your passkey?" link is shown
}

// HomeView is the logged-in user shown on the home page.
type HomeView struct {
	Announce string       // what a screen reader hears after the swap, e.g. "Logged in as Ada"
	Focus    string       // ID of the element that takes focus after the swap; "" for the page heading
	Account  *AccountView // passkeys, sessions and activity; nil: none shown
	UserID   string
	Name     string
	Email    string
	Corbado  *Corbado // set in Corbado mode: shows Corbado's passkey list and logs out of Corbado too
	// RecoveryCodes is a set of recovery codes made just now, shown this once; nil: none.
	RecoveryCodes *RecoveryCodesView
	// EmailConfirmed says whether the address is confirmed; nil (no mail server): no status shown.
	EmailConfirmed *bool
}

// ConfirmEmailView is the page a sign-up email confirmation link opens: a confirm button (so link
// scanners confirm nothing), the words that it worked (Done), or why the link does not work.
type ConfirmEmailView struct {
	Token string // path-escaped
	Done  bool
	Error string
}

// LogoutView is the page at GET /logout, for someone who typed the address: a Log out button when
// LoggedIn, otherwise the words that they are logged out already. Name is the logged-in user's.
type LogoutView struct {
	LoggedIn bool
	Name     string
	Corbado  *Corbado // set in Corbado mode: logging out ends the Corbado session too
}

// Title is the logout page's title: "Log out", or "Logged out" when there is nobody to log out.
func (v LogoutView) Title() string {
	if v.LoggedIn {
		return "Log out"
	}
	return "Logged out"
}

// ErrorView is an error shown to the user in plain words. Status is the HTTP
// status code; an empty Title falls back to the status text.
type ErrorView struct {
	Status  int
	Title   string
	Message string
}

// pageTitle is the document title: "<Title> · Latchkey", or "Latchkey" alone.
func pageTitle(p Page) string {
	if p.Title == "" {
		return "Latchkey"
	}
	return p.Title + " · Latchkey"
}

// heading is the error's title, falling back to the status text.
func (v ErrorView) heading() string {
	if v.Title != "" {
		return v.Title
	}
	if t := http.StatusText(v.Status); t != "" {
		return t
	}
	return "Something went wrong"
}

// scriptURLs are the attributes of <body> that give ui.js the URLs of the scripts content may name in
// data-uses: data-script-copy and data-script-account, each only when set.
func scriptURLs(p Page) templ.Attributes {
	a := templ.Attributes{}
	if p.CopyURL != "" {
		a["data-script-copy"] = p.CopyURL
	}
	if p.AccountURL != "" {
		a["data-script-account"] = p.AccountURL
	}
	return a
}

// nonceAttr is the CSP nonce attribute, or nothing when nonce is empty.
func nonceAttr(nonce string) templ.Attributes {
	if nonce == "" {
		return templ.Attributes{}
	}
	return templ.Attributes{"nonce": nonce}
}

// RecoverView is the "Lost your passkey?" page: an email address and one recovery code.
type RecoverView struct {
	Announce  string
	Error     string
	Email     string
	EmailLink bool   // a mail server is configured: offer "Email me a link"
	Sent      string // the answer to "Email me a link", the same for every address
}

// RecoveryLinkView is the page an operator's one-time recovery link opens: a confirm button (so link
// scanners do not use the link up), or why the link no longer works.
type RecoveryLinkView struct {
	Token string // the link's token, posted back by the confirm button; "" when Error is set
	Error string
}

// RecoveredView is the page after any recovery: create a new passkey first, remove lost ones, then go
// home.
type RecoveredView struct {
	Name    string
	Account AccountView
}

// RecoveryCodesView is a freshly made set of recovery codes, shown once.
type RecoveryCodesView struct {
	Codes    []string
	Download string // a data: URL of the codes as a text file
}

// RecoveryMailView is the mail with a one-time recovery link.
type RecoveryMailView struct {
	Link string // the absolute URL of the link
}
