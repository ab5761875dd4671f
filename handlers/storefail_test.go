package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// When the session store fails (its database is gone), a logged-in request gets a 503 page in plain
// words with Retry-After — not scs's bare "Internal Server Error" — and the log has the cause.
func TestSessionStoreFailureAnswers503(t *testing.T) {
	s, logs := newStackEnv(t, nil)
	s = withT(s, t)
	_, tok := s.account("down@example.com", "Ada")
	c := s.client()
	resp, _ := exchange(t, s, c, tok)
	if sessionCookie(resp) == nil {
		t.Fatal("no session cookie")
	}
	if resp, _ := s.do(c, req{method: "GET", path: "/home"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("home before the failure: %d", resp.StatusCode)
	}
	if err := s.app.Store().DB().Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the SQLite session cache's 1 s: the next request asks the database
	resp, body := s.do(c, req{method: "GET", path: "/home"})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" ||
		!strings.Contains(body, "We could not check your login just now. Please try again in a moment.") {
		t.Fatalf("GET /home with the store down: %d, Retry-After %q, body %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if !strings.Contains(logs.String(), "session store:") {
		t.Errorf("the cause is not in the log:\n%s", logs.String())
	}
}
