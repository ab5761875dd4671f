package store

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/secretbox"
)

const (
	testSecretKey  = "correct-horse-battery-staple-0123456789" // ≥ 32 characters
	otherSecretKey = "another-secret-key-of-enough-length-9876"
)

func newBox(t *testing.T, secret string) *secretbox.Box {
	t.Helper()
	box, err := secretbox.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// openStoreAt opens databaseURL (migrated already or not) and applies the secret key (none when "").
func openStoreAt(t *testing.T, databaseURL, secret string) (*Store, int, error) {
	t.Helper()
	s := openTestStore(t, databaseURL)
	var box *secretbox.Box
	if secret != "" {
		box = newBox(t, secret)
	}
	n, err := s.ApplySecretKey(t.Context(), box)
	return s, n, err
}

// keyFixture writes one signing key and the two ceremony-cookie secrets through s.
type keyFixture struct {
	keys    []SigningKey
	secrets map[string][]byte
}

func writeKeys(t *testing.T, s *Store) keyFixture {
	t.Helper()
	base := ms(1_760_000_000_000)
	f := keyFixture{
		keys: []SigningKey{
			{KID: "kid-old", Alg: "ES256", PrivateJWK: []byte(`{"kty":"EC","crv":"P-256","d":"old-private-part"}`), CreatedAt: base},
			{KID: "kid-new", Alg: "ES256", PrivateJWK: []byte(`{"kty":"EC","crv":"P-256","d":"new-private-part"}`), CreatedAt: base.Add(time.Hour)},
		},
		secrets: map[string][]byte{
			"ceremony-cookie-hash-key":  randomBytes(t, 64),
			"ceremony-cookie-block-key": randomBytes(t, 32),
		},
	}
	for _, k := range f.keys {
		if err := s.InsertSigningKey(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	for name, v := range f.secrets {
		got, err := s.Secret(t.Context(), name, func() ([]byte, error) { return v, nil })
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("Secret(%s) = %x, %v; want %x", name, got, err, v)
		}
	}
	return f
}

// check reads every key back through s and compares it with what was written.
func (f keyFixture) check(t *testing.T, s *Store) {
	t.Helper()
	got, err := s.SigningKeys(t.Context())
	if want := []SigningKey{f.keys[1], f.keys[0]}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("SigningKeys = %+v, %v\nwant %+v", got, err, want)
	}
	for name, v := range f.secrets {
		got, err := s.Secret(t.Context(), name, func() ([]byte, error) {
			t.Errorf("Secret(%s) created a new value", name)
			return nil, nil
		})
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Secret(%s) = %x, %v; want %x", name, got, err, v)
		}
	}
}

// rawValues is every stored key as it is in the database: "signing_keys/KID" or "secrets/NAME" → bytes.
func rawValues(t *testing.T, s *Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for table, q := range map[string]string{
		"signing_keys": "SELECT kid, private_jwk FROM signing_keys",
		"secrets":      "SELECT name, value FROM secrets",
	} {
		rows, err := s.DB().QueryContext(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var v []byte
			if err := rows.Scan(&id, &v); err != nil {
				t.Fatal(err)
			}
			out[table+"/"+id] = v
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		_ = rows.Close()
	}
	return out
}

// assertEncrypted checks that every stored key is sealed and contains none of the plain values.
func (f keyFixture) assertEncrypted(t *testing.T, s *Store) {
	t.Helper()
	raw := rawValues(t, s)
	if len(raw) != len(f.keys)+len(f.secrets) {
		t.Fatalf("%d stored keys, want %d", len(raw), len(f.keys)+len(f.secrets))
	}
	plain := [][]byte{[]byte("private-part"), []byte(`"d"`)}
	for _, v := range f.secrets {
		plain = append(plain, v[:16])
	}
	for _, k := range f.keys {
		plain = append(plain, k.PrivateJWK)
	}
	for row, v := range raw {
		if !bytes.HasPrefix(v, []byte(secretbox.Prefix)) {
			t.Errorf("%s is not encrypted: %q", row, v)
		}
		for _, p := range plain {
			if bytes.Contains(v, p) {
				t.Errorf("%s contains plain text %q", row, p)
			}
		}
	}
}

func TestSecretKeyEncryptsKeysAtRest(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)
		s, n, err := openStoreAt(t, url, testSecretKey)
		if err != nil || n != 0 {
			t.Fatalf("ApplySecretKey on an empty database = %d, %v", n, err)
		}
		f := writeKeys(t, s)
		f.assertEncrypted(t, s)
		f.check(t, s)

		// Another connection with the same key reads them back, and has nothing to encrypt.
		again, n, err := openStoreAt(t, url, testSecretKey)
		if err != nil || n != 0 {
			t.Fatalf("reopening with the key: %d, %v", n, err)
		}
		f.check(t, again)
	})
}

func TestSecretKeyUpgradesPlaintextDatabaseInPlace(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)
		plain, n, err := openStoreAt(t, url, "")
		if err != nil || n != 0 {
			t.Fatalf("ApplySecretKey(nil) = %d, %v", n, err)
		}
		f := writeKeys(t, plain)
		for row, v := range rawValues(t, plain) {
			if secretbox.Sealed(v) {
				t.Fatalf("%s is encrypted without a key", row)
			}
		}

		s, n, err := openStoreAt(t, url, testSecretKey)
		if err != nil || n != 4 {
			t.Fatalf("ApplySecretKey on a plaintext database = %d, %v; want 4 encrypted", n, err)
		}
		f.assertEncrypted(t, s)
		f.check(t, s)

		if _, n, err := openStoreAt(t, url, testSecretKey); err != nil || n != 0 {
			t.Errorf("second start with the key = %d, %v; want nothing left to encrypt", n, err)
		}
	})
}

func TestSecretKeyRefusals(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		// An encrypted database, and the same one after each tampering.
		encrypted := func(t *testing.T) (string, *Store) {
			url := newURL(t)
			s, _, err := openStoreAt(t, url, testSecretKey)
			if err != nil {
				t.Fatal(err)
			}
			writeKeys(t, s)
			return url, s
		}
		swap := func(t *testing.T, s *Store, table, col, idCol, a, b string) {
			t.Helper()
			raw := rawValues(t, s)
			for _, x := range [][2]string{{a, b}, {b, a}} {
				if _, err := s.DB().ExecContext(t.Context(), s.rebind("UPDATE "+table+" SET "+col+" = ? WHERE "+idCol+" = ?"),
					raw[table+"/"+x[1]], x[0]); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tc := range []struct {
			name   string
			secret string
			tamper func(t *testing.T, s *Store)
			want   error
			words  string // the whole message, or "" to check the sentinel and the row only
		}{
			{name: "encrypted database without a key", want: ErrSecretKeyRequired,
				words: "the database's keys are encrypted; set LATCHKEY_SECRET_KEY (or LATCHKEY_SECRET_KEY_FILE) to the key they were encrypted with"},
			{name: "wrong key", secret: otherSecretKey, want: ErrWrongSecretKey},
			{name: "signing keys swapped between rows", secret: testSecretKey, want: ErrWrongSecretKey,
				tamper: func(t *testing.T, s *Store) { swap(t, s, "signing_keys", "private_jwk", "kid", "kid-old", "kid-new") }},
			{name: "cookie keys swapped between rows", secret: testSecretKey, want: ErrWrongSecretKey,
				tamper: func(t *testing.T, s *Store) {
					swap(t, s, "secrets", "value", "name", "ceremony-cookie-hash-key", "ceremony-cookie-block-key")
				}},
			{name: "a byte changed", secret: testSecretKey, want: ErrWrongSecretKey,
				tamper: func(t *testing.T, s *Store) {
					v := rawValues(t, s)["signing_keys/kid-new"]
					v[len(v)-1] ^= 1
					if _, err := s.DB().ExecContext(t.Context(), s.rebind("UPDATE signing_keys SET private_jwk = ? WHERE kid = ?"), v, "kid-new"); err != nil {
						t.Fatal(err)
					}
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				url, s := encrypted(t)
				if tc.tamper != nil {
					tc.tamper(t, s)
				}
				before := rawValues(t, s)
				_, _, err := openStoreAt(t, url, tc.secret)
				if !errors.Is(err, tc.want) {
					t.Fatalf("ApplySecretKey err = %v, want %v", err, tc.want)
				}
				if tc.words != "" && err.Error() != tc.words {
					t.Errorf("error = %q\nwant  %q", err, tc.words)
				}
				for _, secret := range []string{testSecretKey, otherSecretKey} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error quotes a key: %q", err)
					}
				}
				if after := rawValues(t, s); !reflect.DeepEqual(after, before) {
					t.Error("a refused ApplySecretKey changed the stored keys")
				}
				// Reading the tampered value fails too, also on the store that applied the right key.
				if tc.tamper != nil {
					_, errKeys := s.SigningKeys(t.Context())
					_, errHash := s.Secret(t.Context(), "ceremony-cookie-hash-key", nil)
					_, errBlock := s.Secret(t.Context(), "ceremony-cookie-block-key", nil)
					if err := errors.Join(errKeys, errHash, errBlock); !errors.Is(err, ErrWrongSecretKey) {
						t.Errorf("reading after tampering: err = %v, want ErrWrongSecretKey", err)
					}
				}
			})
		}
	})
}

func TestSecretKeyReadsWithoutApplying(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, newURL func(t *testing.T) string) {
		url := newURL(t)
		s, _, err := openStoreAt(t, url, testSecretKey)
		if err != nil {
			t.Fatal(err)
		}
		writeKeys(t, s)

		// A store that never applied a key cannot read encrypted keys, and says why.
		bare := openTestStore(t, url)
		if _, err := bare.SigningKeys(t.Context()); !errors.Is(err, ErrSecretKeyRequired) {
			t.Errorf("SigningKeys without the key: err = %v, want ErrSecretKeyRequired", err)
		}
		if _, err := bare.Secret(t.Context(), "ceremony-cookie-hash-key", nil); !errors.Is(err, ErrSecretKeyRequired) {
			t.Errorf("Secret without the key: err = %v, want ErrSecretKeyRequired", err)
		}

		// Once a key is in use, a key stored unencrypted behind its back is refused, not trusted.
		if err := bare.InsertSigningKey(t.Context(), SigningKey{KID: "kid-planted", Alg: "ES256",
			PrivateJWK: []byte(`{"kty":"EC"}`), CreatedAt: ms(1_770_000_000_000)}); err != nil {
			t.Fatal(err)
		}
		_, err = s.SigningKeys(t.Context())
		if err == nil || !strings.Contains(err.Error(), `signing key "kid-planted" is stored unencrypted although LATCHKEY_SECRET_KEY is set`) {
			t.Errorf("SigningKeys with a planted plaintext key: err = %v", err)
		}
	})
}

func TestDeleteSigningKeysBeforeKeepsTheNewest(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		base := ms(1_760_000_000_000)
		for i, kid := range []string{"k0", "k1", "k2"} {
			if err := s.InsertSigningKey(ctx, SigningKey{KID: kid, Alg: "ES256", PrivateJWK: []byte("{}"),
				CreatedAt: base.Add(time.Duration(i) * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		// A cut-off after every key still leaves the newest: it is the one that signs.
		if err := s.DeleteSigningKeysBefore(ctx, base.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		keys, err := s.SigningKeys(ctx)
		if err != nil || len(keys) != 1 || keys[0].KID != "k2" {
			t.Errorf("after deleting everything before a later time: %+v, %v; want only k2", keys, err)
		}
	})
}
