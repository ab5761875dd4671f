package token_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/secretbox"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/token"
	"github.com/latchkey/latchkey/internal/verify"
)

// prunableKeys is memKeys that can delete keys, with the store's rule: never the newest.
type prunableKeys struct{ memKeys }

func (s *prunableKeys) DeleteSigningKeysBefore(_ context.Context, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	newest := 0
	for i, k := range s.keys {
		if k.CreatedAt.After(s.keys[newest].CreatedAt) {
			newest = i
		}
	}
	var kept []store.SigningKey
	for i, k := range s.keys {
		if i == newest || !k.CreatedAt.Before(t) {
			kept = append(kept, k)
		}
	}
	s.keys = kept
	return nil
}

// pruningStore is a KeyStore that is also a KeyPruner.
type pruningStore interface {
	token.KeyStore
	token.KeyPruner
}

// keyStores are the stores the retirement tests run against: memory, SQLite, and SQLite with the keys
// encrypted at rest.
func keyStores(t *testing.T) map[string]func(t *testing.T) pruningStore {
	t.Helper()
	sqlite := func(secret string) func(t *testing.T) pruningStore {
		return func(t *testing.T) pruningStore {
			s, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "latchkey.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			if secret != "" {
				box, err := secretbox.New(secret)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.ApplySecretKey(t.Context(), box); err != nil {
					t.Fatal(err)
				}
			}
			return s
		}
	}
	return map[string]func(t *testing.T) pruningStore{
		"memory":           func(*testing.T) pruningStore { return &prunableKeys{} },
		"sqlite":           sqlite(""),
		"sqlite encrypted": sqlite("correct-horse-battery-staple-0123456789"),
	}
}

func storedKIDs(t *testing.T, ks token.KeyStore) []string {
	t.Helper()
	keys, err := ks.SigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		out = append(out, k.KID)
	}
	return out
}

func deleteRetired(t *testing.T, m *token.Minter) []string {
	t.Helper()
	kids, err := m.DeleteRetiredKeys(context.Background())
	if err != nil {
		t.Fatalf("DeleteRetiredKeys: %v", err)
	}
	return kids
}

// A key superseded by a newer one stays (stored, published, verifying its tokens) until TTL + Leeway
// after its retirement — ReloadAfter after the newer key was stored — and is deleted then, from the store
// and from every minter's key set; the current key is never deleted.
func TestRetiredKeysAreDeletedOnceTheirTokensExpire(t *testing.T) {
	const (
		rotate = time.Hour
		ttl    = 5 * time.Minute
		leeway = time.Minute
		reload = 30 * time.Second
		gone   = reload + ttl + leeway // after the newer key was stored
	)
	for name, newStore := range keyStores(t) {
		t.Run(name, func(t *testing.T) {
			ks := newStore(t)
			c := newClock()
			opts := token.Options{Issuer: issuer, TTL: ttl, RotateAfter: rotate, Leeway: leeway, ReloadAfter: reload, Now: c.Now}
			m, err := token.NewMinter(context.Background(), ks, opts, discard())
			if err != nil {
				t.Fatal(err)
			}
			other, err := token.NewMinter(context.Background(), ks, opts, discard()) // another instance
			if err != nil {
				t.Fatal(err)
			}
			oldKID := kids(t, m)[0]

			c.Advance(rotate - time.Second)
			oldTok := mint(t, m) // the old key's last token
			c.Advance(time.Second)
			newTok := mint(t, m) // rotation: the old key retires now
			newKID := headerKID(t, newTok)
			if newKID == oldKID || headerKID(t, oldTok) != oldKID {
				t.Fatal("no rotation")
			}
			retired := c.Now()

			for _, step := range []struct {
				at      time.Duration // after retirement
				deleted []string
			}{
				{0, nil},
				{ttl - 2*time.Second, nil}, // the old token is still valid
				{gone - time.Second, nil},  // an instance that had not reloaded may have signed until reload
				{gone, []string{oldKID}},
				{gone + 10*time.Minute, nil}, // still before the new key is RotateAfter old
			} {
				c.Advance(retired.Add(step.at).Sub(c.Now()))
				if got := deleteRetired(t, m); !slices.Equal(got, step.deleted) {
					t.Fatalf("at retirement+%v: deleted %v, want %v", step.at, got, step.deleted)
				}
				if step.at < gone {
					if got := storedKIDs(t, ks); !slices.Equal(got, []string{newKID, oldKID}) {
						t.Fatalf("at retirement+%v: stored %v, want both keys", step.at, got)
					}
					if got := kids(t, other); !slices.Equal(got, []string{newKID, oldKID}) {
						t.Errorf("at retirement+%v: the other instance publishes %v, want both keys", step.at, got)
					}
				}
				if step.at < ttl-time.Second {
					// Fresh verifiers, so the key comes from the minters' key sets and not a cache.
					for i, src := range []*token.Minter{m, other} {
						if _, err := verifier(src, c).Verify(context.Background(), oldTok); err != nil {
							t.Errorf("at retirement+%v: minter %d: the retired key's unexpired token: %v", step.at, i, err)
						}
					}
				}
			}

			if got := storedKIDs(t, ks); !slices.Equal(got, []string{newKID}) {
				t.Errorf("stored %v, want only the current key", got)
			}
			for i, src := range []*token.Minter{m, other} {
				if got := kids(t, src); !slices.Equal(got, []string{newKID}) {
					t.Errorf("minter %d publishes %v, want only the current key", i, got)
				}
				if _, err := src.LookupKey(context.Background(), oldKID); !errors.Is(err, verify.ErrUnknownKey) {
					t.Errorf("minter %d: LookupKey(deleted) err = %v, want ErrUnknownKey", i, err)
				}
			}
			if got := headerKID(t, mint(t, m)); got != newKID {
				t.Errorf("signing with %q after the deletion, want %q", got, newKID)
			}

			// However old the current key gets, DeleteRetiredKeys never deletes it.
			c.Advance(10 * 365 * 24 * time.Hour)
			if got := deleteRetired(t, m); got != nil {
				t.Errorf("deleted %v with only the current key stored", got)
			}
			if got := storedKIDs(t, ks); !slices.Equal(got, []string{newKID}) {
				t.Errorf("stored %v, want the current key kept", got)
			}
		})
	}
}

// When another instance rotated (early, because its RotateAfter is shorter; or an operator), an instance
// that has not reread the store since signs with its old key for at most ReloadAfter, then rereads and
// signs with the new key. The old key is kept until TTL + Leeway after that, and deleted then.
func TestRetirementWaitsForReloadAfter(t *testing.T) {
	const (
		reload = 45 * time.Second
		ttl    = 5 * time.Minute
	)
	ks := &prunableKeys{}
	c := newClock()
	opts := token.Options{Issuer: issuer, TTL: ttl, RotateAfter: time.Hour, ReloadAfter: reload, Now: c.Now}
	m, err := token.NewMinter(context.Background(), ks, opts, discard())
	if err != nil {
		t.Fatal(err)
	}
	oldKID := kids(t, m)[0]
	c.Advance(10 * time.Minute)
	if got := headerKID(t, mint(t, m)); got != oldKID { // m rereads the store here: its key set was stale
		t.Fatalf("signing with %q, want %q", got, oldKID)
	}
	rotated := c.Now()
	earlyOpts := opts
	earlyOpts.RotateAfter = 5 * time.Minute
	early, err := token.NewMinter(context.Background(), ks, earlyOpts, discard()) // rotates at once
	if err != nil {
		t.Fatal(err)
	}
	newKID := headerKID(t, mint(t, early))
	if newKID == oldKID || len(storedKIDs(t, ks)) != 2 {
		t.Fatal("no early rotation")
	}

	c.Advance(reload - time.Second)
	lastOld := mint(t, m)
	if got := headerKID(t, lastOld); got != oldKID {
		t.Fatalf("m signs with %q before its key set is ReloadAfter old; this test needs it to sign with the old key", got)
	}
	c.Advance(time.Second)
	if got := headerKID(t, mint(t, m)); got != newKID {
		t.Errorf("m signs with %q once its key set is ReloadAfter old, want the new key %q", got, newKID)
	}

	// The old key's last token verifies on both instances until it expires.
	c.Advance(ttl - 2*time.Second)
	for i, src := range []*token.Minter{m, early} {
		if _, err := verifier(src, c).Verify(context.Background(), lastOld); err != nil {
			t.Errorf("minter %d: the old key's last token, just before it expires: %v", i, err)
		}
	}

	deadline := rotated.Add(reload + ttl + token.DefaultLeeway)
	c.Advance(deadline.Add(-time.Second).Sub(c.Now()))
	if got := deleteRetired(t, m); got != nil {
		t.Errorf("deleted %v before ReloadAfter + TTL + Leeway after the rotation", got)
	}
	if got := kids(t, m); !slices.Equal(got, []string{newKID, oldKID}) {
		t.Errorf("published %v a second before the deadline, want both keys", got)
	}
	c.Advance(time.Second)
	if got := deleteRetired(t, m); !slices.Equal(got, []string{oldKID}) {
		t.Errorf("deleted %v, want [%s]", got, oldKID)
	}
}

func TestDeleteRetiredKeysNeedsAPruner(t *testing.T) {
	m := newMinter(t, &memKeys{}, newClock(), time.Hour)
	if _, err := m.DeleteRetiredKeys(context.Background()); err == nil {
		t.Error("DeleteRetiredKeys succeeded on a store that cannot delete")
	}
}
