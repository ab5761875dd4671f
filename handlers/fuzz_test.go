package handlers_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/softauthn"
)

// The fuzz targets below build one application per process (the coordinator and every fuzz worker each
// run the setup) and send every input to it over HTTP. Run one for a while with, for example:
//
//	go test -run='^$' -fuzz='^FuzzCeremonyFinish$' -fuzztime=30s ./handlers/
//
// A plain `go test` runs only the seeds, as ordinary tests.

const fzOrigin = "http://localhost:8080"

// fzStack is the whole application over a real SQLite file, for fuzzing: no rate limit, the longest
// token and ceremony lifetimes, and a log that is discarded but watched for one secret.
type fzStack struct {
	srv    *httptest.Server
	app    *app.App
	client *http.Client
	log    *fzLogWatch
}

func fzNewStack(tb testing.TB) *fzStack {
	tb.Helper()
	env := map[string]string{
		"LATCHKEY_PUBLIC_URL":       fzOrigin,
		"LATCHKEY_DATABASE_URL":     "sqlite:" + filepath.Join(tb.TempDir(), "latchkey.db"),
		"LATCHKEY_RATE_LIMIT":       "off",
		"LATCHKEY_TOKEN_TTL":        "1h",
		"LATCHKEY_CEREMONY_TIMEOUT": "5m",
		"LATCHKEY_LOG_LEVEL":        "debug",
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		tb.Fatal(err)
	}
	watch := &fzLogWatch{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(watch, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	tb.Cleanup(func() {
		srv.Close()
		_ = a.Close()
	})
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &fzStack{srv: srv, app: a, client: client, log: watch}
}

// fzLogWatch discards the log but remembers whether a watched string (a secret) was ever written to it.
type fzLogWatch struct {
	mu     sync.Mutex
	needle []byte
	seen   bool
}

func (w *fzLogWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.needle) > 0 && bytes.Contains(p, w.needle) {
		w.seen = true
	}
	return len(p), nil
}

func (w *fzLogWatch) watch(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.needle = []byte(s)
}

func (w *fzLogWatch) leaked() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// fzResponse is what a request got back.
type fzResponse struct {
	status  int
	header  http.Header
	cookies []*http.Cookie
	body    []byte
}

// fzPost sends body to path with a raw Cookie header (so the server's own cookie parser sees exactly
// what the fuzzer made) and an optional Content-Type and htmx flag.
func (s *fzStack) fzPost(tb testing.TB, path, contentType, cookie string, body []byte, htmx bool) fzResponse {
	tb.Helper()
	r, err := http.NewRequest(http.MethodPost, s.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	if htmx {
		r.Header.Set("HX-Request", "true")
	}
	return s.fzDo(tb, r)
}

func (s *fzStack) fzDo(tb testing.TB, r *http.Request) fzResponse {
	tb.Helper()
	resp, err := s.client.Do(r)
	if err != nil {
		tb.Fatalf("%s %s: %v", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: read body: %v", r.Method, r.URL.Path, err)
	}
	return fzResponse{status: resp.StatusCode, header: resp.Header, cookies: resp.Cookies(), body: b}
}

// fzBegin starts a ceremony and returns its options and the ceremony cookie as a Cookie header value.
func (s *fzStack) fzBegin(tb testing.TB, path, body string) (options []byte, cookie string) {
	tb.Helper()
	resp := s.fzPost(tb, path, "application/json", "", []byte(body), false)
	if resp.status != http.StatusOK {
		tb.Fatalf("POST %s: status %d: %s", path, resp.status, resp.body)
	}
	for _, c := range resp.cookies {
		if strings.HasSuffix(c.Name, "latchkey_ceremony") && c.Value != "" {
			return resp.body, c.Name + "=" + c.Value
		}
	}
	tb.Fatalf("POST %s set no ceremony cookie", path)
	return nil, ""
}

// fzFingerprint summarises every table a ceremony or a log-in may write to.
func (s *fzStack) fzFingerprint(tb testing.TB) string {
	tb.Helper()
	var n [7]int64
	err := s.app.Store().DB().QueryRowContext(context.Background(), `SELECT
		(SELECT count(*) FROM users),
		(SELECT count(*) FROM passkeys),
		(SELECT coalesce(sum(sign_count), 0) FROM passkeys),
		(SELECT coalesce(max(last_used_at), 0) FROM passkeys),
		(SELECT count(*) FROM provider_sessions),
		(SELECT count(*) FROM used_challenges),
		(SELECT count(*) FROM sessions)`).Scan(&n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6])
	if err != nil {
		tb.Fatalf("database fingerprint: %v", err)
	}
	return fmt.Sprintf("users=%d passkeys=%d sign_counts=%d last_used=%d provider_sessions=%d used_challenges=%d sessions=%d",
		n[0], n[1], n[2], n[3], n[4], n[5], n[6])
}

// fzValidHeaderValue reports whether Go's HTTP client will send v as a header value (no control
// characters other than tab); the fuzzer skips the rest, which never reach the server.
func fzValidHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// fzMust returns a function that passes on a softauthn result and fails setup on its error.
func fzMust(tb testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
}

// FuzzCeremonyFinish posts arbitrary bodies (with arbitrary content types) to both finish endpoints,
// with the ceremony cookie of a sign-up and of a log-in that were begun here and then completed: every
// challenge involved is spent, so no input may succeed. Whatever arrives, the answer is a 4xx with a
// JSON {"error": "..."} body, no session token, and nothing written to the database.
func FuzzCeremonyFinish(f *testing.F) {
	s := fzNewStack(f)
	const ct = "application/json"

	// A real sign-up: begin, a software passkey answers, finish succeeds. The same cookie and body are
	// now a replay.
	signupOpts, signupCookie := s.fzBegin(f, "/passkeys/signup/begin", `{"email":"fuzz@example.com","name":"Fuzz Tester"}`)
	auth := softauthn.New(fzOrigin)
	registration := fzMust(f)(auth.CreateJSON(signupOpts, softauthn.Tweaks{}))
	cred := auth.Credentials()[0]
	if resp := s.fzPost(f, "/passkeys/signup/finish", ct, signupCookie, registration, false); resp.status != http.StatusOK {
		f.Fatalf("seed sign-up: status %d: %s", resp.status, resp.body)
	}
	// Broken registrations for the same ceremony, from a second authenticator.
	forger := softauthn.New(fzOrigin)
	badCreate := func(t softauthn.Tweaks) []byte { return fzMust(f)(forger.CreateJSON(signupOpts, t)) }

	// A real log-in with that passkey, likewise completed.
	loginOpts, loginCookie := s.fzBegin(f, "/passkeys/login/begin", `{}`)
	badGet := func(t softauthn.Tweaks) []byte {
		t.Credential = cred.ID
		return fzMust(f)(auth.GetJSON(loginOpts, t))
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	forgedLogins := [][]byte{
		badGet(softauthn.Tweaks{SignWith: otherKey}),
		badGet(softauthn.Tweaks{Origin: "https://evil.example"}),
		badGet(softauthn.Tweaks{ClearFlags: protocol.FlagUserVerified}),
		badGet(softauthn.Tweaks{UserHandle: []byte("usr-someone-else")}),
		badGet(softauthn.Tweaks{MutateSignature: func(b []byte) []byte { b[len(b)-1] ^= 1; return b }}),
	}
	assertion := fzMust(f)(auth.GetJSON(loginOpts, softauthn.Tweaks{Credential: cred.ID}))
	if resp := s.fzPost(f, "/passkeys/login/finish", ct, loginCookie, assertion, false); resp.status != http.StatusOK {
		f.Fatalf("seed log-in: status %d: %s", resp.status, resp.body)
	}

	// mode picks the endpoint and the ceremony cookie: the matching one, or the other kind's.
	type target struct{ path, cookie string }
	targets := [4]target{
		{"/passkeys/signup/finish", signupCookie},
		{"/passkeys/login/finish", loginCookie},
		{"/passkeys/signup/finish", loginCookie},
		{"/passkeys/login/finish", signupCookie},
	}

	for _, b := range [][]byte{
		registration,
		badCreate(softauthn.Tweaks{Origin: "https://evil.example"}),
		badCreate(softauthn.Tweaks{RPID: "evil.example"}),
		badCreate(softauthn.Tweaks{ClearFlags: protocol.FlagUserPresent | protocol.FlagUserVerified}),
		badCreate(softauthn.Tweaks{Challenge: []byte("a challenge this server never issued")}),
		badCreate(softauthn.Tweaks{Type: "webauthn.get"}),
		bytes.Replace(registration, []byte(`"type":"public-key"`), []byte(`"type":"private-key"`), 1),
		bytes.Replace(registration, []byte(`"clientDataJSON":"`), []byte(`"clientDataJSON":"!!`), 1),
		registration[:len(registration)/2],
		append(bytes.Clone(registration), " {}"...),
	} {
		f.Add(uint8(0), ct, b)
		f.Add(uint8(3), ct, b)
	}
	for _, b := range append(forgedLogins,
		assertion,
		bytes.Replace(assertion, []byte(`"signature":"`), []byte(`"signature":"AAAA`), 1),
		bytes.Replace(assertion, []byte(`"userHandle":"`), []byte(`"userHandle":"=`), 1),
		assertion[:len(assertion)-3],
	) {
		f.Add(uint8(1), ct, b)
		f.Add(uint8(2), ct, b)
	}
	for _, b := range []string{``, ` `, `{}`, `null`, `[]`, `""`, `0`, `{"id":"x"}`, `{"id":1}`, `{"response":null}`,
		`{"id":"AA","rawId":"AA","type":"public-key","response":{}}`, `{"a":` + strings.Repeat(`[`, 10000), "\xff\xfe{}"} {
		f.Add(uint8(0), ct, []byte(b))
		f.Add(uint8(1), ct, []byte(b))
	}
	f.Add(uint8(0), "application/json; charset=utf-8", registration)
	f.Add(uint8(1), "text/plain", assertion)
	f.Add(uint8(0), "", registration)
	f.Add(uint8(1), "application/x-www-form-urlencoded", []byte("id=x"))
	f.Add(uint8(0), ct, []byte(`{"id":"`+strings.Repeat("A", 70<<10)+`"}`))

	before := s.fzFingerprint(f)
	f.Fuzz(func(t *testing.T, mode uint8, contentType string, body []byte) {
		if !fzValidHeaderValue(contentType) {
			t.Skip("not a header value Go's client sends")
		}
		tg := targets[mode%4]
		resp := s.fzPost(t, tg.path, contentType, tg.cookie, body, false)
		if resp.status < 400 || resp.status > 499 {
			t.Fatalf("POST %s (content type %q, %d bytes): status %d, want a 4xx: %s", tg.path, contentType, len(body), resp.status, resp.body)
		}
		if got := resp.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type %q, want application/json", got)
		}
		if _, err := decodeJSONError(string(resp.body)); err != nil {
			t.Errorf("body %q: %v", resp.body, err)
		}
		for _, c := range resp.cookies {
			if (c.Name == handlers.SessionTokenCookie || c.Name == handlers.LegacySessionTokenCookie) && c.Value != "" {
				t.Errorf("a refused ceremony set the session token cookie %s", c.Name)
			}
		}
		if after := s.fzFingerprint(t); after != before {
			t.Errorf("the database changed:\n before %s\n after  %s", before, after)
		}
	})
}

// FuzzSessionExchange sends arbitrary values of the cbo_session_token cookie to POST /auth/session. The
// answer is never a 5xx; it succeeds exactly for the one genuine token (or the same token with
// unused base64 bits changed, which decodes to the same bytes), and only once per token; otherwise it is
// a 401 that starts no session and writes nothing. The genuine token never appears in the log.
func FuzzSessionExchange(f *testing.F) {
	s := fzNewStack(f)
	userID, tok := fzAccount(f, s, "exchange@example.com", "Ex Change") // minted by s.app.Minter() at sign-up
	// Each JWT is exchanged at most once. So that every input starts from the same state, the genuine
	// token's provider session is made unexchanged again before an input that carries it.
	unclaim := func(t *testing.T) {
		if _, err := s.app.Store().DB().Exec(`UPDATE provider_sessions SET exchanged_at = NULL WHERE user_id = ?`, userID); err != nil {
			t.Fatal(err)
		}
	}
	minted := time.Now()
	parts := strings.Split(tok, ".")
	s.log.watch(parts[2]) // the signature: it cannot appear in the log by chance

	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	hs := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	for _, v := range []string{
		tok,
		`"` + tok + `"`,
		"; " + handlers.LegacySessionTokenCookie + "=" + tok,
		"x; " + handlers.LegacySessionTokenCookie + "=" + tok,
		tok + "x",
		tok[:len(tok)-1],
		parts[0] + "." + parts[1] + "x." + parts[2],
		none + "." + parts[1] + ".",
		hs + "." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1],
		parts[0] + ".." + parts[2],
		"",
		"not-a-jwt",
		"a.b.c",
		"...",
		strings.Repeat("A", 9000),
		"eyJ" + strings.Repeat(".eyJ", 3),
	} {
		f.Add(v, true)
		f.Add(v, false)
	}

	f.Fuzz(func(t *testing.T, value string, htmx bool) {
		cookie := handlers.SessionTokenCookie + "=" + value
		if !fzValidHeaderValue(cookie) {
			t.Skip("not a header value Go's client sends")
		}
		seen := fzServerToken(cookie)
		if fzSameJWT(seen, tok) {
			unclaim(t)
		}
		before := s.fzFingerprint(t)
		resp := s.fzPost(t, "/auth/session", "", cookie, nil, htmx)
		genuine := seen == tok && time.Since(minted) < 50*time.Minute
		success := resp.status == http.StatusOK && resp.header.Get("HX-Push-Url") == "/home" ||
			resp.status == http.StatusSeeOther && resp.header.Get("Location") == "/home"
		switch {
		case resp.status >= 500:
			t.Fatalf("token %q: status %d: %s", value, resp.status, resp.body)
		case genuine && !success:
			t.Fatalf("the genuine token was refused: status %d", resp.status)
		case success && !fzSameJWT(seen, tok):
			t.Fatalf("token %q (server reads %q) was accepted: status %d", value, seen, resp.status)
		case success:
			if again := s.fzPost(t, "/auth/session", "", cookie, nil, htmx); again.status != http.StatusUnauthorized {
				t.Fatalf("the same token started a second session: status %d", again.status)
			}
		case !success:
			if resp.status != http.StatusUnauthorized {
				t.Errorf("token %q: status %d, want 401", value, resp.status)
			}
			for _, c := range resp.cookies {
				if c.Name == "latchkey_session" && c.Value != "" && c.MaxAge >= 0 {
					t.Errorf("a refused exchange set a session cookie")
				}
			}
			if after := s.fzFingerprint(t); after != before {
				t.Errorf("a refused exchange changed the database:\n before %s\n after  %s", before, after)
			}
		}
		if s.log.leaked() {
			t.Fatal("the session token appeared in the log")
		}
	})
}

// fzAccount signs up through the real ceremony and returns the user ID and the issued session token.
func fzAccount(tb testing.TB, s *fzStack, email, name string) (userID, tok string) {
	tb.Helper()
	opts, cookie := s.fzBegin(tb, "/passkeys/signup/begin", fmt.Sprintf(`{"email":%q,"name":%q}`, email, name))
	body := fzMust(tb)(softauthn.New(fzOrigin).CreateJSON(opts, softauthn.Tweaks{}))
	resp := s.fzPost(tb, "/passkeys/signup/finish", "application/json", cookie, body, false)
	if resp.status != http.StatusOK {
		tb.Fatalf("sign-up: status %d: %s", resp.status, resp.body)
	}
	for _, c := range resp.cookies {
		if c.Name == handlers.SessionTokenCookie {
			tok = c.Value
		}
	}
	u, err := s.app.Store().UserByEmail(context.Background(), email)
	if err != nil || tok == "" {
		tb.Fatalf("sign-up left no user (%v) or no token", err)
	}
	return u.ID, tok
}

// fzServerToken is the session token the handler reads from a Cookie header, as net/http parses it: the
// value of the one cookie named cbo_session_token or cbo_short_session, and "" when there is none or more
// than one (two token cookies are refused, whatever their order and values).
func fzServerToken(cookieHeader string) string {
	r := &http.Request{Header: http.Header{"Cookie": {cookieHeader}}}
	var tokens []string
	for _, c := range r.Cookies() {
		if c.Name == handlers.SessionTokenCookie || c.Name == handlers.LegacySessionTokenCookie {
			tokens = append(tokens, c.Value)
		}
	}
	if len(tokens) != 1 {
		return ""
	}
	return tokens[0]
}

// fzSameJWT reports whether a and b are the same compact JWS once each part is base64url-decoded
// (Go's decoder, like every lenient one, ignores the unused low bits of the last character).
func fzSameJWT(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := range pa {
		da, errA := base64.RawURLEncoding.DecodeString(pa[i])
		db, errB := base64.RawURLEncoding.DecodeString(pb[i])
		if errA != nil || errB != nil || !bytes.Equal(da, db) {
			return false
		}
	}
	return true
}
