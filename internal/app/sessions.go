package app

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
)

// sessionStore is the database's scs store seen as a session.Store: it turns the session package's
// description of a new session into the store's.
type sessionStore struct{ *store.SessionStore }

func (s sessionStore) CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, c session.Created) (bool, error) {
	return s.SessionStore.CreateCtx(ctx, token, data, expiry, store.NewSession{
		UserID:            c.UserID,
		ProviderSessionID: c.ProviderSessionID,
		PublicID:          c.PublicID,
		IP:                c.Device.IP,
		UserAgent:         c.Device.UserAgent,
		CreatedAt:         c.At,
	})
}

// sessionCacheMaxAge bounds how long one SQLite instance serves a cached session without asking the
// database: the time a change made by another process (the command line) can take to be seen. Changes
// made through the instance itself are seen at once.
const sessionCacheMaxAge = time.Second

// openSessions decides where sessions live and how the instance learns that they ended or that an
// account page changed, and installs the store's hooks accordingly:
//
//   - Redis: sessions in Redis, read through its client-side cache (Redis invalidates every instance's
//     copy when a session changes or is deleted); a user's sessions are deleted from Redis inside the
//     database transaction that ends them; account pages are cached per instance against a version
//     counter in Redis, bumped after each change.
//   - SQLite without Redis (one instance): sessions in the database with an in-process cache, told at
//     once about every session this process ends; account pages cached against local counters.
//   - PostgreSQL without Redis: several instances may share the database and nothing would tell one
//     about another's changes, so nothing is cached; every request reads the database.
func (a *App) openSessions() {
	registry := sessionStore{a.store.SessionStore()}
	hooks := &store.Hooks{}
	switch {
	case a.redis != nil:
		a.sessions = a.redis.Sessions(registry)
		a.account = newAccountCache(a.store, a.activity, a.redis)
		hooks.EndingSessions = a.redis.DeleteSessions
		hooks.Changed = func(ctx context.Context, users, _ []string) {
			a.account.forget(users...)
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := a.redis.Bump(ctx, users...); err != nil {
				a.log.WarnContext(ctx, "other instances may show an account page up to 30 s old", "err", err)
			}
		}
	case a.store.Dialect() == store.DialectSQLite:
		cache := session.NewCache(registry, session.CacheOptions{MaxAge: sessionCacheMaxAge})
		local := newLocalVersions()
		a.sessions = cache
		a.account = newAccountCache(a.store, a.activity, local)
		hooks.EndingSessions = func(_ context.Context, tokens []string) error {
			cache.Forget(tokens...)
			return nil
		}
		hooks.Changed = func(_ context.Context, users, ended []string) {
			if len(ended) > 0 {
				cache.Forget(ended...) // again, now that the deletion is committed
			}
			local.bump(users...)
			a.account.forget(users...)
		}
	default:
		a.sessions = registry
	}
	a.store.SetHooks(hooks)
}
