package verify_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/latchkey/latchkey/internal/verify"
)

// jwksServer serves whatever body and status a test sets, and counts requests.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
	delay  time.Duration
}

func newJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, body: []byte(`{"keys":[]}`)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		status, body, delay := s.status, s.body, s.delay
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status == http.StatusFound {
			http.Redirect(w, r, "/elsewhere", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *jwksServer) serveKeys(t *testing.T, keys ...jwk.Key) {
	t.Helper()
	s.serve(http.StatusOK, jwksBody(t, keys...))
}

func (s *jwksServer) setDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

func (s *jwksServer) count() int64 { return s.requests.Load() }

// jwksBody is a JWKS document holding the public forms of keys.
func jwksBody(t *testing.T, keys ...jwk.Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		pub, err := k.PublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := set.AddKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// remoteRSA is a private RSA signing key with kid, alg RS256 and use sig.
func remoteRSA(t *testing.T, bits int, kid string) jwk.Key {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return remoteJWK(t, raw, kid, jwa.RS256)
}

func remoteEC(t *testing.T, curve elliptic.Curve, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	raw, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return remoteJWK(t, raw, kid, alg)
}

func remoteJWK(t *testing.T, raw any, kid string, alg jwa.SignatureAlgorithm) jwk.Key {
	t.Helper()
	k, err := jwk.FromRaw(raw)
	if err != nil {
		t.Fatal(err)
	}
	if kid != "" {
		_ = k.Set(jwk.KeyIDKey, kid)
	}
	_ = k.Set(jwk.AlgorithmKey, alg)
	_ = k.Set(jwk.KeyUsageKey, "sig")
	return k
}

// fakeClock is a settable clock for RemoteOptions.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testGap = 30 * time.Second

func newRemote(srv *jwksServer, clock *fakeClock) *verify.RemoteKeys {
	return verify.NewRemoteKeys(verify.RemoteOptions{
		URL:           srv.URL + "/.well-known/jwks",
		MinRefetchGap: testGap,
		Now:           clock.Now,
		Log:           slog.New(slog.DiscardHandler),
	})
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func mustLookup(t *testing.T, r *verify.RemoteKeys, kid string) jwk.Key {
	t.Helper()
	k, err := r.LookupKey(context.Background(), kid)
	if err != nil {
		t.Fatalf("LookupKey(%q): %v", kid, err)
	}
	if k.KeyID() != kid {
		t.Fatalf("LookupKey(%q) returned kid %q", kid, k.KeyID())
	}
	return k
}

func wantRequests(t *testing.T, srv *jwksServer, want int64) {
	t.Helper()
	if got := srv.count(); got != want {
		t.Fatalf("JWKS requests = %d, want %d", got, want)
	}
}

func TestRemoteKeysCachedLookupMakesNoRequest(t *testing.T) {
	srv := newJWKSServer(t)
	k1 := remoteRSA(t, 2048, "k1")
	srv.serveKeys(t, k1)
	r := newRemote(srv, newClock())

	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantRequests(t, srv, 1)
	for range 20 {
		k := mustLookup(t, r, "k1")
		if _, ok := k.(jwk.RSAPrivateKey); ok {
			t.Fatal("cached key is a private key")
		}
	}
	wantRequests(t, srv, 1)
}

func TestRemoteKeysRotation(t *testing.T) {
	srv := newJWKSServer(t)
	k1, k2, k3 := remoteRSA(t, 2048, "k1"), remoteRSA(t, 2048, "k2"), remoteRSA(t, 2048, "k3")
	srv.serveKeys(t, k1)
	clock := newClock()
	r := newRemote(srv, clock)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Rotation: k2 appears, k1 is withdrawn.
	srv.serveKeys(t, k2)
	mustLookup(t, r, "k2")
	wantRequests(t, srv, 2)
	mustLookup(t, r, "k2")
	wantRequests(t, srv, 2)

	// A withdrawn key is gone once the set is refetched.
	if _, err := r.LookupKey(context.Background(), "k1"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("withdrawn k1: err = %v, want ErrUnknownKey", err)
	}
	wantRequests(t, srv, 2) // inside the gap: no refetch

	// Another rotation inside the gap is not fetched yet; after the gap it is.
	srv.serveKeys(t, k2, k3)
	if _, err := r.LookupKey(context.Background(), "k3"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("k3 inside the gap: err = %v, want ErrUnknownKey", err)
	}
	wantRequests(t, srv, 2)
	clock.Advance(testGap)
	mustLookup(t, r, "k3")
	wantRequests(t, srv, 3)
	mustLookup(t, r, "k2")
	wantRequests(t, srv, 3)
}

func TestRemoteKeysUnknownKidFloodIsRateLimited(t *testing.T) {
	srv := newJWKSServer(t)
	srv.serveKeys(t, remoteRSA(t, 2048, "k1"))
	clock := newClock()
	r := newRemote(srv, clock)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.setDelay(50 * time.Millisecond) // lookups pile up behind one fetch

	flood := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 100 {
			wg.Go(func() {
				kid := fmt.Sprintf("forged-%d-%d", i, time.Now().UnixNano())
				_, err := r.LookupKey(context.Background(), kid)
				if strings.Contains(fmt.Sprint(err), kid) {
					errs <- fmt.Errorf("error names the forged kid: %v", err)
					return
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, verify.ErrUnknownKey) {
				t.Fatalf("err = %v, want ErrUnknownKey", err)
			}
		}
	}

	flood()
	wantRequests(t, srv, 2) // start-up + one refetch
	flood()
	wantRequests(t, srv, 2) // same gap: none
	clock.Advance(testGap - time.Second)
	flood()
	wantRequests(t, srv, 2)
	clock.Advance(time.Second)
	flood()
	wantRequests(t, srv, 3) // next gap: exactly one
	mustLookup(t, r, "k1")
	wantRequests(t, srv, 3)
}

func TestRemoteKeysEndpointDown(t *testing.T) {
	t.Run("cached keys keep working, unknown kid is unavailable", func(t *testing.T) {
		srv := newJWKSServer(t)
		srv.serveKeys(t, remoteRSA(t, 2048, "k1"))
		clock := newClock()
		r := newRemote(srv, clock)
		if err := r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		srv.serve(http.StatusServiceUnavailable, []byte(`{"error":"down"}`))

		if err := r.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("Refresh while down: err = %v, want a 503 error", err)
		}
		mustLookup(t, r, "k1")

		_, err := r.LookupKey(context.Background(), "new-kid")
		if !errors.Is(err, verify.ErrUnavailable) || errors.Is(err, verify.ErrUnknownKey) {
			t.Fatalf("unknown kid while down: err = %v, want ErrUnavailable only", err)
		}
		// Inside the gap the answer stays "unavailable" without another request.
		before := srv.count()
		if _, err := r.LookupKey(context.Background(), "new-kid"); !errors.Is(err, verify.ErrUnavailable) {
			t.Fatalf("second lookup: err = %v, want ErrUnavailable", err)
		}
		wantRequests(t, srv, before)
		mustLookup(t, r, "k1")
	})

	t.Run("down from the start", func(t *testing.T) {
		srv := newJWKSServer(t)
		srv.serve(http.StatusServiceUnavailable, nil)
		r := newRemote(srv, newClock())
		if err := r.Refresh(context.Background()); err == nil {
			t.Fatal("Refresh succeeded against a 503")
		}
		if _, err := r.LookupKey(context.Background(), "k1"); !errors.Is(err, verify.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		srv := newJWKSServer(t)
		url := srv.URL
		srv.Close()
		r := verify.NewRemoteKeys(verify.RemoteOptions{URL: url, Log: slog.New(slog.DiscardHandler)})
		if _, err := r.LookupKey(context.Background(), "k1"); !errors.Is(err, verify.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
	})
}

func TestRemoteKeysBadResponsesKeepCache(t *testing.T) {
	huge := []byte(`{"keys":[],"pad":"` + strings.Repeat("a", verify.MaxJWKSBytes) + `"}`)
	oct, err := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	_ = oct.Set(jwk.KeyIDKey, "hmac")
	encKey := remoteRSA(t, 2048, "enc")
	_ = encKey.Set(jwk.KeyUsageKey, "enc")

	tests := []struct {
		name    string
		status  int
		body    func(t *testing.T) []byte
		wantErr string
	}{
		{"bad JSON", http.StatusOK, func(*testing.T) []byte { return []byte(`{"keys": [`) }, "invalid key set"},
		{"not JSON", http.StatusOK, func(*testing.T) []byte { return []byte(`<html>oops</html>`) }, "invalid key set"},
		{"server error", http.StatusInternalServerError, func(*testing.T) []byte { return []byte(`{}`) }, "status 500"},
		{"redirect", http.StatusFound, func(*testing.T) []byte { return nil }, "status 302"},
		{"huge body", http.StatusOK, func(*testing.T) []byte { return huge }, "larger than"},
		{"empty set", http.StatusOK, func(*testing.T) []byte { return []byte(`{"keys":[]}`) }, "no usable keys"},
		{"empty object", http.StatusOK, func(*testing.T) []byte { return []byte(`{}`) }, "invalid key set"},
		{"only unusable keys", http.StatusOK, func(t *testing.T) []byte {
			return jwksBody(t, remoteRSA(t, 1024, "weak"), remoteRSA(t, 2048, ""), oct, encKey,
				remoteEC(t, elliptic.P384(), "p384", jwa.ES384))
		}, "no usable keys"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newJWKSServer(t)
			srv.serveKeys(t, remoteRSA(t, 2048, "k1"))
			r := newRemote(srv, newClock())
			if err := r.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			srv.serve(tc.status, tc.body(t))
			err := r.Refresh(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Refresh: err = %v, want it to mention %q", err, tc.wantErr)
			}
			mustLookup(t, r, "k1")
		})
	}
}

func TestRemoteKeysKeepsOnlyUsableKeys(t *testing.T) {
	srv := newJWKSServer(t)
	good := remoteRSA(t, 2048, "rsa-good")
	ec := remoteEC(t, elliptic.P256(), "ec-good", jwa.ES256)
	ecNoAlg := remoteEC(t, elliptic.P256(), "ec-noalg", jwa.ES256)
	_ = ecNoAlg.Remove(jwk.AlgorithmKey)
	weak := remoteRSA(t, 1024, "rsa-weak")
	p384 := remoteEC(t, elliptic.P384(), "ec-p384", jwa.ES384)
	mislabelled := remoteRSA(t, 2048, "rsa-ps256")
	_ = mislabelled.Set(jwk.AlgorithmKey, jwa.PS256)
	enc := remoteRSA(t, 2048, "rsa-enc")
	_ = enc.Set(jwk.KeyUsageKey, "enc")
	oct, err := jwk.FromRaw([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	_ = oct.Set(jwk.KeyIDKey, "hmac")
	octJSON, err := json.Marshal(oct) // symmetric: published as is, private part and all
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(jwksBody(t, good, ec, ecNoAlg, weak, p384, mislabelled, enc, remoteRSA(t, 2048, "")), &set); err != nil {
		t.Fatal(err)
	}
	set.Keys = append(set.Keys, octJSON, json.RawMessage(`{"kty":"OKP","crv":"X25519","kid":"okp","x":"AAAA"}`))
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	srv.serve(http.StatusOK, body)

	r := newRemote(srv, newClock())
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"rsa-good", "ec-good", "ec-noalg"} {
		mustLookup(t, r, kid)
	}
	for _, kid := range []string{"rsa-weak", "ec-p384", "rsa-ps256", "rsa-enc", "hmac", "okp", ""} {
		if _, err := r.LookupKey(context.Background(), kid); !errors.Is(err, verify.ErrUnknownKey) {
			t.Errorf("LookupKey(%q): err = %v, want ErrUnknownKey", kid, err)
		}
	}
}

func TestRemoteKeysRunRefreshesOnSchedule(t *testing.T) {
	srv := newJWKSServer(t)
	k1, k2 := remoteRSA(t, 2048, "k1"), remoteRSA(t, 2048, "k2")
	srv.serveKeys(t, k1)
	clock := newClock() // frozen: LookupKey can refetch only once
	r := verify.NewRemoteKeys(verify.RemoteOptions{
		URL:           srv.URL,
		RefreshEvery:  20 * time.Millisecond,
		MinRefetchGap: time.Hour,
		Now:           clock.Now,
		Log:           slog.New(slog.DiscardHandler),
	})
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Use up the one unknown-kid refetch, so only Run can load k2 from now on.
	if _, err := r.LookupKey(context.Background(), "k2"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("k2 before rotation: err = %v, want ErrUnknownKey", err)
	}
	srv.serveKeys(t, k1, k2)

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		r.Run(ctx)
		close(stopped)
	}()

	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := r.LookupKey(context.Background(), "k2"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not pick up the new key")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if n := srv.count(); n < 3 {
		t.Fatalf("JWKS requests = %d, want at least 3", n)
	}
}

func TestRemoteKeysCallerContext(t *testing.T) {
	srv := newJWKSServer(t)
	srv.serveKeys(t, remoteRSA(t, 2048, "k1"))
	srv.setDelay(time.Second)
	r := newRemote(srv, newClock())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := r.LookupKey(ctx, "k1"); !errors.Is(err, verify.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	// The fetch the impatient caller started still completes for everyone else.
	mustLookup(t, r, "k1")
	wantRequests(t, srv, 1)
}

func TestVerifierOverRemoteKeys(t *testing.T) {
	const iss = "https://pro-1.frontendapi.cloud.corbado.io"
	srv := newJWKSServer(t)
	k1 := remoteRSA(t, 2048, "k1")
	srv.serveKeys(t, k1)
	clock := newClock()
	r := newRemote(srv, clock)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	v := verify.New(r, verify.Options{Issuers: []string{iss}, Now: clock.Now})

	token := func(t *testing.T, key jwk.Key) string {
		t.Helper()
		tok, err := jwt.NewBuilder().
			Issuer(iss).Subject("usr-1234567890").
			IssuedAt(clock.Now()).NotBefore(clock.Now()).Expiration(clock.Now().Add(15*time.Minute)).
			JwtID("jti-1").Claim("name", "Ada Lovelace").Claim("email", "ada@example.com").
			Build()
		if err != nil {
			t.Fatal(err)
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	}

	id, err := v.Verify(context.Background(), token(t, k1))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id.UserID != "usr-1234567890" || id.Name != "Ada Lovelace" || id.Email != "ada@example.com" || id.Issuer != iss {
		t.Fatalf("identity = %+v", id)
	}
	wantRequests(t, srv, 1)

	// A token from a key nobody publishes fails closed as an unknown key.
	if _, err := v.Verify(context.Background(), token(t, remoteRSA(t, 2048, "stranger"))); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("unknown kid: err = %v, want ErrUnknownKey", err)
	}
	// With the endpoint down, an unseen kid is "unavailable"; the cached key still verifies.
	srv.serve(http.StatusServiceUnavailable, nil)
	clock.Advance(testGap)
	if _, err := v.Verify(context.Background(), token(t, remoteRSA(t, 2048, "later"))); !errors.Is(err, verify.ErrUnavailable) {
		t.Fatalf("unknown kid while down: err = %v, want ErrUnavailable", err)
	}
	if _, err := v.Verify(context.Background(), token(t, k1)); err != nil {
		t.Fatalf("cached key while down: %v", err)
	}
}
