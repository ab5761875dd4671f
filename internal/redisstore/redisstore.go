// Package redisstore keeps Latchkey's sessions in Redis, shared by every instance, and lets instances
// tell each other about changes.
//
// Reads use Redis's server-assisted client-side caching (RESP3 CLIENT TRACKING, through rueidis): an
// instance keeps the sessions it has read in memory and Redis tells it, as part of the write, when one
// of them changes or is deleted — by any instance or the command line. A logout or revocation deletes
// the key, Redis queues the invalidation to every instance holding it before it answers the delete, and
// an instance whose connection to Redis breaks drops its whole cache. So an authenticated request
// usually makes no network round trip, and no instance serves a session after its deletion returned
// (bound: the time the invalidation message takes to reach it, the same network path as the delete).
package redisstore

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/startup"
)

// opTimeout bounds every Redis call Latchkey makes on a request's behalf: with Redis unreachable, rueidis
// keeps redialling until the context ends, and a request must get its answer (503) rather than hang.
const opTimeout = 2 * time.Second

// bounded is ctx with opTimeout, unless it already ends sooner.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, opTimeout)
}

// Redis is a connection to the Redis that Latchkey's instances share.
type Redis struct {
	c      rueidis.Client
	prefix string
}

// Options are what a Redis connection needs besides its URL.
type Options struct {
	// RootCAs are the certificate authorities a rediss:// server's certificate must chain to; nil: the
	// system's.
	RootCAs *x509.CertPool
}

// Open connects to redisURL (redis://[:password@]host:port/db, or rediss:// for TLS); every key and
// channel Latchkey uses starts with prefix.
func Open(ctx context.Context, redisURL, prefix string) (*Redis, error) {
	return OpenWith(ctx, redisURL, prefix, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, redisURL, prefix string, o Options) (*Redis, error) {
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis: LATCHKEY_REDIS_URL %s: %w", Redact(redisURL), err)
	}
	if opt.TLSConfig != nil && o.RootCAs != nil {
		opt.TLSConfig.RootCAs = o.RootCAs
	}
	opt.Dialer.Timeout = 3 * time.Second
	opt.ConnWriteTimeout = 5 * time.Second
	opt.CacheSizeEachConn = 64 << 20
	c, err := rueidis.NewClient(opt)
	if err != nil {
		if startup.CertificateRejected(err) {
			return nil, fmt.Errorf("redis: %s presented a TLS certificate Latchkey does not trust (if a private CA signed it, set LATCHKEY_REDIS_CA_FILE to that CA's PEM file): %w", Redact(redisURL), err)
		}
		return nil, fmt.Errorf("redis: cannot connect to %s: %w", Redact(redisURL), err)
	}
	r := &Redis{c: c, prefix: prefix}
	if err := r.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: %s does not answer: %w", Redact(redisURL), err)
	}
	return r, nil
}

// Refused reports whether err is Redis turning the connection down for good — a wrong password or
// user, or a user without the permissions needed — which waiting cannot cure.
func Refused(err error) bool {
	var re *rueidis.RedisError
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, prefix := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "ERR AUTH", "ERR invalid password"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// Redact is redisURL with its password hidden, for messages.
func Redact(redisURL string) string {
	u, err := url.Parse(redisURL)
	if err != nil || u.Host == "" {
		return "(an unparsable URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// Client is the rueidis client, for other Redis-backed parts (shared rate limits).
func (r *Redis) Client() rueidis.Client { return r.c }

// Prefix is the key prefix.
func (r *Redis) Prefix() string { return r.prefix }

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error {
	return r.c.Do(ctx, r.c.B().Ping().Build()).Error()
}

// Close closes the connections.
func (r *Redis) Close() { r.c.Close() }

func (r *Redis) sessionKey(token string) string  { return r.prefix + "s:" + token }
func (r *Redis) versionKey(userID string) string { return r.prefix + "uv:" + userID }

// DeleteSessions deletes session tokens (the store's EndingSessions hook, inside the transaction that
// ends them).
func (r *Redis) DeleteSessions(ctx context.Context, tokens []string) error {
	if len(tokens) == 0 {
		return nil
	}
	ctx, cancel := bounded(ctx)
	defer cancel()
	keys := make([]string, len(tokens))
	for i, t := range tokens {
		keys[i] = r.sessionKey(t)
	}
	if err := r.c.Do(ctx, r.c.B().Del().Key(keys...).Build()).Error(); err != nil {
		return fmt.Errorf("redis: delete sessions: %w", err)
	}
	return nil
}

// versionTTL bounds how long a user's version counter is kept after its last change; a cached account
// view lives far shorter, so a counter that expired (and restarts) can never match a stale view.
const versionTTL = 7 * 24 * time.Hour

// Version is the change counter of userID's account page (0 before any change), read through the
// client-side cache: Redis invalidates it when any instance bumps it.
func (r *Redis) Version(ctx context.Context, userID string) (uint64, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	v, err := r.c.DoCache(ctx, r.c.B().Get().Key(r.versionKey(userID)).Cache(), time.Minute).ToString()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redis: account version: %w", err)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redis: account version %q: %w", v, err)
	}
	return n, nil
}

// Bump moves the change counters of users on, so every instance's cached account view of them is stale.
func (r *Redis) Bump(ctx context.Context, users ...string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	cmds := make(rueidis.Commands, 0, 2*len(users))
	for _, u := range users {
		cmds = append(cmds, r.c.B().Incr().Key(r.versionKey(u)).Build(),
			r.c.B().Pexpire().Key(r.versionKey(u)).Milliseconds(versionTTL.Milliseconds()).Build())
	}
	for _, res := range r.c.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			return fmt.Errorf("redis: bump account version: %w", err)
		}
	}
	return nil
}

// Publish tells every instance subscribed to topic (see Subscribe) that it happened.
func (r *Redis) Publish(ctx context.Context, topic, message string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	return r.c.Do(ctx, r.c.B().Publish().Channel(r.prefix+"events:"+topic).Message(message).Build()).Error()
}

// Subscribe calls fn with each message published to topic until ctx ends, resubscribing after a
// connection loss (and calling fn with "" after each resubscription, since messages may have been
// missed).
func (r *Redis) Subscribe(ctx context.Context, topic string, fn func(message string)) {
	channel := r.prefix + "events:" + topic
	first := true
	for ctx.Err() == nil {
		err := r.c.Receive(ctx, r.c.B().Subscribe().Channel(channel).Build(), func(m rueidis.PubSubMessage) {
			fn(m.Message)
		})
		if ctx.Err() != nil {
			return
		}
		_ = err
		if !first {
			fn("")
		}
		first = false
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// Sessions keeps scs sessions in Redis (data, with the session's expiry as the key's), with the
// registry in the database (who owns each session, its device, for the account page and for ending a
// user's sessions). It keeps session.Store's contract: CommitCtx never recreates a deleted session.
type Sessions struct {
	r        *Redis
	registry session.Store
}

// Sessions returns the session store over registry (the database's sessions).
func (r *Redis) Sessions(registry session.Store) *Sessions {
	return &Sessions{r: r, registry: registry}
}

// cacheTTL is how long an instance keeps a session it read in memory at most (Redis invalidates it
// earlier whenever it changes; rueidis also never keeps it past the key's own expiry).
const cacheTTL = 10 * time.Minute

// FindCtx returns the session's data, usually from this instance's memory.
func (s *Sessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	c := s.r.c
	b, err := c.DoCache(ctx, c.B().Get().Key(s.r.sessionKey(token)).Cache(), cacheTTL).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: find session: %w", err)
	}
	return b, true, nil
}

// CreateCtx creates a login's session: in Redis first, then in the registry — which creates it only
// while the login's provider session is active. If the registry refuses or fails, the Redis key is
// deleted again. (A user's sessions are ended by deleting registry rows and, in the same transaction,
// their Redis keys; a login racing that either has its row deleted with the others, or finds its
// provider session revoked and deletes its own key.)
func (s *Sessions) CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, cr session.Created) (bool, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	c := s.r.c
	k := s.r.sessionKey(token)
	err := c.Do(ctx, c.B().Set().Key(k).Value(rueidis.BinaryString(data)).Nx().Pxat(expiry).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return false, errors.New("redis: create session: token already exists")
	}
	if err != nil {
		return false, fmt.Errorf("redis: create session: %w", err)
	}
	created, err := s.registry.CreateCtx(ctx, token, data, expiry, cr)
	if err != nil || !created {
		if derr := c.Do(context.WithoutCancel(ctx), c.B().Del().Key(k).Build()).Error(); derr != nil {
			err = errors.Join(err, fmt.Errorf("redis: undo session: %w", derr))
		}
	}
	return created, err
}

// CommitCtx updates a session that still exists in Redis (SET … XX: a deleted or expired session stays
// deleted), then its registry row (its expiry and last-seen time).
func (s *Sessions) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	c := s.r.c
	err := c.Do(ctx, c.B().Set().Key(s.r.sessionKey(token)).Value(rueidis.BinaryString(data)).Xx().Pxat(expiry).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return nil // ended meanwhile: nothing to update
	}
	if err != nil {
		return fmt.Errorf("redis: commit session: %w", err)
	}
	return s.registry.CommitCtx(ctx, token, data, expiry)
}

// DeleteCtx ends the session: its registry row and, in the same transaction, its key (through the
// store's hook); the key is deleted here too, should the row be missing.
func (s *Sessions) DeleteCtx(ctx context.Context, token string) error {
	if err := s.registry.DeleteCtx(ctx, token); err != nil {
		return err
	}
	return s.r.DeleteSessions(ctx, []string{token})
}

// Find is FindCtx without a context.
func (s *Sessions) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit is CommitCtx without a context.
func (s *Sessions) Commit(token string, data []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, data, expiry)
}

// Delete is DeleteCtx without a context.
func (s *Sessions) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }
