package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/passkeyclient"
	"github.com/latchkey/latchkey/internal/token"
	"github.com/latchkey/latchkey/internal/verify"
)

// sessionCosts is the per-request cost of the app's session check and of verifying the session JWT
// instead.
type sessionCosts struct {
	check  time.Duration // the session middleware with a real session cookie, per request
	verify time.Duration // verify.Verifier.Verify on a real token, JWKS in memory, per request
}

// measureSessionCheck builds the app as cmd/latchkey does (app.New) on a fresh database of mode m, logs
// in through the real ceremony over loopback, then times in-process, one request at a time:
// (a) the app's session middleware around a handler that reads the user, with the session cookie;
// (b) verifying a session JWT minted by the app's minter, its keys cached in memory (the tutorial's way).
func (b *bench) measureSessionCheck(ctx context.Context, m mode) (sessionCosts, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sessionCosts{}, err
	}
	addr := ln.Addr().String()
	env, err := b.res.env(ctx, m, ln.Addr().(*net.TCPAddr).Port)
	if err != nil {
		_ = ln.Close()
		return sessionCosts{}, err
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		_ = ln.Close()
		return sessionCosts{}, err
	}
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		_ = ln.Close()
		return sessionCosts{}, fmt.Errorf("app.New: %w", err)
	}
	defer a.Close()
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	tr := newTransport(addr, 4)
	cookie, err := passkeyclient.New(cfg.Origin(), passkeyclient.Options{Transport: tr}).
		SignUpAndLogIn(ctx, "bench-check@example.com")
	_ = srv.Shutdown(ctx)
	tr.CloseIdleConnections()
	if err != nil {
		return sessionCosts{}, fmt.Errorf("log in: %w", err)
	}

	mgr := a.Sessions()
	if mgr == nil {
		return sessionCosts{}, errors.New("the app has no session manager")
	}
	var missing int
	h := mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := mgr.User(r.Context()); !ok {
			missing++
		}
	}))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Origin()+"/home", nil)
	if err != nil {
		return sessionCosts{}, err
	}
	req.Header.Set("Cookie", cookie)
	w := &discardWriter{h: http.Header{}}
	check := testing.Benchmark(func(tb *testing.B) {
		for tb.Loop() {
			clear(w.h)
			h.ServeHTTP(w, req)
		}
	})
	if missing > 0 || check.N == 0 {
		return sessionCosts{}, fmt.Errorf("the session middleware did not find the logged-in user in %d of %d requests", missing, check.N)
	}

	minter := a.Minter()
	v := verify.New(minter, verify.Options{Issuers: []string{cfg.Origin()}})
	tok, _, err := minter.Mint(ctx, token.Claims{Subject: "usr-bench", Name: "Bench User", Email: "bench@example.com", SessionID: "ses-bench"})
	if err != nil {
		return sessionCosts{}, fmt.Errorf("mint: %w", err)
	}
	var verifyErr error
	ver := testing.Benchmark(func(tb *testing.B) {
		for tb.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil && verifyErr == nil {
				verifyErr = err
			}
		}
	})
	if verifyErr != nil || ver.N == 0 {
		return sessionCosts{}, fmt.Errorf("verify: %v", verifyErr)
	}
	return sessionCosts{check: perOp(check), verify: perOp(ver)}, nil
}

func perOp(r testing.BenchmarkResult) time.Duration {
	return time.Duration(float64(r.T) / float64(r.N))
}

// cryptoFloor is the P-256 cost of a log-in on all cores, as log-ins per second: the ECDSA P-256
// operations one log-in needs — the authenticator signs the assertion, the server verifies it, the
// provider signs the session JWT (ES256) and the exchange verifies it — on every core at once.
func cryptoFloor() (float64, error) {
	authKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, err
	}
	jwtKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, err
	}
	// What gets signed: authenticator data (37 bytes) followed by the hash of the client data, and a JWT's
	// header.payload of the size Latchkey mints.
	clientData := []byte(`{"type":"webauthn.get","challenge":"lYXAbi4MnU1tV2Mh6m7uYbTUA3sWJfpu1tNq59Wd9Ss","origin":"http://localhost:8080","crossOrigin":false}`)
	jwtInput := randomBytes(420)
	var failed atomic.Bool
	res := testing.Benchmark(func(tb *testing.B) {
		tb.RunParallel(func(pb *testing.PB) {
			msg := make([]byte, 37, 37+sha256.Size)
			for pb.Next() {
				cd := sha256.Sum256(clientData)
				d := sha256.Sum256(append(msg[:37], cd[:]...))
				sig, err := ecdsa.SignASN1(rand.Reader, authKey, d[:])
				if err != nil || !ecdsa.VerifyASN1(&authKey.PublicKey, d[:], sig) {
					failed.Store(true)
				}
				j := sha256.Sum256(jwtInput)
				sig, err = ecdsa.SignASN1(rand.Reader, jwtKey, j[:])
				if err != nil || !ecdsa.VerifyASN1(&jwtKey.PublicKey, j[:], sig) {
					failed.Store(true)
				}
			}
		})
	})
	if failed.Load() {
		return 0, errors.New("a P-256 signature did not verify")
	}
	if res.N == 0 || res.T <= 0 {
		return 0, errors.New("the crypto benchmark did not run")
	}
	return float64(res.N) / res.T.Seconds(), nil
}

// setBenchTime sets how long each testing.Benchmark runs (its -test.benchtime flag, default 1 s), for
// -quick runs.
func setBenchTime(d time.Duration) error {
	testing.Init() // registers the testing flags (a no-op when they already are)
	return flag.Set("test.benchtime", d.String())
}
