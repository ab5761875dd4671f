package store

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func recoveryCodes(t *testing.T, userID string, n int, now time.Time) []RecoveryCode {
	t.Helper()
	var out []RecoveryCode
	for range n {
		out = append(out, RecoveryCode{ID: "rc-" + randomHex(t, 8), UserID: userID, Salt: randomBytes(t, 16), Hash: randomBytes(t, 32), CreatedAt: now})
	}
	return out
}

func TestRecoveryCodes(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := newFixture(t, "ada@example.com")
		f.create(t, s)
		now := ms(1_760_000_100_000)
		if has, err := s.HasRecoveryCodes(ctx, f.user.ID); err != nil || has {
			t.Fatalf("HasRecoveryCodes before = %v, %v; want false", has, err)
		}
		first := recoveryCodes(t, f.user.ID, 10, now)
		if err := s.CreateFirstRecoveryCodes(ctx, f.user.ID, first, now); err != nil {
			t.Fatalf("CreateFirstRecoveryCodes: %v", err)
		}
		if err := s.CreateFirstRecoveryCodes(ctx, f.user.ID, recoveryCodes(t, f.user.ID, 10, now), now); !errors.Is(err, ErrRecoveryCodesExist) {
			t.Fatalf("second CreateFirstRecoveryCodes = %v, want ErrRecoveryCodesExist", err)
		}
		if err := s.CreateFirstRecoveryCodes(ctx, "usr-nobody", nil, now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("CreateFirstRecoveryCodes of nobody = %v, want ErrNotFound", err)
		}
		got, err := s.UnusedRecoveryCodes(ctx, f.user.ID)
		if err != nil || len(got) != 10 {
			t.Fatalf("UnusedRecoveryCodes = %d, %v; want 10", len(got), err)
		}

		// Single use, also when ten requests race for the same code.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, used := 0, 0
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.UseRecoveryCode(ctx, f.user.ID, first[0].ID, now)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrCodeUsed):
					used++
				default:
					t.Errorf("UseRecoveryCode: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || used != 9 {
			t.Fatalf("racing uses: %d succeeded, %d ErrCodeUsed; want 1 and 9", wins, used)
		}
		if err := s.UseRecoveryCode(ctx, "usr-other", first[1].ID, now); !errors.Is(err, ErrCodeUsed) {
			t.Fatalf("using another user's code = %v, want ErrCodeUsed", err)
		}
		if got, _ := s.UnusedRecoveryCodes(ctx, f.user.ID); len(got) != 9 {
			t.Fatalf("unused after one use = %d, want 9", len(got))
		}

		// A new set kills the old one.
		second := recoveryCodes(t, f.user.ID, 10, now)
		if err := s.ReplaceRecoveryCodes(ctx, f.user.ID, second, now); err != nil {
			t.Fatalf("ReplaceRecoveryCodes: %v", err)
		}
		if err := s.UseRecoveryCode(ctx, f.user.ID, first[1].ID, now); !errors.Is(err, ErrCodeUsed) {
			t.Fatalf("using an old code = %v, want ErrCodeUsed", err)
		}
		got, _ = s.UnusedRecoveryCodes(ctx, f.user.ID)
		if len(got) != 10 {
			t.Fatalf("unused after replace = %d, want 10", len(got))
		}
		for _, c := range got {
			if c.ID == first[2].ID {
				t.Fatal("an old code survived the new set")
			}
		}
		if err := s.ReplaceRecoveryCodes(ctx, "usr-nobody", nil, now); !errors.Is(err, ErrNotFound) {
			t.Fatalf("ReplaceRecoveryCodes of nobody = %v, want ErrNotFound", err)
		}
	})
}

func TestRecoveryLinks(t *testing.T) {
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := newFixture(t, "ada@example.com")
		f.create(t, s)
		now := ms(1_760_000_100_000)
		link := RecoveryLink{Hash: randomBytes(t, 32), UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
		if err := s.CreateRecoveryLink(ctx, link); err != nil {
			t.Fatal(err)
		}
		expired := RecoveryLink{Hash: randomBytes(t, 32), UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
		if err := s.CreateRecoveryLink(ctx, expired); err != nil {
			t.Fatal(err)
		}
		later := now.Add(15 * time.Minute)
		for _, tc := range []struct {
			name string
			hash []byte
			at   time.Time
			want error
		}{
			{"unknown", randomBytes(t, 32), now, ErrNotFound},
			{"expired at 15 minutes", expired.Hash, later, ErrLinkExpired},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.RecoveryLinkUser(ctx, tc.hash, tc.at); !errors.Is(err, tc.want) {
					t.Errorf("RecoveryLinkUser = %v, want %v", err, tc.want)
				}
				if _, err := s.UseRecoveryLink(ctx, tc.hash, tc.at); !errors.Is(err, tc.want) {
					t.Errorf("UseRecoveryLink = %v, want %v", err, tc.want)
				}
			})
		}
		if id, err := s.RecoveryLinkUser(ctx, link.Hash, now); err != nil || id != f.user.ID {
			t.Fatalf("RecoveryLinkUser = %q, %v", id, err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, used := 0, 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id, err := s.UseRecoveryLink(ctx, link.Hash, now.Add(time.Minute))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && id == f.user.ID:
					wins++
				case errors.Is(err, ErrLinkUsed):
					used++
				default:
					t.Errorf("UseRecoveryLink = %q, %v", id, err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || used != 7 {
			t.Fatalf("racing uses: %d succeeded, %d ErrLinkUsed; want 1 and 7", wins, used)
		}
		if _, err := s.RecoveryLinkUser(ctx, link.Hash, now); !errors.Is(err, ErrLinkUsed) {
			t.Fatalf("RecoveryLinkUser after use = %v, want ErrLinkUsed", err)
		}
	})
}
