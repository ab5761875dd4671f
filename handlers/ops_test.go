package handlers_test

import (
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/metricstest"
	"github.com/latchkey/latchkey/internal/softauthn"
	"github.com/latchkey/latchkey/internal/testdb"
)

// get sends GET path with the given extra headers from a client without cookies.
func get(t *testing.T, s *stack, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	r, err := http.NewRequest("GET", s.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return roundTrip(t, r)
}

// scrape reads GET /metrics (from loopback) as Prometheus would.
func scrape(t *testing.T, s *stack) map[string]*dto.MetricFamily {
	t.Helper()
	resp, body := get(t, s, "/metrics", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics from loopback: status %d: %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return families
}

// sample is the value of name{labels} in a scrape (a histogram's sample count); ok is false when the
// series is not there.
func sample(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	return metricstest.Sample(families[name], labels)
}

// A real sign-up and log-in through the handlers, a refused log-in, a request without a token and one
// over the rate limit move exactly the counters they should, by exactly one each, and nothing else.
func TestMetricsCountTheJourney(t *testing.T) {
	t.Parallel()
	// Three requests per step and client; every request here comes from the same client.
	e := newHostileEnv(t, map[string]string{"LATCHKEY_RATE_LIMIT": "3/min"})
	before := scrape(t, e.s)

	exchange := func(tok string) *http.Response {
		t.Helper()
		var cookies []*http.Cookie
		if tok != "" {
			cookies = append(cookies, &http.Cookie{Name: "cbo_session_token", Value: tok})
		}
		resp, _ := send(t, e.s, "/auth/session", "", nil, cookies...)
		return resp
	}
	// Sign up, and start the session.
	b := e.beginSignup(t, "ada@example.com", "Ada Lovelace")
	tok := e.finish(t, "/passkeys/signup/finish", b, e.create(t, b, softauthn.Tweaks{}))
	if resp := exchange(tok); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("exchange after sign-up: %d", resp.StatusCode)
	}
	// Log in, and start the session.
	b = e.beginLogin(t)
	tok = e.finish(t, "/passkeys/login/finish", b, e.get(t, b, softauthn.Tweaks{}))
	if resp := exchange(tok); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("exchange after log-in: %d", resp.StatusCode)
	}
	// A log-in the device did not verify.
	b = e.beginLogin(t)
	resp, body := send(t, e.s, "/passkeys/login/finish", "application/json",
		e.get(t, b, softauthn.Tweaks{ClearFlags: protocol.FlagUserVerified}), b.cookie)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"code":"not_verified"`) {
		t.Fatalf("unverified log-in: %d %s", resp.StatusCode, body)
	}
	// An exchange without a token.
	if resp := exchange(""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("exchange without a token: %d", resp.StatusCode)
	}
	// A fourth begin: over the limit.
	if resp, body := send(t, e.s, "/passkeys/login/begin", "application/json", []byte(`{}`)); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth begin: %d %s", resp.StatusCode, body)
	}

	after := scrape(t, e.s)
	// Every series and how far it must have moved: the named ones as given, every other reason and
	// class not at all.
	var d deltas
	d.none("latchkey_signup_failures_total", "reason", metrics.SignupReasons())
	d.none("latchkey_login_failures_total", "reason", metrics.LoginReasons())
	d.none("latchkey_session_exchange_failures_total", "reason", metrics.ExchangeReasons())
	d.none("latchkey_rate_limited_total", "class", metrics.RateLimitClasses())
	d.none("latchkey_recovery_failures_total", "reason", metrics.RecoveryReasons())
	d.none("latchkey_passkey_add_failures_total", "reason", metrics.PasskeyAddReasons())
	d.set("latchkey_recovery_logins_total", nil, 0)
	d.set("latchkey_passkeys_added_total", nil, 0)
	d.set("latchkey_signups_total", nil, 1)
	d.set("latchkey_logins_total", nil, 1)
	d.set("latchkey_sessions_started_total", nil, 2)
	d.set("latchkey_login_failures_total", map[string]string{"reason": "not_verified"}, 1)
	d.set("latchkey_session_exchange_failures_total", map[string]string{"reason": "no_token"}, 1)
	d.set("latchkey_rate_limited_total", map[string]string{"class": "begin"}, 1)
	d.set("latchkey_ceremony_duration_seconds", map[string]string{"ceremony": "registration", "step": "begin"}, 1)
	d.set("latchkey_ceremony_duration_seconds", map[string]string{"ceremony": "registration", "step": "finish"}, 1)
	d.set("latchkey_ceremony_duration_seconds", map[string]string{"ceremony": "login", "step": "begin"}, 2) // the refused one is not timed
	d.set("latchkey_ceremony_duration_seconds", map[string]string{"ceremony": "login", "step": "finish"}, 2)
	d.set("latchkey_ceremony_duration_seconds", map[string]string{"ceremony": "session", "step": "exchange"}, 3)
	d.check(t, before, after)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "go_sql_max_open_connections"} {
		if _, ok := after[name]; !ok {
			t.Errorf("no %s in /metrics", name)
		}
	}
}

// Account recovery and added passkeys are counted too: a wrong recovery code, a code that logs in, a
// one-time link used, used again and unknown (a GET of a link, which uses nothing, is not counted), a
// passkey added from the account page and a finish without its ceremony, each exactly once.
func TestMetricsCountRecoveryAndAddedPasskeys(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, map[string]string{"LATCHKEY_RATE_LIMIT": "off"})
	s := withT(e.s, t)
	b := e.beginSignup(t, "grace@example.com", "Grace Hopper")
	_, codes := signedUp(t, s, e.finish(t, "/passkeys/signup/finish", b, e.create(t, b, softauthn.Tweaks{})))
	link, _, err := s.app.Recovery().CreateLink(t.Context(), "grace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	before := scrape(t, s)

	if resp, _ := recoverWith(t, s, s.client(), "grace@example.com", "2345-6789-abcd", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	c := s.client()
	if resp, _ := recoverWith(t, s, c, "grace@example.com", codes[0], ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right code: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/recover/" + link, http.StatusOK},
		{"POST", "/recover/" + link, http.StatusSeeOther},
		{"POST", "/recover/" + link, http.StatusGone},
		{"POST", "/recover/nope", http.StatusNotFound},
		{"GET", "/recover/nope", http.StatusNotFound},
	} {
		if resp, _ := s.do(s.client(), req{method: tc.method, path: tc.path}); resp.StatusCode != tc.status {
			t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
	}
	// The person who recovered with a code adds a passkey for this device.
	resp, options := s.do(c, req{method: "POST", path: "/account/passkeys/add/begin", body: `{}`, contentType: "application/json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("add begin: %d %s", resp.StatusCode, options)
	}
	created, err := softauthn.New(publicOrigin).CreateJSON([]byte(options), softauthn.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := s.do(c, req{method: "POST", path: "/account/passkeys/add/finish", body: string(created), contentType: "application/json"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("add finish: %d %s", resp.StatusCode, body)
	}
	if resp, _ := s.do(c, req{method: "POST", path: "/account/passkeys/add/finish", body: string(created), contentType: "application/json"}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("add finish again, its ceremony used: %d", resp.StatusCode)
	}

	var d deltas
	d.none("latchkey_recovery_failures_total", "reason", metrics.RecoveryReasons())
	d.none("latchkey_passkey_add_failures_total", "reason", metrics.PasskeyAddReasons())
	d.none("latchkey_login_failures_total", "reason", metrics.LoginReasons())
	d.set("latchkey_recovery_failures_total", map[string]string{"reason": "wrong_code"}, 1)
	d.set("latchkey_recovery_failures_total", map[string]string{"reason": "link_used"}, 1)
	d.set("latchkey_recovery_failures_total", map[string]string{"reason": "link_unknown"}, 1)
	d.set("latchkey_recovery_logins_total", nil, 2)
	d.set("latchkey_passkeys_added_total", nil, 1)
	d.set("latchkey_passkey_add_failures_total", map[string]string{"reason": "no_ceremony"}, 1)
	d.set("latchkey_logins_total", nil, 0)
	d.set("latchkey_sessions_started_total", nil, 0) // recovery starts its session without an exchange
	d.check(t, before, scrape(t, s))
}

// deltas are the series a test expects to have moved between two scrapes, and by how much.
type deltas []struct {
	name   string
	labels map[string]string
	by     float64
}

// set expects name{labels} to move by exactly by.
func (d *deltas) set(name string, labels map[string]string, by float64) {
	for i := range *d {
		if (*d)[i].name == name && maps.Equal((*d)[i].labels, labels) {
			(*d)[i].by = by
			return
		}
	}
	*d = append(*d, struct {
		name   string
		labels map[string]string
		by     float64
	}{name, labels, by})
}

// none expects name not to move for any of label's values (set overrides one afterwards).
func (d *deltas) none(name, label string, values []string) {
	for _, v := range values {
		d.set(name, map[string]string{label: v}, 0)
	}
}

// check fails t for every series not in both scrapes or not moved by what was set.
func (d deltas) check(t *testing.T, before, after map[string]*dto.MetricFamily) {
	t.Helper()
	for _, c := range d {
		b, okB := sample(before, c.name, c.labels)
		a, okA := sample(after, c.name, c.labels)
		if !okB || !okA {
			t.Errorf("%s%v is not in both scrapes", c.name, c.labels)
			continue
		}
		if a-b != c.by {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, a-b, c.by)
		}
	}
}

// The active sessions gauge counts the unexpired sessions in the database.
func TestMetricsActiveSessions(t *testing.T) {
	t.Parallel()
	s, _ := newStackEnv(t, nil)
	for _, email := range []string{"ada@example.com", "bob@example.com"} {
		_, tok := s.account(email, "Someone")
		if resp, _ := s.do(s.client(), req{method: "POST", path: "/auth/session", token: tok}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("exchange: %d", resp.StatusCode)
		}
	}
	// An expired session is not counted.
	if _, err := s.app.Store().DB().Exec(`INSERT INTO sessions (token, data, expiry) VALUES ('old', '', ?)`, time.Now().Add(-time.Minute).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if v, ok := sample(scrape(t, s), "latchkey_active_sessions", nil); !ok || v != 2 {
		t.Errorf("latchkey_active_sessions = %v (present %v), want 2", v, ok)
	}
}

// /metrics answers loopback and private addresses only — the client as LATCHKEY_TRUSTED_PROXIES
// resolves it — and everyone else gets the ordinary 404 page.
func TestMetricsOnlyForInternalClients(t *testing.T) {
	t.Parallel()
	behindProxy, _ := newStackEnv(t, map[string]string{"LATCHKEY_TRUSTED_PROXIES": "127.0.0.1"})
	direct, logs := newStackEnv(t, nil)
	for _, tc := range []struct {
		name   string
		s      *stack
		header map[string]string
		want   int
	}{
		{"loopback", direct, nil, 200},
		{"private IPv4 behind the proxy", behindProxy, map[string]string{"X-Forwarded-For": "10.1.2.3"}, 200},
		{"RFC 1918 172.16/12 behind the proxy", behindProxy, map[string]string{"X-Forwarded-For": "172.31.0.9"}, 200},
		{"private IPv6 (ULA) behind the proxy", behindProxy, map[string]string{"X-Forwarded-For": "fd12:3456::1"}, 200},
		{"the proxy itself", behindProxy, nil, 200},
		{"public IPv4 behind the proxy", behindProxy, map[string]string{"X-Forwarded-For": "203.0.113.7"}, 404},
		{"public IPv6 behind the proxy", behindProxy, map[string]string{"X-Forwarded-For": "2001:db8::7"}, 404},
		// The client sent "X-Forwarded-For: 10.0.0.1" itself; the proxy appended the address it really came from.
		{"a public client claiming a private address", behindProxy, map[string]string{"X-Forwarded-For": "10.0.0.1, 203.0.113.7"}, 404},
		{"shared address space (CGNAT) is not private", behindProxy, map[string]string{"X-Forwarded-For": "100.64.0.1"}, 404},
		{"link-local is not private", behindProxy, map[string]string{"X-Forwarded-For": "169.254.1.1"}, 404},
		{"an untrusted proxy's header", direct, map[string]string{"X-Forwarded-For": "10.1.2.3"}, 404},
		{"Forwarded from an untrusted proxy", direct, map[string]string{"Forwarded": "for=10.1.2.3"}, 404},
		{"X-Real-IP from an untrusted proxy", direct, map[string]string{"X-Real-IP": "10.1.2.3"}, 404},
		{"a trusted proxy naming the client only in X-Real-IP", behindProxy, map[string]string{"X-Real-IP": "203.0.113.7"}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.s, "/metrics", tc.header)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 404 {
				if !strings.Contains(doc(t, body).Find(`[data-testid="not-found-message"]`).Text(), "There is nothing at this address.") ||
					strings.Contains(body, "latchkey_") {
					t.Errorf("refused /metrics is not the ordinary not-found page:\n%s", body)
				}
				return
			}
			if !strings.Contains(body, "# TYPE latchkey_logins_total counter") || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("no metrics (Cache-Control %q):\n%.300s", resp.Header.Get("Cache-Control"), body)
			}
		})
	}
	if !strings.Contains(logs.String(), "/metrics refused: a forwarding header from a peer that is not in LATCHKEY_TRUSTED_PROXIES") {
		t.Errorf("the refusal's reason is not logged:\n%s", logs.String())
	}
}

// /healthz is the process only: it answers ok with the database gone. /readyz asks the database.
func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	s, logs := newStackEnv(t, nil)
	check := func(path string, wantStatus int, wantBody string) {
		t.Helper()
		resp, body := get(t, s, path, nil)
		if resp.StatusCode != wantStatus || body != wantBody || resp.Header.Get("Cache-Control") != "no-store" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("GET %s: %d %q (%s, %s), want %d %q", path, resp.StatusCode, body,
				resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), wantStatus, wantBody)
		}
	}
	check("/healthz", 200, "ok\n")
	check("/readyz", 200, "ok\n")

	if err := s.app.Store().DB().Close(); err != nil {
		t.Fatal(err)
	}
	check("/healthz", 200, "ok\n")
	check("/readyz", 503, "not ready: database\n")
	if !strings.Contains(logs.String(), "not ready") || !strings.Contains(logs.String(), "check=database") || !strings.Contains(logs.String(), "database is closed") {
		t.Errorf("the cause is not in the log:\n%s", logs.String())
	}
}

// /readyz on PostgreSQL goes not-ready when the database stops answering and ready again when it is
// back; the answer never shows the URL.
func TestReadinessFollowsPostgres(t *testing.T) {
	t.Parallel()
	pg, stop := postgresBehindSwitch(t)
	s, logs := newStackEnv(t, map[string]string{"LATCHKEY_DATABASE_URL": pg})
	if resp, body := get(t, s, "/readyz", nil); resp.StatusCode != 200 || body != "ok\n" {
		t.Fatalf("readyz: %d %q", resp.StatusCode, body)
	}
	stop(true)
	resp, body := get(t, s, "/readyz", nil)
	if resp.StatusCode != 503 || body != "not ready: database\n" {
		t.Errorf("readyz with PostgreSQL unreachable: %d %q", resp.StatusCode, body)
	}
	if strings.Contains(logs.String(), pgTestPassword) {
		t.Errorf("the log shows the password:\n%s", logs.String())
	}
	stop(false)
	if resp, body := get(t, s, "/readyz", nil); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("readyz with PostgreSQL back: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, s, "/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
}

// pgTestPassword is in the PostgreSQL URL of TestReadinessFollowsPostgres. The local server trusts every
// connection and ignores it; it stands for a real password that must never be shown.
const pgTestPassword = "hunter2-readyz-secret"

// postgresBehindSwitch returns the URL of a fresh PostgreSQL schema reached through a forwarder that
// setDown(true) cuts (open connections closed, new ones closed at once) and setDown(false) restores.
func postgresBehindSwitch(t *testing.T) (databaseURL string, setDown func(bool)) {
	t.Helper()
	u, err := url.Parse(testdb.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		down  bool
		conns []net.Conn
		wg    sync.WaitGroup
	)
	closeAll := func() {
		for _, c := range conns {
			_ = c.Close()
		}
		conns = nil
	}
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closeAll()
		mu.Unlock()
		wg.Wait()
	})
	target := u.Host
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if down {
				mu.Unlock()
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				mu.Unlock()
				_ = c.Close()
				continue
			}
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
			wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
		}
	})
	u.Host = ln.Addr().String()
	u.User = url.UserPassword("postgres", pgTestPassword)
	return u.String(), func(d bool) {
		mu.Lock()
		defer mu.Unlock()
		down = d
		if d {
			closeAll()
		}
	}
}
