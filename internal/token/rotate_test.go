package token_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/testdb"
	"github.com/latchkey/latchkey/internal/token"
	"github.com/latchkey/latchkey/internal/verify"
)

// eachDB runs fn once against a fresh SQLite store and once against a fresh PostgreSQL one.
func eachDB(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	for name, newURL := range map[string]func(testing.TB) string{"sqlite": testdb.SQLiteURL, "postgres": testdb.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			st, err := store.Open(t.Context(), newURL(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			fn(t, st)
		})
	}
}

// TestKeysRotate: Rotate makes a new key current in the store; ListKeys shows the old one retired, with
// the moment it may go; the rotating instance signs with the new key after Reload, the other instance
// verifies the new key's tokens at once (an unknown kid rereads the store) and still the old key's, and
// publishes both.
func TestKeysRotate(t *testing.T) {
	const (
		ttl    = 5 * time.Minute
		reload = 40 * time.Second
	)
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		c := newClock()
		opts := token.Options{Issuer: issuer, TTL: ttl, ReloadAfter: reload, Now: c.Now}
		a, err := token.NewMinter(ctx, st, opts, discard())
		if err != nil {
			t.Fatal(err)
		}
		b, err := token.NewMinter(ctx, st, opts, discard())
		if err != nil {
			t.Fatal(err)
		}
		oldTok := mint(t, a)
		oldKID := headerKID(t, oldTok)

		c.Advance(time.Second)
		rotated, err := token.Rotate(ctx, st, opts)
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if rotated.KID == oldKID || !rotated.Current || rotated.Alg != "ES256" || !rotated.CreatedAt.Equal(c.Now()) {
			t.Fatalf("Rotate = %+v", rotated)
		}
		listed, err := token.ListKeys(ctx, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := []token.KeyInfo{
			{KID: rotated.KID, Alg: "ES256", CreatedAt: rotated.CreatedAt, Current: true},
			{KID: oldKID, Alg: "ES256", CreatedAt: c.Now().Add(-time.Second), RetiredAt: rotated.CreatedAt,
				DeletableAfter: rotated.CreatedAt.Add(reload + ttl + token.DefaultLeeway)},
		}
		if !slices.Equal(listed, want) {
			t.Fatalf("ListKeys =\n%+v\nwant\n%+v", listed, want)
		}

		// Until it rereads the store, a signs with the old key (for at most ReloadAfter); Reload switches it.
		if got := headerKID(t, mint(t, a)); got != oldKID {
			t.Errorf("before Reload a signs with %q, want the old key (its key set is fresh)", got)
		}
		if err := a.Reload(ctx); err != nil {
			t.Fatalf("Reload: %v", err)
		}
		newTok := mint(t, a)
		if got := headerKID(t, newTok); got != rotated.KID {
			t.Fatalf("after Reload a signs with %q, want %q", got, rotated.KID)
		}
		for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
			if _, err := verifier(b, c).Verify(ctx, tok); err != nil {
				t.Errorf("b verifies the %s key's token: %v", name, err)
			}
		}
		if got := kids(t, b); !slices.Equal(got, []string{rotated.KID, oldKID}) {
			t.Errorf("b publishes %v, want [new old]", got)
		}
	})
}

// TestKeysRotationsRacing: rotations from the same current key store one new key; the others store
// nothing and say so. Rotations that do not overlap each make a key; exactly one key is current.
func TestKeysRotationsRacing(t *testing.T) {
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		opts := token.Options{Issuer: issuer}
		if _, err := token.NewMinter(ctx, st, opts, discard()); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var (
			wg        sync.WaitGroup
			start     = make(chan struct{})
			ok, raced atomic.Int64
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := token.Rotate(ctx, st, opts)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, token.ErrConcurrentRotation):
					raced.Add(1)
				default:
					t.Errorf("Rotate: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		keys, err := token.ListKeys(ctx, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		current := 0
		for _, k := range keys {
			if k.Current {
				current++
			}
		}
		if ok.Load() < 1 || ok.Load()+raced.Load() != n || len(keys) != 1+int(ok.Load()) || current != 1 {
			t.Errorf("%d rotations stored a key, %d were refused; %d keys stored, %d current; want 1 + stored, exactly 1 current",
				ok.Load(), raced.Load(), len(keys), current)
		}
	})
}

// TestKeysInstancesDueTogetherStoreOneKey: two instances finding the newest key due at the same moment
// store one new key between them and both sign with it.
func TestKeysInstancesDueTogetherStoreOneKey(t *testing.T) {
	eachDB(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		c := newClock()
		opts := token.Options{Issuer: issuer, RotateAfter: time.Hour, Now: c.Now}
		var ms []*token.Minter
		for range 4 {
			m, err := token.NewMinter(ctx, st, opts, discard())
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		c.Advance(time.Hour)
		signed := make([]string, len(ms))
		var wg sync.WaitGroup
		for i, m := range ms {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, _, err := m.Mint(ctx, claims())
				if err != nil {
					t.Errorf("Mint: %v", err)
					return
				}
				signed[i] = headerKID(t, tok)
			}()
		}
		wg.Wait()
		if got := storedKIDs(t, st); len(got) != 2 {
			t.Fatalf("stored %d keys, want 2 (one rotation)", len(got))
		}
		newKID := storedKIDs(t, st)[0]
		for i, kid := range signed {
			if kid != newKID {
				t.Errorf("instance %d signs with %q, want the one new key %q", i, kid, newKID)
			}
		}
	})
}

// countingKeys is memKeys counting its reads.
type countingKeys struct {
	memKeys
	reads atomic.Int64
}

func (s *countingKeys) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	s.reads.Add(1)
	return s.memKeys.SigningKeys(ctx)
}

// TestKeysUnknownKidRereadsOnce: lookups of a kid stored by another instance since share one read of the
// store and find it; made-up kids cause at most one read a second, and a kid stored within that second
// is still found (the lookup waits for the next read instead of refusing).
func TestKeysUnknownKidRereadsOnce(t *testing.T) {
	ks := &countingKeys{}
	c := newClock()
	m := newMinter(t, ks, c, time.Hour)
	other := func() string { // another instance, rotating as soon as it starts
		c.Advance(time.Second)
		o, err := token.NewMinter(context.Background(), &ks.memKeys, token.Options{Issuer: issuer, RotateAfter: time.Second, Now: c.Now}, discard())
		if err != nil {
			t.Fatal(err)
		}
		return headerKID(t, mint(t, o))
	}
	lookups := func(kid string) (found, unknown int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := m.LookupKey(context.Background(), kid)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					found++
				case errors.Is(err, verify.ErrUnknownKey):
					unknown++
				default:
					t.Errorf("LookupKey(%q): %v", kid, err)
				}
			}()
		}
		wg.Wait()
		return found, unknown
	}

	base := ks.reads.Load()
	kid1 := other()
	if found, _ := lookups(kid1); found != 20 {
		t.Fatalf("%d of 20 lookups found the new kid", found)
	}
	if got := ks.reads.Load() - base; got != 1 {
		t.Errorf("20 lookups of a new kid read the store %d times, want 1", got)
	}

	// Within a second of that read: made-up kids wait for one more read, then are refused.
	if _, unknown := lookups("made-up"); unknown != 20 {
		t.Errorf("%d of 20 lookups of a made-up kid were refused", unknown)
	}
	if got := ks.reads.Load() - base; got != 2 {
		t.Errorf("20 lookups of a made-up kid read the store %d times in all, want 2", got)
	}

	// A kid stored right after a read is found too.
	kid2 := other()
	if k, err := m.LookupKey(context.Background(), kid2); err != nil || k.KeyID() != kid2 {
		t.Errorf("LookupKey of a kid stored within a second of the last read = %v, %v", k, err)
	}
}
