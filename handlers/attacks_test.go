package handlers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/latchkey/latchkey/internal/store"
)

// jwtParts encodes a JWT's header and claims as the first two parts of a compact JWS.
func jwtParts(t *testing.T, header, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
}

// signES256 builds a compact JWS signed with key, whatever header and claims it is given.
func signES256(t *testing.T, key *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	input := jwtParts(t, header, claims)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// signHS256 builds a compact JWS "signed" with HMAC-SHA256 under secret.
func signHS256(t *testing.T, secret []byte, header, claims map[string]any) string {
	t.Helper()
	input := jwtParts(t, header, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// publishedKey is the app's signing key as GET /.well-known/jwks publishes it.
type publishedKey struct {
	kid  string
	json []byte // the JWK exactly as published
	pub  *ecdsa.PublicKey
}

func fetchJWKS(t *testing.T, s *stack) publishedKey {
	t.Helper()
	resp, body := s.do(s.client(), req{method: "GET", path: "/.well-known/jwks"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("jwks: status %d", resp.StatusCode)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(body), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", body, err)
	}
	key, err := jwk.ParseKey(set.Keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var pub ecdsa.PublicKey
	if err := key.Raw(&pub); err != nil {
		t.Fatal(err)
	}
	return publishedKey{kid: key.KeyID(), json: set.Keys[0], pub: &pub}
}

// signingKey is the app's private signing key from the database, so tests can sign tokens that are
// wrong only in the one way they mean.
func signingKey(t *testing.T, s *stack, kid string) *ecdsa.PrivateKey {
	t.Helper()
	keys, err := s.app.Store().SigningKeys(t.Context())
	if err != nil || len(keys) == 0 {
		t.Fatalf("signing keys: %v", err)
	}
	var sk store.SigningKey
	for _, k := range keys {
		if k.KID == kid {
			sk = k
		}
	}
	key, err := jwk.ParseKey(sk.PrivateJWK)
	if err != nil {
		t.Fatal(err)
	}
	var priv ecdsa.PrivateKey
	if err := key.Raw(&priv); err != nil {
		t.Fatal(err)
	}
	return &priv
}

// exchange posts token to /auth/session from c (an htmx request, so the login fragment comes back).
func exchange(t *testing.T, s *stack, c *http.Client, token string) (*http.Response, string) {
	t.Helper()
	return withT(s, t).do(c, req{method: "POST", path: "/auth/session", htmx: true, token: token})
}

// withT is s reporting its failures to t (a subtest).
func withT(s *stack, t *testing.T) *stack {
	c := *s
	c.t = t
	return &c
}

// loggedIn reports whether c's session cookie is logged in: GET /home answers 200, not 303 to /.
func loggedIn(t *testing.T, s *stack, c *http.Client) bool {
	t.Helper()
	resp, _ := withT(s, t).do(c, req{method: "GET", path: "/home"})
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusSeeOther:
		return false
	}
	t.Fatalf("GET /home: status %d", resp.StatusCode)
	return false
}

// sessionCookie is the scs session cookie a response set, or nil.
func sessionCookie(resp *http.Response) *http.Cookie { return cookieNamed(resp, "latchkey_session") }

// TestTokenAndSessionAttacks presents forged, confused and stale JWTs at POST /auth/session: each is
// refused with 401 and plain words, no server-side session is created and nothing is written. Then it
// attacks the server-side session: a revoked token, fixation, a logged-out cookie, concurrent exchanges.
func TestTokenAndSessionAttacks(t *testing.T) {
	t.Parallel()
	s, logs := newStackEnv(t, nil)
	u, _ := s.account("victim@example.com", "Victim")
	pk := fetchJWKS(t, s)
	priv := signingKey(t, s, pk.kid)
	if !priv.PublicKey.Equal(pk.pub) {
		t.Fatal("the published key is not the signing key")
	}
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pk.pub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
	point, err := pk.pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now()
	claims := func(edit func(c map[string]any)) map[string]any {
		c := map[string]any{
			"iss": publicOrigin, "sub": u.ID, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"jti": "attack-test", "name": u.Name, "email": u.Email, "orig": u.Email, "sid": "ses-" + u.ID,
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	header := func(alg, kid string) map[string]any {
		h := map[string]any{"alg": alg, "typ": "JWT"}
		if kid != "" {
			h["kid"] = kid
		}
		return h
	}
	es256 := header("ES256", pk.kid)

	// The harness is honest: a token built here with the real key and claims is accepted.
	t.Run("control: well-formed token accepted", func(t *testing.T) {
		c := s.client()
		resp, body := exchange(t, s, c, signES256(t, priv, es256, claims(nil)))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, u.ID) || !loggedIn(t, s, c) {
			t.Fatalf("status %d, want 200 and a session", resp.StatusCode)
		}
	})

	const notConfirmed = "could not confirm your login"
	big := claims(func(c map[string]any) { c["name"] = strings.Repeat("V", 9000) })
	tests := []struct {
		name, token, want string
	}{
		{"alg none", jwtParts(t, header("none", pk.kid), claims(nil)) + ".", notConfirmed},
		{"alg None", jwtParts(t, header("None", pk.kid), claims(nil)) + ".", notConfirmed},
		{"alg none with the real signature", jwtParts(t, header("none", pk.kid), claims(nil)) + "." +
			strings.Split(signES256(t, priv, es256, claims(nil)), ".")[2], notConfirmed},
		{"HS256 keyed with the published JWK", signHS256(t, pk.json, header("HS256", pk.kid), claims(nil)), notConfirmed},
		{"HS256 keyed with the public key PEM", signHS256(t, pubPEM, header("HS256", pk.kid), claims(nil)), notConfirmed},
		{"HS256 keyed with the public key point", signHS256(t, point, header("HS256", pk.kid), claims(nil)), notConfirmed},
		{"RS256 header on an ES256 signature", signES256(t, priv, header("RS256", pk.kid), claims(nil)), notConfirmed},
		{"foreign key with the published kid", signES256(t, foreign, es256, claims(nil)), notConfirmed},
		{"foreign key embedded in the header", signES256(t, foreign, map[string]any{"alg": "ES256", "typ": "JWT", "kid": pk.kid,
			"jwk": map[string]any{"kty": "EC", "crv": "P-256",
				"x": base64.RawURLEncoding.EncodeToString(foreign.X.FillBytes(make([]byte, 32))),
				"y": base64.RawURLEncoding.EncodeToString(foreign.Y.FillBytes(make([]byte, 32)))}}, claims(nil)), notConfirmed},
		{"no kid", signES256(t, priv, header("ES256", ""), claims(nil)), notConfirmed},
		{"kid never published", signES256(t, priv, header("ES256", "never-published"), claims(nil)), notConfirmed},
		{"expired", signES256(t, priv, es256, claims(func(c map[string]any) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-20*time.Minute).Unix(), now.Add(-20*time.Minute).Unix(), now.Add(-10*time.Minute).Unix()
		})), "expired"},
		{"not yet valid", signES256(t, priv, es256, claims(func(c map[string]any) {
			c["nbf"], c["exp"] = now.Add(10*time.Minute).Unix(), now.Add(15*time.Minute).Unix()
		})), notConfirmed},
		{"issued in the future", signES256(t, priv, es256, claims(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(10*time.Minute).Unix(), now.Add(15*time.Minute).Unix()
		})), notConfirmed},
		{"no expiry", signES256(t, priv, es256, claims(func(c map[string]any) { delete(c, "exp") })), notConfirmed},
		{"wrong issuer", signES256(t, priv, es256, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), notConfirmed},
		{"issuer with our origin as prefix", signES256(t, priv, es256, claims(func(c map[string]any) { c["iss"] = publicOrigin + ".evil.example" })), notConfirmed},
		{"subject not a user", signES256(t, priv, es256, claims(func(c map[string]any) { c["sub"] = "admin" })), notConfirmed},
		{"no provider session", signES256(t, priv, es256, claims(func(c map[string]any) { delete(c, "sid") })), notConfirmed},
		{"provider session never issued", signES256(t, priv, es256, claims(func(c map[string]any) { c["sid"] = "ses-forged" })), notConfirmed},
		{"tampered claims", func() string {
			p := strings.Split(signES256(t, priv, es256, claims(nil)), ".")
			return p[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+publicOrigin+`","sub":"usr-admin","exp":9999999999,"sid":"ses-`+u.ID+`"}`)) + "." + p[2]
		}(), notConfirmed},
		{"garbage", "garbage", notConfirmed},
		{"three garbage parts", "a.b.c", notConfirmed},
		{"empty parts", "..", notConfirmed},
		{"over 8 KB", signES256(t, priv, es256, big), notConfirmed},
	}
	if n := len(tests[len(tests)-1].token); n <= 8192 {
		t.Fatalf("the large token is only %d bytes", n)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := s.client()
			before := snapshot(t, s)
			resp, body := exchange(t, s, c, tc.token)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			msg := alertText(t, body)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("alert %q does not say %q", msg, tc.want)
			}
			checkPlainWords(t, msg, tc.token)
			if strings.Contains(body, tc.token) {
				t.Error("the response repeats the token")
			}
			if ck := sessionCookie(resp); ck != nil {
				t.Errorf("a refused exchange set a session cookie: %+v", ck)
			}
			if ck := cookieNamed(resp, "cbo_session_token"); ck == nil || ck.MaxAge >= 0 {
				t.Errorf("the refused token cookie was not cleared: %+v", ck)
			}
			if loggedIn(t, s, c) {
				t.Error("a session was created")
			}
			if after := snapshot(t, s); after != before {
				t.Errorf("the database changed:\nbefore %+v\nafter  %+v", before, after)
			}
			if strings.Contains(logs.String(), tc.token) {
				t.Error("the token appeared in the log")
			}
		})
	}

	// The session attacks share the app (building one costs half a second under -race), each with its
	// own accounts; they run one after another.
	t.Run("revoked provider session's token replayed", func(t *testing.T) { revokedProviderSession(t, s) })
	t.Run("session fixation", func(t *testing.T) { sessionFixation(t, s) })
	t.Run("logged-out session cookie replayed", func(t *testing.T) { loggedOutSessionReplayed(t, s) })
	t.Run("same token exchanged concurrently: one session at most", func(t *testing.T) { sameTokenExchangedConcurrently(t, s) })
}

// revokedProviderSession: after logout, the JWT that started the session is worthless, though it
// has not expired and its signature is good.
func revokedProviderSession(t *testing.T, s *stack) {
	s = withT(s, t)
	_, tok := s.account("revoked@example.com", "Ada")
	c := s.client()
	if resp, _ := exchange(t, s, c, tok); resp.StatusCode != http.StatusOK || !loggedIn(t, s, c) {
		t.Fatalf("exchange: status %d", resp.StatusCode)
	}
	revoked := snapshot(t, s).RevokedSessions
	if resp, _ := s.do(c, req{method: "POST", path: "/logout", htmx: true}); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: status %d", resp.StatusCode)
	}
	before := snapshot(t, s)
	if before.RevokedSessions != revoked+1 {
		t.Errorf("revoked provider sessions %d -> %d, want one more", revoked, before.RevokedSessions)
	}
	for _, name := range []string{"same browser", "another browser"} {
		t.Run(name, func(t *testing.T) {
			client := c
			if name == "another browser" {
				client = s.client()
			}
			resp, body := exchange(t, s, client, tok)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			msg := alertText(t, body)
			if !strings.Contains(msg, "log in again") {
				t.Errorf("alert %q", msg)
			}
			checkPlainWords(t, msg, tok)
			if loggedIn(t, s, client) {
				t.Error("a session was created")
			}
			if after := snapshot(t, s); after != before {
				t.Errorf("the database changed:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// sessionFixation: a session cookie planted before log-in (by an attacker who can set cookies for
// the site) is replaced at log-in, and the planted value never becomes logged in.
func sessionFixation(t *testing.T, s *stack) {
	s = withT(s, t)
	_, attackerToken := s.account("mallory@example.com", "Mallory")
	base := mustURL(t, s.srv.URL)

	// The attacker's own, genuinely logged-in session.
	attacker := s.client()
	resp, _ := exchange(t, s, attacker, attackerToken)
	attackerCookie := sessionCookie(resp)
	if attackerCookie == nil || !loggedIn(t, s, attacker) {
		t.Fatal("the attacker could not log in")
	}

	for i, tc := range []struct{ name, planted string }{
		{"made-up value", "attacker-chosen-session-token-0000000000"},
		{"the attacker's logged-in session", attackerCookie.Value},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each log-in has its own session JWT: one JWT starts at most one session.
			email := fmt.Sprintf("fixed-%d@example.com", i)
			_, victimToken := withT(s, t).account(email, "Victim")
			victim := s.client()
			victim.Jar.SetCookies(base, []*http.Cookie{{Name: "latchkey_session", Value: tc.planted}})
			resp, body := exchange(t, s, victim, victimToken)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, email) {
				t.Fatalf("victim's exchange: status %d", resp.StatusCode)
			}
			issued := sessionCookie(resp)
			if issued == nil || issued.Value == "" || issued.Value == tc.planted {
				t.Fatalf("the session cookie did not change at log-in: %+v", issued)
			}
			if resp, home := withT(s, t).do(victim, req{method: "GET", path: "/home"}); resp.StatusCode != 200 || !strings.Contains(home, email) {
				t.Errorf("victim not logged in: status %d", resp.StatusCode)
			}
			// Whoever holds the planted value is not logged in, as the victim or at all.
			holder := s.client()
			holder.Jar.SetCookies(base, []*http.Cookie{{Name: "latchkey_session", Value: tc.planted}})
			if loggedIn(t, s, holder) {
				t.Error("the planted session cookie is logged in")
			}
		})
	}
}

// loggedOutSessionReplayed: a session cookie copied before logout does not work after it.
func loggedOutSessionReplayed(t *testing.T, s *stack) {
	s = withT(s, t)
	_, tok := s.account("replayed@example.com", "Ada")
	c := s.client()
	resp, _ := exchange(t, s, c, tok)
	stolen := sessionCookie(resp)
	if stolen == nil {
		t.Fatal("no session cookie")
	}
	copycat := s.client()
	copycat.Jar.SetCookies(mustURL(t, s.srv.URL), []*http.Cookie{{Name: stolen.Name, Value: stolen.Value}})
	if !loggedIn(t, s, copycat) {
		t.Fatal("the copied cookie does not work before logout (the test proves nothing)")
	}
	before := snapshot(t, s)
	if resp, _ := s.do(c, req{method: "POST", path: "/logout"}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: status %d", resp.StatusCode)
	}
	if after := snapshot(t, s); after.Sessions != before.Sessions-1 {
		t.Errorf("logout left the session row: %d -> %d rows", before.Sessions, after.Sessions)
	}
	if loggedIn(t, s, copycat) {
		t.Error("the copied session cookie still works after logout")
	}
	if loggedIn(t, s, c) {
		t.Error("the logged-out browser is still logged in")
	}
}

// sameTokenExchangedConcurrently: a session JWT starts at most one app session, even when it is
// exchanged twice at the same moment (a copied token cannot start a second session that would outlive
// the victim's logout); after logout it is refused.
func sameTokenExchangedConcurrently(t *testing.T, s *stack) {
	s = withT(s, t)
	_, tok := s.account("concurrent@example.com", "Ada")
	before := snapshot(t, s)
	const n = 4
	clients := make([]*http.Client, n)
	statuses := make([]int, n)
	cookies := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		clients[i] = s.client()
		wg.Go(func() {
			r, err := http.NewRequest("POST", s.srv.URL+"/auth/session", nil)
			if err != nil {
				errs[i] = err
				return
			}
			r.AddCookie(&http.Cookie{Name: "cbo_session_token", Value: tok})
			resp, err := clients[i].Do(r)
			if err != nil {
				errs[i] = err
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
			if ck := sessionCookie(resp); ck != nil {
				cookies[i] = ck.Value
			}
		})
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		switch {
		case statuses[i] == http.StatusSeeOther && cookies[i] != "":
			if winner >= 0 {
				t.Fatalf("exchanges %d and %d both started a session with one token", winner, i)
			}
			winner = i
		case statuses[i] == http.StatusUnauthorized && cookies[i] == "":
			if loggedIn(t, s, clients[i]) {
				t.Errorf("refused browser %d is logged in", i)
			}
		default:
			t.Errorf("exchange %d: status %d, cookie set %v", i, statuses[i], cookies[i] != "")
		}
	}
	if winner < 0 {
		t.Fatal("no exchange succeeded")
	}
	if !loggedIn(t, s, clients[winner]) {
		t.Error("the winning browser is not logged in")
	}
	if after := snapshot(t, s); after.Sessions != before.Sessions+1 {
		t.Errorf("session rows %d -> %d, want +1", before.Sessions, after.Sessions)
	}

	clients[0] = clients[winner]
	if resp, _ := s.do(clients[0], req{method: "POST", path: "/logout"}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: status %d", resp.StatusCode)
	}
	late := s.client()
	resp, body := exchange(t, s, late, tok)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(alertText(t, body), "log in again") {
		t.Errorf("token after logout: status %d alert %q", resp.StatusCode, alertText(t, body))
	}
	if loggedIn(t, s, late) {
		t.Error("the token started a session after logout")
	}
}
