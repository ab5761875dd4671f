package redisstore_test

import (
	"context"
	"errors"
	"net"
	neturl "net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/redisstore"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testredis"
)

// registry is the database's session store as a session.Store (the app's adapter, in small).
type registry struct{ *store.SessionStore }

func (r registry) CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, c session.Created) (bool, error) {
	return r.SessionStore.CreateCtx(ctx, token, data, expiry, store.NewSession{
		UserID: c.UserID, ProviderSessionID: c.ProviderSessionID, PublicID: c.PublicID, CreatedAt: c.At})
}

// instance is one Latchkey instance's view: its own Redis connection (and client-side cache), the
// shared database.
type instance struct {
	r        *redisstore.Redis
	sessions *redisstore.Sessions
}

type fixture struct {
	st   *store.Store
	a, b instance
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	url, prefix := testredis.URL(t)
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	open := func() instance {
		r, err := redisstore.Open(ctx, url, prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return instance{r: r, sessions: r.Sessions(registry{st.SessionStore()})}
	}
	f := fixture{st: st, a: open(), b: open()}
	st.SetHooks(&store.Hooks{EndingSessions: f.a.r.DeleteSessions}) // the store is A's
	now := time.Now()
	u := store.User{ID: "usr-1", Email: "ada@example.com", Name: "Ada", CreatedAt: now}
	if err := st.CreateUserWithPasskey(ctx, u, store.Passkey{CredentialID: []byte("cred"), UserID: u.ID, PublicKey: []byte{1}, CreatedAt: now},
		store.UsedChallenge{Hash: []byte("ch"), ExpiresAt: now.Add(time.Hour)},
		store.ProviderSession{ID: "ses-1", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return f
}

func find(t *testing.T, s *redisstore.Sessions, token string) (string, bool) {
	t.Helper()
	b, ok, err := s.FindCtx(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), ok
}

func created(userID, sid string) session.Created {
	return session.Created{UserID: userID, ProviderSessionID: sid, PublicID: "pub-" + sid, At: time.Now()}
}

// untilGone polls find on s until token is gone, and returns how many reads still served it.
func untilGone(t *testing.T, s *redisstore.Sessions, token string) int {
	t.Helper()
	stale := 0
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := find(t, s, token); !ok {
			return stale
		}
		stale++
		if time.Now().After(deadline) {
			t.Fatalf("instance B still serves %s 2 s after it was deleted (%d reads)", token, stale)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSessionsSharedAndEndedEverywhere(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if ok, err := f.a.sessions.CreateCtx(ctx, "tok", []byte("v1"), time.Now().Add(time.Hour), created("usr-1", "ses-1")); err != nil || !ok {
		t.Fatalf("create on A: %v %v", ok, err)
	}
	for range 3 { // B reads it (and keeps it in its client-side cache)
		if v, ok := find(t, f.b.sessions, "tok"); !ok || v != "v1" {
			t.Fatalf("B: %q %v, want the session A created", v, ok)
		}
	}
	// A commits a change: B sees it (Redis invalidated B's copy).
	if err := f.a.sessions.CommitCtx(ctx, "tok", []byte("v2"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for v, _ := find(t, f.b.sessions, "tok"); v != "v2"; v, _ = find(t, f.b.sessions, "tok") {
		if time.Now().After(deadline) {
			t.Fatalf("B still serves %q 2 s after A's commit", v)
		}
		time.Sleep(time.Millisecond)
	}
	// Logout on A: B stops serving it (at once, or within the invalidation message's way to B).
	if err := f.a.sessions.DeleteCtx(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	t.Logf("B served the deleted session %d more times", untilGone(t, f.b.sessions, "tok"))
	// A request of that session in flight on B saves it afterwards: it stays deleted, in Redis and in
	// the registry.
	if err := f.b.sessions.CommitCtx(ctx, "tok", []byte("v3"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, ok := find(t, f.a.sessions, "tok"); ok {
		t.Fatal("a commit after the logout brought the session back")
	}
	var rows int
	if err := f.st.DB().QueryRow(`SELECT COUNT(*) FROM sessions WHERE token = 'tok'`).Scan(&rows); err != nil || rows != 0 {
		t.Fatalf("registry rows after logout: %d %v", rows, err)
	}
}

func TestUsersSessionsEndedByTheStore(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, tok := range []string{"t1", "t2"} {
		if ok, err := f.a.sessions.CreateCtx(ctx, tok, []byte("v"), time.Now().Add(time.Hour), created("usr-1", "ses-1")); err != nil || !ok {
			t.Fatalf("create %s: %v %v", tok, ok, err)
		}
		find(t, f.b.sessions, tok)
	}
	if err := f.st.DeleteUser(ctx, "usr-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"t1", "t2"} {
		t.Logf("%s: B served it %d more times after the user was deleted", tok, untilGone(t, f.b.sessions, tok))
	}
}

func TestCreateRefusedForAnEndedProviderSession(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.st.RevokeProviderSession(ctx, "ses-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	ok, err := f.a.sessions.CreateCtx(ctx, "tok", []byte("v"), time.Now().Add(time.Hour), created("usr-1", "ses-1"))
	if err != nil || ok {
		t.Fatalf("create for a revoked provider session: %v %v, want false and no error", ok, err)
	}
	if _, ok := find(t, f.b.sessions, "tok"); ok {
		t.Fatal("the refused session was left in Redis")
	}
}

// When Redis cannot delete the sessions, the transaction that ends them rolls back: nothing is half
// ended (the registry would say gone while Redis still serves them).
func TestEndingFailsWholeWhenRedisFails(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if ok, err := f.a.sessions.CreateCtx(ctx, "tok", []byte("v"), time.Now().Add(time.Hour), created("usr-1", "ses-1")); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	f.a.r.Close() // A's connection is gone
	err := f.st.DeleteUser(ctx, "usr-1", time.Now())
	if err == nil {
		t.Fatal("DeleteUser succeeded although Redis could not delete the sessions")
	}
	if _, err := f.st.UserByID(ctx, "usr-1"); err != nil {
		t.Fatalf("the user is gone after the failed deletion: %v", err)
	}
	if _, ok := find(t, f.b.sessions, "tok"); !ok {
		t.Fatal("the session is gone from Redis")
	}
	if errors.Is(err, store.ErrNotFound) {
		t.Fatalf("wrong error: %v", err)
	}
}

func TestVersionsSeenByEveryInstance(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	v0, err := f.b.r.Version(ctx, "usr-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.b.r.Version(ctx, "usr-1"); err != nil { // cached now
		t.Fatal(err)
	}
	if err := f.a.r.Bump(ctx, "usr-1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		v, err := f.b.r.Version(ctx, "usr-1")
		if err != nil {
			t.Fatal(err)
		}
		if v != v0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B still sees the old version 2 s after A bumped it")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRedactHidesThePassword(t *testing.T) {
	for in, want := range map[string]string{
		"redis://:hunter2@cache:6379/0":     "redis://:xxxxx@cache:6379/0",
		"redis://user:hunter2@cache:6379/0": "redis://user:xxxxx@cache:6379/0",
		"rediss://cache:6380/1?x=hunter2":   "rediss://cache:6380/1",
		"redis://cache:6379#hunter2":        "redis://cache:6379",
		"::not a url hunter2":               "(an unparsable URL)",
	} {
		if got := redisstore.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// cuttableProxy forwards TCP connections to addr until cut, then refuses them. Once silenced, it
// keeps every connection open but drops whatever either side sends: a network partition, with no FIN
// or RST to tell anyone.
type cuttableProxy struct {
	ln       net.Listener
	mu       sync.Mutex
	conns    []net.Conn
	silenced atomic.Bool
}

// forward copies src to dst until either fails, dropping the bytes while the proxy is silenced.
func (p *cuttableProxy) forward(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.silenced.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func newCuttableProxy(t *testing.T, addr string) *cuttableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go p.forward(up, c)
			go p.forward(c, up)
		}
	}()
	t.Cleanup(p.cut)
	return p
}

func (p *cuttableProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

// behindProxy gives a test the Redis URL and prefix, a cuttableProxy in front of that Redis with the
// URL that goes through it, and a registry database.
func behindProxy(t *testing.T) (url, prefix string, p *cuttableProxy, proxied string, st *store.Store) {
	t.Helper()
	url, prefix = testredis.URL(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	p = newCuttableProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	st, err = store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return url, prefix, p, u.String(), st
}

// With Redis gone, session calls fail within opTimeout (the request gets an answer) instead of waiting
// for rueidis to reconnect.
func TestSessionCallsFailRatherThanHangWhenRedisIsGone(t *testing.T) {
	ctx := context.Background()
	_, prefix, p, proxied, st := behindProxy(t)
	r, err := redisstore.Open(ctx, proxied, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := r.Sessions(registry{st.SessionStore()})
	if ok, err := s.CreateCtx(ctx, "tok", []byte("v"), time.Now().Add(time.Hour), session.Created{UserID: "usr-1", At: time.Now()}); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	if _, ok := find(t, s, "tok"); !ok {
		t.Fatal("not found before the cut")
	}
	p.cut()
	// Between the cut and rueidis's reader seeing EOF (microseconds), a lookup can still be answered
	// from the connection's cache; that window is inherent. What must hold: no call waits on a Redis
	// that is gone, the cache is dropped as soon as the break is seen, and once one call has failed no
	// later call is answered from a cache that outlived its connection.
	cutAt := time.Now()
	findWithin := func(bound time.Duration) error {
		done := make(chan error, 1)
		go func() {
			_, _, err := s.FindCtx(ctx, "tok")
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(bound):
			t.Fatalf("FindCtx still waiting %v after Redis went away", bound)
			return nil
		}
	}
	for findWithin(30*time.Second) == nil {
		if time.Since(cutAt) > 2*time.Second {
			t.Fatal("still found the session 2 s after Redis went away (a cache that outlived its connection?)")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < 3; i++ { // each waits out opTimeout while rueidis retries the dial
		if findWithin(30*time.Second) == nil {
			t.Fatalf("found the session again after a lookup had failed (try %d): the cache outlived its connection", i)
		}
	}
	if err := r.Ping(ctx); err == nil {
		t.Error("Ping answers with Redis gone")
	}
}

// A connection that goes silent (a partition: no FIN, no RST) cannot carry Redis's invalidations, so
// the partitioned instance would go on serving a session revoked elsewhere from its cache. rueidis
// pings an idle connection every second (Dialer.KeepAlive) and closes it, dropping the cache, when a
// ping is not answered within ConnWriteTimeout (5 s). This test measures that bound.
func TestSilentConnectionDropsItsCacheWithinTheBound(t *testing.T) {
	ctx := context.Background()
	url, prefix, p, proxied, st := behindProxy(t)
	open := func(url string) *redisstore.Sessions {
		r, err := redisstore.Open(ctx, url, prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r.Sessions(registry{st.SessionStore()})
	}
	partitioned, other := open(proxied), open(url)
	if ok, err := other.CreateCtx(ctx, "tok", []byte("v"), time.Now().Add(time.Hour), session.Created{UserID: "usr-1", At: time.Now()}); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	for i := 0; i < 2; i++ { // the second lookup is answered from the cache
		if _, ok := find(t, partitioned, "tok"); !ok {
			t.Fatal("not found before the partition")
		}
	}
	p.silenced.Store(true)
	if err := other.DeleteCtx(ctx, "tok"); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	// The ping goes out at the first 1 s tick with nothing received since the tick before (the second
	// tick here, as the lookups above were answered in the first), and is given 5 s: about 7 s, which
	// the README states. 10 s leaves room for a loaded machine.
	const bound = 10 * time.Second
	var served time.Duration
	for {
		_, ok, err := partitioned.FindCtx(ctx, "tok")
		if err != nil || !ok {
			break
		}
		served = time.Since(revoked)
		if time.Since(revoked) > bound {
			t.Fatalf("a silent connection's cache still served a deleted session %v later", bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("the partitioned instance served the deleted session from its cache for %v", served.Round(10*time.Millisecond))
	p.silenced.Store(false)
	if _, ok := find(t, partitioned, "tok"); ok {
		t.Fatal("found the deleted session once the partition healed")
	}
}
