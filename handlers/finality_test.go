package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testdb"
	"github.com/latchkey/latchkey/internal/testredis"
	"github.com/latchkey/latchkey/internal/token"
)

// eachDatabase runs fn as a parallel subtest on a fresh SQLite file (sessions cached in the process), on
// a fresh PostgreSQL schema (no cache), and on PostgreSQL with Redis (sessions in Redis, read through its
// client-side cache).
func eachDatabase(t *testing.T, fn func(t *testing.T, s *stack)) {
	for _, db := range []struct {
		name string
		env  func(testing.TB) map[string]string
	}{
		{"sqlite", func(t testing.TB) map[string]string {
			return map[string]string{"LATCHKEY_DATABASE_URL": testdb.SQLiteURL(t)}
		}},
		{"postgres", func(t testing.TB) map[string]string {
			return map[string]string{"LATCHKEY_DATABASE_URL": testdb.PostgresURL(t)}
		}},
		{"postgres+redis", func(t testing.TB) map[string]string {
			url, prefix := testredis.URL(t)
			return map[string]string{"LATCHKEY_DATABASE_URL": testdb.PostgresURL(t), "LATCHKEY_REDIS_URL": url, "LATCHKEY_REDIS_PREFIX": prefix}
		}},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newStackEnv(t, db.env(t))
			fn(t, withT(s, t))
		})
	}
}

// TestSessionEndIsFinalUnderConcurrentRequests: a session that ends — by logout, or because its user is
// deleted — stays ended, even when requests of that session are in flight at that moment. scs saves the
// session at the end of each request; those saves must not write it back.
func TestSessionEndIsFinalUnderConcurrentRequests(t *testing.T) {
	const (
		rounds      = 40 // per way of ending, per database
		concurrency = 8  // GET /home requests in flight around the end
	)
	ends := []struct {
		name string
		end  func(t *testing.T, s *stack, c *http.Client, u store.User)
	}{
		{"logout", func(t *testing.T, s *stack, c *http.Client, _ store.User) {
			if resp, _ := s.do(c, req{method: "POST", path: "/logout"}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("logout: status %d", resp.StatusCode)
			}
		}},
		{"user deleted", func(t *testing.T, s *stack, _ *http.Client, u store.User) {
			if err := s.app.Store().DeleteUser(context.Background(), u.ID, time.Now()); err != nil {
				t.Fatalf("delete user: %v", err)
			}
		}},
	}
	eachDatabase(t, func(t *testing.T, s *stack) {
		for _, e := range ends {
			survivors := 0
			for round := range rounds {
				u, tok := s.account(fmt.Sprintf("final-%s-%d@example.com", e.name[:4], round), "Ada")
				c := s.client()
				resp, _ := exchange(t, s, c, tok)
				ck := sessionCookie(resp)
				if ck == nil {
					t.Fatalf("%s round %d: no session cookie", e.name, round)
				}
				home := func() int {
					r, _ := http.NewRequest("GET", s.srv.URL+"/home", nil)
					r.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
					resp, err := http.DefaultTransport.RoundTrip(r)
					if err != nil {
						t.Error(err)
						return 0
					}
					resp.Body.Close()
					return resp.StatusCode
				}
				if st := home(); st != http.StatusOK {
					t.Fatalf("%s round %d: home before the end: status %d", e.name, round, st)
				}

				var (
					wg      sync.WaitGroup
					started sync.WaitGroup
					stop    atomic.Bool
				)
				started.Add(concurrency)
				for range concurrency {
					wg.Go(func() {
						home()
						started.Done()
						for !stop.Load() {
							home()
						}
					})
				}
				started.Wait() // every hammer is busy: some request is in flight when the session ends
				e.end(t, s, c, u)
				time.Sleep(5 * time.Millisecond) // let the in-flight requests finish and save
				stop.Store(true)
				wg.Wait()

				var rows int
				if err := s.app.Store().DB().QueryRow(rebindForTest(s, `SELECT COUNT(*) FROM sessions WHERE token = ?`), ck.Value).Scan(&rows); err != nil {
					t.Fatal(err)
				}
				if st := home(); rows != 0 || st != http.StatusSeeOther {
					survivors++
					t.Errorf("%s round %d: the ended session came back: %d rows, GET /home %d", e.name, round, rows, st)
				}
			}
			t.Logf("%s: %d rounds × %d concurrent GET /home: %d survivors", e.name, rounds, concurrency, survivors)
		}
	})
}

// rebindForTest turns "?" placeholders into PostgreSQL's $n when the stack runs on PostgreSQL.
func rebindForTest(s *stack, q string) string {
	if s.app.Store().Dialect() != store.DialectPostgres {
		return q
	}
	out, n := make([]byte, 0, len(q)+4), 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = fmt.Appendf(out, "$%d", n)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

// TestTokenBoundToItsProviderSession: a validly signed token whose sub is user A but whose sid is user
// B's provider session starts no session, and leaves B's provider session unclaimed for B.
func TestTokenBoundToItsProviderSession(t *testing.T) {
	eachDatabase(t, func(t *testing.T, s *stack) {
		a, _ := s.account("bound-a@example.com", "Alice")
		b, bTok := s.account("bound-b@example.com", "Bob")
		bSID := "ses-" + b.ID
		mixed, _, err := s.app.Minter().Mint(context.Background(), token.Claims{Subject: a.ID, Name: a.Name, Email: a.Email, SessionID: bSID})
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, s)
		c := s.client()
		resp, body := exchange(t, s, c, mixed)
		if resp.StatusCode != http.StatusUnauthorized || alertText(t, body) != "We could not confirm your login. Please log in again." {
			t.Fatalf("sub A with sid of B: status %d, alert %q; want 401 and the generic words", resp.StatusCode, alertText(t, body))
		}
		if sessionCookie(resp) != nil || loggedIn(t, s, c) {
			t.Error("the mixed token started a session")
		}
		var exchanged any
		if err := s.app.Store().DB().QueryRow(rebindForTest(s, `SELECT exchanged_at FROM provider_sessions WHERE id = ?`), bSID).Scan(&exchanged); err != nil {
			t.Fatal(err)
		}
		if exchanged != nil || snapshot(t, s) != before {
			t.Errorf("the refused token changed the database (B's provider session exchanged_at = %v)", exchanged)
		}
		// B's own token still works: the refused attempt used nothing up.
		bc := s.client()
		if resp, _ := exchange(t, s, bc, bTok); resp.StatusCode != http.StatusOK || !loggedIn(t, s, bc) {
			t.Errorf("B's own token after the attack: status %d", resp.StatusCode)
		}
	})
}

// TestTwoSessionTokenCookiesRefused: a request carrying more than one session JWT cookie (a planted one
// from a sibling subdomain is sent first when its path is longer) is refused whatever the order and the
// names, and starts no session for either token.
func TestTwoSessionTokenCookiesRefused(t *testing.T) {
	s := newStack(t)
	_, victim := s.account("victim@example.com", "Victim")
	_, attacker := s.account("attacker@example.com", "Attacker")
	const want = "Your browser sent two different logins at once, so neither was used. Please log in again."
	for _, tc := range []struct {
		name    string
		cookies string
	}{
		{"attacker's first", "cbo_session_token=" + attacker + "; cbo_session_token=" + victim},
		{"victim's first", "cbo_session_token=" + victim + "; cbo_session_token=" + attacker},
		{"current and legacy name", "cbo_session_token=" + victim + "; cbo_short_session=" + attacker},
		{"legacy and current name", "cbo_short_session=" + attacker + "; cbo_session_token=" + victim},
		{"same token twice", "cbo_session_token=" + victim + "; cbo_session_token=" + victim},
		{"an empty one first", "cbo_session_token=; cbo_session_token=" + victim},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, s)
			c := s.client()
			resp, body := withT(s, t).do(c, req{method: "POST", path: "/auth/session", htmx: true, header: map[string]string{"Cookie": tc.cookies}})
			if resp.StatusCode != http.StatusUnauthorized || alertText(t, body) != want {
				t.Fatalf("status %d, alert %q; want 401, %q", resp.StatusCode, alertText(t, body), want)
			}
			if sessionCookie(resp) != nil || loggedIn(t, s, c) {
				t.Error("a session was started")
			}
			if after := snapshot(t, s); after != before {
				t.Errorf("the refused request changed the database: %+v -> %+v", before, after)
			}
		})
	}
	// Each token alone still works.
	for _, tok := range []string{victim, attacker} {
		c := s.client()
		if resp, _ := exchange(t, s, c, tok); resp.StatusCode != http.StatusOK {
			t.Errorf("a single token after the refusals: status %d", resp.StatusCode)
		}
	}
}

// TestPrivatePagesStayOutOfHistoryCache: the home page (full and fragment) tells htmx not to keep it for
// Back, and logout tells the browser to forget what it stored.
func TestPrivatePagesStayOutOfHistoryCache(t *testing.T) {
	s := newStack(t)
	_, tok := s.account("history@example.com", "Ada")
	c := s.client()
	if resp, _ := exchange(t, s, c, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("exchange: status %d", resp.StatusCode)
	}
	for _, htmx := range []bool{false, true} {
		_, body := s.do(c, req{method: "GET", path: "/home", htmx: htmx})
		if n := doc(t, body).Find(`[hx-history="false"]`).Length(); n != 1 {
			t.Errorf("GET /home (htmx %v): %d elements with hx-history=false, want 1", htmx, n)
		}
	}
	resp, _ := s.do(c, req{method: "POST", path: "/logout", htmx: true})
	if got := resp.Header.Get("Clear-Site-Data"); got != `"storage"` {
		t.Errorf("logout Clear-Site-Data = %q, want \"storage\"", got)
	}
	if got := resp.Header.Get("HX-Trigger"); got != "latchkey:logged-out" {
		t.Errorf("logout HX-Trigger = %q, want latchkey:logged-out", got)
	}
}
