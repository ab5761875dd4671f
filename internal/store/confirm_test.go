package store

import (
	"errors"
	"testing"
	"time"
)

// TestEmailConfirmations: a confirmation link marks the address confirmed once; used, expired and
// unknown links are refused and confirm nothing.
func TestEmailConfirmations(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := newFixture(t, "ada@example.com")
		f.create(t, s)
		now := ms(1_760_000_100_000)
		if ok, err := s.EmailConfirmed(ctx, f.user.ID); err != nil || ok {
			t.Fatalf("EmailConfirmed before = %v, %v", ok, err)
		}
		link := RecoveryLink{Hash: randomBytes(t, 32), UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		expired := RecoveryLink{Hash: randomBytes(t, 32), UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		for _, l := range []RecoveryLink{link, expired} {
			if err := s.CreateEmailConfirmation(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name string
			hash []byte
			at   time.Time
			want error
		}{
			{"unknown", randomBytes(t, 32), now, ErrNotFound},
			{"expired", expired.Hash, now.Add(time.Hour), ErrLinkExpired},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.EmailConfirmationUser(ctx, tc.hash, tc.at); !errors.Is(err, tc.want) {
					t.Errorf("EmailConfirmationUser = %v, want %v", err, tc.want)
				}
				if _, err := s.ConfirmEmail(ctx, tc.hash, tc.at); !errors.Is(err, tc.want) {
					t.Errorf("ConfirmEmail = %v, want %v", err, tc.want)
				}
			})
		}
		if ok, err := s.EmailConfirmed(ctx, f.user.ID); err != nil || ok {
			t.Fatalf("EmailConfirmed after refused links = %v, %v", ok, err)
		}
		if id, err := s.EmailConfirmationUser(ctx, link.Hash, now); err != nil || id != f.user.ID {
			t.Fatalf("EmailConfirmationUser = %q, %v", id, err)
		}
		if id, err := s.ConfirmEmail(ctx, link.Hash, now); err != nil || id != f.user.ID {
			t.Fatalf("ConfirmEmail = %q, %v", id, err)
		}
		if ok, err := s.EmailConfirmed(ctx, f.user.ID); err != nil || !ok {
			t.Fatalf("EmailConfirmed after = %v, %v", ok, err)
		}
		if _, err := s.ConfirmEmail(ctx, link.Hash, now); !errors.Is(err, ErrLinkUsed) {
			t.Errorf("second ConfirmEmail = %v, want ErrLinkUsed", err)
		}
		if _, err := s.EmailConfirmed(ctx, "usr-nobody"); !errors.Is(err, ErrNotFound) {
			t.Errorf("EmailConfirmed(nobody) = %v, want ErrNotFound", err)
		}
	})
}
