package session

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// registry is the database's session store as a session.ExpiryStore (the app's adapter, in small).
type registry struct{ *store.SessionStore }

func (r registry) CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, c Created) (bool, error) {
	return r.SessionStore.CreateCtx(ctx, token, data, expiry, store.NewSession{UserID: c.UserID, PublicID: c.PublicID, CreatedAt: c.At})
}

func newCacheFixture(t *testing.T, opts CacheOptions) (*store.Store, *Cache) {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, NewCache(registry{st.SessionStore()}, opts)
}

func mustFind(t *testing.T, c *Cache, token string) (string, bool) {
	t.Helper()
	b, ok, err := c.FindCtx(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), ok
}

func TestCacheServesFromMemoryUntilMaxAge(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	st, c := newCacheFixture(t, CacheOptions{MaxAge: time.Second, Now: func() time.Time { return now }})
	if ok, err := c.CreateCtx(ctx, "tok", []byte("v1"), time.Now().Add(time.Hour), Created{UserID: "usr-1"}); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	if v, ok := mustFind(t, c, "tok"); !ok || v != "v1" {
		t.Fatalf("first find: %q %v", v, ok)
	}
	// Another process changes the row: this process serves its copy until MaxAge has passed.
	if _, err := st.DB().Exec(`UPDATE sessions SET data = ? WHERE token = ?`, []byte("v2"), "tok"); err != nil {
		t.Fatal(err)
	}
	if v, _ := mustFind(t, c, "tok"); v != "v1" {
		t.Fatalf("second find within MaxAge read the database (%q): nothing is cached", v)
	}
	if hits, misses := c.Stats(); hits != 1 || misses != 1 {
		t.Errorf("stats: %d hits, %d misses; want 1 and 1", hits, misses)
	}
	now = now.Add(time.Second)
	if v, _ := mustFind(t, c, "tok"); v != "v2" {
		t.Fatalf("after MaxAge the copy is still served (%q)", v)
	}
}

func TestCacheForgetsEndedSessions(t *testing.T) {
	ctx := context.Background()
	st, c := newCacheFixture(t, CacheOptions{MaxAge: time.Hour})
	for _, tok := range []string{"a", "b"} {
		if _, err := c.CreateCtx(ctx, tok, []byte("v"), time.Now().Add(time.Hour), Created{UserID: "usr-1"}); err != nil {
			t.Fatal(err)
		}
		mustFind(t, c, tok)
	}
	// Deleted through the cache (logout).
	if err := c.DeleteCtx(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustFind(t, c, "a"); ok {
		t.Fatal("a logged-out session is still served")
	}
	// Deleted behind its back, then Forget (what the store's hooks call).
	if _, err := st.DB().Exec(`DELETE FROM sessions WHERE token = ?`, "b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustFind(t, c, "b"); !ok {
		t.Fatal("b was not cached: this test needs it to be")
	}
	c.Forget("b")
	if _, ok := mustFind(t, c, "b"); ok {
		t.Fatal("a forgotten session is still served")
	}
}

func TestCacheNeverServesPastExpiry(t *testing.T) {
	ctx := context.Background()
	_, c := newCacheFixture(t, CacheOptions{MaxAge: time.Hour})
	if _, err := c.CreateCtx(ctx, "tok", []byte("v"), time.Now().Add(300*time.Millisecond), Created{UserID: "usr-1"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustFind(t, c, "tok"); !ok {
		t.Fatal("not found before its expiry")
	}
	time.Sleep(400 * time.Millisecond)
	if _, ok := mustFind(t, c, "tok"); ok {
		t.Fatal("served after its expiry")
	}
}

// slowFind holds a lookup after it has read the database, until released.
type slowFind struct {
	ExpiryStore
	read, release chan struct{}
}

func (s slowFind) FindExpiryCtx(ctx context.Context, token string) ([]byte, time.Time, bool, error) {
	b, e, ok, err := s.ExpiryStore.FindExpiryCtx(ctx, token)
	s.read <- struct{}{}
	<-s.release
	return b, e, ok, err
}

// A lookup that read the session before it ended must not cache what it read.
func TestCacheLookupRacingAnEndIsNotCached(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	slow := slowFind{ExpiryStore: registry{st.SessionStore()}, read: make(chan struct{}), release: make(chan struct{})}
	c := NewCache(slow, CacheOptions{MaxAge: time.Hour})
	if _, err := c.CreateCtx(ctx, "tok", []byte("v"), time.Now().Add(time.Hour), Created{UserID: "usr-1"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() {
		_, ok, _ := c.FindCtx(ctx, "tok")
		done <- ok
	}()
	<-slow.read // the lookup has the row in hand
	if _, err := st.DB().Exec(`DELETE FROM sessions WHERE token = ?`, "tok"); err != nil {
		t.Fatal(err)
	}
	c.Forget("tok") // the hook, after the delete committed
	close(slow.release)
	if !<-done {
		t.Fatal("the in-flight lookup should still see what it read")
	}
	go func() { <-slow.read }() // the next lookup reads again
	if _, ok := mustFind(t, c, "tok"); ok {
		t.Fatal("the in-flight lookup cached the ended session")
	}
}

func TestCacheCommitNeverRevives(t *testing.T) {
	ctx := context.Background()
	st, c := newCacheFixture(t, CacheOptions{MaxAge: time.Hour})
	if _, err := c.CreateCtx(ctx, "tok", []byte("v"), time.Now().Add(time.Hour), Created{UserID: "usr-1"}); err != nil {
		t.Fatal(err)
	}
	mustFind(t, c, "tok")
	if _, err := st.DB().Exec(`DELETE FROM sessions WHERE token = ?`, "tok"); err != nil {
		t.Fatal(err)
	}
	if err := c.CommitCtx(ctx, "tok", []byte("v2"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := mustFind(t, c, "tok"); ok {
		t.Fatal("a commit after the delete brought the session back (from memory or the database)")
	}
}

func TestCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	_, c := newCacheFixture(t, CacheOptions{MaxAge: time.Hour, MaxEntries: 16})
	for i := range 100 {
		tok := string(rune('a'+i%26)) + string(rune('a'+i/26))
		if _, err := c.CreateCtx(ctx, tok, []byte("v"), time.Now().Add(time.Hour), Created{UserID: "usr-1"}); err != nil {
			t.Fatal(err)
		}
		if _, ok := mustFind(t, c, tok); !ok {
			t.Fatalf("%s not found", tok)
		}
		if n := c.Len(); n > 16 {
			t.Fatalf("%d entries cached, bound 16", n)
		}
	}
}
