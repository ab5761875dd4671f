// Package handlers is Latchkey's HTTP layer: routes, rendering and middleware. The rules live in internal/.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/httpgzip"
	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
)

// Sessions is the app's server-side session store.
type Sessions interface {
	Middleware(next http.Handler) http.Handler
	Login(ctx context.Context, u session.User, d session.Device) (session.User, error)
	User(ctx context.Context) (session.User, bool)
	Logout(ctx context.Context) (session.User, error)
	Rename(ctx context.Context, name string)
}

// sessionErrors is a Sessions whose answer to a failing session store can be set.
type sessionErrors interface {
	OnError(fn func(w http.ResponseWriter, r *http.Request, err error))
}

// Authenticator verifies a session JWT (once per login) and says who it belongs to.
type Authenticator interface {
	Authenticate(ctx context.Context, rawToken string) (session.User, error)
}

// Ceremonies are the embedded provider's passkey ceremonies. Nil in Corbado mode.
type Ceremonies interface {
	BeginSignup(ctx context.Context, email, name string) (*protocol.CredentialCreation, provider.Ceremony, error)
	FinishSignup(ctx context.Context, c provider.Ceremony, body []byte) (provider.Issued, error)
	BeginLogin(ctx context.Context) (*protocol.CredentialAssertion, provider.Ceremony, error)
	FinishLogin(ctx context.Context, c provider.Ceremony, body []byte) (provider.Issued, error)
	Revoke(ctx context.Context, sid string) error
	BeginAddPasskey(ctx context.Context, userID string) (*protocol.CredentialCreation, provider.Ceremony, error)
	FinishAddPasskey(ctx context.Context, c provider.Ceremony, body []byte, userID string) (store.Passkey, error)
}

// KeySet publishes the embedded provider's public signing keys.
type KeySet interface {
	JWKS(ctx context.Context) ([]byte, error)
}

// Assets serves the static files under content-hashed URLs.
type Assets interface {
	URL(name string) string
	Handler() http.Handler
}

// RateLimiter decides whether a client (by IP) may make another request of a class now. Each class
// ("begin", "finish", "exchange") is a separate budget, so the steps of one log-in never compete.
type RateLimiter interface {
	Allow(class, client string) (ok bool, retryAfter time.Duration)
}

// Deps are everything the handlers need. Ceremonies and Keys are nil in Corbado mode.
type Deps struct {
	Log           *slog.Logger
	Sessions      Sessions
	Authenticator Authenticator
	Ceremonies    Ceremonies
	Keys          KeySet
	Assets        Assets

	// Ready are the dependencies GET /readyz checks (the database; Redis when configured).
	Ready []ReadyCheck
	// ActiveSessions counts the unexpired app sessions for the latchkey_active_sessions gauge (at most
	// every 10 s); nil: no such gauge.
	ActiveSessions func(ctx context.Context) (int64, error)
	// MetricsCollectors are more series for GET /metrics (e.g. the database pool's statistics).
	MetricsCollectors []prometheus.Collector

	Corbado  *components.Corbado // Corbado mode: Corbado's UI on the login and home pages
	ExtraCSP CSPSources          // origins the page may reach besides its own (Corbado's, in Corbado mode)

	RateLimit      RateLimiter    // per client IP on the ceremony endpoints and /auth/session; nil = no limit
	TrustedProxies []netip.Prefix // proxies whose X-Forwarded-For names the client

	Secure          bool          // https public URL: Secure cookies, __Host- prefixes, HSTS
	CeremonyKeys    [][]byte      // gorilla/securecookie hash and block keys for the ceremony cookie
	CeremonyTimeout time.Duration // lifetime of the ceremony cookie

	Dev bool // dev mode (LATCHKEY_DEV=true): the component gallery at /dev/components; off, /dev/ is 404

	Account        AccountStore  // the account page: passkeys, sessions; both modes
	Activity       ActivityLog   // the account's activity log; both modes
	PasskeyNames   PasskeyNames  // passkey provider names from the AAGUID list; nil: none
	RPID           string        // the relying party ID, for the WebAuthn Signal API
	RelatedOrigins []string      // served at /.well-known/webauthn; empty: 404
	Recovery       Recovery      // account recovery (embedded provider only); nil: none
	EmailRecovery  EmailRecovery // emailed recovery links (with Recovery, when SMTP is set); nil: not offered
	EmailConfirm   EmailConfirm  // sign-up email confirmation (when SMTP is set); nil: none
}

// Handler holds the dependencies of every route.
type Handler struct {
	log      *slog.Logger
	deps     Deps
	ceremony *ceremonyCookies
	metrics  *metrics.Metrics
	gzip     *httpgzip.Pool // rendered pages: buffers and gzip writers, reused
	gzipBig  *httpgzip.Pool // the same for pages over bigPage bytes, at a faster level
}

type route struct {
	pattern string
	handler http.HandlerFunc
}

// New returns the whole application as one http.Handler: every route is in the table below.
func New(deps Deps) http.Handler {
	h := &Handler{log: deps.Log, deps: deps, gzip: httpgzip.NewPool(htmlGzipLevel), gzipBig: httpgzip.NewPool(bigPageGzipLevel), metrics: metrics.New(metrics.Options{
		Log:            deps.Log,
		ActiveSessions: deps.ActiveSessions,
		Collectors:     deps.MetricsCollectors,
	})}
	m := h.metrics
	if se, ok := deps.Sessions.(sessionErrors); ok {
		se.OnError(h.sessionStoreFailed)
	}
	if deps.Ceremonies != nil {
		h.ceremony = newCeremonyCookies(deps.CeremonyKeys, deps.CeremonyTimeout, deps.Secure)
	}

	routes := []route{
		{"GET /{$}", h.loginPage},
		{"POST /{$}", h.loginWithoutJavaScript},
		{"GET /home", h.homePage},
		{"POST /account/sessions/revoke", h.revokeSession},
		{"POST /account/sessions/revoke-others", h.revokeOtherSessions},
		{"POST /auth/session", h.limited("exchange", timed(m.Step(metrics.CeremonySession, metrics.StepExchange), h.exchangeSession))},
		{"GET /logout", h.logoutPage},
		{"POST /logout", h.logout},
		{"GET /healthz", h.health},
		{"GET /readyz", h.ready},
		{"GET /metrics", h.metricsPage}, // loopback and private addresses only (ops.go)
		{"GET /.well-known/webauthn", h.relatedOrigins},
		{"GET /favicon.ico", h.favicon},
		{"GET /dev/", h.dev}, // the component gallery in dev mode (dev.go); 404 otherwise
		{"/", h.notFound},
	}
	if deps.Ceremonies != nil { // the embedded provider
		routes = append(routes,
			route{"POST /passkeys/signup/begin", h.limited("begin", timed(m.Step(metrics.CeremonyRegistration, metrics.StepBegin), h.signupBegin))},
			route{"POST /passkeys/signup/finish", h.limited("finish", timed(m.Step(metrics.CeremonyRegistration, metrics.StepFinish), h.signupFinish))},
			route{"POST /passkeys/login/begin", h.limited("begin", timed(m.Step(metrics.CeremonyLogin, metrics.StepBegin), h.loginBegin))},
			// Passkey autofill starts a log-in on every view of the login page: its own budget, so page
			// views never use up the button's; like every begin it writes nothing but the ceremony cookie.
			route{"POST /passkeys/login/autofill", h.limited("autofill", timed(m.Step(metrics.CeremonyLogin, metrics.StepBegin), h.loginBegin))},
			route{"POST /passkeys/login/finish", h.limited("finish", timed(m.Step(metrics.CeremonyLogin, metrics.StepFinish), h.loginFinish))},
			route{"POST /account/passkeys/add/begin", h.limited("begin", h.addPasskeyBegin)},
			route{"POST /account/passkeys/add/finish", h.limited("finish", h.addPasskeyFinish)},
			route{"POST /account/passkeys/rename", h.renamePasskey},
			route{"POST /account/passkeys/delete", h.deletePasskey},
			route{"POST /account/name", h.changeName},
		)
		if deps.Recovery != nil {
			routes = append(routes,
				route{"GET /recover", h.recoverPage},
				route{"POST /recover", h.recoverWithCode}, // rate limited per account and per IP by Recovery
				route{"GET /recover/{token}", h.recoveryLinkPage},
				route{"POST /recover/{token}", h.limited("finish", h.useRecoveryLink)},
				route{"GET " + recoveredPath, h.recoveredPage},
				route{"POST /account/recovery-codes", h.newRecoveryCodes},
			)
			if deps.EmailConfirm != nil {
				routes = append(routes,
					route{"GET /confirm/{token}", h.confirmEmailPage},
					route{"POST /confirm/{token}", h.limited("finish", h.confirmEmail)},
				)
			}
			if deps.EmailRecovery != nil { // without a mail server, POST /recover/email is an unknown link: 404
				routes = append(routes, route{"POST /recover/email", h.recoverByEmail}) // limited per address and per IP by EmailRecovery
			}
		}
	}
	if deps.Keys != nil {
		routes = append(routes, route{"GET /.well-known/jwks", h.jwks})
	}

	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.pattern, rt.handler)
	}
	mux.Handle("GET /assets/", deps.Assets.Handler())

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(h.crossOrigin))

	var app http.Handler = mux
	app = deps.Sessions.Middleware(app)
	app = h.requestOrigin(app)
	app = csrf.Handler(app)
	app = securityHeaders(app, deps.Secure, deps.ExtraCSP)
	app = h.recoverer(app)
	app = h.logRequests(app)
	return app
}
