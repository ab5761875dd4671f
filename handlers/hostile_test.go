package handlers_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/softauthn"
	"github.com/latchkey/latchkey/internal/testlog"
)

// publicOrigin is the app's public URL in these tests (httptest listens elsewhere; the browser's origin
// and the RP ID are what the app was configured with).
const publicOrigin = "http://localhost:8080"

const ceremonyCookieName = "latchkey_ceremony"

// newStackEnv is newStack with the rate limiter off and extra environment variables. Its log goes to
// the returned buffer (stack.log stays empty).
func newStackEnv(t *testing.T, extra map[string]string) (*stack, *testlog.Buffer) {
	t.Helper()
	env := map[string]string{
		"LATCHKEY_PUBLIC_URL":   publicOrigin,
		"LATCHKEY_DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db"),
		"LATCHKEY_LOG_LEVEL":    "debug",
		"LATCHKEY_RATE_LIMIT":   "off",
	}
	maps.Copy(env, extra)
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		_ = a.Close()
	})
	return &stack{t: t, srv: srv, app: a, log: &testlog.Buffer{}}, logs
}

// dbState is everything a refused request must leave as it was.
type dbState struct {
	Users, Passkeys, ProviderSessions, RevokedSessions, UsedChallenges, Sessions int
	PasskeyUse                                                                   string // credential id, sign count, last use and backup state of every passkey
}

func snapshot(t *testing.T, s *stack) dbState {
	t.Helper()
	db := s.app.Store().DB()
	ctx := context.Background()
	count := func(query string) int {
		var n int
		if err := db.QueryRowContext(ctx, query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	st := dbState{
		Users:            count("SELECT COUNT(*) FROM users"),
		Passkeys:         count("SELECT COUNT(*) FROM passkeys"),
		ProviderSessions: count("SELECT COUNT(*) FROM provider_sessions"),
		RevokedSessions:  count("SELECT COUNT(*) FROM provider_sessions WHERE revoked_at IS NOT NULL"),
		UsedChallenges:   count("SELECT COUNT(*) FROM used_challenges"),
		Sessions:         count("SELECT COUNT(*) FROM sessions"),
	}
	rows, err := db.QueryContext(ctx, "SELECT credential_id, sign_count, last_used_at, backup_state FROM passkeys ORDER BY credential_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var use strings.Builder
	for rows.Next() {
		var (
			id       []byte
			count    int64
			lastUsed sql.NullInt64
			backup   bool
		)
		if err := rows.Scan(&id, &count, &lastUsed, &backup); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&use, "%s:%d:%v:%v ", hex.EncodeToString(id), count, lastUsed, backup)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	st.PasskeyUse = use.String()
	return st
}

// send posts body to path with the given content type and cookies, from a client without a cookie jar.
func send(t *testing.T, s *stack, path, contentType string, body []byte, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	r, err := http.NewRequest("POST", s.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return roundTrip(t, r)
}

// roundTrip sends r as it is (no cookie jar, no redirects followed) and returns the response with its
// body read.
func roundTrip(t *testing.T, r *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// begun is a ceremony started over HTTP: the options the browser got and the ceremony cookie with them.
type begun struct {
	options []byte
	cookie  *http.Cookie
}

// challenge is the options' challenge, decoded.
func (b begun) challenge(t *testing.T) []byte {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(b.options, &o); err != nil {
		t.Fatal(err)
	}
	c, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(o.PublicKey.Challenge, "="))
	if err != nil || len(c) < 16 {
		t.Fatalf("challenge %q: %v", o.PublicKey.Challenge, err)
	}
	return c
}

// hostileEnv is a fresh app with a software authenticator (its passkey provider).
type hostileEnv struct {
	s      *stack
	logs   *testlog.Buffer
	auth   *softauthn.Authenticator
	emails int
}

// email returns an address no one has used yet in this environment.
func (e *hostileEnv) email() string {
	e.emails++
	return fmt.Sprintf("eve%d@example.com", e.emails)
}

func newHostileEnv(t *testing.T, extra map[string]string) *hostileEnv {
	s, logs := newStackEnv(t, extra)
	return &hostileEnv{s: s, logs: logs, auth: softauthn.New(publicOrigin)}
}

func (e *hostileEnv) begin(t *testing.T, path, body string) begun {
	t.Helper()
	resp, b := send(t, e.s, path, "application/json", []byte(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d: %s", path, resp.StatusCode, b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == ceremonyCookieName && c.MaxAge > 0 {
			return begun{options: []byte(b), cookie: &http.Cookie{Name: c.Name, Value: c.Value}}
		}
	}
	t.Fatalf("%s set no ceremony cookie", path)
	return begun{}
}

func (e *hostileEnv) beginSignup(t *testing.T, email, name string) begun {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "name": name})
	return e.begin(t, "/passkeys/signup/begin", string(body))
}

func (e *hostileEnv) beginLogin(t *testing.T) begun {
	t.Helper()
	return e.begin(t, "/passkeys/login/begin", `{}`)
}

func (e *hostileEnv) create(t *testing.T, b begun, tw softauthn.Tweaks) []byte {
	t.Helper()
	body, err := e.auth.CreateJSON(b.options, tw)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (e *hostileEnv) get(t *testing.T, b begun, tw softauthn.Tweaks) []byte {
	t.Helper()
	body, err := e.auth.GetJSON(b.options, tw)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// finish posts a ceremony response with its ceremony cookie and insists it succeeds; it returns the
// session JWT the finish set.
func (e *hostileEnv) finish(t *testing.T, path string, b begun, body []byte) string {
	t.Helper()
	resp, rb := send(t, e.s, path, "application/json", body, b.cookie)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(rb) != `{"ok":true}` {
		t.Fatalf("%s: status %d: %s", path, resp.StatusCode, rb)
	}
	tok := cookieNamed(resp, "cbo_session_token")
	if tok == nil || tok.Value == "" || !tok.HttpOnly {
		t.Fatalf("%s set no HttpOnly session token cookie: %+v", path, tok)
	}
	return tok.Value
}

// signup creates an account over HTTP with the environment's authenticator and returns its user ID.
func (e *hostileEnv) signup(t *testing.T, email, name string) string {
	t.Helper()
	b := e.beginSignup(t, email, name)
	e.finish(t, "/passkeys/signup/finish", b, e.create(t, b, softauthn.Tweaks{}))
	creds := e.auth.Credentials()
	return string(creds[len(creds)-1].UserHandle)
}

// credential returns the authenticator's credential for user.
func (e *hostileEnv) credential(t *testing.T, userID string) softauthn.Credential {
	t.Helper()
	for _, c := range e.auth.Credentials() {
		if string(c.UserHandle) == userID {
			return c
		}
	}
	t.Fatalf("no credential for %s", userID)
	return softauthn.Credential{}
}

// editJSON decodes a ceremony response, lets edit change it and encodes it again.
func editJSON(t *testing.T, body []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func responseField(m map[string]any) map[string]any { return m["response"].(map[string]any) }

func flipLastBit(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 1
	return b
}

// checkPlainError asserts a refusal: the status, a JSON body {"error": "..."} holding want, written in
// plain words, and no session token cookie.
func checkPlainError(t *testing.T, resp *http.Response, body string, status int, want string, secrets ...string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	e, err := decodeJSONError(body)
	if err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	msg := e.Error
	for _, words := range e.Fields {
		checkPlainWords(t, words, secrets...)
	}
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not say %q", msg, want)
	}
	checkPlainWords(t, msg, secrets...)
	if c := cookieNamed(resp, "cbo_session_token"); c != nil && c.Value != "" {
		t.Error("a refused request set a session token cookie")
	}
}

// jsonErrorBody is the body of a refused JSON request: plain words, and optionally an outcome code and
// the sign-up fields to fix.
type jsonErrorBody struct {
	Error  string            `json:"error"`
	Code   string            `json:"code"`
	Fields map[string]string `json:"fields"`
}

// decodeJSONError reads a refused request's body strictly: only those three keys, words present, a known
// code, and fields only with the invalid-fields code.
func decodeJSONError(body string) (jsonErrorBody, error) {
	var e jsonErrorBody
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("not a JSON error body: %w", err)
	}
	if strings.TrimSpace(e.Error) == "" {
		return e, errors.New("no words in the error")
	}
	switch e.Code {
	case "", provider.CodeInvalidFields, provider.CodeEmailTaken, provider.CodeUnknownPasskey, provider.CodeNotVerified, provider.CodeExpired:
	default:
		return e, fmt.Errorf("unknown code %q", e.Code)
	}
	if len(e.Fields) > 0 && e.Code != provider.CodeInvalidFields {
		return e, fmt.Errorf("fields %v with code %q", e.Fields, e.Code)
	}
	for name := range e.Fields {
		if name != "email" && name != "name" {
			return e, fmt.Errorf("unknown field %q", name)
		}
	}
	return e, nil
}

// checkPlainWords asserts msg is a sentence for a person: no encoded blobs, no internals, no secrets.
func checkPlainWords(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	blob := regexp.MustCompile(`[A-Za-z0-9_+/=-]{20,}`)
	if msg == "" || !strings.HasSuffix(msg, ".") || strings.ToUpper(msg[:1]) != msg[:1] {
		t.Errorf("error %q is not a sentence", msg)
	}
	if b := blob.FindString(msg); b != "" {
		t.Errorf("error %q contains an encoded blob %q", msg, b)
	}
	lower := strings.ToLower(msg)
	for _, bad := range []string{"goroutine", "panic", ".go:", "eyj", "webauthn", "protocol", "securecookie", "sql", "cbor", "x509", "ecdsa", "{", "\n", "%!"} {
		if strings.Contains(lower, bad) {
			t.Errorf("error %q contains %q", msg, bad)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error %q contains a secret", msg)
		}
	}
}

// attempt is the one hostile request of a case, sent after the database snapshot.
type attempt struct {
	path        string
	contentType string // default application/json
	body        []byte
	cookie      *http.Cookie // ceremony cookie sent with it, if any
}

const (
	signupFinish = "/passkeys/signup/finish"
	loginFinish  = "/passkeys/login/finish"
)

// TestHostileCeremonies begins real ceremonies over HTTP, makes an honest response with the software
// authenticator, breaks it in one way, and posts it: each is refused with the right 4xx and plain words,
// and the database is left exactly as it was. Ada has signed up before the first case.
func TestHostileCeremonies(t *testing.T) {
	t.Parallel()
	const (
		notVerified  = "could not be verified"
		notConfirmed = "did not confirm it was you"
		notStarted   = "expired or was not started here"
		notRead      = "could not be read"
		notKnown     = "not known here"
		emailTaken   = "email is already registered"
		completed    = "already completed"
	)
	ada := func(t *testing.T, e *hostileEnv, tw softauthn.Tweaks) softauthn.Tweaks {
		tw.Credential = e.credential(t, e.adaID(t)).ID
		return tw
	}
	signupWith := func(tw softauthn.Tweaks) func(t *testing.T, e *hostileEnv) attempt {
		return func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginSignup(t, e.email(), "Eve")
			return attempt{path: signupFinish, body: e.create(t, b, tw), cookie: b.cookie}
		}
	}
	loginWith := func(tw softauthn.Tweaks) func(t *testing.T, e *hostileEnv) attempt {
		return func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginLogin(t)
			return attempt{path: loginFinish, body: e.get(t, b, ada(t, e, tw)), cookie: b.cookie}
		}
	}
	signupEdited := func(edit func(t *testing.T, body []byte) []byte) func(t *testing.T, e *hostileEnv) attempt {
		return func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginSignup(t, e.email(), "Eve")
			return attempt{path: signupFinish, body: edit(t, e.create(t, b, softauthn.Tweaks{})), cookie: b.cookie}
		}
	}
	loginEdited := func(edit func(t *testing.T, body []byte) []byte) func(t *testing.T, e *hostileEnv) attempt {
		return func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginLogin(t)
			return attempt{path: loginFinish, body: edit(t, e.get(t, b, ada(t, e, softauthn.Tweaks{}))), cookie: b.cookie}
		}
	}
	setBase64Field := func(field, value string) func(t *testing.T, body []byte) []byte {
		return func(t *testing.T, body []byte) []byte {
			return editJSON(t, body, func(m map[string]any) { responseField(m)[field] = value })
		}
	}
	replace := func(body []byte) func(*testing.T, []byte) []byte {
		return func(*testing.T, []byte) []byte { return body }
	}
	huge := []byte(`{"id":"` + strings.Repeat("A", 70<<10) + `"}`)

	tests := []struct {
		name   string
		attack func(t *testing.T, e *hostileEnv) attempt
		status int
		want   string
	}{
		// The browser reports where the ceremony ran, and the authenticator which site it signed for.
		{name: "sign-up from another origin", attack: signupWith(softauthn.Tweaks{Origin: "https://evil.example"}), status: 401, want: notVerified},
		{name: "log-in from another origin", attack: loginWith(softauthn.Tweaks{Origin: "https://evil.example"}), status: 401, want: notVerified},
		{name: "sign-up from another port", attack: signupWith(softauthn.Tweaks{Origin: "http://localhost:8081"}), status: 401, want: notVerified},
		{name: "sign-up with wrong RP ID hash", attack: signupWith(softauthn.Tweaks{RPID: "evil.example"}), status: 401, want: notVerified},
		{name: "log-in with wrong RP ID hash", attack: loginWith(softauthn.Tweaks{RPID: "evil.example"}), status: 401, want: notVerified},

		// A response answers exactly one challenge, once, within the ceremony's lifetime.
		{name: "sign-up replayed", attack: func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginSignup(t, e.email(), "Eve")
			body := e.create(t, b, softauthn.Tweaks{})
			e.finish(t, signupFinish, b, body)
			return attempt{path: signupFinish, body: body, cookie: b.cookie}
		}, status: 400, want: completed},
		{name: "log-in replayed", attack: func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginLogin(t)
			body := e.get(t, b, ada(t, e, softauthn.Tweaks{}))
			e.finish(t, loginFinish, b, body)
			return attempt{path: loginFinish, body: body, cookie: b.cookie}
		}, status: 400, want: completed},
		{name: "sign-up finish without begin", attack: func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginSignup(t, e.email(), "Eve")
			return attempt{path: signupFinish, body: e.create(t, b, softauthn.Tweaks{})}
		}, status: 400, want: notStarted},
		{name: "log-in finish without begin", attack: func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginLogin(t)
			return attempt{path: loginFinish, body: e.get(t, b, ada(t, e, softauthn.Tweaks{}))}
		}, status: 400, want: notStarted},
		{name: "sign-up answering another ceremony's challenge", attack: func(t *testing.T, e *hostileEnv) attempt {
			other := e.beginSignup(t, e.email(), "Eve")
			b := e.beginSignup(t, e.email(), "Eve")
			return attempt{path: signupFinish, body: e.create(t, b, softauthn.Tweaks{Challenge: other.challenge(t)}), cookie: b.cookie}
		}, status: 401, want: notVerified},
		{name: "log-in answering another ceremony's challenge", attack: func(t *testing.T, e *hostileEnv) attempt {
			other := e.beginLogin(t)
			b := e.beginLogin(t)
			return attempt{path: loginFinish, body: e.get(t, b, ada(t, e, softauthn.Tweaks{Challenge: other.challenge(t)})), cookie: b.cookie}
		}, status: 401, want: notVerified},

		// The signed parts cannot be changed.
		{name: "log-in with tampered signature", attack: loginWith(softauthn.Tweaks{MutateSignature: flipLastBit}), status: 401, want: notVerified},
		{name: "log-in with tampered authenticator data", attack: loginWith(softauthn.Tweaks{MutateAuthData: flipLastBit}), status: 401, want: notVerified},
		{name: "log-in with tampered client data", attack: loginWith(softauthn.Tweaks{MutateClientData: func(b []byte) []byte { return append(bytes.Clone(b), ' ') }}), status: 401, want: notVerified},
		{name: "sign-up with tampered authenticator data", attack: signupWith(softauthn.Tweaks{MutateAuthData: func(b []byte) []byte {
			b = bytes.Clone(b)
			b[55] ^= 1 // the first byte of the attested credential ID: it no longer matches the response's ID
			return b
		}}), status: 401, want: notVerified},

		// The person must be there and verified.
		{name: "sign-up without user presence", attack: signupWith(softauthn.Tweaks{ClearFlags: protocol.FlagUserPresent}), status: 401, want: notConfirmed},
		{name: "sign-up without user verification", attack: signupWith(softauthn.Tweaks{ClearFlags: protocol.FlagUserVerified}), status: 401, want: notConfirmed},
		{name: "log-in without user presence", attack: loginWith(softauthn.Tweaks{ClearFlags: protocol.FlagUserPresent}), status: 401, want: notConfirmed},
		{name: "log-in without user verification", attack: loginWith(softauthn.Tweaks{ClearFlags: protocol.FlagUserVerified}), status: 401, want: notConfirmed},

		// Credentials belong to one account.
		{name: "log-in with an unknown credential", attack: func(t *testing.T, e *hostileEnv) attempt {
			// A passkey made for a sign-up that never finished.
			e.create(t, e.beginSignup(t, e.email(), "Eve"), softauthn.Tweaks{})
			b := e.beginLogin(t)
			return attempt{path: loginFinish, body: e.get(t, b, softauthn.Tweaks{}), cookie: b.cookie}
		}, status: 401, want: notKnown},
		{name: "log-in with an unknown credential for a known user", attack: func(t *testing.T, e *hostileEnv) attempt {
			stranger := softauthn.New(publicOrigin)
			if _, err := stranger.CreateJSON(e.beginSignup(t, e.email(), "Eve").options, softauthn.Tweaks{}); err != nil {
				t.Fatal(err)
			}
			b := e.beginLogin(t)
			body, err := stranger.GetJSON(b.options, softauthn.Tweaks{UserHandle: []byte(e.adaID(t))})
			if err != nil {
				t.Fatal(err)
			}
			return attempt{path: loginFinish, body: body, cookie: b.cookie}
		}, status: 401, want: notKnown},
		{name: "Ada's credential presented as Bob's", attack: func(t *testing.T, e *hostileEnv) attempt {
			bob := e.signup(t, e.email(), "Bob")
			b := e.beginLogin(t)
			return attempt{path: loginFinish, body: e.get(t, b, ada(t, e, softauthn.Tweaks{UserHandle: []byte(bob)})), cookie: b.cookie}
		}, status: 401, want: notKnown},
		{name: "sign-up reusing a registered credential ID", attack: func(t *testing.T, e *hostileEnv) attempt {
			taken := e.credential(t, e.adaID(t)).ID
			b := e.beginSignup(t, e.email(), "Eve")
			body := e.create(t, b, softauthn.Tweaks{MutateAuthData: func(ad []byte) []byte {
				ad = bytes.Clone(ad)
				if copy(ad[55:], taken) != 32 || int(ad[53])<<8|int(ad[54]) != len(taken) {
					t.Fatal("unexpected authenticator data layout")
				}
				return ad
			}})
			body = editJSON(t, body, func(m map[string]any) {
				m["id"] = base64.RawURLEncoding.EncodeToString(taken)
				m["rawId"] = m["id"]
			})
			return attempt{path: signupFinish, body: body, cookie: b.cookie}
		}, status: 409, want: "passkey is already registered"},
		{name: "sign-up begin with a taken email", attack: func(*testing.T, *hostileEnv) attempt {
			return attempt{path: "/passkeys/signup/begin", body: []byte(`{"email":"ADA@example.com","name":"Ada Again"}`)}
		}, status: 409, want: emailTaken},
		{name: "email taken between begin and finish", attack: func(t *testing.T, e *hostileEnv) attempt {
			email := e.email()
			b := e.beginSignup(t, email, "Eve")
			body := e.create(t, b, softauthn.Tweaks{})
			e.signup(t, strings.ToUpper(email), "Eve Too")
			return attempt{path: signupFinish, body: body, cookie: b.cookie}
		}, status: 409, want: emailTaken},

		// Malformed requests.
		{name: "sign-up with malformed base64url", attack: signupEdited(setBase64Field("clientDataJSON", "@@not*base64@@")), status: 400, want: notRead},
		{name: "log-in with malformed base64url", attack: loginEdited(setBase64Field("signature", "***")), status: 400, want: notRead},
		{name: "sign-up with malformed JSON", attack: signupEdited(func(_ *testing.T, b []byte) []byte { return b[:len(b)/2] }), status: 400, want: notRead},
		{name: "log-in with malformed JSON", attack: loginEdited(replace([]byte(`{"id": [}`))), status: 400, want: notRead},
		{name: "sign-up with huge JSON", attack: signupEdited(replace(huge)), status: 413, want: "too large"},
		{name: "log-in with huge JSON", attack: loginEdited(replace(huge)), status: 413, want: "too large"},
		{name: "sign-up with empty body", attack: signupEdited(replace(nil)), status: 400, want: "empty"},
		{name: "log-in with blank body", attack: loginEdited(replace([]byte(" \n"))), status: 400, want: "empty"},
		{name: "sign-up with JSON null", attack: signupEdited(replace([]byte("null"))), status: 400, want: notRead},
		{name: "sign-up as a form", attack: func(t *testing.T, e *hostileEnv) attempt {
			a := signupWith(softauthn.Tweaks{})(t, e)
			a.contentType = "application/x-www-form-urlencoded"
			return a
		}, status: 415, want: "JSON"},
		{name: "log-in as text", attack: func(t *testing.T, e *hostileEnv) attempt {
			a := loginWith(softauthn.Tweaks{})(t, e)
			a.contentType = "text/plain"
			return a
		}, status: 415, want: "JSON"},
		{name: "sign-up with credential type password", attack: signupEdited(func(t *testing.T, b []byte) []byte {
			return editJSON(t, b, func(m map[string]any) { m["type"] = "password" })
		}), status: 400, want: notRead},
		{name: "sign-up with client data type webauthn.get", attack: signupWith(softauthn.Tweaks{Type: "webauthn.get"}), status: 401, want: notVerified},
		{name: "log-in with client data type webauthn.create", attack: loginWith(softauthn.Tweaks{Type: "webauthn.create"}), status: 401, want: notVerified},
		{name: "log-in response at sign-up finish", attack: func(t *testing.T, e *hostileEnv) attempt {
			a := loginWith(softauthn.Tweaks{})(t, e)
			b := e.beginSignup(t, e.email(), "Eve")
			return attempt{path: signupFinish, body: a.body, cookie: b.cookie}
		}, status: 400, want: notRead},

		// The ceremony cookie is the server's own, for one kind of ceremony.
		{name: "sign-up ceremony cookie at log-in finish", attack: func(t *testing.T, e *hostileEnv) attempt {
			b := e.beginSignup(t, e.email(), "Eve")
			opts, _ := json.Marshal(map[string]any{"challenge": base64.RawURLEncoding.EncodeToString(b.challenge(t)), "rpId": "localhost"})
			body, err := e.auth.GetJSON(opts, ada(t, e, softauthn.Tweaks{}))
			if err != nil {
				t.Fatal(err)
			}
			return attempt{path: loginFinish, body: body, cookie: b.cookie}
		}, status: 400, want: "This log-in was not started here"},
		{name: "log-in ceremony cookie at sign-up finish", attack: func(t *testing.T, e *hostileEnv) attempt {
			a := signupWith(softauthn.Tweaks{})(t, e)
			a.cookie = e.beginLogin(t).cookie
			return a
		}, status: 400, want: "This sign-up was not started here"},
		{name: "tampered ceremony cookie", attack: func(t *testing.T, e *hostileEnv) attempt {
			a := loginWith(softauthn.Tweaks{})(t, e)
			v := []byte(a.cookie.Value)
			i := len(v) / 2
			if v[i] == 'A' {
				v[i] = 'B'
			} else {
				v[i] = 'A'
			}
			a.cookie = &http.Cookie{Name: ceremonyCookieName, Value: string(v)}
			return a
		}, status: 400, want: notStarted},
		{name: "garbage ceremony cookie", attack: func(t *testing.T, e *hostileEnv) attempt {
			a := signupWith(softauthn.Tweaks{})(t, e)
			a.cookie = &http.Cookie{Name: ceremonyCookieName, Value: "eyJrIjoic2lnbnVwIn0"}
			return a
		}, status: 400, want: notStarted},
		{name: "ceremony cookie from another instance", attack: func(t *testing.T, e *hostileEnv) attempt {
			other := newHostileEnv(t, nil)
			other.auth = e.auth
			b := other.beginSignup(t, e.email(), "Eve")
			return attempt{path: signupFinish, body: e.create(t, b, softauthn.Tweaks{}), cookie: b.cookie}
		}, status: 400, want: notStarted},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d cases", len(tests))
	}
	// One app for all cases (building one costs half a second under -race); they run one after another
	// so each snapshot sees only its own request.
	e := newHostileEnv(t, nil)
	e.signup(t, "ada@example.com", "Ada Lovelace")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.try(t, tc.attack(t, e), tc.status, tc.want)
		})
	}
	// None of it locked Ada out.
	b := e.beginLogin(t)
	e.finish(t, loginFinish, b, e.get(t, b, ada(t, e, softauthn.Tweaks{})))
}

// try sends the hostile request a and asserts it is refused with status and plain words holding want,
// and that the database is exactly as before.
func (e *hostileEnv) try(t *testing.T, a attempt, status int, want string) {
	t.Helper()
	ct := a.contentType
	if ct == "" {
		ct = "application/json"
	}
	var cookies []*http.Cookie
	var secrets []string
	if a.cookie != nil {
		cookies = append(cookies, a.cookie)
		secrets = append(secrets, a.cookie.Value)
	}
	before := snapshot(t, e.s)
	resp, body := send(t, e.s, a.path, ct, a.body, cookies...)
	checkPlainError(t, resp, body, status, want, secrets...)
	if after := snapshot(t, e.s); after != before {
		t.Errorf("the database changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if strings.Contains(e.logs.String(), "eyJ") {
		t.Error("a token (or base64 JSON) was logged")
	}
}

// TestExpiredCeremonies finishes a sign-up and a log-in whose ceremony cookies (sent by hand, as a
// client ignoring Max-Age would) are older than their 5-second lifetime.
func TestExpiredCeremonies(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, map[string]string{"LATCHKEY_CEREMONY_TIMEOUT": "5s"})
	ada := e.signup(t, "ada@example.com", "Ada Lovelace")
	sb := e.beginSignup(t, e.email(), "Eve")
	signup := attempt{path: signupFinish, body: e.create(t, sb, softauthn.Tweaks{}), cookie: sb.cookie}
	lb := e.beginLogin(t)
	login := attempt{path: loginFinish, body: e.get(t, lb, softauthn.Tweaks{Credential: e.credential(t, ada).ID}), cookie: lb.cookie}
	// securecookie counts whole seconds: wait until the cookies are surely more than 5 seconds old.
	time.Sleep(6200 * time.Millisecond)
	t.Run("sign-up", func(t *testing.T) { e.try(t, signup, http.StatusBadRequest, "expired or was not started here") })
	t.Run("log-in", func(t *testing.T) { e.try(t, login, http.StatusBadRequest, "expired or was not started here") })
}

// adaID is the user ID of the first account the authenticator made.
func (e *hostileEnv) adaID(t *testing.T) string {
	t.Helper()
	creds := e.auth.Credentials()
	if len(creds) == 0 {
		t.Fatal("no account yet")
	}
	return string(creds[0].UserHandle)
}

// TestCeremoniesOverHTTP is the honest path the hostile cases break: sign-up and log-in over HTTP with
// the browser's cookie jar, each finish setting a session JWT that POST /auth/session accepts.
func TestCeremoniesOverHTTP(t *testing.T) {
	t.Parallel()
	e := newHostileEnv(t, nil)
	s := e.s
	jarClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ceremony := func(c *http.Client, beginPath, beginBody, finishPath string, respond func([]byte) ([]byte, error)) {
		t.Helper()
		resp, opts := s.do(c, req{method: "POST", path: beginPath, body: beginBody, contentType: "application/json"})
		if resp.StatusCode != 200 || cookieNamed(resp, ceremonyCookieName) == nil {
			t.Fatalf("%s: status %d: %s", beginPath, resp.StatusCode, opts)
		}
		body, err := respond([]byte(opts))
		if err != nil {
			t.Fatal(err)
		}
		resp, out := s.do(c, req{method: "POST", path: finishPath, body: string(body), contentType: "application/json"})
		if resp.StatusCode != 200 || strings.TrimSpace(out) != `{"ok":true}` {
			t.Fatalf("%s: status %d: %s", finishPath, resp.StatusCode, out)
		}
		if ck := cookieNamed(resp, ceremonyCookieName); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("%s did not expire the ceremony cookie: %+v", finishPath, ck)
		}
		tok := cookieNamed(resp, "cbo_session_token")
		if tok == nil || tok.Value == "" || !tok.HttpOnly || tok.SameSite != http.SameSiteLaxMode || tok.MaxAge <= 0 {
			t.Fatalf("%s: session token cookie %+v", finishPath, tok)
		}
		// The jar now holds the JWT: the exchange turns it into a server-side session.
		resp, _ = s.do(c, req{method: "POST", path: "/auth/session"})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
			t.Fatalf("exchange after %s: status %d Location %q", finishPath, resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, home := s.do(c, req{method: "GET", path: "/home"})
		if resp.StatusCode != 200 || !strings.Contains(home, "ada@example.com") || !strings.Contains(home, "Ada Lovelace") {
			t.Fatalf("home after %s: status %d", finishPath, resp.StatusCode)
		}
	}

	ceremony(jarClient(), "/passkeys/signup/begin", `{"email":"Ada@Example.com","name":"Ada Lovelace"}`, signupFinish,
		func(o []byte) ([]byte, error) { return e.auth.CreateJSON(o, softauthn.Tweaks{}) })
	want := dbState{Users: 1, Passkeys: 1, ProviderSessions: 1, UsedChallenges: 1, Sessions: 1}
	got := snapshot(t, s)
	if got.PasskeyUse == "" || !strings.HasSuffix(got.PasskeyUse, ":1:{0 false}:true ") {
		t.Errorf("passkey after sign-up: %q", got.PasskeyUse)
	}
	got.PasskeyUse = ""
	if got != want {
		t.Errorf("rows after sign-up %+v, want %+v", got, want)
	}

	ceremony(jarClient(), "/passkeys/login/begin", `{}`, loginFinish,
		func(o []byte) ([]byte, error) { return e.auth.GetJSON(o, softauthn.Tweaks{}) })
	want = dbState{Users: 1, Passkeys: 1, ProviderSessions: 2, UsedChallenges: 2, Sessions: 2}
	got = snapshot(t, s)
	if !strings.Contains(got.PasskeyUse, ":2:{") || strings.Contains(got.PasskeyUse, "{0 false}") {
		t.Errorf("passkey after log-in (want sign count 2 and a last use): %q", got.PasskeyUse)
	}
	got.PasskeyUse = ""
	if got != want {
		t.Errorf("rows after log-in %+v, want %+v", got, want)
	}
}
