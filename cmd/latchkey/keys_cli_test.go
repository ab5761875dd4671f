package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/latchkey/latchkey/internal/testdb"
	"github.com/latchkey/latchkey/internal/token"
)

// headerKID is the kid a session JWT names.
func headerKID(t *testing.T, tok string) string {
	t.Helper()
	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatalf("parse the session token: %v", err)
	}
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

// jwksKIDs are the kids base publishes at /.well-known/jwks.
func jwksKIDs(t *testing.T, base string) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(newBrowser(t).must("GET", base+"/.well-known/jwks", "", http.StatusOK)), &set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	slices.Sort(out)
	return out
}

// listedKey is a key in keys list --json.
type listedKey struct {
	KID            string     `json:"kid"`
	Alg            string     `json:"alg"`
	CreatedAt      time.Time  `json:"created_at"`
	Status         string     `json:"status"`
	RetiredAt      *time.Time `json:"retired_at"`
	DeletableAfter *time.Time `json:"deletable_after"`
}

func keysList(t *testing.T, env map[string]string) []listedKey {
	t.Helper()
	var keys []listedKey
	if err := json.Unmarshal([]byte(cliOK(t, env, "keys", "list", "--json")), &keys); err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestKeysRotateAcrossInstances: two instances (app.New twice on one PostgreSQL schema) behind one
// public URL. `keys rotate` makes a new key current; a token A signed before still verifies on B; after
// A's Reload its next token names the new key and B verifies it at once (B runs no background reload);
// both JWKS list both keys; keys list shows the old one retired with when it may go.
func TestKeysRotateAcrossInstances(t *testing.T) {
	env := map[string]string{"LATCHKEY_DATABASE_URL": testdb.PostgresURL(t), "LATCHKEY_TOKEN_TTL": "2m"}
	a := startInstance(t, env)
	env["LATCHKEY_PUBLIC_URL"] = a.base // B serves the same site
	b := startInstance(t, env)

	auth := apiSignUp(t, a.base, "ada@example.com")
	before := newBrowser(t) // logs in on A before the rotation, exchanges on B after it
	passkeyLogin(t, before, a.base, auth)
	oldKID := headerKID(t, before.sessionToken(a.base))
	keys := keysList(t, env)
	if len(keys) != 1 || keys[0].KID != oldKID || keys[0].Status != "current" || keys[0].RetiredAt != nil {
		t.Fatalf("keys list before the rotation = %+v, want only %s, current", keys, oldKID)
	}

	out := cliOK(t, env, "keys", "rotate")
	keys = keysList(t, env)
	if len(keys) != 2 || keys[1].KID != oldKID {
		t.Fatalf("keys list after the rotation = %+v", keys)
	}
	newKey, oldKey := keys[0], keys[1]
	wantDeletable := newKey.CreatedAt.Add(token.DefaultReloadAfter + 2*time.Minute + token.DefaultLeeway)
	if newKey.Status != "current" || newKey.Alg != "ES256" || newKey.RetiredAt != nil || newKey.DeletableAfter != nil ||
		oldKey.Status != "retired" || oldKey.RetiredAt == nil || !oldKey.RetiredAt.Equal(newKey.CreatedAt) ||
		oldKey.DeletableAfter == nil || !oldKey.DeletableAfter.Equal(wantDeletable) {
		t.Errorf("keys list after the rotation = %+v, want the new key current and the old retired at its creation, deletable at %v", keys, wantDeletable)
	}
	wantOut := fmt.Sprintf("Rotated the session signing key.\n"+
		"  New current key:  %s (ES256)\n"+
		"  Previous key:     %s: verifies the tokens it signed until %s, then leaves the JWKS\n"+
		"Running instances sign with the new key within 30 seconds. Nobody is logged out.\n",
		newKey.KID, oldKID, wantDeletable.UTC().Format(timeLayout))
	if out != wantOut {
		t.Errorf("keys rotate =\n%s\nwant\n%s", out, wantOut)
	}
	table := cliOK(t, env, "keys", "list")
	for _, line := range []string{
		"KID ", "ALG    CREATED                  STATUS   RETIRED AT               DELETABLE AFTER",
		fmt.Sprintf("%s  ES256  %s  current  -                        -", newKey.KID, newKey.CreatedAt.UTC().Format(timeLayout)),
		fmt.Sprintf("%s  ES256  %s  retired  %s  %s", oldKID, oldKey.CreatedAt.UTC().Format(timeLayout),
			newKey.CreatedAt.UTC().Format(timeLayout), wantDeletable.UTC().Format(timeLayout)),
	} {
		if !strings.Contains(table, line) {
			t.Errorf("keys list lacks %q:\n%s", line, table)
		}
	}

	// The token A signed with the old key before the rotation still verifies on B.
	if status, body := exchange(t, before, b.base); status != http.StatusSeeOther {
		t.Fatalf("exchanging on B a token signed before the rotation: %d %s", status, body)
	}
	if home := before.must("GET", b.base+"/home", "", http.StatusOK); !strings.Contains(home, "ada@example.com") {
		t.Error("B's home page does not show the account")
	}

	// After its Reload, A signs with the new key; B has never reread its keys and verifies it at once.
	if err := a.app.Minter().Reload(t.Context()); err != nil {
		t.Fatalf("A's Reload: %v", err)
	}
	after := newBrowser(t)
	passkeyLogin(t, after, a.base, auth)
	if got := headerKID(t, after.sessionToken(a.base)); got != newKey.KID {
		t.Fatalf("A's token after the rotation names %q, want the new key %q", got, newKey.KID)
	}
	if status, body := exchange(t, after, b.base); status != http.StatusSeeOther {
		t.Fatalf("exchanging on B a token signed with the new key: %d %s", status, body)
	}
	if home := after.must("GET", b.base+"/home", "", http.StatusOK); !strings.Contains(home, "ada@example.com") {
		t.Error("B's home page does not show the account")
	}

	// Both keys are published by both instances until the old key's tokens have expired (the deletion
	// itself, at DeletableAfter, is TestRetiredKeysAreDeletedOnceTheirTokensExpire in internal/token).
	want := []string{oldKID, newKey.KID}
	slices.Sort(want)
	for name, base := range map[string]string{"A": a.base, "B": b.base} {
		if got := jwksKIDs(t, base); !slices.Equal(got, want) {
			t.Errorf("%s's JWKS lists %v, want both keys %v", name, got, want)
		}
	}
}

// TestKeysCLIConfiguration: the keys commands need the server's secret key when the keys are encrypted,
// and refuse in Corbado mode, in plain words.
func TestKeysCLIConfiguration(t *testing.T) {
	const secret = "correct-horse-battery-staple-0123456789"
	env := map[string]string{"LATCHKEY_DATABASE_URL": testdb.SQLiteURL(t), "LATCHKEY_SECRET_KEY": secret}
	startInstance(t, env) // stores the first key, encrypted
	if keys := keysList(t, env); len(keys) != 1 || keys[0].Status != "current" {
		t.Fatalf("keys list with the secret key = %+v", keys)
	}
	cliOK(t, env, "keys", "rotate")
	if keys := keysList(t, env); len(keys) != 2 {
		t.Fatalf("keys list after rotating = %+v", keys)
	}

	delete(env, "LATCHKEY_SECRET_KEY")
	const wantErr = "the database's keys are encrypted; set LATCHKEY_SECRET_KEY (or LATCHKEY_SECRET_KEY_FILE) to the key they were encrypted with"
	cliFails(t, env, wantErr, "keys", "list")
	cliFails(t, env, wantErr, "keys", "rotate")
	env["LATCHKEY_SECRET_KEY"] = "another-key-that-is-long-enough-0123456789"
	if _, err := cliRun(t, env, nil, "keys", "rotate"); err == nil || !strings.HasPrefix(err.Error(), "the database's keys do not decrypt with this LATCHKEY_SECRET_KEY") {
		t.Errorf("keys rotate with another secret key = %v", err)
	}
	env["LATCHKEY_SECRET_KEY"] = secret
	if keys := keysList(t, env); len(keys) != 2 {
		t.Errorf("a refused rotation stored a key: %+v", keys)
	}

	env["CORBADO_PROJECT_ID"] = "pro-1234567890"
	cliFails(t, env, "in Corbado mode (CORBADO_PROJECT_ID is set) Corbado signs the session tokens with its own keys; Latchkey has none to list or rotate", "keys", "rotate")
}
