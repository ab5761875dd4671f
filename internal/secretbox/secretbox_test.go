package secretbox_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/secretbox"
)

const secret = "correct-horse-battery-staple-0123456789"

func mustBox(t *testing.T, s string) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := mustBox(t, secret)
	aad := []byte("signing_keys\x00kid-1")
	for _, plain := range [][]byte{nil, []byte("x"), []byte(`{"kty":"EC","d":"private"}`), bytes.Repeat([]byte{0}, 4096)} {
		sealed := b.Seal(plain, aad)
		if !secretbox.Sealed(sealed) || !strings.HasPrefix(string(sealed), "lk-enc-v1:") {
			t.Fatalf("sealed value lacks the prefix: %q", sealed)
		}
		if len(plain) > 4 && bytes.Contains(sealed, plain) {
			t.Errorf("sealed value contains the plain text")
		}
		got, err := b.Open(sealed, aad)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Open = %q, %v; want %q", got, err, plain)
		}
		if again := b.Seal(plain, aad); bytes.Equal(again, sealed) {
			t.Error("two seals of one value are equal: the nonce is not random")
		}
	}
	// The same secret, with the white space a file adds, is the same key.
	if _, err := mustBox(t, " "+secret+"\n").Open(b.Seal([]byte("v"), aad), aad); err != nil {
		t.Errorf("a secret read from a file with a newline opens a value: %v", err)
	}
}

func TestOpenRefuses(t *testing.T) {
	b := mustBox(t, secret)
	aad := []byte("secrets\x00ceremony-cookie-hash-key")
	sealed := b.Seal([]byte("cookie key"), aad)
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name  string
		box   *secretbox.Box
		value []byte
		aad   []byte
		want  error
	}{
		{"another key", mustBox(t, "a-completely-different-secret-key-000000"), sealed, aad, secretbox.ErrOpen},
		{"another row", b, sealed, []byte("secrets\x00ceremony-cookie-block-key"), secretbox.ErrOpen},
		{"no row", b, sealed, nil, secretbox.ErrOpen},
		{"altered", b, flipped, aad, secretbox.ErrOpen},
		{"truncated", b, sealed[:len(secretbox.Prefix)+20], aad, secretbox.ErrOpen},
		{"prefix only", b, []byte(secretbox.Prefix), aad, secretbox.ErrOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.box.Open(tc.value, tc.aad); !errors.Is(err, tc.want) {
				t.Errorf("Open err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := b.Open([]byte(`{"kty":"EC"}`), aad); err == nil || errors.Is(err, secretbox.ErrOpen) {
		t.Errorf("Open of a plain value: err = %v, want a not-sealed error", err)
	}
}

func TestNewRefusesShortSecrets(t *testing.T) {
	for _, s := range []string{"", "hunter2", strings.Repeat("x", secretbox.MinSecretLength-1), "  " + strings.Repeat("x", 31) + "\n"} {
		_, err := secretbox.New(s)
		if err == nil || !strings.Contains(err.Error(), "at least 32 characters") {
			t.Errorf("New(%d bytes) err = %v", len(s), err)
		}
		if len(s) > 4 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
	if _, err := secretbox.New(strings.Repeat("x", secretbox.MinSecretLength)); err != nil {
		t.Errorf("New(32 characters): %v", err)
	}
}
