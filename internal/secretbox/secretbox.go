// Package secretbox encrypts Latchkey's own keys at rest (the provider's private signing keys and the
// ceremony-cookie keys) with AES-256-GCM under a key derived from LATCHKEY_SECRET_KEY.
//
// The secret is any string of at least MinSecretLength characters; the AES key is derived from it with
// HKDF-SHA256, so `openssl rand -base64 32` (44 characters) is a good one. A sealed value is
//
//	"lk-enc-v1:" || 12-byte random nonce || AES-GCM ciphertext and tag
//
// and its additional authenticated data names the row it belongs to (the caller passes, say, the table
// and the key's id), so a sealed value copied into another row does not open.
package secretbox

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Prefix marks a sealed value. It is 10 bytes, so a random plaintext secret starts with it by accident
// with probability 2⁻⁸⁰.
const Prefix = "lk-enc-v1:"

// MinSecretLength is the shortest secret New accepts, in bytes.
const MinSecretLength = 32

const (
	nonceSize = 12
	tagSize   = 16
	// hkdfInfo binds the derived key to this use, so the same secret used elsewhere yields another key.
	hkdfInfo = "latchkey keys at rest, AES-256-GCM, v1"
)

// ErrOpen is the error Open returns for a value that does not decrypt: another key sealed it, it was
// sealed for another row, or it was altered.
var ErrOpen = errors.New("secretbox: value does not decrypt with this key (wrong key, or it belongs to another row, or it was altered)")

// Box seals and opens values with one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New derives the AES-256 key from secret. Leading and trailing white space is not part of the
// secret. The error never quotes the secret.
func New(secret string) (*Box, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, fmt.Errorf("secretbox: the secret key %w", err)
	}
	key, err := hkdf.Key(sha256.New, []byte(strings.TrimSpace(secret)), nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("secretbox: deriving the key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// CheckSecret reports why secret cannot be a key, without quoting it.
func CheckSecret(secret string) error {
	if len(strings.TrimSpace(secret)) < MinSecretLength {
		return fmt.Errorf("is too short: it must have at least %d characters (generate one with: openssl rand -base64 32)", MinSecretLength)
	}
	return nil
}

// Sealed reports whether value is in the sealed format (whatever key sealed it).
func Sealed(value []byte) bool { return bytes.HasPrefix(value, []byte(Prefix)) }

// Seal encrypts plaintext for the row named by aad.
func (b *Box) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, len(Prefix)+nonceSize, len(Prefix)+nonceSize+len(plaintext)+tagSize)
	copy(out, Prefix)
	nonce := out[len(Prefix):]
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails; it crashes the program instead
	return b.aead.Seal(out, nonce, plaintext, b.additional(aad))
}

// Open decrypts a value Seal made for the row named by aad. It returns ErrOpen if the value does not
// decrypt, and another error if it is not a sealed value at all.
func (b *Box) Open(sealed, aad []byte) ([]byte, error) {
	if !Sealed(sealed) {
		return nil, errors.New("secretbox: value is not sealed")
	}
	rest := sealed[len(Prefix):]
	if len(rest) < nonceSize+tagSize {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, rest[:nonceSize], rest[nonceSize:], b.additional(aad))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// additional is the AEAD's additional data: the format version and the caller's row name.
func (b *Box) additional(aad []byte) []byte {
	return append([]byte(Prefix), aad...)
}
