package store

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/testdb"
)

// backend makes fresh, empty databases of one dialect.
type backend struct {
	name   string
	newURL func(t *testing.T) string
}

// eachBackend runs fn once per dialect, each as a parallel subtest.
func eachBackend(t *testing.T, fn func(t *testing.T, newURL func(t *testing.T) string)) {
	t.Helper()
	for _, b := range []backend{{DialectSQLite, newSQLiteURL}, {DialectPostgres, newPostgresURL}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.newURL)
		})
	}
}

// eachStore runs fn once per dialect with a freshly migrated, empty store.
func eachStore(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	eachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		fn(t, openTestStore(t, newURL(t)))
	})
}

func newSQLiteURL(t *testing.T) string { return testdb.SQLiteURL(t) }

// newPostgresURL creates a schema of its own for the test (dropped afterwards) and returns a URL
// whose search_path points at it.
func newPostgresURL(t *testing.T) string { return testdb.PostgresURL(t) }

func openTestStore(t *testing.T, databaseURL string) *Store {
	t.Helper()
	s, err := Open(t.Context(), databaseURL, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(t *testing.T, n int) string { return hex.EncodeToString(randomBytes(t, n)) }

// ms is a time with millisecond precision in UTC, as the store returns them.
func ms(unixMilli int64) time.Time { return time.UnixMilli(unixMilli).UTC() }

// counts is the number of rows in each table a registration or log-in writes.
type counts struct{ users, passkeys, challenges, providerSessions int }

func countRows(t *testing.T, s *Store) counts {
	t.Helper()
	var c counts
	for table, dst := range map[string]*int{
		"users": &c.users, "passkeys": &c.passkeys, "used_challenges": &c.challenges,
		"provider_sessions": &c.providerSessions,
	} {
		if err := s.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(dst); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
	}
	return c
}

// fixture is a consistent registration: a user, their passkey, the challenge and the session.
type fixture struct {
	user      User
	passkey   Passkey
	challenge UsedChallenge
	session   ProviderSession
}

func newFixture(t *testing.T, email string) fixture {
	t.Helper()
	now := ms(1_760_000_000_123)
	id := "usr-" + randomHex(t, 8)
	return fixture{
		user: User{ID: id, Email: email, Name: "Ada Lovelace", CreatedAt: now},
		passkey: Passkey{
			CredentialID: randomBytes(t, 32), UserID: id, PublicKey: randomBytes(t, 77), SignCount: 7,
			AAGUID: randomBytes(t, 16), Transports: []string{"internal", "hybrid"}, AttestationType: "none",
			UserPresent: true, UserVerified: true, BackupEligible: true, BackupState: false, CreatedAt: now,
		},
		challenge: UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: now.Add(5 * time.Minute)},
		session:   ProviderSession{ID: "ps-" + randomHex(t, 8), UserID: id, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	}
}

func (f fixture) create(t *testing.T, s *Store) {
	t.Helper()
	if err := s.CreateUserWithPasskey(t.Context(), f.user, f.passkey, f.challenge, f.session); err != nil {
		t.Fatalf("CreateUserWithPasskey: %v", err)
	}
}
