// Package store is Latchkey's database access: users, passkeys, signing keys, used challenges, provider
// sessions, secrets and the scs session table, for SQLite (the default) and PostgreSQL with the same SQL.
package store

import (
	"errors"
	"time"
)

// Errors callers branch on. Anything else is an unexpected database failure.
var (
	ErrNotFound         = errors.New("store: not found")
	ErrEmailTaken       = errors.New("store: email already registered")
	ErrCredentialExists = errors.New("store: credential already registered")
	ErrChallengeUsed    = errors.New("store: challenge already used")
	ErrKeyChanged       = errors.New("store: the current signing key changed")
)

// User is an account. ID looks like "usr-…"; Email is stored lower-cased.
type User struct {
	ID        string
	Email     string
	Name      string
	CreatedAt time.Time
}

// Passkey is one WebAuthn credential of a user.
type Passkey struct {
	CredentialID    []byte
	UserID          string
	PublicKey       []byte // COSE key
	SignCount       uint32
	AAGUID          []byte
	Transports      []string
	AttestationType string
	UserPresent     bool
	UserVerified    bool
	BackupEligible  bool
	BackupState     bool
	CreatedAt       time.Time
	LastUsedAt      time.Time // zero until first log-in
	Name            string    // the person's name for it; empty: named after its authenticator
	CloneWarningAt  time.Time // when its sign count last went backwards (a possible clone); zero if never
}

// UsedChallenge records a WebAuthn challenge consumed by a finished ceremony, so the same response
// cannot be replayed. Hash is SHA-256 of the challenge; the row may be deleted after ExpiresAt.
type UsedChallenge struct {
	Hash      []byte
	ExpiresAt time.Time
}

// ProviderSession is the embedded provider's record of a login; its ID is the "sid" claim of the
// session JWT, and revoking it makes that JWT worthless.
type ProviderSession struct {
	ID        string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero while active
}

// SigningKey is a private JWK (JSON) the embedded provider signs session JWTs with.
type SigningKey struct {
	KID        string
	Alg        string
	PrivateJWK []byte
	CreatedAt  time.Time
}
