package store

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOpenMigratesOnce(t *testing.T) {
	t.Parallel()
	migrations, err := loadMigrations()
	if err != nil || len(migrations) == 0 {
		t.Fatalf("loadMigrations = %d, %v", len(migrations), err)
	}
	eachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)

		// Two processes starting at once: both must succeed, the migrations must run once.
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Go(func() {
				s, err := Open(t.Context(), url, nil)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Open %d: %v", i, err)
			}
		}

		s := openTestStore(t, url)
		f := newFixture(t, "ada@example.com")
		f.create(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = openTestStore(t, url) // reopening must neither fail nor lose data
		if _, err := s.UserByID(t.Context(), f.user.ID); err != nil {
			t.Fatalf("user lost after reopening: %v", err)
		}
		var applied int
		if err := s.DB().QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied != len(migrations) {
			t.Errorf("schema_migrations has %d rows, want %d", applied, len(migrations))
		}
		if got := s.Dialect(); !strings.HasSuffix(t.Name(), "/"+got) {
			t.Errorf("Dialect() = %q in test %s", got, t.Name())
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, newSQLiteURL(t))
	conn, err := s.DB().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1",
		"journal_size_limit": "67108864",
	} {
		var got string
		if err := conn.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

func TestOpenMemory(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, "sqlite::memory:")
	f := newFixture(t, "mem@example.com")
	f.create(t, s)
	// Concurrent readers must all reach the one in-memory database, not open fresh empty ones.
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.UserByEmail(t.Context(), "mem@example.com") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if got := s.DB().Stats().MaxOpenConnections; got != 1 {
		t.Errorf("in-memory pool allows %d connections, want 1 (each would be a separate database)", got)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	const password = "s3cr3t-pa55"
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"empty", "", "no scheme"},
		{"unknown scheme", "mysql://root:" + password + "@localhost/db", `unknown database URL scheme "mysql"`},
		{"sqlite without path", "sqlite:", "no path"},
		{"sqlite with query", "sqlite:x.db?_pragma=foo", "must not contain"},
		{"sqlite missing directory", "sqlite:" + filepath.Join(t.TempDir(), "missing", "x.db"), "cannot open sqlite database"},
		{"postgres unreachable", "postgres://postgres:" + password + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", "cannot open postgres database"},
		{"postgres password in query", "postgres://127.0.0.1:1/test?sslmode=disable&connect_timeout=2&password=" + password, "cannot open postgres database"},
		{"postgres bad URL", "postgres://postgres:" + password + "@127.0.0.1:1/test?sslmode=bogus", "cannot open postgres database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(t.Context(), tt.url, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial postgres://u:hunter2@db/x failed")
	err := redact(cause, "postgres://u:hunter2@db/x")
	if strings.Contains(err.Error(), "hunter2") || !errors.Is(err, cause) {
		t.Errorf("redact = %q (wraps cause: %v)", err, errors.Is(err, cause))
	}
	if got := redact(cause, "postgres://u@db/x"); got != cause {
		t.Errorf("redact without password changed the error: %v", got)
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	pg := &Store{dialect: DialectPostgres}
	lite := &Store{dialect: DialectSQLite}
	const q = "UPDATE t SET a = ?, b = ? WHERE c = ?"
	if got, want := pg.rebind(q), "UPDATE t SET a = $1, b = $2 WHERE c = $3"; got != want {
		t.Errorf("postgres rebind = %q, want %q", got, want)
	}
	if got := lite.rebind(q); got != q {
		t.Errorf("sqlite rebind = %q", got)
	}
}

func TestUserAndPasskeyRoundTrip(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := newFixture(t, "Ada@Example.com")
		f.create(t, s)

		wantUser := f.user
		wantUser.Email = "ada@example.com"
		for name, lookup := range map[string]func() (User, error){
			"by id":          func() (User, error) { return s.UserByID(ctx, f.user.ID) },
			"by email":       func() (User, error) { return s.UserByEmail(ctx, "ada@example.com") },
			"by email mixed": func() (User, error) { return s.UserByEmail(ctx, "ADA@example.COM") },
			"unknown id":     func() (User, error) { return s.UserByID(ctx, "usr-nobody") },
			"unknown email":  func() (User, error) { return s.UserByEmail(ctx, "nobody@example.com") },
		} {
			u, err := lookup()
			if strings.HasPrefix(name, "unknown") {
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("%s: err = %v, want ErrNotFound", name, err)
				}
				continue
			}
			if err != nil || u != wantUser {
				t.Errorf("%s = %+v, %v; want %+v", name, u, err, wantUser)
			}
		}

		p, err := s.PasskeyByCredentialID(ctx, f.passkey.CredentialID)
		if err != nil {
			t.Fatalf("PasskeyByCredentialID: %v", err)
		}
		if !reflect.DeepEqual(p, f.passkey) {
			t.Errorf("passkey round trip:\n got %+v\nwant %+v", p, f.passkey)
		}
		if _, err := s.PasskeyByCredentialID(ctx, []byte("nope")); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown credential: err = %v, want ErrNotFound", err)
		}

		// A second, older passkey with every flag flipped and no transports; a third, newer one.
		older := Passkey{
			CredentialID: randomBytes(t, 16), UserID: f.user.ID, PublicKey: randomBytes(t, 40), SignCount: 0,
			AttestationType: "packed", CreatedAt: f.passkey.CreatedAt.Add(-time.Hour),
			LastUsedAt: f.passkey.CreatedAt.Add(-time.Minute), AAGUID: []byte{},
		}
		newer := f.passkey
		newer.CredentialID = randomBytes(t, 16)
		newer.SignCount = 1<<32 - 1
		newer.BackupState = true
		newer.CreatedAt = f.passkey.CreatedAt.Add(time.Hour)
		for _, pk := range []Passkey{newer, older} {
			if err := s.insertPasskey(ctx, s.DB(), pk); err != nil {
				t.Fatalf("insertPasskey: %v", err)
			}
		}
		got, err := s.PasskeysByUser(ctx, f.user.ID)
		if err != nil {
			t.Fatalf("PasskeysByUser: %v", err)
		}
		want := []Passkey{older, f.passkey, newer}
		if len(got) != len(want) {
			t.Fatalf("PasskeysByUser returned %d passkeys, want %d", len(got), len(want))
		}
		for i := range want {
			// An empty AAGUID may come back nil or empty; everything else must match exactly.
			if len(want[i].AAGUID) == 0 && len(got[i].AAGUID) == 0 {
				got[i].AAGUID = want[i].AAGUID
			}
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("passkey %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		if none, err := s.PasskeysByUser(ctx, "usr-nobody"); err != nil || len(none) != 0 {
			t.Errorf("PasskeysByUser(unknown) = %v, %v", none, err)
		}

		active, err := s.ProviderSessionActive(ctx, f.session.ID, f.session.CreatedAt)
		if err != nil || !active {
			t.Errorf("provider session created with the user: active = %v, %v", active, err)
		}
	})
}

func TestCreateUserWithPasskeyConflicts(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		existing := newFixture(t, "taken@example.com")
		existing.create(t, s)

		tests := []struct {
			name   string
			modify func(f *fixture)
			want   error
		}{
			{"challenge replayed", func(f *fixture) { f.challenge.Hash = existing.challenge.Hash }, ErrChallengeUsed},
			{"email taken", func(f *fixture) { f.user.Email = "taken@example.com" }, ErrEmailTaken},
			{"email taken other case", func(f *fixture) { f.user.Email = "TAKEN@example.com" }, ErrEmailTaken},
			{"credential exists", func(f *fixture) { f.passkey.CredentialID = existing.passkey.CredentialID }, ErrCredentialExists},
			{"provider session exists", func(f *fixture) { f.session.ID = existing.session.ID }, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := countRows(t, s)
				f := newFixture(t, "new@example.com")
				tt.modify(&f)
				err := s.CreateUserWithPasskey(t.Context(), f.user, f.passkey, f.challenge, f.session)
				switch {
				case err == nil:
					t.Fatal("CreateUserWithPasskey succeeded")
				case tt.want != nil && !errors.Is(err, tt.want):
					t.Fatalf("err = %v, want %v", err, tt.want)
				case tt.want == nil && (errors.Is(err, ErrChallengeUsed) || errors.Is(err, ErrEmailTaken) || errors.Is(err, ErrCredentialExists)):
					t.Fatalf("err = %v, want an unexpected-failure error", err)
				}
				if after := countRows(t, s); after != before {
					t.Errorf("rows changed on failure: before %+v, after %+v", before, after)
				}
				if _, err := s.UserByEmail(t.Context(), "new@example.com"); !errors.Is(err, ErrNotFound) {
					t.Errorf("user written despite failure: %v", err)
				}
			})
		}
	})
}

func TestRecordLogin(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := newFixture(t, "login@example.com")
		f.create(t, s)
		usedAt := f.user.CreatedAt.Add(10 * time.Minute)
		login := func(credentialID []byte, ch UsedChallenge, psID string) error {
			ps := ProviderSession{ID: psID, UserID: f.user.ID, CreatedAt: usedAt, ExpiresAt: usedAt.Add(time.Hour)}
			return s.RecordLogin(ctx, credentialID, 42, true, false, usedAt, ch, ps)
		}
		ch := UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: usedAt.Add(time.Minute)}
		if err := login(f.passkey.CredentialID, ch, "ps-login"); err != nil {
			t.Fatalf("RecordLogin: %v", err)
		}
		want := f.passkey
		want.SignCount, want.BackupState, want.LastUsedAt = 42, true, usedAt
		if got, err := s.PasskeyByCredentialID(ctx, f.passkey.CredentialID); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("passkey after login:\n got %+v, %v\nwant %+v", got, err, want)
		}
		if active, err := s.ProviderSessionActive(ctx, "ps-login", usedAt); err != nil || !active {
			t.Errorf("login session active = %v, %v", active, err)
		}

		// A suspected clone (the count did not go up): the stored count stays, the warning is set.
		later := usedAt.Add(time.Minute)
		ps := ProviderSession{ID: "ps-clone", UserID: f.user.ID, CreatedAt: later, ExpiresAt: later.Add(time.Hour)}
		if err := s.RecordLogin(ctx, f.passkey.CredentialID, 7, false, true, later, UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: later}, ps); err != nil {
			t.Fatal(err)
		}
		want.BackupState, want.LastUsedAt, want.CloneWarningAt = false, later, later
		if got, err := s.PasskeyByCredentialID(ctx, f.passkey.CredentialID); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("passkey after a suspected clone:\n got %+v, %v\nwant %+v", got, err, want)
		}

		tests := []struct {
			name         string
			credentialID []byte
			challenge    UsedChallenge
			want         error
		}{
			{"challenge replayed", f.passkey.CredentialID, ch, ErrChallengeUsed},
			{"unknown credential", []byte("unknown"), UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: usedAt}, ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := countRows(t, s)
				if err := login(tt.credentialID, tt.challenge, "ps-"+randomHex(t, 4)); !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if after := countRows(t, s); after != before {
					t.Errorf("rows changed on failure: before %+v, after %+v", before, after)
				}
			})
		}
	})
}

func TestProviderSessions(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := newFixture(t, "ps@example.com")
		f.create(t, s)
		now := f.session.CreatedAt.Add(time.Minute)
		revoked := ProviderSession{ID: "ps-revoked", UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		expired := ProviderSession{ID: "ps-expired", UserID: f.user.ID, CreatedAt: now.Add(-time.Hour), ExpiresAt: now}
		for _, ps := range []ProviderSession{revoked, expired} {
			if err := s.insertProviderSession(ctx, s.DB(), ps); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 { // idempotent
			if err := s.RevokeProviderSession(ctx, revoked.ID, now); err != nil {
				t.Fatalf("RevokeProviderSession: %v", err)
			}
		}
		if err := s.RevokeProviderSession(ctx, "ps-unknown", now); err != nil {
			t.Errorf("RevokeProviderSession(unknown): %v", err)
		}

		tests := []struct {
			id   string
			at   time.Time
			want bool
		}{
			{f.session.ID, now, true},
			{f.session.ID, f.session.ExpiresAt, false},
			{revoked.ID, now, false},
			{expired.ID, now, false},
			{expired.ID, now.Add(-time.Millisecond), true},
			{"ps-unknown", now, false},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s@%d", tt.id, tt.at.UnixMilli()), func(t *testing.T) {
				if got, err := s.ProviderSessionActive(ctx, tt.id, tt.at); err != nil || got != tt.want {
					t.Errorf("ProviderSessionActive = %v, %v; want %v", got, err, tt.want)
				}
			})
		}
	})
}

func TestSigningKeys(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		if keys, err := s.SigningKeys(ctx); err != nil || len(keys) != 0 {
			t.Fatalf("SigningKeys on empty store = %v, %v", keys, err)
		}
		base := ms(1_760_000_000_000)
		keys := []SigningKey{
			{KID: "k-middle", Alg: "ES256", PrivateJWK: []byte(`{"kty":"EC","k":"2"}`), CreatedAt: base.Add(time.Hour)},
			{KID: "k-old", Alg: "RS256", PrivateJWK: []byte(`{"kty":"RSA","k":"1"}`), CreatedAt: base},
			{KID: "k-new", Alg: "ES256", PrivateJWK: []byte(`{"kty":"EC","k":"3"}`), CreatedAt: base.Add(2 * time.Hour)},
		}
		for _, k := range keys {
			if err := s.InsertSigningKey(ctx, k); err != nil {
				t.Fatalf("InsertSigningKey: %v", err)
			}
		}
		if err := s.InsertSigningKey(ctx, keys[0]); err == nil {
			t.Error("inserting a duplicate kid succeeded")
		}
		got, err := s.SigningKeys(ctx)
		if want := []SigningKey{keys[2], keys[0], keys[1]}; err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SigningKeys = %+v, %v\nwant %+v", got, err, want)
		}
		if err := s.DeleteSigningKeysBefore(ctx, keys[0].CreatedAt); err != nil {
			t.Fatal(err)
		}
		got, err = s.SigningKeys(ctx)
		if want := []SigningKey{keys[2], keys[0]}; err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("after DeleteSigningKeysBefore: %+v, %v\nwant %+v", got, err, want)
		}
	})
}

func TestSecret(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		const workers = 8
		var wg sync.WaitGroup
		values := make([][]byte, workers)
		errs := make([]error, workers)
		for i := range workers {
			wg.Go(func() {
				values[i], errs[i] = s.Secret(ctx, "cookie-key", func() ([]byte, error) { return randomBytes(t, 32), nil })
			})
		}
		wg.Wait()
		for i := range workers {
			if errs[i] != nil {
				t.Fatalf("Secret %d: %v", i, errs[i])
			}
			if len(values[i]) != 32 || !bytes.Equal(values[i], values[0]) {
				t.Fatalf("concurrent callers got different secrets: %x vs %x", values[i], values[0])
			}
		}

		again, err := s.Secret(ctx, "cookie-key", func() ([]byte, error) {
			t.Error("create called for an existing secret")
			return nil, nil
		})
		if err != nil || !bytes.Equal(again, values[0]) {
			t.Errorf("Secret again = %x, %v; want %x", again, err, values[0])
		}

		boom := errors.New("no entropy")
		if _, err := s.Secret(ctx, "other", func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Errorf("create failure: err = %v, want %v", err, boom)
		}
		var n int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM secrets").Scan(&n); err != nil || n != 1 {
			t.Errorf("secrets rows = %d, %v; want 1", n, err)
		}
	})
}

func TestDeleteExpired(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		now := ms(1_770_000_000_000)
		f := newFixture(t, "exp@example.com")
		f.challenge.ExpiresAt = now.Add(-time.Second)  // expired
		f.session.ExpiresAt = now.Add(-25 * time.Hour) // expired more than a day ago
		f.create(t, s)

		keepChallenge := UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: now.Add(time.Second)}
		if err := s.useChallenge(ctx, s.DB(), keepChallenge); err != nil {
			t.Fatal(err)
		}
		recent := ProviderSession{ID: "ps-recent", UserID: f.user.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-23 * time.Hour)}
		if err := s.insertProviderSession(ctx, s.DB(), recent); err != nil {
			t.Fatal(err)
		}
		ss := s.SessionStore()
		if _, err := ss.CreateCtx(ctx, "old-token", []byte("x"), now.Add(-time.Millisecond), NewSession{UserID: f.user.ID, ProviderSessionID: ""}); err != nil {
			t.Fatal(err)
		}
		if _, err := ss.CreateCtx(ctx, "live-token", []byte("y"), time.Now().Add(time.Hour), NewSession{UserID: f.user.ID, ProviderSessionID: ""}); err != nil {
			t.Fatal(err)
		}

		n, err := s.DeleteExpired(ctx, now)
		if err != nil || n != 3 {
			t.Fatalf("DeleteExpired = %d, %v; want 3", n, err)
		}
		c := countRows(t, s)
		if want := (counts{users: 1, passkeys: 1, challenges: 1, providerSessions: 1}); c != want {
			t.Errorf("rows left = %+v, want %+v", c, want)
		}
		if err := s.useChallenge(ctx, s.DB(), keepChallenge); !errors.Is(err, ErrChallengeUsed) {
			t.Errorf("unexpired challenge purged: %v", err)
		}
		var tokens int
		if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions").Scan(&tokens); err != nil || tokens != 1 {
			t.Errorf("sessions left = %d, %v; want 1", tokens, err)
		}
		if n, err := s.DeleteExpired(ctx, now); err != nil || n != 0 {
			t.Errorf("second DeleteExpired = %d, %v; want 0", n, err)
		}
	})
}

func TestClaimProviderSession(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := newFixture(t, "claim@example.com")
		f.create(t, s)
		now := f.session.CreatedAt.Add(time.Minute)
		revoked := ProviderSession{ID: "ps-claim-revoked", UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.insertProviderSession(ctx, s.DB(), revoked); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeProviderSession(ctx, revoked.ID, now); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			id   string
			at   time.Time
			want bool
		}{
			{"expired", f.session.ID, f.session.ExpiresAt, false},
			{"revoked", revoked.ID, now, false},
			{"unknown", "ps-unknown", now, false},
			{"another user's claim", f.session.ID, now, false},
			{"first claim", f.session.ID, now, true},
			{"second claim", f.session.ID, now.Add(time.Second), false},
		} {
			user := f.user.ID
			if tc.name == "another user's claim" {
				user = "usr-someone-else"
			}
			if got, err := s.ClaimProviderSession(ctx, tc.id, user, tc.at); err != nil || got != tc.want {
				t.Errorf("%s: ClaimProviderSession = %v, %v; want %v", tc.name, got, err, tc.want)
			}
		}
		// A claimed session is still active (until revoked): logout revokes it.
		if ok, _ := s.ProviderSessionActive(ctx, f.session.ID, now); !ok {
			t.Error("claiming ended the provider session")
		}

		// Concurrent claims of a fresh session: exactly one wins.
		fresh := ProviderSession{ID: "ps-claim-race", UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.insertProviderSession(ctx, s.DB(), fresh); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.ClaimProviderSession(ctx, fresh.ID, f.user.ID, now)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d concurrent claims won, want exactly 1", wins.Load())
		}
	})
}
