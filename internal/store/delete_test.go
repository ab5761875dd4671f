package store

import (
	"errors"
	"testing"
	"time"
)

// TestDeleteEndsSessions: deleting a user or one of their passkeys ends every app session of that user
// (and only theirs) and their provider sessions, in the same transaction; unknown ones are ErrNotFound.
func TestDeleteEndsSessions(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		ss := s.SessionStore()
		now := time.Now()
		setup := func(email string) fixture {
			f := newFixture(t, email)
			f.create(t, s)
			for _, tok := range []string{"a-" + f.user.ID, "b-" + f.user.ID} {
				if created, err := ss.CreateCtx(ctx, tok, []byte("x"), now.Add(time.Hour), NewSession{UserID: f.user.ID, ProviderSessionID: f.session.ID}); err != nil || !created {
					t.Fatalf("CreateCtx = %v, %v", created, err)
				}
			}
			return f
		}
		alive := func(f fixture) (sessions int, providerActive bool) {
			t.Helper()
			for _, tok := range []string{"a-" + f.user.ID, "b-" + f.user.ID} {
				if _, found, err := ss.FindCtx(ctx, tok); err != nil {
					t.Fatal(err)
				} else if found {
					sessions++
				}
			}
			ok, err := s.ProviderSessionActive(ctx, f.session.ID, f.session.CreatedAt.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return sessions, ok
		}

		bystander := setup("bystander@example.com")
		gone := setup("deleted-user@example.com")
		if err := s.DeleteUser(ctx, gone.user.ID, now); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if n, active := alive(gone); n != 0 || active {
			t.Errorf("after DeleteUser: %d sessions, provider session active %v; want 0, false", n, active)
		}
		if _, err := s.UserByID(ctx, gone.user.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted user still found: %v", err)
		}
		if err := s.DeleteUser(ctx, gone.user.ID, now); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteUser of an unknown user = %v, want ErrNotFound", err)
		}

		lost := setup("lost-passkey@example.com")
		if err := s.DeletePasskey(ctx, bystander.user.ID, lost.passkey.CredentialID, "", now); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeletePasskey of another user's passkey = %v, want ErrNotFound", err)
		}
		if n, active := alive(lost); n != 2 || !active {
			t.Fatalf("a refused DeletePasskey ended sessions: %d, %v", n, active)
		}
		if err := s.DeletePasskey(ctx, lost.user.ID, lost.passkey.CredentialID, "", now); err != nil {
			t.Fatalf("DeletePasskey: %v", err)
		}
		if n, active := alive(lost); n != 0 || active {
			t.Errorf("after DeletePasskey: %d sessions, provider session active %v; want 0, false", n, active)
		}
		if _, err := s.PasskeyByCredentialID(ctx, lost.passkey.CredentialID); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted passkey still found: %v", err)
		}
		// A login racing the deletion cannot create a session afterwards.
		if created, err := ss.CreateCtx(ctx, "late-"+lost.user.ID, []byte("x"), now.Add(time.Hour), NewSession{UserID: lost.user.ID, ProviderSessionID: lost.session.ID}); err != nil || created {
			t.Errorf("CreateCtx after DeletePasskey = %v, %v; want false", created, err)
		}

		if n, active := alive(bystander); n != 2 || !active {
			t.Errorf("another user's sessions were ended: %d sessions, provider active %v", n, active)
		}
	})
}
