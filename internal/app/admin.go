package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/redisstore"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
)

// keysTopic is the Redis channel on which a key rotation is announced to running instances.
const keysTopic = "keys"

// Admin is the database as the command line uses it: its changes reach running instances as the
// server's own do — sessions it ends are deleted from Redis in the same transaction, account pages it
// changes are marked stale, and a key rotation is announced.
type Admin struct {
	Store *store.Store
	redis *redisstore.Redis
	log   *slog.Logger
}

// OpenAdmin opens the configured database (and Redis, when configured) for the command line.
func OpenAdmin(ctx context.Context, cfg config.Config, log *slog.Logger) (*Admin, error) {
	st, err := store.OpenWith(ctx, cfg.DatabaseURL, log, store.Options{
		MaxOpenConns: cfg.DBMaxOpenConns, MaxIdleConns: cfg.DBMaxIdleConns, StartupWait: cfg.StartupWait,
	})
	if err != nil {
		return nil, err
	}
	a := &Admin{Store: st, log: log}
	if cfg.RedisURL != "" {
		if a.redis, err = openRedis(ctx, cfg, log); err != nil {
			_ = st.Close()
			return nil, err
		}
		st.SetHooks(&store.Hooks{
			EndingSessions: a.redis.DeleteSessions,
			Changed: func(ctx context.Context, users, _ []string) {
				if err := a.redis.Bump(ctx, users...); err != nil {
					log.WarnContext(ctx, "running instances may show an account page up to 30 s old", "err", err)
				}
			},
		})
	}
	return a, nil
}

// Close closes the database and Redis.
func (a *Admin) Close() error {
	if a.redis != nil {
		a.redis.Close()
	}
	return a.Store.Close()
}

// KeysRotated tells running instances to reread the signing keys now (through Redis; without it they
// do within KeyReloadInterval, and at once for a token of a key they do not know).
func (a *Admin) KeysRotated(ctx context.Context) error {
	if a.redis == nil {
		return nil
	}
	return a.redis.Publish(ctx, keysTopic, "rotated")
}

// SessionsEnded returns once no running instance can still serve the sessions just ended: with Redis
// at once (their keys are gone and every instance's copy invalidated); with SQLite after the one
// instance's session cache has asked the database again (sessionCacheMaxAge); PostgreSQL alone caches
// nothing.
func (a *Admin) SessionsEnded(ctx context.Context) {
	if a.redis != nil || a.Store.Dialect() != store.DialectSQLite {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(sessionCacheMaxAge):
	}
}

// SessionStore is where cfg's sessions live, over the open database st, for tools that create sessions
// as a login would (cmd/bench's seeding): Redis with st as the registry when Redis is configured, else
// st itself. close releases what it opened.
func SessionStore(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) (s session.Store, close func(), err error) {
	registry := sessionStore{st.SessionStore()}
	if cfg.RedisURL == "" {
		return registry, func() {}, nil
	}
	r, err := openRedis(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return r.Sessions(registry), r.Close, nil
}
