package app_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/app"
	"github.com/latchkey/latchkey/internal/config"
	"github.com/latchkey/latchkey/internal/secretbox"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/internal/token"
)

const (
	secretKey      = "correct-horse-battery-staple-0123456789"
	otherSecretKey = "another-secret-key-of-enough-length-9876"
	unencryptedMsg = "private keys are stored unencrypted in the database"
)

// start runs the embedded provider on the SQLite database at dbURL with extra environment, and returns
// the app (closed when the test ends), its log and New's error.
func start(t *testing.T, dbURL string, env map[string]string) (*app.App, *testlog.Buffer, error) {
	t.Helper()
	full := map[string]string{"LATCHKEY_DATABASE_URL": dbURL, "LATCHKEY_RATE_LIMIT": "off"}
	for k, v := range env {
		full[k] = v
	}
	cfg, err := config.Load(func(k string) string { return full[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err == nil {
		t.Cleanup(func() { _ = a.Close() })
	}
	return a, logs, err
}

func mustStart(t *testing.T, dbURL string, env map[string]string) (*app.App, *testlog.Buffer) {
	t.Helper()
	a, logs, err := start(t, dbURL, env)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	return a, logs
}

func sqliteURL(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db") }

// storedKeys returns every private key as stored: the signing keys and the ceremony-cookie keys.
func storedKeys(t *testing.T, a *app.App) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, q := range []string{"SELECT 'signing key ' || kid, private_jwk FROM signing_keys", "SELECT 'secret ' || name, value FROM secrets"} {
		rows, err := a.Store().DB().QueryContext(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			var v []byte
			if err := rows.Scan(&name, &v); err != nil {
				t.Fatal(err)
			}
			out[name] = v
		}
		_ = rows.Close()
	}
	if len(out) != 3 {
		t.Fatalf("stored keys %d, want 3 (a signing key and two ceremony-cookie keys)", len(out))
	}
	return out
}

// linesWith returns the log lines containing s.
func linesWith(logs *testlog.Buffer, s string) []string {
	var out []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// checkWorks mints a token and looks its key up, through the app's minter.
func checkWorks(t *testing.T, a *app.App) {
	t.Helper()
	tok, _, err := a.Minter().Mint(t.Context(), token.Claims{Subject: "usr-1", SessionID: "ps-1"})
	if err != nil || tok == "" {
		t.Fatalf("Mint: %v", err)
	}
	if _, err := a.Minter().JWKS(t.Context()); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
}

func TestStartWithoutSecretKeyWarnsOnce(t *testing.T) {
	db := sqliteURL(t)
	for _, run := range []string{"first start", "second start"} {
		a, logs := mustStart(t, db, nil)
		lines := linesWith(logs, "unencrypted")
		if len(lines) != 1 {
			t.Fatalf("%s: %d lines say unencrypted, want exactly 1:\n%s", run, len(lines), logs)
		}
		if l := lines[0]; !strings.Contains(l, "level=WARN") || !strings.Contains(l, unencryptedMsg) ||
			!strings.Contains(l, "set LATCHKEY_SECRET_KEY") || !strings.Contains(l, "openssl rand -base64 32") {
			t.Errorf("%s: the warning is %q", run, l)
		}
		for name, v := range storedKeys(t, a) {
			if secretbox.Sealed(v) {
				t.Errorf("%s is encrypted without a key", name)
			}
		}
		checkWorks(t, a)
		_ = a.Close()
	}
}

func TestStartWithSecretKey(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "secret-key")
	if err := os.WriteFile(keyFile, []byte(secretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withKey := map[string]string{"LATCHKEY_SECRET_KEY": secretKey}
	for _, tc := range []struct {
		name    string
		first   map[string]string // environment of a first start on the database; nil: no first start
		env     map[string]string
		err     error  // the start-up error wanted, if any
		words   string // its exact words, if checked
		upgrade bool   // the start encrypts the first start's keys in place
	}{
		{name: "new database", env: withKey},
		{name: "key from a file", env: map[string]string{"LATCHKEY_SECRET_KEY_FILE": keyFile}, first: withKey},
		{name: "plaintext database is encrypted in place", first: map[string]string{}, env: withKey, upgrade: true},
		{name: "encrypted database without a key", first: withKey, env: nil, err: store.ErrSecretKeyRequired,
			words: "the database's keys are encrypted; set LATCHKEY_SECRET_KEY (or LATCHKEY_SECRET_KEY_FILE) to the key they were encrypted with"},
		{name: "wrong key", first: withKey, env: map[string]string{"LATCHKEY_SECRET_KEY": otherSecretKey}, err: store.ErrWrongSecretKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := sqliteURL(t)
			var before map[string][]byte
			if tc.first != nil {
				first, _ := mustStart(t, db, tc.first)
				before = storedKeys(t, first)
				_ = first.Close()
			}
			a, logs, err := start(t, db, tc.env)
			for _, secret := range []string{secretKey, otherSecretKey} {
				if strings.Contains(logs.String(), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
					t.Errorf("a secret key appears in the log or the error:\n%v\n%s", err, logs)
				}
			}
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("app.New err = %v, want %v", err, tc.err)
				}
				if tc.words != "" && err.Error() != tc.words {
					t.Errorf("app.New err = %q\nwant %q", err, tc.words)
				}
				return
			}
			if err != nil {
				t.Fatalf("app.New: %v", err)
			}
			if lines := linesWith(logs, "unencrypted"); len(lines) != 0 {
				t.Errorf("with a key, the log still says: %q", lines)
			}
			after := storedKeys(t, a)
			for name, v := range after {
				if !secretbox.Sealed(v) || bytes.Contains(v, []byte(`"d":`)) {
					t.Errorf("%s is stored unencrypted: %q", name, v)
				}
				if before != nil && !bytes.Equal(v, before[name]) != tc.upgrade {
					t.Errorf("%s: changed %v, want %v", name, !bytes.Equal(v, before[name]), tc.upgrade)
				}
			}
			encrypted := linesWith(logs, "encrypted the database's private keys")
			if tc.upgrade && (len(encrypted) != 1 || !strings.Contains(encrypted[0], "keys=3")) {
				t.Errorf("the in-place encryption logged %q, want one line with keys=3", encrypted)
			} else if !tc.upgrade && len(encrypted) != 0 {
				t.Errorf("nothing to encrypt, yet the log says %q", encrypted)
			}
			checkWorks(t, a)
		})
	}
}

// The periodic maintenance deletes a signing key no token can verify with any more, and keeps the one
// that retired just now and the current one.
func TestMaintenanceDeletesRetiredSigningKeys(t *testing.T) {
	db := sqliteURL(t)
	now := time.Now()
	st, err := store.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string // oldest first
	for _, age := range []time.Duration{70 * 24 * time.Hour, 35 * 24 * time.Hour} {
		m, err := token.NewMinter(t.Context(), st, token.Options{Issuer: "http://localhost:8080", Now: func() time.Time { return now.Add(-age) }}, nil)
		if err != nil {
			t.Fatal(err)
		}
		set, err := m.PublicKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		k, _ := set.Key(0)
		kids = append(kids, k.KeyID())
	}
	_ = st.Close()

	a, logs := mustStart(t, db, map[string]string{"LATCHKEY_SECRET_KEY": secretKey}) // rotates: the 35-day-old key retires now
	stored := func() []string {
		keys, err := a.Store().SigningKeys(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range keys {
			out = append(out, k.KID)
		}
		return out
	}
	current := stored()[0]
	if got, want := stored(), []string{current, kids[1], kids[0]}; !slices.Equal(got, want) {
		t.Fatalf("stored keys %v, want %v", got, want)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); a.RunMaintenance(ctx, 10*time.Millisecond) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(linesWith(logs, "deleted retired signing keys")) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done

	if got, want := stored(), []string{current, kids[1]}; !slices.Equal(got, want) {
		t.Errorf("after maintenance: stored keys %v, want %v (the 70-day-old key deleted)", got, want)
	}
	if lines := linesWith(logs, "deleted retired signing keys"); len(lines) != 1 || !strings.Contains(lines[0], kids[0]) {
		t.Errorf("log lines about the deletion: %q", lines)
	}
	jwks, err := a.Minter().JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(jwks), current) || !strings.Contains(string(jwks), kids[1]) || strings.Contains(string(jwks), kids[0]) {
		t.Errorf("JWKS %s: want the current and the just-retired key only", jwks)
	}
}
