package provider_test

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/softauthn"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/internal/token"
	"github.com/latchkey/latchkey/internal/verify"
)

const (
	testOrigin = "http://localhost:8080"
	testRPID   = "localhost"
	testIssuer = "http://localhost:8080"
	lifetime   = 2 * time.Hour
)

// clock is a settable time source shared by the provider under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// env is a provider over a real SQLite store and a real token minter, with a software authenticator.
type env struct {
	p     *provider.Provider
	st    *store.Store
	mint  *token.Minter
	clock *clock
	auth  *softauthn.Authenticator
	logs  *testlog.Buffer
}

func newEnv(t *testing.T, ceremonyTimeout time.Duration) *env {
	t.Helper()
	ctx := t.Context()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db"), log)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	mint, err := token.NewMinter(ctx, st, token.Options{Issuer: testIssuer}, log)
	if err != nil {
		t.Fatalf("token.NewMinter: %v", err)
	}
	clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
	p, err := provider.New(provider.Dependencies{Log: log, Store: st, Minter: mint}, provider.Options{
		RPID: testRPID, RPName: "Latchkey test", Origin: testOrigin,
		CeremonyTimeout: ceremonyTimeout, SessionLifetime: lifetime, Now: clk.Now,
	})
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	return &env{p: p, st: st, mint: mint, clock: clk, auth: softauthn.New(testOrigin), logs: logs}
}

// cookie passes a ceremony through its cookie encoding, as the HTTP layer does.
func cookie(t *testing.T, c provider.Ceremony) provider.Ceremony {
	t.Helper()
	b, err := provider.MarshalCeremony(c)
	if err != nil {
		t.Fatalf("MarshalCeremony: %v", err)
	}
	out, err := provider.UnmarshalCeremony(b)
	if err != nil {
		t.Fatalf("UnmarshalCeremony: %v", err)
	}
	return out
}

// beginSignup starts a sign-up and has the authenticator answer it with tw.
func (e *env) beginSignup(t *testing.T, email, name string, tw softauthn.Tweaks) (provider.Ceremony, []byte) {
	t.Helper()
	cc, c, err := e.p.BeginSignup(t.Context(), email, name)
	if err != nil {
		t.Fatalf("BeginSignup(%q, %q): %v", email, name, err)
	}
	body, err := e.auth.Create(cc, tw)
	if err != nil {
		t.Fatalf("softauthn Create: %v", err)
	}
	return cookie(t, c), body
}

// signup registers a new account honestly.
func (e *env) signup(t *testing.T, email, name string) provider.Issued {
	t.Helper()
	c, body := e.beginSignup(t, email, name, softauthn.Tweaks{})
	iss, err := e.p.FinishSignup(t.Context(), c, body)
	if err != nil {
		t.Fatalf("FinishSignup: %v", err)
	}
	return iss
}

// beginLogin starts a log-in and has the authenticator answer it with tw.
func (e *env) beginLogin(t *testing.T, tw softauthn.Tweaks) (provider.Ceremony, []byte) {
	t.Helper()
	ca, c, err := e.p.BeginLogin(t.Context())
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	body, err := e.auth.Get(ca, tw)
	if err != nil {
		t.Fatalf("softauthn Get: %v", err)
	}
	return cookie(t, c), body
}

// challengeOf returns the challenge of a freshly begun ceremony of the given kind.
func (e *env) challengeOf(t *testing.T, kind string) []byte {
	t.Helper()
	var ch protocol.URLEncodedBase64
	if kind == provider.KindSignup {
		cc, _, err := e.p.BeginSignup(t.Context(), "other@example.com", "Other")
		if err != nil {
			t.Fatal(err)
		}
		ch = cc.Response.Challenge
	} else {
		ca, _, err := e.p.BeginLogin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ch = ca.Response.Challenge
	}
	return ch
}

// identity verifies a session token the way the rest of Latchkey does.
func (e *env) identity(t *testing.T, tok string) verify.Identity {
	t.Helper()
	id, err := verify.New(e.mint, verify.Options{Issuers: []string{testIssuer}}).Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("verify token: %v", err)
	}
	return id
}

// counts is the number of rows in each table a ceremony writes.
type counts struct{ users, passkeys, sessions, challenges int }

func (e *env) counts(t *testing.T) counts {
	t.Helper()
	var c counts
	for table, dst := range map[string]*int{
		"users": &c.users, "passkeys": &c.passkeys, "provider_sessions": &c.sessions, "used_challenges": &c.challenges,
	} {
		if err := e.st.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(dst); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
	}
	return c
}

// passkey returns the only passkey of userID.
func (e *env) passkey(t *testing.T, userID string) store.Passkey {
	t.Helper()
	ps, err := e.st.PasskeysByUser(t.Context(), userID)
	if err != nil {
		t.Fatalf("PasskeysByUser: %v", err)
	}
	if len(ps) != 1 {
		t.Fatalf("user has %d passkeys, want 1", len(ps))
	}
	return ps[0]
}

// blob matches what looks like an encoded value (token, challenge, credential id) in a message.
var blob = regexp.MustCompile(`[A-Za-z0-9_\-+/=]{20,}`)

// wantError checks that err is a *provider.Error of kind whose Msg contains msg and is plain words.
func wantError(t *testing.T, err error, kind provider.ErrorKind, msg string) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want *provider.Error", err, err)
	}
	if pe.Kind != kind {
		t.Errorf("Kind = %d, want %d (error: %v)", pe.Kind, kind, err)
	}
	if !strings.Contains(pe.Msg, msg) {
		t.Errorf("Msg = %q, want it to contain %q", pe.Msg, msg)
	}
	if pe.Msg == "" || blob.MatchString(pe.Msg) || strings.ContainsAny(pe.Msg, "{}<>\"") || strings.Contains(pe.Msg, "eyJ") {
		t.Errorf("Msg = %q: want plain words for a person", pe.Msg)
	}
	if pe.Err == nil {
		t.Errorf("Err is nil: the log gets no detail")
	}
}

// flipLast returns a copy of b with its last bit flipped.
func flipLast(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 1
	return b
}
