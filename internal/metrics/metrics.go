// Package metrics is Latchkey's Prometheus instrumentation: a registry of the app's own (never the
// global default one) holding the log-in, sign-up and session-exchange outcomes, ceremony latency,
// active sessions, rate-limit refusals and the Go runtime and process collectors.
//
// Every label value comes from a small fixed set defined here, never from a request, and every labelled
// series is resolved when the Metrics is made, so counting on a request path is an atomic add (a map
// lookup by a constant string at most) and allocates nothing.
package metrics

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Reasons a sign-up, log-in or session exchange failed: the values of the reason label. The provider's
// outcome codes (the codes the passkey script reads) are reasons under the same names.
const (
	ReasonBadRequest      = "bad_request"      // not JSON of the expected shape, too large, wrong content type
	ReasonNoCeremony      = "no_ceremony"      // finish without a (valid, unexpired) ceremony cookie
	ReasonInvalid         = "invalid"          // the ceremony response could not be read, or was already used
	ReasonInvalidFields   = "invalid_fields"   // sign-up: the email address or name is not acceptable
	ReasonEmailTaken      = "email_taken"      // sign-up: the email address is already registered
	ReasonPasskeyTaken    = "passkey_taken"    // sign-up: the passkey is already registered
	ReasonUnknownPasskey  = "unknown_passkey"  // log-in: the passkey is not (or no longer) registered here
	ReasonNotVerified     = "not_verified"     // the device did not verify the person (no PIN or biometric)
	ReasonRejected        = "rejected"         // the passkey response failed verification
	ReasonExpired         = "expired"          // the passkey prompt took too long
	ReasonNoToken         = "no_token"         // exchange: no session token cookie
	ReasonTwoTokens       = "two_tokens"       // exchange: more than one session token cookie (refused)
	ReasonTokenExpired    = "token_expired"    // exchange: the session token has expired
	ReasonTokenInvalid    = "token_invalid"    // exchange: the token failed verification, or was revoked or already exchanged
	ReasonKeysUnavailable = "keys_unavailable" // exchange: the signing keys could not be fetched (Corbado mode)
	ReasonSessionEnded    = "session_ended"    // exchange: the login was revoked before its session started
	ReasonWrongCode       = "wrong_code"       // recovery: the email address and recovery code do not match (or the code was used)
	ReasonTooMany         = "too_many"         // recovery: too many attempts for the account or the client
	ReasonLinkUnknown     = "link_unknown"     // recovery: no such recovery link
	ReasonLinkUsed        = "link_used"        // recovery: the link was used already
	ReasonLinkExpired     = "link_expired"     // recovery: the link has expired
	ReasonInternal        = "internal"         // a failure on our side
	ReasonOther           = "other"            // a failure this version has no name for; should stay 0
)

// SignupReasons are the reason label values of latchkey_signup_failures_total.
func SignupReasons() []string {
	return []string{ReasonBadRequest, ReasonNoCeremony, ReasonInvalid, ReasonInvalidFields, ReasonEmailTaken,
		ReasonPasskeyTaken, ReasonNotVerified, ReasonRejected, ReasonExpired, ReasonInternal, ReasonOther}
}

// LoginReasons are the reason label values of latchkey_login_failures_total.
func LoginReasons() []string {
	return []string{ReasonBadRequest, ReasonNoCeremony, ReasonInvalid, ReasonUnknownPasskey, ReasonNotVerified,
		ReasonRejected, ReasonExpired, ReasonInternal, ReasonOther}
}

// ExchangeReasons are the reason label values of latchkey_session_exchange_failures_total.
func ExchangeReasons() []string {
	return []string{ReasonNoToken, ReasonTwoTokens, ReasonTokenExpired, ReasonTokenInvalid, ReasonKeysUnavailable,
		ReasonSessionEnded, ReasonInternal, ReasonOther}
}

// RecoveryReasons are the reason label values of latchkey_recovery_failures_total.
func RecoveryReasons() []string {
	return []string{ReasonWrongCode, ReasonTooMany, ReasonLinkUnknown, ReasonLinkUsed, ReasonLinkExpired, ReasonInternal, ReasonOther}
}

// PasskeyAddReasons are the reason label values of latchkey_passkey_add_failures_total.
func PasskeyAddReasons() []string {
	return []string{ReasonBadRequest, ReasonNoCeremony, ReasonInvalid, ReasonNotVerified, ReasonRejected,
		ReasonPasskeyTaken, ReasonExpired, ReasonInternal, ReasonOther}
}

// Ceremonies and steps: the label values of latchkey_ceremony_duration_seconds.
const (
	CeremonyRegistration = "registration" // sign-up
	CeremonyLogin        = "login"
	CeremonySession      = "session" // the session exchange (POST /auth/session)

	StepBegin    = "begin"
	StepFinish   = "finish"
	StepExchange = "exchange"
)

// Rate-limit classes: the class label values of latchkey_rate_limited_total.
func RateLimitClasses() []string { return []string{"begin", "finish", "exchange", "autofill"} }

// durationBuckets span a begin (well under a millisecond) to a slow finish on a loaded database.
func durationBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
}

// ActiveSessionsTTL is how long a count of active sessions is reused, so scrapes stay cheap however
// often they come; ActiveSessionsTimeout bounds one count.
const (
	ActiveSessionsTTL     = 10 * time.Second
	ActiveSessionsTimeout = 2 * time.Second
)

// Options configure New.
type Options struct {
	Log *slog.Logger
	// ActiveSessions counts the unexpired app sessions, for latchkey_active_sessions; nil: no such gauge.
	// It is called at most once per ActiveSessionsTTL (failures too), with a context of
	// ActiveSessionsTimeout. A failure is logged and reported as NaN until the next count.
	ActiveSessions func(ctx context.Context) (int64, error)
	// Collectors are registered as well (e.g. the database pool's statistics).
	Collectors []prometheus.Collector

	now func() time.Time // tests
}

// Metrics is the app's registry and its series. Its methods are safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	Signup   *Outcomes // sign-up ceremonies (begin and finish)
	Login    *Outcomes // passkey log-in ceremonies (begin and finish)
	Exchange *Outcomes // session exchanges (POST /auth/session), in both provider modes
	Recovery *Outcomes // log-ins by account recovery (a recovery code or a one-time link)
	// PasskeyAdd counts passkeys added from the account page (begin and finish).
	PasskeyAdd *Outcomes

	steps       map[[2]string]prometheus.Observer
	rateLimited map[string]prometheus.Counter
	nowhere     prometheus.Counter // never registered: what an unknown class counts into
}

// New makes the metrics on a registry of their own. Go runtime and process collectors are included.
func New(opts Options) *Metrics {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		Signup: newOutcomes(reg, "latchkey_signups_total", "Accounts created with a passkey (sign-up finished).",
			"latchkey_signup_failures_total", "Sign-ups refused at begin or finish, by reason.", SignupReasons()),
		Login: newOutcomes(reg, "latchkey_logins_total", "Passkey log-ins that succeeded (log-in finished; the session exchange follows).",
			"latchkey_login_failures_total", "Passkey log-ins refused at begin or finish, by reason.", LoginReasons()),
		Exchange: newOutcomes(reg, "latchkey_sessions_started_total", "Server-side sessions started by exchanging a session token (after every sign-up and log-in).",
			"latchkey_session_exchange_failures_total", "Session token exchanges refused, by reason.", ExchangeReasons()),
		Recovery: newOutcomes(reg, "latchkey_recovery_logins_total", "Sessions started by account recovery (a recovery code or a one-time link), without a passkey.",
			"latchkey_recovery_failures_total", "Account recoveries refused (a recovery code or the use of a one-time link), by reason.", RecoveryReasons()),
		PasskeyAdd: newOutcomes(reg, "latchkey_passkeys_added_total", "Passkeys added to an account from the account page.",
			"latchkey_passkey_add_failures_total", "Passkey additions refused at begin or finish, by reason.", PasskeyAddReasons()),
		steps:       map[[2]string]prometheus.Observer{},
		rateLimited: map[string]prometheus.Counter{},
		nowhere:     prometheus.NewCounter(prometheus.CounterOpts{Name: "latchkey_unregistered"}),
	}
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "latchkey_ceremony_duration_seconds",
		Help:    "Time to answer a ceremony step (requests refused by the rate limit are not timed).",
		Buckets: durationBuckets(),
	}, []string{"ceremony", "step"})
	for _, cs := range [][2]string{
		{CeremonyRegistration, StepBegin}, {CeremonyRegistration, StepFinish},
		{CeremonyLogin, StepBegin}, {CeremonyLogin, StepFinish},
		{CeremonySession, StepExchange},
	} {
		m.steps[cs] = latency.WithLabelValues(cs[0], cs[1])
	}
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "latchkey_rate_limited_total",
		Help: "Requests refused by the per-client rate limit (429), by class.",
	}, []string{"class"})
	for _, class := range RateLimitClasses() {
		m.rateLimited[class] = limited.WithLabelValues(class)
	}
	reg.MustRegister(latency, limited,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.ActiveSessions != nil {
		c := &cachedCount{count: opts.ActiveSessions, now: opts.now, log: opts.Log}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latchkey_active_sessions",
			Help: "Unexpired server-side sessions (logged-in browsers), counted at most every 10 s; NaN when the count failed.",
		}, c.value))
	}
	reg.MustRegister(opts.Collectors...)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(opts.Log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg, // promhttp_metric_handler_errors_total
	})
	return m
}

// Handler serves the metrics in the Prometheus exposition formats. It does not decide who may see them.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registry is the registry the metrics live on (for a caller's own collectors, and tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Step returns the latency series of one ceremony step (see the Ceremony and Step constants), resolved
// once. An unknown pair gets a series that goes nowhere.
func (m *Metrics) Step(ceremony, step string) prometheus.Observer {
	if o, ok := m.steps[[2]string{ceremony, step}]; ok {
		return o
	}
	return prometheus.ObserverFunc(func(float64) {})
}

// RateLimited returns the refusal counter of a rate-limit class (see RateLimitClasses), resolved once.
// An unknown class gets a counter that goes nowhere.
func (m *Metrics) RateLimited(class string) prometheus.Counter {
	if c, ok := m.rateLimited[class]; ok {
		return c
	}
	return m.nowhere
}

// Outcomes count one kind of attempt: its successes, and its failures by reason. A nil *Outcomes counts
// nothing.
type Outcomes struct {
	ok     prometheus.Counter
	failed map[string]prometheus.Counter
}

func newOutcomes(reg *prometheus.Registry, okName, okHelp, failName, failHelp string, reasons []string) *Outcomes {
	ok := prometheus.NewCounter(prometheus.CounterOpts{Name: okName, Help: okHelp})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: failName, Help: failHelp}, []string{"reason"})
	o := &Outcomes{ok: ok, failed: map[string]prometheus.Counter{}}
	for _, r := range reasons {
		o.failed[r] = failed.WithLabelValues(r) // every reason is exported from the start, at 0
	}
	reg.MustRegister(ok, failed)
	return o
}

// Succeeded counts a success.
func (o *Outcomes) Succeeded() {
	if o != nil {
		o.ok.Inc()
	}
}

// Failed counts a failure for reason (one of the Reason constants); a reason outside this kind's set
// is counted as ReasonOther.
func (o *Outcomes) Failed(reason string) {
	if o == nil {
		return
	}
	c, ok := o.failed[reason]
	if !ok {
		c = o.failed[ReasonOther]
	}
	c.Inc()
}

// cachedCount is the active sessions gauge's value: the app's count, reused for ActiveSessionsTTL.
type cachedCount struct {
	count func(ctx context.Context) (int64, error)
	now   func() time.Time
	log   *slog.Logger

	mu  sync.Mutex // held while counting: concurrent scrapes wait for one count
	at  time.Time  // when val was counted; zero: never
	val float64
}

func (c *cachedCount) value() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.at.IsZero() && now.Sub(c.at) < ActiveSessionsTTL {
		return c.val
	}
	ctx, cancel := context.WithTimeout(context.Background(), ActiveSessionsTimeout)
	defer cancel()
	n, err := c.count(ctx)
	c.at = now
	if err != nil {
		c.log.Warn("counting active sessions for /metrics failed", "err", err)
		c.val = math.NaN()
		return c.val
	}
	c.val = float64(n)
	return c.val
}
