package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/token"
	"github.com/latchkey/latchkey/internal/verify"
)

const issuer = "http://localhost:8080"

// memKeys is an in-memory token.KeyStore.
type memKeys struct {
	mu   sync.Mutex
	keys []store.SigningKey
}

func (s *memKeys) SigningKeys(context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.keys)
	slices.SortStableFunc(out, func(a, b store.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *memKeys) InsertSigningKey(_ context.Context, k store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append(s.keys, k)
	return nil
}

// keySource serves extra public keys by kid and falls back to the minter.
type keySource struct {
	extra  map[string]jwk.Key
	minter *token.Minter
}

func (s keySource) LookupKey(ctx context.Context, kid string) (jwk.Key, error) {
	if kid == "broken" {
		return nil, errors.New("key database unreachable")
	}
	if k, ok := s.extra[kid]; ok {
		return k, nil
	}
	return s.minter.LookupKey(ctx, kid)
}

// fixture holds a minter, its private key and a foreign RSA key, all real.
type fixture struct {
	now     time.Time
	minter  *token.Minter
	ecPriv  jwk.Key // the minter's signing key
	ecKID   string
	rsaPriv jwk.Key // published as "rsa-1", RS256
	weakRSA jwk.Key // 1024-bit, published as "rsa-weak"
	foreign jwk.Key // EC key nobody publishes
	src     keySource
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	ks := &memKeys{}
	m, err := token.NewMinter(context.Background(), ks, token.Options{
		Issuer: issuer, TTL: 5 * time.Minute, Now: func() time.Time { return f.now },
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.minter = m
	stored, _ := ks.SigningKeys(context.Background())
	if f.ecPriv, err = jwk.ParseKey(stored[0].PrivateJWK); err != nil {
		t.Fatal(err)
	}
	f.ecKID = f.ecPriv.KeyID()

	f.rsaPriv = rsaKey(t, 2048, "rsa-1")
	f.weakRSA = rsaKey(t, 1024, "rsa-weak")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if f.foreign, err = jwk.FromRaw(ec); err != nil {
		t.Fatal(err)
	}
	f.src = keySource{minter: m, extra: map[string]jwk.Key{
		"rsa-1":    public(t, f.rsaPriv),
		"rsa-weak": public(t, f.weakRSA),
		"rsa-noalg": func() jwk.Key {
			k := public(t, rsaKey(t, 2048, "rsa-noalg"))
			_ = k.Remove(jwk.AlgorithmKey)
			return k
		}(),
	}}
	return f
}

func rsaKey(t *testing.T, bits int, kid string) jwk.Key {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	_ = k.Set(jwk.KeyIDKey, kid)
	_ = k.Set(jwk.AlgorithmKey, jwa.RS256)
	_ = k.Set(jwk.KeyUsageKey, "sig")
	return k
}

func public(t *testing.T, k jwk.Key) jwk.Key {
	t.Helper()
	p, err := k.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// claims returns a valid claim set issued at f.now; mutate it per case.
func (f *fixture) claims() map[string]any {
	iat := f.now.Unix()
	return map[string]any{
		"iss": issuer, "sub": "usr-42", "name": "Grace Hopper", "email": "grace@example.com",
		"orig": "grace@example.com", "iat": iat, "nbf": iat, "exp": iat + 300, "jti": "j-1", "sid": "ps-9",
	}
}

// sign builds a compact JWS over claims with the given header fields, signed by key with alg.
func sign(t *testing.T, claims map[string]any, alg jwa.SignatureAlgorithm, key any, kid string) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "JWT")
	if kid != "" {
		_ = hdr.Set(jws.KeyIDKey, kid)
	}
	if k, ok := key.(jwk.Key); ok && k.KeyID() != "" {
		// Keep the header's kid (or its absence) as the test says, not the key's.
		if k, err = k.Clone(); err != nil {
			t.Fatal(err)
		}
		_ = k.Remove(jwk.KeyIDKey)
		key = k
	}
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// rawToken assembles a token from a JSON header and claims and a literal signature segment.
func rawToken(t *testing.T, header string, claims map[string]any, sig string) string {
	t.Helper()
	body, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc(body) + "." + sig
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	minted, _, err := f.minter.Mint(ctx, token.Claims{Subject: "usr-7", Name: "Ada", Email: "ada@example.com", SessionID: "ps-1"})
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(map[string]any)) map[string]any {
		c := f.claims()
		edit(c)
		return c
	}
	es := func(c map[string]any) string { return sign(t, c, jwa.ES256, f.ecPriv, f.ecKID) }
	parts := strings.Split(minted, ".")
	pubPEM := func() []byte {
		raw, _ := f.ecPriv.PublicKey()
		var pk ecdsa.PublicKey
		if err := raw.Raw(&pk); err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&pk)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	// A payload signed by the minter, but with the subject swapped after signing.
	tamperedPayload := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(strings.Replace(mustDecode(t, parts[1]), "usr-7", "usr-8", 1))) + "." + parts[2]
	// Flip one bit of the decoded signature, so the result is always valid base64url but a wrong signature.
	sigBytes, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sigBytes[10] ^= 0x01
	tamperedSig := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sigBytes)

	cases := []struct {
		name    string
		tok     string
		now     time.Time // verifier clock; zero means f.now
		issuers []string
		want    error // nil: must verify
	}{
		{name: "minted token", tok: minted},
		{name: "RS256 token from an RSA key", tok: sign(t, f.claims(), jwa.RS256, f.rsaPriv, "rsa-1")},
		{name: "issuer with trailing slash configured", tok: minted, issuers: []string{issuer + "/"}},
		{name: "just before expiry plus skew", tok: minted, now: f.now.Add(5*time.Minute + 29*time.Second)},
		{name: "nbf within skew", tok: es(with(func(c map[string]any) { c["nbf"] = f.now.Add(20 * time.Second).Unix() }))},
		{name: "clock behind within skew", tok: minted, now: f.now.Add(-25 * time.Second)},

		{name: "empty", tok: "", want: verify.ErrMissing},
		{name: "larger than 8 KB", tok: es(with(func(c map[string]any) { c["name"] = strings.Repeat("x", 8192) })), want: verify.ErrTooLarge},
		{name: "garbage", tok: "not a token at all", want: verify.ErrMalformed},
		{name: "three garbage segments", tok: "a!b.c$d.e%f", want: verify.ErrMalformed},
		{name: "JSON serialization", tok: `{"payload":"e30","signatures":[]}`, want: verify.ErrMalformed},
		{name: "tampered payload", tok: tamperedPayload, want: verify.ErrSignature},
		{name: "tampered signature", tok: tamperedSig, want: verify.ErrSignature},
		{name: "foreign key using a known kid", tok: sign(t, f.claims(), jwa.ES256, f.foreign, f.ecKID), want: verify.ErrSignature},
		{name: "expired", tok: minted, now: f.now.Add(5*time.Minute + 31*time.Second), want: verify.ErrExpired},
		{name: "nbf in the future beyond skew", tok: es(with(func(c map[string]any) { c["nbf"] = f.now.Add(time.Minute).Unix() })), want: verify.ErrNotYetValid},
		{name: "clock behind beyond skew", tok: minted, now: f.now.Add(-time.Minute), want: verify.ErrNotYetValid},
		{name: "wrong issuer", tok: es(with(func(c map[string]any) { c["iss"] = "https://evil.example" })), want: verify.ErrIssuer},
		{name: "issuer not configured", tok: minted, issuers: []string{"https://other.example"}, want: verify.ErrIssuer},
		{name: "alg none", tok: rawToken(t, `{"alg":"none","kid":"`+f.ecKID+`","typ":"JWT"}`, f.claims(), ""), want: verify.ErrAlgorithm},
		{name: "HS256 signed with the public key PEM", tok: sign(t, f.claims(), jwa.HS256, pubPEM, f.ecKID), want: verify.ErrAlgorithm},
		{name: "ES384 header", tok: rawToken(t, `{"alg":"ES384","kid":"`+f.ecKID+`"}`, f.claims(), parts[2]), want: verify.ErrAlgorithm},
		{name: "RS256 header with an EC key's kid", tok: sign(t, f.claims(), jwa.RS256, f.rsaPriv, f.ecKID), want: verify.ErrAlgorithm},
		{name: "ES256 header with an RSA key's kid", tok: rawToken(t, `{"alg":"ES256","kid":"rsa-1"}`, f.claims(), parts[2]), want: verify.ErrAlgorithm},
		{name: "ES256 header with an RSA key without alg", tok: rawToken(t, `{"alg":"ES256","kid":"rsa-noalg"}`, f.claims(), parts[2]), want: verify.ErrAlgorithm},
		{name: "RSA key below 2048 bits", tok: sign(t, f.claims(), jwa.RS256, f.weakRSA, "rsa-weak"), want: verify.ErrAlgorithm},
		{name: "no kid", tok: sign(t, f.claims(), jwa.ES256, f.ecPriv, ""), want: verify.ErrNoKeyID},
		{name: "unknown kid", tok: sign(t, f.claims(), jwa.ES256, f.ecPriv, "who-is-this"), want: verify.ErrUnknownKey},
		{name: "crit header", tok: rawToken(t, `{"alg":"ES256","kid":"`+f.ecKID+`","crit":["b64"],"b64":false}`, f.claims(), parts[2]), want: verify.ErrMalformed},
		{name: "sub without usr-", tok: es(with(func(c map[string]any) { c["sub"] = "42" })), want: verify.ErrClaims},
		{name: "sub missing", tok: es(with(func(c map[string]any) { delete(c, "sub") })), want: verify.ErrClaims},
		{name: "sub is only the prefix", tok: es(with(func(c map[string]any) { c["sub"] = "usr-" })), want: verify.ErrClaims},
		{name: "exp missing", tok: es(with(func(c map[string]any) { delete(c, "exp") })), want: verify.ErrClaims},
		{name: "email not a string", tok: es(with(func(c map[string]any) { c["email"] = 7 })), want: verify.ErrClaims},
	}
	sentinels := []error{
		verify.ErrMissing, verify.ErrTooLarge, verify.ErrMalformed, verify.ErrAlgorithm, verify.ErrNoKeyID,
		verify.ErrUnknownKey, verify.ErrSignature, verify.ErrExpired, verify.ErrNotYetValid, verify.ErrIssuer,
		verify.ErrClaims,
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := f.now
			if !tc.now.IsZero() {
				now = tc.now
			}
			issuers := tc.issuers
			if issuers == nil {
				issuers = []string{issuer}
			}
			v := verify.New(f.src, verify.Options{Issuers: issuers, Now: func() time.Time { return now }})
			id, err := v.Verify(ctx, tc.tok)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.UserID == "" || id.Issuer != issuer || id.ExpiresAt.IsZero() || id.IssuedAt.IsZero() {
					t.Errorf("identity = %+v", id)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", id)
			}
			for _, s := range sentinels {
				if errors.Is(err, s) != (s == tc.want) {
					t.Errorf("err = %v; errors.Is(%v) = %v", err, s, errors.Is(err, s))
				}
			}
			if id != (verify.Identity{}) {
				t.Errorf("failed Verify returned identity %+v", id)
			}
			for _, seg := range strings.Split(tc.tok, ".") {
				if len(seg) > 16 && strings.Contains(err.Error(), seg) {
					t.Errorf("error %q contains part of the token", err)
				}
			}
		})
	}
}

func TestVerifyIdentity(t *testing.T) {
	f := newFixture(t)
	tok, exp, err := f.minter.Mint(context.Background(), token.Claims{
		Subject: "usr-7", Name: "Ada Lovelace", Email: "ada@example.com", SessionID: "ps-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	v := verify.New(f.minter, verify.Options{Issuers: []string{issuer}, Now: func() time.Time { return f.now }})
	id, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	jti := id.TokenID
	want := verify.Identity{
		UserID: "usr-7", Name: "Ada Lovelace", Email: "ada@example.com", Issuer: issuer,
		SessionID: "ps-1", TokenID: jti, IssuedAt: f.now, ExpiresAt: exp,
	}
	if !id.IssuedAt.Equal(want.IssuedAt) || !id.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("times = %v..%v, want %v..%v", id.IssuedAt, id.ExpiresAt, want.IssuedAt, want.ExpiresAt)
	}
	id.IssuedAt, id.ExpiresAt, want.IssuedAt, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if id != want || len(jti) < 20 {
		t.Errorf("identity = %+v, want %+v", id, want)
	}
}

func TestVerifyKeySourceFailureIsNotASentinel(t *testing.T) {
	f := newFixture(t)
	tok := sign(t, f.claims(), jwa.ES256, f.ecPriv, "broken")
	v := verify.New(f.src, verify.Options{Issuers: []string{issuer}, Now: func() time.Time { return f.now }})
	_, err := v.Verify(context.Background(), tok)
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("err = %v, want the key source's failure", err)
	}
	for _, s := range []error{verify.ErrUnknownKey, verify.ErrSignature, verify.ErrMalformed} {
		if errors.Is(err, s) {
			t.Errorf("infrastructure failure reported as %v", s)
		}
	}
}

func TestMaxTokenBytesOption(t *testing.T) {
	f := newFixture(t)
	tok, _, err := f.minter.Mint(context.Background(), token.Claims{Subject: "usr-7", SessionID: "ps-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{len(tok) - 1, len(tok)} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			v := verify.New(f.minter, verify.Options{Issuers: []string{issuer}, MaxTokenBytes: limit, Now: func() time.Time { return f.now }})
			_, err := v.Verify(context.Background(), tok)
			if tooLarge := limit < len(tok); errors.Is(err, verify.ErrTooLarge) != tooLarge || (!tooLarge && err != nil) {
				t.Errorf("limit %d, token %d bytes: err = %v", limit, len(tok), err)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
