package token_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/token"
	"github.com/latchkey/latchkey/internal/verify"
)

const issuer = "http://localhost:8080"

// memKeys is an in-memory KeyStore.
type memKeys struct {
	mu   sync.Mutex
	keys []store.SigningKey // insertion order
}

func (s *memKeys) SigningKeys(context.Context) ([]store.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.keys)
	slices.Reverse(out)
	slices.SortStableFunc(out, func(a, b store.SigningKey) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *memKeys) InsertSigningKey(_ context.Context, k store.SigningKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.keys {
		if have.KID == k.KID {
			return fmt.Errorf("duplicate kid %q", k.KID)
		}
	}
	s.keys = append(s.keys, k)
	return nil
}

func (s *memKeys) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// clock is a settable time source safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newMinter(t *testing.T, ks token.KeyStore, c *clock, rotate time.Duration) *token.Minter {
	t.Helper()
	m, err := token.NewMinter(context.Background(), ks, token.Options{
		Issuer: issuer, TTL: 5 * time.Minute, RotateAfter: rotate, Now: c.Now,
	}, discard())
	if err != nil {
		t.Fatalf("NewMinter: %v", err)
	}
	return m
}

func claims() token.Claims {
	return token.Claims{Subject: "usr-123", Name: "Ada Lovelace", Email: "ada@example.com", SessionID: "ps-1"}
}

func mint(t *testing.T, m *token.Minter) string {
	t.Helper()
	tok, _, err := m.Mint(context.Background(), claims())
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

func kids(t *testing.T, m *token.Minter) []string {
	t.Helper()
	set, err := m.PublicKeys(context.Background())
	if err != nil {
		t.Fatalf("PublicKeys: %v", err)
	}
	var out []string
	for i := range set.Len() {
		k, _ := set.Key(i)
		out = append(out, k.KeyID())
	}
	return out
}

func headerKID(t *testing.T, tok string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatalf("jws.Parse: %v", err)
	}
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

func verifier(m *token.Minter, c *clock) *verify.Verifier {
	return verify.New(m, verify.Options{Issuers: []string{issuer}, Now: c.Now})
}

func TestFirstStartGeneratesAndStoresKey(t *testing.T) {
	ks := &memKeys{}
	c := newClock()
	m := newMinter(t, ks, c, time.Hour)

	stored, _ := ks.SigningKeys(context.Background())
	if len(stored) != 1 {
		t.Fatalf("stored keys = %d, want 1", len(stored))
	}
	sk := stored[0]
	if sk.Alg != "ES256" || !sk.CreatedAt.Equal(c.Now()) {
		t.Errorf("stored key alg %q created %v", sk.Alg, sk.CreatedAt)
	}
	priv, err := jwk.ParseKey(sk.PrivateJWK)
	if err != nil {
		t.Fatalf("stored JWK does not parse: %v", err)
	}
	if _, ok := priv.(jwk.ECDSAPrivateKey); !ok {
		t.Fatalf("stored JWK is %T, want an EC private key", priv)
	}
	tp, err := priv.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if want := base64.RawURLEncoding.EncodeToString(tp); sk.KID != want || priv.KeyID() != want {
		t.Errorf("kid = %q (JWK %q), want RFC 7638 thumbprint %q", sk.KID, priv.KeyID(), want)
	}
	if got := kids(t, m); !slices.Equal(got, []string{sk.KID}) {
		t.Errorf("published kids = %v, want [%s]", got, sk.KID)
	}

	// A second instance on the same store reuses the key.
	m2 := newMinter(t, ks, c, time.Hour)
	if ks.len() != 1 {
		t.Fatalf("second minter stored another key: %d keys", ks.len())
	}
	if got := headerKID(t, mint(t, m2)); got != sk.KID {
		t.Errorf("second minter signs with %q, want %q", got, sk.KID)
	}
}

func TestMintShape(t *testing.T) {
	c := newClock()
	m := newMinter(t, &memKeys{}, c, time.Hour)
	tok, exp, err := m.Mint(context.Background(), claims())
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Now().Add(5 * time.Minute); !exp.Equal(want) {
		t.Errorf("expires = %v, want %v", exp, want)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var hdr, body map[string]any
	for i, dst := range []*map[string]any{&hdr, &body} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	if hdr["alg"] != "ES256" || hdr["typ"] != "JWT" || hdr["kid"] != kids(t, m)[0] || len(hdr) != 3 {
		t.Errorf("header = %v", hdr)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range body {
			if !yield(k) {
				return
			}
		}
	})
	want := []string{"email", "exp", "iat", "iss", "jti", "name", "nbf", "orig", "sid", "sub"}
	if !slices.Equal(names, want) {
		t.Errorf("claims = %v, want %v", names, want)
	}
	iat := float64(c.Now().Unix())
	checks := map[string]any{
		"iss": issuer, "sub": "usr-123", "name": "Ada Lovelace", "email": "ada@example.com",
		"orig": "ada@example.com", "sid": "ps-1", "iat": iat, "nbf": iat, "exp": iat + 300,
	}
	for k, v := range checks {
		if body[k] != v {
			t.Errorf("%s = %v, want %v", k, body[k], v)
		}
	}
	jti, err := base64.RawURLEncoding.DecodeString(body["jti"].(string))
	if err != nil || len(jti) != 16 {
		t.Errorf("jti %q: %d bytes, %v", body["jti"], len(jti), err)
	}

	id, err := verifier(m, c).Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.UserID != "usr-123" || id.SessionID != "ps-1" || id.TokenID != body["jti"] {
		t.Errorf("identity = %+v", id)
	}
	if other := mint(t, m); headerKID(t, other) != hdr["kid"] || other == tok {
		t.Error("second token should use the same key and differ (jti)")
	}
}

func TestMintRejectsBadClaims(t *testing.T) {
	m := newMinter(t, &memKeys{}, newClock(), time.Hour)
	for name, c := range map[string]token.Claims{
		"subject without usr-": {Subject: "123", SessionID: "ps-1"},
		"empty subject":        {SessionID: "ps-1"},
		"no session id":        {Subject: "usr-1"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := m.Mint(context.Background(), c); err == nil {
				t.Error("Mint accepted bad claims")
			}
		})
	}
}

func TestRotation(t *testing.T) {
	const rotate = time.Hour
	ks := &memKeys{}
	c := newClock()
	m := newMinter(t, ks, c, rotate)
	v := verifier(m, c)
	oldKID := kids(t, m)[0]

	c.Advance(rotate - time.Second)
	oldTok := mint(t, m)
	if headerKID(t, oldTok) != oldKID || ks.len() != 1 {
		t.Fatal("rotated before RotateAfter")
	}

	c.Advance(2 * time.Second) // newest key is now older than RotateAfter
	newTok := mint(t, m)
	if ks.len() != 2 {
		t.Fatalf("stored keys = %d, want 2", ks.len())
	}
	newKID := headerKID(t, newTok)
	if newKID == oldKID {
		t.Fatal("still signing with the old key after RotateAfter")
	}
	if got := kids(t, m); !slices.Equal(got, []string{newKID, oldKID}) {
		t.Errorf("published kids = %v, want [new old]", got)
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s token: %v", name, err)
		}
	}

	// A second instance sharing the store, due for rotation too, adopts the fresh key.
	m2, err := token.NewMinter(context.Background(), ks, token.Options{Issuer: issuer, RotateAfter: rotate, Now: c.Now}, discard())
	if err != nil {
		t.Fatal(err)
	}
	if got := headerKID(t, mint(t, m2)); got != newKID || ks.len() != 2 {
		t.Errorf("second instance signs with %q (%d keys), want %q", got, ks.len(), newKID)
	}

	// The old key stops being published once no token it signed can be valid.
	c.Advance(2*5*time.Minute + time.Second)
	if got := kids(t, m); !slices.Equal(got, []string{newKID}) {
		t.Errorf("published kids = %v, want only the new one", got)
	}
	if _, err := m.LookupKey(context.Background(), oldKID); !errors.Is(err, verify.ErrUnknownKey) {
		t.Errorf("LookupKey(old) err = %v, want ErrUnknownKey", err)
	}
}

func TestLookupKeySeesOtherInstanceRotation(t *testing.T) {
	ks := &memKeys{}
	c := newClock()
	m := newMinter(t, ks, c, time.Hour)

	// Another instance, configured to rotate sooner, adds a key to the shared store.
	c.Advance(time.Minute)
	other := newMinter(t, ks, c, time.Second)
	newKID := headerKID(t, mint(t, other))
	if ks.len() != 2 {
		t.Fatalf("stored keys = %d, want 2", ks.len())
	}
	k, err := m.LookupKey(context.Background(), newKID)
	if err != nil {
		t.Fatalf("LookupKey(kid from other instance): %v", err)
	}
	if k.KeyID() != newKID {
		t.Errorf("got kid %q", k.KeyID())
	}
	if _, err := m.LookupKey(context.Background(), "nope"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Errorf("LookupKey(unknown) err = %v, want ErrUnknownKey", err)
	}
}

func TestJWKSHasNoPrivateParameters(t *testing.T) {
	c := newClock()
	ks := &memKeys{}
	m := newMinter(t, ks, c, time.Hour)
	c.Advance(time.Hour) // two keys
	mint(t, m)

	b, err := m.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %v", err)
	}
	if len(doc.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2: %s", len(doc.Keys), b)
	}
	for _, k := range doc.Keys {
		if _, ok := k["d"]; ok {
			t.Errorf("JWKS publishes a private key: %s", b)
		}
		if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["kid"] == "" {
			t.Errorf("JWKS key = %v", k)
		}
	}
	// The stored form, by contrast, is private.
	stored, _ := ks.SigningKeys(context.Background())
	if !strings.Contains(string(stored[0].PrivateJWK), `"d":`) {
		t.Error("stored key lacks its private part")
	}
}

func TestCorruptStoredKey(t *testing.T) {
	ks := &memKeys{}
	_ = ks.InsertSigningKey(context.Background(), store.SigningKey{
		KID: "x", Alg: "ES256", PrivateJWK: []byte(`{"kty":"oct","k":"c2VjcmV0","kid":"x"}`), CreatedAt: time.Now(),
	})
	_, err := token.NewMinter(context.Background(), ks, token.Options{Issuer: issuer}, discard())
	if err == nil {
		t.Fatal("NewMinter accepted a non-EC signing key")
	}
}

func TestConcurrentMint(t *testing.T) {
	c := newClock()
	ks := &memKeys{}
	m := newMinter(t, ks, c, time.Minute)
	v := verifier(m, c)
	ctx := context.Background()

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				if g == 0 && i == 10 {
					c.Advance(2 * time.Minute) // forces a rotation mid-flight
				}
				tok, _, err := m.Mint(ctx, claims())
				if err != nil {
					errs <- err
					continue
				}
				if _, err := v.Verify(ctx, tok); err != nil {
					errs <- err
				}
				if _, err := m.JWKS(ctx); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ks.len() != 2 {
		t.Errorf("stored keys = %d, want 2 (one rotation)", ks.len())
	}
}
