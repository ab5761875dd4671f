package app

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/store"
)

// versions tells how far each user's account page has changed: a cached view of a user is current while
// their version has not moved.
type versions interface {
	Version(ctx context.Context, userID string) (uint64, error)
}

// localVersions are the change counters of one process (one SQLite instance), moved by the store's
// Changed hook. When the table is full it starts a new generation, so every older view is stale.
type localVersions struct {
	mu   sync.Mutex
	gen  uint64
	m    map[string]uint64
	max  int
	next uint64
}

func newLocalVersions() *localVersions { return &localVersions{m: map[string]uint64{}, max: 100_000} }

func (l *localVersions) Version(_ context.Context, userID string) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen<<40 | l.m[userID], nil
}

func (l *localVersions) bump(users ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m)+len(users) > l.max {
		clear(l.m)
		l.gen++
	}
	for _, u := range users {
		l.next++
		l.m[u] = l.next
	}
}

// accountCache serves the account page's reads — passkeys, sessions, recent activity — from memory
// while the user's version is unchanged (and for at most maxAge, so last-seen times stay fresh), and
// passes every other call to the store and the activity log. Views are read-only copies.
type accountCache struct {
	*store.Store
	log      *activity.Log
	versions versions
	maxAge   time.Duration
	max      int

	mu    sync.Mutex
	views map[string]*accountView
}

type part int

const (
	partPasskeys part = iota
	partSessions
	partActivity
	parts
)

type accountView struct {
	version uint64
	at      [parts]time.Time // zero: not loaded
	vals    [parts]any
}

func newAccountCache(st *store.Store, log *activity.Log, v versions) *accountCache {
	return &accountCache{Store: st, log: log, versions: v, maxAge: 30 * time.Second, max: 20_000, views: map[string]*accountView{}}
}

// get returns part p of userID's view, loading it when the cached one is missing, stale or of another
// version. The version is read before loading, so a change committed during the load leaves a view
// that the next read sees as stale.
func (c *accountCache) get(ctx context.Context, userID string, p part, load func() (any, error)) (any, error) {
	v, err := c.versions.Version(ctx, userID)
	if err != nil {
		return load() // no way to know what is current: read through
	}
	now := time.Now()
	c.mu.Lock()
	if e := c.views[userID]; e != nil && e.version == v && !e.at[p].IsZero() && now.Sub(e.at[p]) < c.maxAge {
		val := e.vals[p]
		c.mu.Unlock()
		return val, nil
	}
	c.mu.Unlock()
	val, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.views[userID]
	if e == nil || e.version != v {
		if len(c.views) >= c.max {
			clear(c.views)
		}
		e = &accountView{version: v}
		c.views[userID] = e
	}
	e.at[p], e.vals[p] = now, val
	return val, nil
}

// forget drops the views of users (this process's own changes, without waiting for the version).
func (c *accountCache) forget(users ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range users {
		delete(c.views, u)
	}
}

// PasskeysByUser is the store's, cached.
func (c *accountCache) PasskeysByUser(ctx context.Context, userID string) ([]store.Passkey, error) {
	v, err := c.get(ctx, userID, partPasskeys, func() (any, error) { return c.Store.PasskeysByUser(ctx, userID) })
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]store.Passkey)), nil
}

// SessionsOfUser is the store's, cached: sessions that expired since they were read are left out.
func (c *accountCache) SessionsOfUser(ctx context.Context, userID string, now time.Time) ([]store.AppSession, error) {
	v, err := c.get(ctx, userID, partSessions, func() (any, error) { return c.Store.SessionsOfUser(ctx, userID, now) })
	if err != nil {
		return nil, err
	}
	all := v.([]store.AppSession)
	out := make([]store.AppSession, 0, len(all))
	for _, s := range all {
		if s.ExpiresAt.After(now) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Record appends to the activity log.
func (c *accountCache) Record(ctx context.Context, userID, kind, detail string) {
	c.log.Record(ctx, userID, kind, detail)
}

// Recent is the activity log's, cached.
func (c *accountCache) Recent(ctx context.Context, userID string) ([]store.Activity, error) {
	v, err := c.get(ctx, userID, partActivity, func() (any, error) { return c.log.Recent(ctx, userID) })
	if err != nil {
		return nil, err
	}
	return slices.Clone(v.([]store.Activity)), nil
}
