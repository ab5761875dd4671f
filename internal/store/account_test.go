package store

import (
	"errors"
	"testing"
	"time"
)

// TestAccountSessions: a user's live sessions are listed by public ID with their device; revoking one
// ends it and its provider session and touches nobody else's; "everywhere else" keeps exactly one.
func TestAccountSessions(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		ss := s.SessionStore()
		f := newFixture(t, "sessions@example.com")
		f.create(t, s)
		other := newFixture(t, "other@example.com")
		other.create(t, s)
		now := time.Now().UTC().Truncate(time.Millisecond)
		extra := ProviderSession{ID: "ps-second-" + f.user.ID, UserID: f.user.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.insertProviderSession(ctx, s.DB(), extra); err != nil {
			t.Fatal(err)
		}
		create := func(token, user, sid, public string, at time.Time) {
			t.Helper()
			ok, err := ss.CreateCtx(ctx, token, []byte("x"), now.Add(time.Hour), NewSession{UserID: user, ProviderSessionID: sid,
				PublicID: public, IP: "192.0.2.1", UserAgent: "UA " + public, CreatedAt: at})
			if err != nil || !ok {
				t.Fatalf("CreateCtx(%s) = %v, %v", public, ok, err)
			}
		}
		create("tok-a", f.user.ID, f.session.ID, "pub-a", now.Add(-time.Hour))
		create("tok-b", f.user.ID, extra.ID, "pub-b", now)
		create("tok-c", f.user.ID, "", "pub-c", now.Add(-2*time.Hour))
		create("tok-o", other.user.ID, other.session.ID, "pub-o", now)

		list, err := s.SessionsOfUser(ctx, f.user.ID, now)
		if err != nil || len(list) != 3 || list[0].PublicID != "pub-b" || list[0].UserAgent != "UA pub-b" || list[0].IP != "192.0.2.1" ||
			!list[0].CreatedAt.Equal(now) {
			t.Fatalf("SessionsOfUser = %+v, %v; want 3, most recently seen first", list, err)
		}

		if err := s.RevokeSession(ctx, f.user.ID, "pub-o", now); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoking another user's session = %v, want ErrNotFound", err)
		}
		if err := s.RevokeSession(ctx, f.user.ID, "pub-b", now); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
		if _, found, _ := ss.FindCtx(ctx, "tok-b"); found {
			t.Error("the revoked session is still found")
		}
		if ok, _ := s.ProviderSessionActive(ctx, extra.ID, now); ok {
			t.Error("the revoked session's provider session is still active")
		}
		// A request in flight cannot bring it back.
		if err := ss.CommitCtx(ctx, "tok-b", []byte("y"), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := ss.FindCtx(ctx, "tok-b"); found {
			t.Error("a commit brought the revoked session back")
		}

		n, err := s.RevokeOtherSessions(ctx, f.user.ID, "pub-a", now)
		if err != nil || n != 1 {
			t.Fatalf("RevokeOtherSessions = %d, %v; want 1 (pub-c)", n, err)
		}
		if list, _ := s.SessionsOfUser(ctx, f.user.ID, now); len(list) != 1 || list[0].PublicID != "pub-a" {
			t.Errorf("after everywhere else: %+v, want only pub-a", list)
		}
		if ok, _ := s.ProviderSessionActive(ctx, f.session.ID, f.session.CreatedAt.Add(time.Minute)); !ok {
			t.Error("the kept session's provider session was revoked")
		}
		if list, _ := s.SessionsOfUser(ctx, other.user.ID, now); len(list) != 1 {
			t.Errorf("another user's sessions: %+v, want untouched", list)
		}
	})
}

// TestActivityLog: newest first, limited, per user, pruned by age.
func TestActivityLog(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		base := time.Now().UTC().Truncate(time.Millisecond).Add(-48 * time.Hour)
		for i := range 25 {
			a := Activity{ID: randomHex(t, 8), UserID: "usr-a", At: base.Add(time.Duration(i) * time.Hour), Kind: "log-in", IP: "192.0.2.1", UserAgent: "UA", Detail: ""}
			if err := s.AddActivity(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.AddActivity(ctx, Activity{ID: randomHex(t, 8), UserID: "usr-b", At: base, Kind: "sign-up"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.RecentActivity(ctx, "usr-a", 20)
		if err != nil || len(got) != 20 || !got[0].At.Equal(base.Add(24*time.Hour)) || !got[19].At.Equal(base.Add(5*time.Hour)) {
			t.Fatalf("RecentActivity = %d entries (%v), first %v", len(got), err, got)
		}
		n, err := s.PruneActivity(ctx, base.Add(10*time.Hour))
		if err != nil || n != 11 { // usr-a's hours 0–9 and usr-b's entry
			t.Fatalf("PruneActivity = %d, %v; want 11", n, err)
		}
		if got, _ := s.RecentActivity(ctx, "usr-a", 100); len(got) != 15 {
			t.Errorf("after pruning: %d entries, want 15", len(got))
		}
	})
}

// TestPasskeyNamesAndAdding: rename only one's own passkey; add a passkey once per challenge.
func TestPasskeyNamesAndAdding(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		f := newFixture(t, "names@example.com")
		f.create(t, s)
		if err := s.RenamePasskey(ctx, "usr-someone-else", f.passkey.CredentialID, "Mine now"); !errors.Is(err, ErrNotFound) {
			t.Errorf("renaming another user's passkey = %v, want ErrNotFound", err)
		}
		if err := s.RenamePasskey(ctx, f.user.ID, f.passkey.CredentialID, "Work laptop"); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.PasskeyByCredentialID(ctx, f.passkey.CredentialID); p.Name != "Work laptop" {
			t.Errorf("name = %q", p.Name)
		}
		second := f.passkey
		second.CredentialID = randomBytes(t, 32)
		second.Name = ""
		ch := UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: time.Now().Add(time.Minute)}
		if err := s.AddPasskey(ctx, second, ch); err != nil {
			t.Fatal(err)
		}
		if err := s.AddPasskey(ctx, second, ch); !errors.Is(err, ErrChallengeUsed) {
			t.Errorf("second add with the same challenge = %v, want ErrChallengeUsed", err)
		}
		ghost := second
		ghost.CredentialID, ghost.UserID = randomBytes(t, 32), "usr-ghost"
		if err := s.AddPasskey(ctx, ghost, UsedChallenge{Hash: randomBytes(t, 32), ExpiresAt: time.Now().Add(time.Minute)}); !errors.Is(err, ErrNotFound) {
			t.Errorf("adding to an unknown user = %v, want ErrNotFound", err)
		}
		if ps, _ := s.PasskeysByUser(ctx, f.user.ID); len(ps) != 2 {
			t.Errorf("passkeys = %d, want 2", len(ps))
		}
	})
}

// TestDeletePasskeyKeepsTheDeletingSession: removing a passkey on the account page ends every other
// session of the user (a lost device's), not the one doing it.
func TestDeletePasskeyKeepsTheDeletingSession(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		ss := s.SessionStore()
		f := newFixture(t, "keep@example.com")
		f.create(t, s)
		now := time.Now()
		for _, pub := range []string{"here", "lost-laptop"} {
			if ok, err := ss.CreateCtx(ctx, "tok-"+pub, []byte("x"), now.Add(time.Hour), NewSession{UserID: f.user.ID, PublicID: pub, CreatedAt: now}); err != nil || !ok {
				t.Fatal(ok, err)
			}
		}
		if err := s.DeletePasskey(ctx, f.user.ID, f.passkey.CredentialID, "here", now); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := ss.FindCtx(ctx, "tok-here"); !found {
			t.Error("the session that deleted the passkey was ended")
		}
		if _, found, _ := ss.FindCtx(ctx, "tok-lost-laptop"); found {
			t.Error("another session survived the passkey's deletion")
		}
		if ok, _ := s.ProviderSessionActive(ctx, f.session.ID, f.session.CreatedAt.Add(time.Minute)); ok {
			t.Error("the user's provider session survived the passkey's deletion")
		}
	})
}
