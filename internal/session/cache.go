package session

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// ExpiryStore is a Store that can also say when a session it finds expires, so a cache never serves it
// past its expiry.
type ExpiryStore interface {
	Store
	FindExpiryCtx(ctx context.Context, token string) (data []byte, expiry time.Time, found bool, err error)
}

// CacheOptions configures a Cache.
type CacheOptions struct {
	// MaxAge is how long a cached session is served before the store is asked again. It bounds how long
	// a change made by another process (the command line) can go unseen; changes made through this
	// process — its own logouts, revocations, deletions — are seen at once.
	MaxAge time.Duration
	// MaxEntries bounds memory; 0 means 200,000.
	MaxEntries int
	Now        func() time.Time // nil: time.Now
}

// Cache keeps the sessions a single process serves in memory, so an authenticated request usually
// makes no database round trip. It never serves a session after it was ended through this process:
// Forget (wired to the store's hooks) drops it before and after the ending transaction commits, and a
// lookup that raced with any Forget is not cached. It is only correct when every change to sessions
// goes through this process, with other processes' changes bounded by MaxAge: one SQLite instance.
type Cache struct {
	inner  ExpiryStore
	maxAge time.Duration
	max    int
	now    func() time.Time

	epoch atomic.Uint64 // bumped by every Forget; a lookup that saw it move stores nothing
	mu    sync.RWMutex
	items map[string]cached

	hits, misses atomic.Uint64
}

type cached struct {
	data    []byte
	expiry  time.Time // the store's expiry of the session
	fetched time.Time
}

// NewCache caches inner's sessions.
func NewCache(inner ExpiryStore, opts CacheOptions) *Cache {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 200_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache{inner: inner, maxAge: opts.MaxAge, max: opts.MaxEntries, now: opts.Now, items: map[string]cached{}}
}

// FindCtx serves token from memory while it is fresh and unexpired, else from the store.
func (c *Cache) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.items[token]
	c.mu.RUnlock()
	if ok && now.Before(e.expiry) && now.Sub(e.fetched) < c.maxAge {
		c.hits.Add(1)
		return e.data, true, nil
	}
	c.misses.Add(1)
	epoch := c.epoch.Load()
	data, expiry, found, err := c.inner.FindExpiryCtx(ctx, token)
	if err != nil || !found {
		if ok {
			c.drop(token)
		}
		return nil, false, err
	}
	c.mu.Lock()
	if c.epoch.Load() == epoch { // no Forget since the lookup began: what it read is current
		if len(c.items) >= c.max {
			c.shrinkLocked(now)
		}
		c.items[token] = cached{data: data, expiry: expiry, fetched: now}
	}
	c.mu.Unlock()
	return data, true, nil
}

// shrinkLocked makes room: stale entries go first, then an arbitrary eighth of the rest.
func (c *Cache) shrinkLocked(now time.Time) {
	for k, e := range c.items {
		if !now.Before(e.expiry) || now.Sub(e.fetched) >= c.maxAge {
			delete(c.items, k)
		}
	}
	for k := range c.items {
		if len(c.items) < c.max-c.max/8 {
			break
		}
		delete(c.items, k)
	}
}

func (c *Cache) drop(token string) {
	c.mu.Lock()
	delete(c.items, token)
	c.mu.Unlock()
}

// Forget drops tokens and makes every lookup in flight not cache what it read. Call it when sessions
// end, before and after the change commits.
func (c *Cache) Forget(tokens ...string) {
	c.mu.Lock()
	c.epoch.Add(1)
	for _, t := range tokens {
		delete(c.items, t)
	}
	c.mu.Unlock()
}

// CommitCtx updates the session in the store; the cached copy is dropped (the update may have found the
// session gone), so the next lookup reads what the store has.
func (c *Cache) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	c.Forget(token)
	err := c.inner.CommitCtx(ctx, token, b, expiry)
	c.Forget(token)
	return err
}

// CreateCtx creates the session in the store.
func (c *Cache) CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, cr Created) (bool, error) {
	return c.inner.CreateCtx(ctx, token, data, expiry, cr)
}

// DeleteCtx deletes the session from the store and from memory.
func (c *Cache) DeleteCtx(ctx context.Context, token string) error {
	c.Forget(token)
	err := c.inner.DeleteCtx(ctx, token)
	c.Forget(token)
	return err
}

// Find is FindCtx without a context.
func (c *Cache) Find(token string) ([]byte, bool, error) {
	return c.FindCtx(context.Background(), token)
}

// Commit is CommitCtx without a context.
func (c *Cache) Commit(token string, b []byte, expiry time.Time) error {
	return c.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx without a context.
func (c *Cache) Delete(token string) error { return c.DeleteCtx(context.Background(), token) }

// Stats returns how many lookups were served from memory and from the store.
func (c *Cache) Stats() (hits, misses uint64) { return c.hits.Load(), c.misses.Load() }

// Len is the number of cached sessions.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}
