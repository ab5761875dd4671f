package store

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/startup"
	"github.com/latchkey/latchkey/internal/testlog"
)

// The local PostgreSQL trusts every connection, so a password in these URLs is accepted and ignored: it
// stands for a real one that must never appear in an error or a log line.
const testPassword = "hunter2-pg-secret"

// withHost returns databaseURL pointing at addr (host:port), with user postgres and testPassword.
func withHost(t *testing.T, databaseURL, addr string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	u.User = url.UserPassword("postgres", testPassword)
	return u.String()
}

// freeAddr returns a loopback address nothing listens on (a port the kernel just handed out and closed).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// forward listens on addr after delay and forwards every connection to target, until the test ends.
func forward(t *testing.T, addr, target string, delay time.Duration) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ln net.Listener
	var conns []net.Conn
	t.Cleanup(func() {
		close(done)
		mu.Lock()
		if ln != nil {
			_ = ln.Close()
		}
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		select {
		case <-done:
			return
		case <-time.After(delay):
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("forwarder: %v", err)
			return
		}
		mu.Lock()
		ln = l
		mu.Unlock()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
			wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
		}
	})
}

func logTo() (*slog.Logger, *testlog.Buffer) {
	buf := &testlog.Buffer{}
	return slog.New(slog.NewTextHandler(buf, nil)), buf
}

// PostgreSQL that starts accepting connections only after a while (a container still starting) is
// waited for: start-up succeeds, and the log said what it was waiting for, without the password.
func TestOpenWaitsForPostgres(t *testing.T) {
	t.Parallel()
	base := newPostgresURL(t)
	pg, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	forward(t, addr, pg.Host, 700*time.Millisecond)
	log, logs := logTo()
	s, err := OpenWith(t.Context(), withHost(t, base, addr), log, Options{StartupWait: 30 * time.Second})
	if err != nil {
		t.Fatalf("OpenWith: %v", err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if want := "waiting for the database at postgres://" + addr + "/test"; !strings.Contains(out, want) {
		t.Errorf("log does not say %q:\n%s", want, out)
	}
	if !strings.Contains(out, "connection refused") || !strings.Contains(out, "is answering") {
		t.Errorf("log does not give the cause and the end of the wait:\n%s", out)
	}
	if strings.Contains(out, testPassword) {
		t.Errorf("log shows the password:\n%s", out)
	}
}

// A closed port with a 1 s bound fails after the bound with one line naming the database (no password)
// and the cause.
func TestOpenGivesUpAfterTheStartupWait(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	log, logs := logTo()
	_, err := OpenWith(t.Context(), "postgres://postgres:"+testPassword+"@"+addr+"/latchkey?sslmode=disable&password="+testPassword,
		log, Options{StartupWait: time.Second})
	if err == nil {
		t.Fatal("OpenWith succeeded")
	}
	msg := err.Error()
	want := "store: cannot open postgres database: cannot reach the database at postgres://" + addr + "/latchkey: still failing after waiting 1s: "
	if !strings.HasPrefix(msg, want) || !strings.Contains(msg, "connection refused") || strings.Contains(msg, "\n") {
		t.Errorf("error = %q, want one line starting %q and giving the cause", msg, want)
	}
	if strings.Contains(msg, testPassword) || strings.Contains(logs.String(), testPassword) {
		t.Errorf("the password shows:\nerror: %s\nlog: %s", msg, logs.String())
	}
	if !strings.Contains(logs.String(), "waiting for the database at postgres://"+addr+"/latchkey") {
		t.Errorf("no waiting line in the log:\n%s", logs.String())
	}
}

// Failures that waiting cannot cure — a database that does not exist, a role that does not exist (as a
// wrong password would) — end start-up at once, however long the bound. (If they were waited for, the
// 10-minute bound would outlast the context below and the error would say so instead.)
func TestOpenDoesNotWaitForWhatWaitingCannotCure(t *testing.T) {
	t.Parallel()
	base := newPostgresURL(t)
	for _, tc := range []struct {
		name, user, db, want string
	}{
		{"missing database", "postgres", "/latchkey_no_such_database", `database "latchkey_no_such_database" does not exist`},
		{"unknown role", "latchkey_no_such_role", "/test", `role "latchkey_no_such_role" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(tc.user, testPassword)
			u.Path = tc.db
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err = OpenWith(ctx, u.String(), nil, Options{StartupWait: 10 * time.Minute})
			if err == nil {
				t.Fatal("OpenWith succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, "cannot use the database at postgres://"+u.Host+tc.db+": ") || !strings.Contains(msg, tc.want) ||
				!startup.IsPermanent(err) || strings.Contains(msg, testPassword) {
				t.Errorf("error = %q (permanent %v), want it to name the database and say %q", msg, startup.IsPermanent(err), tc.want)
			}
		})
	}
}

// Pool sizes: the bound and the idle connections kept, as set, and the defaults of each database.
func TestOpenPoolSizes(t *testing.T) {
	t.Parallel()
	// idleAfter takes n connections at once, returns them, and reports how many the pool kept.
	idleAfter := func(t *testing.T, db *sql.DB, n int) int {
		t.Helper()
		conns := make([]*sql.Conn, n)
		for i := range conns {
			c, err := db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
		}
		for _, c := range conns {
			_ = c.Close()
		}
		return db.Stats().Idle
	}
	for _, tc := range []struct {
		name           string
		url            func(t *testing.T) string
		opts           Options
		wantMax, take  int
		wantIdle       int
		wantMaxOpenSQL int
	}{
		{"postgres default", newPostgresURL, Options{}, DefaultPostgresMaxConns, 5, 5, DefaultPostgresMaxConns},
		{"postgres set", newPostgresURL, Options{MaxOpenConns: 6, MaxIdleConns: 2}, 6, 6, 2, 6},
		{"postgres open only", newPostgresURL, Options{MaxOpenConns: 4}, 4, 4, 4, 4},
		{"sqlite default", newSQLiteURL, Options{}, 0, 10, sqliteIdleConns, 0}, // idle ones keep their prepared statements
		{"sqlite set", newSQLiteURL, Options{MaxOpenConns: 5, MaxIdleConns: 3}, 5, 5, 3, 5},
		{"sqlite open only", newSQLiteURL, Options{MaxOpenConns: 4}, 4, 4, 4, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := OpenWith(t.Context(), tc.url(t), nil, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.DB().Stats().MaxOpenConnections; got != tc.wantMaxOpenSQL {
				t.Errorf("MaxOpenConnections = %d, want %d", got, tc.wantMaxOpenSQL)
			}
			if got := idleAfter(t, s.DB(), tc.take); got != tc.wantIdle {
				t.Errorf("after %d connections at once, %d idle, want %d", tc.take, got, tc.wantIdle)
			}
		})
	}
	t.Run("sqlite in memory keeps one", func(t *testing.T) {
		t.Parallel()
		s, err := OpenWith(t.Context(), "sqlite::memory:", nil, Options{MaxOpenConns: 8, MaxIdleConns: 8})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.DB().Stats().MaxOpenConnections; got != 1 {
			t.Errorf("MaxOpenConnections = %d, want 1", got)
		}
	})
}

func TestDisplayURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"postgres://u:" + testPassword + "@db.internal:5432/latchkey?sslmode=require&password=" + testPassword: "postgres://db.internal:5432/latchkey",
		"postgresql://db/x#frag":         "postgresql://db/x",
		"postgres://u:p%zz@db/x":         "(the configured URL, not shown)",
		"postgres:u:" + testPassword:     "(the configured URL, not shown)",
		"postgres://[::1]:5432/latchkey": "postgres://[::1]:5432/latchkey",
	} {
		if got := DisplayURL(in); got != want {
			t.Errorf("DisplayURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// The readiness check's error never holds the password, even from a driver that quotes the URL.
func TestPingErrorIsRedacted(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, newSQLiteURL(t))
	s.databaseURL = "postgres://u:" + testPassword + "@db/x" // as if the driver could quote it
	_ = s.db.Close()
	err := s.Ping(t.Context())
	if err == nil || strings.Contains(err.Error(), testPassword) || !errors.Is(err, sql.ErrConnDone) && !strings.Contains(err.Error(), "closed") {
		t.Errorf("Ping on a closed database = %v", err)
	}
}

func TestCountActiveSessions(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		now := time.Now()
		ss := s.SessionStore()
		for i, expiry := range []time.Time{now.Add(time.Hour), now.Add(time.Minute), now.Add(-time.Second), now.Add(-time.Hour)} {
			tok := string(rune('a'+i)) + "-token"
			if ok, err := ss.CreateCtx(ctx, tok, []byte("x"), expiry, NewSession{CreatedAt: now}); err != nil || !ok {
				t.Fatalf("CreateCtx: %v %v", ok, err)
			}
		}
		n, err := s.CountActiveSessions(ctx, now)
		if err != nil || n != 2 {
			t.Errorf("CountActiveSessions = %d, %v; want 2 (two expired)", n, err)
		}
		if n, err := s.CountActiveSessions(ctx, now.Add(2*time.Hour)); err != nil || n != 0 {
			t.Errorf("two hours later: %d, %v; want 0", n, err)
		}
	})
}
