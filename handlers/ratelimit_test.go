package handlers_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/softauthn"
)

const (
	tooMany20s     = "Too many attempts. Please wait 20 seconds and try again."
	tooMany20sJSON = `{"error":"Too many attempts. Please wait 20 seconds and try again."}`
)

// At the default limit, a person who signs up and then logs in ten times in one minute, cancelling the
// passkey prompt once before each log-in, is never refused: 21 begins, 11 finishes and 11 exchanges,
// 43 limited requests that one budget of 30 shared by all five endpoints would have cut short.
func TestRateLimitOrdinaryUseIsNeverLimited(t *testing.T) {
	t.Parallel()
	defaults, err := config.Load(func(k string) string { return map[string]string{"LATCHKEY_PUBLIC_URL": publicOrigin}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if defaults.RateLimit != 30 || defaults.RatePeriod != time.Minute {
		t.Fatalf("the default limit is %d per %v; this test counts requests against 30/min", defaults.RateLimit, defaults.RatePeriod)
	}
	e := newHostileEnv(t, map[string]string{"LATCHKEY_RATE_LIMIT": ""}) // unset: the default
	s := e.s
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	limited := 0
	post := func(path, body string, want int) string {
		t.Helper()
		limited++
		resp, out := s.do(c, req{method: "POST", path: path, body: body, contentType: "application/json"})
		if resp.StatusCode != want {
			t.Fatalf("limited request %d, %s: status %d, want %d: %s", limited, path, resp.StatusCode, want, out)
		}
		return out
	}
	ceremony := func(begin, beginBody, finish string, respond func([]byte) ([]byte, error)) {
		t.Helper()
		opts := post(begin, beginBody, http.StatusOK)
		body, err := respond([]byte(opts))
		if err != nil {
			t.Fatal(err)
		}
		if out := post(finish, string(body), http.StatusOK); strings.TrimSpace(out) != `{"ok":true}` {
			t.Fatalf("%s: %s", finish, out)
		}
		limited++
		resp, _ := s.do(c, req{method: "POST", path: "/auth/session"})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
			t.Fatalf("limited request %d, exchange after %s: status %d Location %q", limited, finish, resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := s.do(c, req{method: "POST", path: "/logout"}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: status %d", resp.StatusCode)
		}
	}

	ceremony("/passkeys/signup/begin", `{"email":"ada@example.com","name":"Ada Lovelace"}`, "/passkeys/signup/finish",
		func(o []byte) ([]byte, error) { return e.auth.CreateJSON(o, softauthn.Tweaks{}) })
	for i := 0; i < 10; i++ {
		post("/passkeys/login/begin", `{}`, http.StatusOK) // the prompt cancelled: a begin with no finish
		ceremony("/passkeys/login/begin", `{}`, "/passkeys/login/finish",
			func(o []byte) ([]byte, error) { return e.auth.GetJSON(o, softauthn.Tweaks{}) })
	}
	if limited != 43 {
		t.Fatalf("%d limited requests made, want 43", limited)
	}
}

// A client that has used up its "begin" budget still finishes the ceremony it began and exchanges the
// token: begin, finish and exchange are separate budgets.
func TestRateLimitBeginBudgetSparesFinishAndExchange(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, map[string]string{"LATCHKEY_RATE_LIMIT": "3/min"})
	s := e.s
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, opts := s.do(c, req{method: "POST", path: "/passkeys/signup/begin", body: `{"email":"ada@example.com","name":"Ada"}`, contentType: "application/json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-up begin: %d %s", resp.StatusCode, opts)
	}
	// Two more begins from the same address (another tab), then the budget of three is used up, for
	// sign-up and log-in alike.
	for i := 0; i < 2; i++ {
		if resp, body := send(t, s, "/passkeys/login/begin", "application/json", []byte(`{}`)); resp.StatusCode != http.StatusOK {
			t.Fatalf("begin %d: %d %s", i+2, resp.StatusCode, body)
		}
	}
	for _, path := range []string{"/passkeys/login/begin", "/passkeys/signup/begin"} {
		resp, body := send(t, s, path, "application/json", []byte(`{"email":"bob@example.com","name":"Bob"}`))
		if resp.StatusCode != http.StatusTooManyRequests || strings.TrimSpace(body) != tooMany20sJSON || resp.Header.Get("Retry-After") != "20" {
			t.Fatalf("%s over the begin budget: %d Retry-After %q %s", path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}

	body, err := e.auth.CreateJSON([]byte(opts), softauthn.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	resp, out := s.do(c, req{method: "POST", path: "/passkeys/signup/finish", body: string(body), contentType: "application/json"})
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(out) != `{"ok":true}` {
		t.Fatalf("sign-up finish after the begin budget was used up: %d %s", resp.StatusCode, out)
	}
	resp, _ = s.do(c, req{method: "POST", path: "/auth/session"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("exchange after the begin budget was used up: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// Each class answers over its own budget in its own shape (JSON for the passkey script, the login page
// for the exchange) with Retry-After, and leaves the other two classes untouched.
func TestRateLimitClassesOverHTTP(t *testing.T) {
	type endpoint struct {
		path   string
		status int // the answer when not limited (these requests are not valid ceremonies)
	}
	endpoints := map[string]endpoint{
		"begin":    {"/passkeys/login/begin", http.StatusOK},
		"finish":   {"/passkeys/login/finish", http.StatusBadRequest},
		"exchange": {"/auth/session", http.StatusUnauthorized},
	}
	post := func(a http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("POST", path, strings.NewReader(`{}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = "198.51.100.7:4444"
		a.ServeHTTP(rec, r)
		return rec
	}
	for _, tc := range []struct {
		class     string
		checkBody func(t *testing.T, body string)
	}{
		{"begin", func(t *testing.T, body string) {
			if strings.TrimSpace(body) != tooMany20sJSON {
				t.Errorf("body %s, want %s", body, tooMany20sJSON)
			}
		}},
		{"finish", func(t *testing.T, body string) {
			if strings.TrimSpace(body) != tooMany20sJSON {
				t.Errorf("body %s, want %s", body, tooMany20sJSON)
			}
		}},
		{"exchange", func(t *testing.T, body string) {
			if got := alertText(t, body); got != tooMany20s {
				t.Errorf("alert %q, want %q", got, tooMany20s)
			}
			if doc(t, body).Find(`button:contains("Log in with a passkey")`).Length() != 1 {
				t.Error("the 429 is not the login page")
			}
		}},
	} {
		t.Run(tc.class, func(t *testing.T) {
			a := appWith(t, map[string]string{"LATCHKEY_RATE_LIMIT": "3/min"})
			ep := endpoints[tc.class]
			for i := 0; i < 3; i++ {
				if rec := post(a.Handler, ep.path); rec.Code != ep.status {
					t.Fatalf("%s request %d: %d, want %d: %s", ep.path, i+1, rec.Code, ep.status, rec.Body.String())
				}
			}
			rec := post(a.Handler, ep.path)
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("%s over the budget: %d, want 429", ep.path, rec.Code)
			}
			if got := rec.Header().Get("Retry-After"); got != "20" {
				t.Errorf("Retry-After %q, want 20", got)
			}
			tc.checkBody(t, rec.Body.String())
			for class, other := range endpoints {
				if class == tc.class {
					continue
				}
				for i := 0; i < 3; i++ {
					if rec := post(a.Handler, other.path); rec.Code != other.status {
						t.Errorf("%s request %d after %s was used up: %d, want %d", other.path, i+1, tc.class, rec.Code, other.status)
					}
				}
			}
		})
	}
}

// IPv6 clients are charged by /64, directly and behind a trusted proxy; IPv4-mapped peers are IPv4.
func TestRateLimitIPv6BySlash64(t *testing.T) {
	type from struct{ remote, xff string }
	for _, tc := range []struct {
		name    string
		exhaust []from
		probe   from
		want    int
	}{
		{"another address of the same /64",
			[]from{{"[2001:db8:1:2::1]:1000", ""}, {"[2001:db8:1:2::2]:1000", ""}, {"[2001:db8:1:2:ffff:ffff:ffff:ffff]:1000", ""}},
			from{"[2001:db8:1:2:abcd::1]:2000", ""}, http.StatusTooManyRequests},
		{"the next /64",
			[]from{{"[2001:db8:1:2::1]:1000", ""}, {"[2001:db8:1:2::2]:1000", ""}, {"[2001:db8:1:2::3]:1000", ""}},
			from{"[2001:db8:1:3::1]:2000", ""}, http.StatusOK},
		{"IPv4-mapped peer is its IPv4 address",
			[]from{{"[::ffff:192.0.2.1]:1000", ""}, {"192.0.2.1:1000", ""}, {"[::ffff:192.0.2.1]:1000", ""}},
			from{"192.0.2.1:2000", ""}, http.StatusTooManyRequests},
		{"forwarded through the trusted proxy: same /64",
			[]from{{"10.0.0.1:80", "2001:db8:9:9::1"}, {"10.0.0.1:80", "2001:db8:9:9::2"}, {"10.0.0.1:80", "2001:db8:9:9::3"}},
			from{"10.0.0.1:80", "2001:db8:9:9:1:2:3:4"}, http.StatusTooManyRequests},
		{"forwarded through the trusted proxy: another /64",
			[]from{{"10.0.0.1:80", "2001:db8:9:9::1"}, {"10.0.0.1:80", "2001:db8:9:9::2"}, {"10.0.0.1:80", "2001:db8:9:9::3"}},
			from{"10.0.0.1:80", "2001:db8:9:a::1"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := appWith(t, map[string]string{"LATCHKEY_RATE_LIMIT": "3/min", "LATCHKEY_TRUSTED_PROXIES": "10.0.0.1"})
			post := func(f from) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				r := httptest.NewRequest("POST", "/passkeys/login/begin", strings.NewReader(`{}`))
				r.Header.Set("Content-Type", "application/json")
				r.RemoteAddr = f.remote
				if f.xff != "" {
					r.Header.Set("X-Forwarded-For", f.xff)
				}
				a.Handler.ServeHTTP(rec, r)
				return rec
			}
			for _, f := range tc.exhaust {
				if rec := post(f); rec.Code != http.StatusOK {
					t.Fatalf("%+v: %d within the budget", f, rec.Code)
				}
			}
			rec := post(tc.probe)
			if rec.Code != tc.want {
				t.Fatalf("%+v: %d, want %d", tc.probe, rec.Code, tc.want)
			}
			if tc.want == http.StatusTooManyRequests && strings.TrimSpace(rec.Body.String()) != tooMany20sJSON {
				t.Errorf("body %s, want %s", rec.Body.String(), tooMany20sJSON)
			}
		})
	}
}
