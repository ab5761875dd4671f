package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestAdminListUsers: every account, oldest first, with its passkeys, unexpired sessions and latest
// passkey log-in.
func TestAdminListUsers(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		if got, err := s.ListUsers(ctx, time.Now()); err != nil || len(got) != 0 {
			t.Fatalf("ListUsers on an empty database = %v, %v", got, err)
		}
		ada := newFixture(t, "ada@example.com")
		ada.create(t, s)
		grace := newFixture(t, "grace@example.com")
		grace.user.CreatedAt = ada.user.CreatedAt.Add(time.Minute)
		grace.create(t, s)
		now := time.Now()
		for i, expiry := range []time.Time{now.Add(time.Hour), now.Add(2 * time.Hour), now.Add(-time.Second)} { // the last one expired
			if ok, err := s.SessionStore().CreateCtx(ctx, "tok-"+randomHex(t, 4), []byte("x"), expiry,
				NewSession{UserID: grace.user.ID, ProviderSessionID: grace.session.ID, PublicID: randomHex(t, 4), CreatedAt: now}); err != nil || !ok {
				t.Fatalf("CreateCtx %d = %v, %v", i, ok, err)
			}
		}
		usedAt := ms(1_770_000_000_000)
		if err := s.RecordLogin(ctx, grace.passkey.CredentialID, 8, false, false, usedAt,
			UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: now.Add(time.Minute)},
			ProviderSession{ID: "ps-" + randomHex(t, 8), UserID: grace.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}

		got, err := s.ListUsers(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		want := []UserSummary{
			{User: ada.user, Passkeys: 1},
			{User: grace.user, Passkeys: 1, Sessions: 2, LastLogin: usedAt},
		}
		if len(got) != len(want) {
			t.Fatalf("ListUsers = %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("user %d = %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// TestAdminEndUserSessions: every app session of the user ends and every provider session of theirs is
// revoked (also one not exchanged yet), in one go; the count is of the live sessions; other users keep
// theirs; a user with none is not an error.
func TestAdminEndUserSessions(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		ss := s.SessionStore()
		now := time.Now()
		mk := func(email string) fixture {
			f := newFixture(t, email)
			f.session.CreatedAt, f.session.ExpiresAt = now, now.Add(time.Hour)
			f.create(t, s)
			for _, tok := range []string{"a-" + f.user.ID, "b-" + f.user.ID} {
				if ok, err := ss.CreateCtx(ctx, tok, []byte("x"), now.Add(time.Hour), NewSession{UserID: f.user.ID, ProviderSessionID: f.session.ID}); err != nil || !ok {
					t.Fatalf("CreateCtx = %v, %v", ok, err)
				}
			}
			return f
		}
		target, bystander := mk("target@example.com"), mk("bystander@example.com")
		unexchanged := ProviderSession{ID: "ps-" + randomHex(t, 8), UserID: target.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.RecordLogin(ctx, target.passkey.CredentialID, 9, false, false, now,
			UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: now.Add(time.Minute)}, unexchanged); err != nil {
			t.Fatal(err)
		}

		n, err := s.EndUserSessions(ctx, target.user.ID, now)
		if err != nil || n != 2 {
			t.Fatalf("EndUserSessions = %d, %v; want 2, nil", n, err)
		}
		for _, tok := range []string{"a-" + target.user.ID, "b-" + target.user.ID} {
			if _, found, err := ss.FindCtx(ctx, tok); err != nil || found {
				t.Errorf("session %s found = %v, %v after EndUserSessions", tok, found, err)
			}
		}
		for _, id := range []string{target.session.ID, unexchanged.ID} {
			if active, err := s.ProviderSessionActive(ctx, id, now); err != nil || active {
				t.Errorf("provider session %s active = %v, %v after EndUserSessions", id, active, err)
			}
		}
		if claimed, err := s.ClaimProviderSession(ctx, unexchanged.ID, target.user.ID, now); err != nil || claimed {
			t.Errorf("the unexchanged log-in was claimed after EndUserSessions: %v, %v", claimed, err)
		}
		for _, tok := range []string{"a-" + bystander.user.ID, "b-" + bystander.user.ID} {
			if _, found, err := ss.FindCtx(ctx, tok); err != nil || !found {
				t.Errorf("another user's session %s ended: %v, %v", tok, found, err)
			}
		}
		if n, err := s.EndUserSessions(ctx, target.user.ID, now); err != nil || n != 0 {
			t.Errorf("EndUserSessions again = %d, %v; want 0, nil", n, err)
		}
	})
}

// TestAdminRotateSigningKey: a rotation stores a key newer than every stored one; rotations from the
// same current key store exactly one key, the others ErrKeyChanged and nothing.
func TestAdminRotateSigningKey(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		now := ms(1_760_000_000_000)
		first, err := s.RotateSigningKey(ctx, "", SigningKey{KID: "k1", Alg: "ES256", PrivateJWK: []byte(`{}`), CreatedAt: now})
		if err != nil || !first.CreatedAt.Equal(now) {
			t.Fatalf("first key = %+v, %v", first, err)
		}
		if _, err := s.RotateSigningKey(ctx, "", SigningKey{KID: "k-late", Alg: "ES256", PrivateJWK: []byte(`{}`), CreatedAt: now}); !errors.Is(err, ErrKeyChanged) {
			t.Fatalf("rotation expecting no key = %v, want ErrKeyChanged", err)
		}
		// A clock behind the newest key's still makes the newest key.
		second, err := s.RotateSigningKey(ctx, "k1", SigningKey{KID: "k2", Alg: "ES256", PrivateJWK: []byte(`{}`), CreatedAt: now.Add(-time.Hour)})
		if err != nil || !second.CreatedAt.Equal(now.Add(time.Millisecond)) {
			t.Fatalf("second key = %+v, %v; want created 1 ms after the first", second, err)
		}

		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.RotateSigningKey(ctx, "k2", SigningKey{KID: "race-" + randomHex(t, 4), Alg: "ES256", PrivateJWK: []byte(`{}`), CreatedAt: now})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrKeyChanged):
				t.Errorf("racing rotation: %v", err)
			}
		}
		keys, err := s.SigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if won != 1 || len(keys) != 3 {
			t.Errorf("%d racing rotations won, %d keys stored; want 1 and 3", won, len(keys))
		}
	})
}
