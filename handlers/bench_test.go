package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHomeWithSession measures an authenticated GET /home: the scs session read from SQLite and the
// home page rendered. This is the per-request cost once logged in; the JWT is not verified again.
func BenchmarkHomeWithSession(b *testing.B) {
	s := newStackTB(b)
	_, tok := s.account("bench@example.com", "Bench Mark")
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/auth/session", nil)
	req.AddCookie(&http.Cookie{Name: "cbo_session_token", Value: tok})
	s.app.Handler.ServeHTTP(rec, req)
	cookie := cookieNamed(rec.Result(), "latchkey_session")
	if cookie == nil {
		b.Fatal("no session cookie")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/home", nil)
		req.AddCookie(cookie)
		s.app.Handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkSessionExchange measures POST /auth/session: verifying the ES256 JWT, checking the provider
// session, renewing and writing the scs session — the once-per-login cost.
func BenchmarkSessionExchange(b *testing.B) {
	s := newStackTB(b)
	u, tok := s.account("bench@example.com", "Bench Mark")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// Each JWT is exchanged once: make the provider session unexchanged again, outside the timing.
		b.StopTimer()
		if _, err := s.app.Store().DB().Exec(`UPDATE provider_sessions SET exchanged_at = NULL WHERE user_id = ?`, u.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/auth/session", nil)
		req.AddCookie(&http.Cookie{Name: "cbo_session_token", Value: tok})
		s.app.Handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkLoginPage measures the anonymous login page (full page render, CSP nonce).
func BenchmarkLoginPage(b *testing.B) {
	s := newStackTB(b)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.app.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
