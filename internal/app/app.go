// Package app wires Latchkey together from its configuration: store, provider, verification, sessions
// and handlers. It holds no rules of its own.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/latchkey/latchkey/assets"
	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/internal/aaguid"
	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/mail"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/redisstore"
	"github.com/latchkey/latchkey/internal/secretbox"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/startup"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/token"
	"github.com/latchkey/latchkey/internal/verify"
)

// App is a ready-to-serve Latchkey.
type App struct {
	Handler http.Handler
	store   *store.Store
	minter  *token.Minter
	log     *slog.Logger

	remoteKeys *verify.RemoteKeys // Corbado mode
	activity   *activity.Log
	retention  time.Duration     // how long the activity log keeps entries
	recovery   *recovery.Service // the embedded provider's account recovery; nil in Corbado mode

	redis    *redisstore.Redis // LATCHKEY_REDIS_URL: shared sessions, invalidations, rate limits; nil: none
	sessions session.Store     // where sessions live (see openSessions)
	account  *accountCache     // the account page's reads, cached; nil: read through
	manager  *session.Manager  // the handlers' session manager
}

// Store is the database (for tests and maintenance tools).
func (a *App) Store() *store.Store { return a.store }

// Minter is the embedded provider's token minter (for tests).
func (a *App) Minter() *token.Minter { return a.minter }

// Sessions is the session manager the handlers use (for tests and cmd/bench).
func (a *App) Sessions() *session.Manager { return a.manager }

// New opens the database, runs migrations, loads or creates keys, and builds the handler.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	st, err := store.OpenWith(ctx, cfg.DatabaseURL, log, store.Options{
		MaxOpenConns: cfg.DBMaxOpenConns,
		MaxIdleConns: cfg.DBMaxIdleConns,
		StartupWait:  cfg.StartupWait,
	})
	if err != nil {
		return nil, err
	}
	a := &App{store: st, log: log, activity: activity.New(st, log, nil), retention: cfg.ActivityRetention}
	if cfg.RedisURL != "" {
		if a.redis, err = openRedis(ctx, cfg, log); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	a.openSessions()
	h, err := a.build(ctx, cfg)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	a.Handler = h
	return a, nil
}

func (a *App) build(ctx context.Context, cfg config.Config) (http.Handler, error) {
	newAssets := assets.New
	if cfg.Dev {
		// Dev mode: assets read from ./assets whenever they change, and the component gallery.
		newAssets = func() (*assets.Assets, error) { return assets.NewFromDir("assets") }
		a.log.WarnContext(ctx, "dev mode (LATCHKEY_DEV=true): component gallery at /dev/components, assets read from ./assets; do not use in production")
	}
	static, err := newAssets()
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	deps := handlers.Deps{
		Log:    a.log,
		Assets: static,
		Ready:  a.readyChecks(),
		ActiveSessions: func(ctx context.Context) (int64, error) {
			return a.store.CountActiveSessions(ctx, time.Now())
		},
		MetricsCollectors: []prometheus.Collector{collectors.NewDBStatsCollector(a.store.DB(), "latchkey")},
		Secure:            cfg.Secure(),
		Dev:               cfg.Dev,

		TrustedProxies: cfg.TrustedProxies,
		Account:        a.store,
		Activity:       a.activity,
		RPID:           cfg.RPID(),
		RelatedOrigins: cfg.RelatedOrigins,
		Sessions: session.New(a.sessions, session.Options{
			Secure:      cfg.Secure(),
			Lifetime:    cfg.SessionLifetime,
			IdleTimeout: cfg.SessionIdle,
		}),
	}
	a.manager, _ = deps.Sessions.(*session.Manager)
	if cfg.RateLimit > 0 {
		deps.RateLimit = a.newLimiter(cfg.RateLimit, cfg.RatePeriod)
	}
	if cfg.CorbadoMode() {
		a.remoteKeys = a.corbadoDeps(ctx, cfg, static, &deps)
	} else if err := a.embeddedDeps(ctx, cfg, &deps); err != nil {
		return nil, err
	}
	if a.account != nil {
		deps.Account, deps.Activity = a.account, a.account
	}
	return handlers.New(deps), nil
}

// readyChecks are what /readyz asks: the database, and Redis when configured.
func (a *App) readyChecks() []handlers.ReadyCheck {
	checks := []handlers.ReadyCheck{{Name: "database", Check: a.store.Ping}}
	if a.redis != nil {
		checks = append(checks, handlers.ReadyCheck{Name: "redis", Check: a.redis.Ping})
	}
	return checks
}

// openRedis connects to LATCHKEY_REDIS_URL, waiting up to LATCHKEY_STARTUP_WAIT for it to answer; a
// refused password or user fails at once.
func openRedis(ctx context.Context, cfg config.Config, log *slog.Logger) (*redisstore.Redis, error) {
	var r *redisstore.Redis
	err := startup.Wait(ctx, "Redis at "+redisstore.Redact(cfg.RedisURL), cfg.StartupWait, func(ctx context.Context) error {
		var err error
		r, err = redisstore.OpenWith(ctx, cfg.RedisURL, cfg.RedisPrefix, redisstore.Options{RootCAs: cfg.RedisRootCAs})
		if err != nil && (redisstore.Refused(err) || startup.CertificateRejected(err)) {
			return startup.Permanent(err)
		}
		return err
	}, log)
	return r, err
}

// embeddedDeps fills the handler dependencies of the embedded passkey provider.
func (a *App) embeddedDeps(ctx context.Context, cfg config.Config, deps *handlers.Deps) error {
	if err := a.applySecretKey(ctx, cfg.SecretKey); err != nil {
		return err
	}
	minter, err := token.NewMinter(ctx, a.store, KeyOptions(cfg), a.log)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	a.minter = minter
	prov, err := provider.New(provider.Dependencies{Log: a.log, Store: a.store, Minter: minter, Activity: a.activity}, provider.Options{
		RPID:            cfg.RPID(),
		RPName:          cfg.RPName,
		Origin:          cfg.Origin(),
		RelatedOrigins:  cfg.RelatedOrigins,
		CeremonyTimeout: cfg.CeremonyTimeout,
		SessionLifetime: cfg.SessionLifetime,
	})
	if err != nil {
		return err
	}
	hashKey, err := a.store.Secret(ctx, "ceremony-cookie-hash-key", randomBytes(64))
	if err != nil {
		return fmt.Errorf("ceremony cookie keys: %w", err)
	}
	blockKey, err := a.store.Secret(ctx, "ceremony-cookie-block-key", randomBytes(32))
	if err != nil {
		return fmt.Errorf("ceremony cookie keys: %w", err)
	}
	verifier := verify.New(minter, verify.Options{Issuers: []string{cfg.Origin()}})
	deps.Authenticator = &embeddedAuth{verifier: verifier, provider: prov}
	deps.Ceremonies = prov
	names, err := aaguid.New()
	if err != nil {
		return fmt.Errorf("passkey names: %w", err)
	}
	deps.PasskeyNames = names
	deps.Keys = minter
	deps.CeremonyKeys = [][]byte{hashKey, blockKey}
	deps.CeremonyTimeout = cfg.CeremonyTimeout
	var mailer recovery.Mailer
	if cfg.SMTP != nil {
		mailer = mail.New(*cfg.SMTP, cfg.Origin())
	}
	a.recovery = a.newRecovery(mailer)
	deps.Recovery = a.recovery
	if mailer != nil {
		deps.EmailRecovery = a.recovery // "Email me a link" on the recover page
		deps.EmailConfirm = a.recovery  // sign-up confirms the address with a link
	}
	return nil
}

// KeyOptions are the embedded provider's signing-key settings for cfg. The server's minter and the
// admin command line (`latchkey keys …`) use the same, so they agree on when a retired key may go.
func KeyOptions(cfg config.Config) token.Options {
	return token.Options{Issuer: cfg.Origin(), TTL: cfg.TokenTTL}
}

// KeyReloadInterval is how often a running instance rereads the signing keys, picking up a rotation made
// by another instance or `latchkey keys rotate` (it must be below token.DefaultReloadAfter, past which a
// minter rereads them before signing anyway).
const KeyReloadInterval = 30 * time.Second

// Recovery is account recovery over the app's database: wrong recovery codes are limited to 5 per 15
// minutes per account and 20 per 15 minutes per client IP.
func (a *App) Recovery() *recovery.Service { return a.newRecovery(nil) }

// newRecovery is Recovery that emails links through mailer (nil: no mail server).
func (a *App) newRecovery(mailer recovery.Mailer) *recovery.Service {
	return recovery.New(recovery.Dependencies{
		Mailer:    mailer,
		Log:       a.log,
		Store:     a.store,
		Accounts:  a.newLimiter(5, 15*time.Minute),
		Clients:   a.newLimiter(20, 15*time.Minute),
		Activity:  a.activity,
		Canonical: provider.CanonicalEmail,
	})
}

// newLimiter allows perPeriod requests at once per class and client, refilled evenly over period: in
// Redis, so every instance shares the budget, when Redis is configured; per process otherwise.
func (a *App) newLimiter(perPeriod int, period time.Duration) handlers.RateLimiter {
	if a.redis != nil {
		return ratelimit.NewRedis(a.redis.Client(), a.redis.Prefix(), perPeriod, period, a.log)
	}
	return ratelimit.New(perPeriod, period, nil)
}

// applySecretKey makes the store encrypt the provider's private keys with the configured secret key
// (encrypting those stored unencrypted so far), or says once that they are stored unencrypted. A
// database whose keys are encrypted with another key, or with one while none is configured, stops
// start-up.
func (a *App) applySecretKey(ctx context.Context, secret config.Secret) error {
	var box *secretbox.Box
	if secret != "" {
		var err error
		if box, err = secretbox.New(string(secret)); err != nil {
			return err
		}
	}
	encrypted, err := a.store.ApplySecretKey(ctx, box)
	switch {
	case errors.Is(err, store.ErrSecretKeyRequired), errors.Is(err, store.ErrWrongSecretKey):
		return err // the words are for the operator, as they are
	case err != nil:
		return fmt.Errorf("secret key: %w", err)
	case box == nil:
		a.log.WarnContext(ctx, "private keys are stored unencrypted in the database: set LATCHKEY_SECRET_KEY "+
			"(or LATCHKEY_SECRET_KEY_FILE, a file holding it) to encrypt them, e.g. LATCHKEY_SECRET_KEY=$(openssl rand -base64 32)")
	case encrypted > 0:
		a.log.InfoContext(ctx, "encrypted the database's private keys with LATCHKEY_SECRET_KEY", "keys", encrypted)
	}
	return nil
}

// RunBackground runs the periodic jobs until ctx ends: purging expired rows and retired signing keys,
// rereading the signing keys every KeyReloadInterval and, in Corbado mode, refreshing Corbado's JWKS on
// its schedule.
func (a *App) RunBackground(ctx context.Context) {
	if a.remoteKeys != nil {
		go a.remoteKeys.Run(ctx)
	}
	if a.minter != nil {
		go a.ReloadKeys(ctx, KeyReloadInterval)
		if a.redis != nil {
			// A rotation announced by the command line (or "" after a reconnection: one may have been missed).
			go a.redis.Subscribe(ctx, keysTopic, func(string) { a.reloadKeys(ctx) })
		}
	}
	a.RunMaintenance(ctx, 10*time.Minute)
}

// ReloadKeys rereads the embedded provider's signing keys every interval until ctx ends (see
// token.Minter.Reload).
func (a *App) ReloadKeys(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() { a.reloadKeys(ctx) })
}

// reloadKeys rereads the signing keys once, logging a failure.
func (a *App) reloadKeys(ctx context.Context) {
	if err := a.minter.Reload(ctx); err != nil && ctx.Err() == nil {
		a.log.Error("rereading the signing keys failed", "err", err)
	}
}

// RunMaintenance purges expired rows and retired signing keys every interval until ctx ends.
func (a *App) RunMaintenance(ctx context.Context, interval time.Duration) {
	every(ctx, interval, func() { a.maintain(ctx) })
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// maintain runs the periodic jobs once.
func (a *App) maintain(ctx context.Context) {
	n, err := a.store.DeleteExpired(ctx, time.Now())
	if err != nil && ctx.Err() == nil {
		a.log.Error("purging expired rows failed", "err", err)
	} else if n > 0 {
		a.log.Debug("purged expired rows", "rows", n)
	}
	if n, err := a.activity.Prune(ctx, a.retention); err != nil && ctx.Err() == nil {
		a.log.Error("pruning the activity log failed", "err", err)
	} else if n > 0 {
		a.log.Debug("pruned the activity log", "entries", n)
	}
	if a.minter == nil {
		return // Corbado mode: no signing keys
	}
	kids, err := a.minter.DeleteRetiredKeys(ctx)
	if err != nil && ctx.Err() == nil {
		a.log.Error("deleting retired signing keys failed", "err", err)
	} else if len(kids) > 0 {
		a.log.Info("deleted retired signing keys", "kids", kids)
	}
}

// Close releases the database and Redis.
func (a *App) Close() error {
	a.WaitMail()
	if a.redis != nil {
		a.redis.Close()
	}
	return a.store.Close()
}

// WaitMail waits until the emailed recovery links on their way are sent (or given up on).
func (a *App) WaitMail() {
	if a.recovery != nil {
		a.recovery.Wait()
	}
}

// embeddedAuth verifies the embedded provider's JWT and claims its provider session: each JWT starts at
// most one app session, and none once the provider session is revoked or expired.
type embeddedAuth struct {
	verifier *verify.Verifier
	provider *provider.Provider
}

func (e *embeddedAuth) Authenticate(ctx context.Context, raw string) (session.User, error) {
	id, err := e.verifier.Verify(ctx, raw)
	if err != nil {
		return session.User{}, err
	}
	if id.SessionID == "" {
		return session.User{}, fmt.Errorf("%w: token has no sid", verify.ErrClaims)
	}
	claimed, err := e.provider.ClaimSession(ctx, id.SessionID, id.UserID)
	if err != nil {
		return session.User{}, fmt.Errorf("claim provider session: %w", err)
	}
	if !claimed {
		return session.User{}, fmt.Errorf("%w: provider session %s of %s revoked, expired, already exchanged or not that user's",
			verify.ErrRevoked, id.SessionID, id.UserID)
	}
	return session.User{ID: id.UserID, Name: id.Name, Email: id.Email, ProviderSessionID: id.SessionID}, nil
}

func randomBytes(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return b, nil
	}
}
