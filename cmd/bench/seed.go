package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
)

// seed adds users new accounts (each with a passkey, a provider session and marked as given recovery
// codes, as after sign-up and a first visit home) and sessions logged-in app sessions spread evenly over them, to the
// database (and session store) cfg names, the way the app stores them. It returns the sessions' cookie
// values (name=value; a session's cookie value is its token).
//
// Users go through the store's own CreateUserWithPasskey; sessions through a session.Manager configured
// like the app's (so their data is encoded as the app encodes it), whose Login creates each with the
// session store's CreateCtx: on PostgreSQL several at a time, on SQLite in batches of one transaction.
func seed(ctx context.Context, cfg config.Config, users, sessions int) ([]string, error) {
	cookies, err := seedRows(ctx, cfg, users, sessions)
	if err != nil {
		return nil, err
	}
	return cookies, settle(ctx, cfg)
}

// settle does what an operator does after a bulk load, so that a measurement after seeding sees the
// database at rest rather than catching up on it: on PostgreSQL, the new rows vacuumed with fresh
// planner statistics (VACUUM ANALYZE: otherwise autovacuum does it during the measurement, on the same
// cores) and the seeded writes flushed to the data files (CHECKPOINT, which needs a superuser; skipped
// if refused). SQLite's store checkpoints by itself and plans without statistics.
func settle(ctx context.Context, cfg config.Config) error {
	if !strings.HasPrefix(cfg.DatabaseURL, "postgres") {
		return nil
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.DB().ExecContext(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("settle: vacuum: %w", err)
	}
	_, _ = st.DB().ExecContext(ctx, "CHECKPOINT")
	return nil
}

// seedRows is seed without settle.
func seedRows(ctx context.Context, cfg config.Config, users, sessions int) ([]string, error) {
	if users < 1 {
		return nil, errors.New("seed: at least one user")
	}
	url := cfg.DatabaseURL
	if strings.HasPrefix(url, "postgres") {
		// Commits of the seeding connections do not wait for the WAL to reach the disk: the rows are the
		// same, and a few thousand fsyncs fewer.
		url += map[bool]string{true: "&", false: "?"}[strings.Contains(url, "?")] + "synchronous_commit=off"
	}
	st, err := store.Open(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	sessionStore, closeSessions, err := app.SessionStore(ctx, cfg, st, nil)
	if err != nil {
		return nil, err
	}
	defer closeSessions()
	sqlite := st.Dialect() == store.DialectSQLite
	workers := 16
	if sqlite {
		workers = 2 // one writer at a time
	}
	now := time.Now().UTC()
	tag := randomHex(4)
	accounts := make([]session.User, users)
	if err := parallel(ctx, workers, users, func(i int) error {
		u, err := seedUser(ctx, st, fmt.Sprintf("seed-%s-%d@example.com", tag, i), now, cfg.SessionLifetime)
		accounts[i] = u
		return err
	}); err != nil {
		return nil, fmt.Errorf("seed users: %w", err)
	}

	mgr := session.New(sessionStore, session.Options{Secure: cfg.Secure(), Lifetime: cfg.SessionLifetime, IdleTimeout: cfg.SessionIdle})
	name := session.CookieName(cfg.Secure())
	cookies := make([]string, sessions)
	create := func(i int) error {
		tok, err := seedSession(ctx, mgr, name, accounts[i%users], i)
		cookies[i] = name + "=" + tok
		return err
	}
	if !sqlite {
		if err := parallel(ctx, workers, sessions, create); err != nil {
			return nil, fmt.Errorf("seed sessions: %w", err)
		}
		return cookies, nil
	}
	// SQLite: a commit per session costs a WAL write each (~100k system calls per 10k sessions). The pool
	// is cut to one connection, so the store's CreateCtx runs inside the BEGIN … COMMIT issued on it here:
	// one commit per batch.
	db := st.DB()
	db.SetMaxOpenConns(1)
	const batch = 2000
	for lo := 0; lo < sessions; lo += batch {
		if _, err := db.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return nil, fmt.Errorf("seed sessions: %w", err)
		}
		for i := lo; i < min(lo+batch, sessions); i++ {
			if err := create(i); err != nil {
				_, _ = db.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
				return nil, fmt.Errorf("seed sessions: %w", err)
			}
		}
		if _, err := db.ExecContext(ctx, "COMMIT"); err != nil {
			return nil, fmt.Errorf("seed sessions: %w", err)
		}
	}
	return cookies, nil
}

// seedUser creates an account with a passkey (random bytes for a key: nobody logs in with it) and an
// active provider session, and marks it as given recovery codes.
func seedUser(ctx context.Context, st *store.Store, email string, now time.Time, lifetime time.Duration) (session.User, error) {
	id := "usr-" + randomHex(16)
	u := store.User{ID: id, Email: email, Name: "Seeded User", CreatedAt: now}
	pk := store.Passkey{
		CredentialID: randomBytes(16), UserID: id, PublicKey: randomBytes(77), AAGUID: make([]byte, 16),
		Transports: []string{"internal", "hybrid"}, AttestationType: "none", UserPresent: true, UserVerified: true,
		BackupEligible: true, BackupState: true, CreatedAt: now,
	}
	ch := store.UsedChallenge{Hash: randomBytes(32), ExpiresAt: now.Add(time.Hour)}
	ps := store.ProviderSession{ID: "ses-" + randomHex(18), UserID: id, CreatedAt: now, ExpiresAt: now.Add(lifetime)}
	if err := st.CreateUserWithPasskey(ctx, u, pk, ch, ps); err != nil {
		return session.User{}, err
	}
	// Marked as given their recovery codes, as the first visit home does — else each seeded user's first
	// /home would make ten argon2id hashes. The set itself is left empty (as if every code had been used):
	// /home reads only the mark.
	if err := st.CreateFirstRecoveryCodes(ctx, id, nil, now); err != nil {
		return session.User{}, err
	}
	return session.User{ID: id, Name: u.Name, Email: u.Email, ProviderSessionID: ps.ID}, nil
}

// seedSession logs u in through mgr, as the session exchange does, and returns the new session's token
// from the cookie the middleware sets.
func seedSession(ctx context.Context, mgr *session.Manager, cookieName string, u session.User, i int) (string, error) {
	var loginErr error
	h := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, loginErr = mgr.Login(r.Context(), u, session.Device{
			IP:        fmt.Sprintf("192.0.2.%d", i%250+1),
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
		})
	}))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/auth/session", nil)
	if err != nil {
		return "", err
	}
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if loginErr != nil {
		return "", loginErr
	}
	for _, line := range w.h.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == cookieName && c.Value != "" {
			return c.Value, nil
		}
	}
	return "", errors.New("the session middleware set no session cookie")
}

// parallel calls fn(0) … fn(n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, workers, n int, fn func(i int) error) error {
	var (
		next  atomic.Int64
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// discardWriter is a ResponseWriter that keeps the headers and drops the body.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
