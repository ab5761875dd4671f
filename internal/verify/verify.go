// Package verify checks a session JWT (from the embedded provider or from Corbado) once per login:
// size, compact form, an allow-listed algorithm, a known key id whose key matches that algorithm, the
// signature, the time claims, the issuer and the subject.
package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Failure classes of Verify, for errors.Is. An error matching none of them is an internal failure
// (for example the KeySource could not reach its database or JWKS endpoint).
var (
	ErrMissing     = errors.New("verify: no token")
	ErrTooLarge    = errors.New("verify: token too large")
	ErrMalformed   = errors.New("verify: malformed token")
	ErrAlgorithm   = errors.New("verify: algorithm not allowed")
	ErrNoKeyID     = errors.New("verify: token has no key id")
	ErrUnknownKey  = errors.New("verify: unknown key id")
	ErrSignature   = errors.New("verify: invalid signature")
	ErrExpired     = errors.New("verify: token expired")
	ErrNotYetValid = errors.New("verify: token not yet valid")
	ErrIssuer      = errors.New("verify: issuer not accepted")
	ErrClaims      = errors.New("verify: invalid claims")
)

// Defaults for Options.
const (
	DefaultSkew          = 30 * time.Second
	DefaultMaxTokenBytes = 8192
	// subjectPrefix starts every user id (Corbado's and the embedded provider's).
	subjectPrefix = "usr-"
	// minRSABits is the smallest RSA modulus accepted for RS256.
	minRSABits = 2048
)

// KeySource finds the public key a token names in its "kid" header. It returns an error wrapping
// ErrUnknownKey when the kid is not known.
type KeySource interface {
	LookupKey(ctx context.Context, kid string) (jwk.Key, error)
}

// Options configures a Verifier.
type Options struct {
	Issuers       []string         // accepted "iss" values (exact match after trimming one trailing slash)
	Skew          time.Duration    // clock skew allowed for exp, nbf and iat; default 30s
	Now           func() time.Time // default time.Now
	MaxTokenBytes int              // default 8192
}

// Identity is what a verified token says about its user.
type Identity struct {
	UserID    string // "sub", starts with "usr-"
	Name      string
	Email     string
	Issuer    string
	SessionID string // "sid"; empty when the issuer sets none
	TokenID   string // "jti"
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Verifier verifies session JWTs. It holds no mutable state and is safe for concurrent use.
type Verifier struct {
	keys     KeySource
	issuers  []string
	skew     time.Duration
	now      func() time.Time
	maxBytes int
}

// New returns a Verifier that takes keys from keys. With no Issuers every token is rejected.
func New(keys KeySource, opts Options) *Verifier {
	v := &Verifier{keys: keys, skew: opts.Skew, now: opts.Now, maxBytes: opts.MaxTokenBytes}
	if v.skew <= 0 {
		v.skew = DefaultSkew
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxBytes <= 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	for _, iss := range opts.Issuers {
		v.issuers = append(v.issuers, strings.TrimSuffix(iss, "/"))
	}
	return v
}

// Verify checks raw and returns the identity it carries. Errors wrap one of the Err… sentinels
// (or are internal failures of the KeySource); they never contain the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if raw == "" {
		return Identity{}, ErrMissing
	}
	if len(raw) > v.maxBytes {
		return Identity{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), v.maxBytes)
	}
	if strings.Count(raw, ".") != 2 {
		return Identity{}, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}

	// The header is read here only to choose the key; nothing in it is trusted beyond the allow-list.
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return Identity{}, fmt.Errorf("%w: cannot parse JWS", ErrMalformed)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return Identity{}, fmt.Errorf("%w: %d signatures", ErrMalformed, len(sigs))
	}
	hdr := sigs[0].ProtectedHeaders()
	if _, ok := hdr.Get(jws.CriticalKey); ok {
		return Identity{}, fmt.Errorf("%w: critical header extensions are not supported", ErrMalformed)
	}
	alg := hdr.Algorithm()
	if alg != jwa.ES256 && alg != jwa.RS256 {
		return Identity{}, fmt.Errorf("%w: %q", ErrAlgorithm, alg.String())
	}
	kid := hdr.KeyID()
	if kid == "" {
		return Identity{}, ErrNoKeyID
	}

	key, err := v.keys.LookupKey(ctx, kid)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return Identity{}, fmt.Errorf("%w: %q", ErrUnknownKey, kid)
		}
		return Identity{}, fmt.Errorf("verify: looking up key: %w", err)
	}
	pub, err := checkKey(key, alg)
	if err != nil {
		return Identity{}, err
	}

	tok, err := jwt.Parse([]byte(raw),
		jwt.WithKey(alg, pub),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(v.skew),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		return Identity{}, classify(err)
	}
	return v.identity(tok)
}

// checkKey returns the public form of key after making sure it is a signing key of the type alg
// needs, so a token cannot pick how its key is used (key confusion).
func checkKey(key jwk.Key, alg jwa.SignatureAlgorithm) (jwk.Key, error) {
	if ka := key.Algorithm(); ka != nil && ka.String() != "" && ka.String() != alg.String() {
		return nil, fmt.Errorf("%w: token says %s, key is for %s", ErrAlgorithm, alg, ka)
	}
	if use := key.KeyUsage(); use != "" && use != jwk.ForSignature.String() {
		return nil, fmt.Errorf("%w: key is not a signing key", ErrAlgorithm)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("verify: public key: %w", err)
	}
	switch alg {
	case jwa.ES256:
		ec, ok := pub.(jwk.ECDSAPublicKey)
		if !ok || ec.Crv() != jwa.P256 {
			return nil, fmt.Errorf("%w: ES256 needs a P-256 key, got %s", ErrAlgorithm, pub.KeyType())
		}
	case jwa.RS256:
		rk, ok := pub.(jwk.RSAPublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: RS256 needs an RSA key, got %s", ErrAlgorithm, pub.KeyType())
		}
		if bits := len(rk.N()) * 8; bits < minRSABits {
			return nil, fmt.Errorf("%w: RSA key of %d bits", ErrAlgorithm, bits)
		}
	default:
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, alg.String())
	}
	return pub, nil
}

// classify maps a jwt.Parse failure to a sentinel. jwx's own messages are not passed on: parse errors
// may quote parts of the token.
func classify(err error) error {
	switch {
	case jws.IsVerificationError(err):
		return ErrSignature
	case errors.Is(err, jwt.ErrTokenExpired()):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotYetValid()):
		return fmt.Errorf("%w: nbf is in the future", ErrNotYetValid)
	case errors.Is(err, jwt.ErrInvalidIssuedAt()):
		return fmt.Errorf("%w: iat is in the future", ErrNotYetValid)
	case errors.Is(err, jwt.ErrRequiredClaim()):
		return fmt.Errorf("%w: exp missing", ErrClaims)
	case jwt.IsValidationError(err):
		return ErrClaims
	default:
		return fmt.Errorf("%w: cannot parse claims", ErrMalformed)
	}
}

// identity checks issuer and subject and copies the claims out of tok.
func (v *Verifier) identity(tok jwt.Token) (Identity, error) {
	iss := tok.Issuer()
	if !slices.Contains(v.issuers, strings.TrimSuffix(iss, "/")) {
		return Identity{}, fmt.Errorf("%w: %q", ErrIssuer, iss)
	}
	sub := tok.Subject()
	if !strings.HasPrefix(sub, subjectPrefix) || len(sub) == len(subjectPrefix) {
		return Identity{}, fmt.Errorf("%w: sub must start with %q", ErrClaims, subjectPrefix)
	}
	id := Identity{
		UserID:    sub,
		Issuer:    iss,
		TokenID:   tok.JwtID(),
		IssuedAt:  tok.IssuedAt(),
		ExpiresAt: tok.Expiration(),
	}
	var err error
	if id.Name, err = stringClaim(tok, "name"); err != nil {
		return Identity{}, err
	}
	if id.Email, err = stringClaim(tok, "email"); err != nil {
		return Identity{}, err
	}
	if id.SessionID, err = stringClaim(tok, "sid"); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// stringClaim returns an optional string claim; it is an error for it to hold anything but a string.
func stringClaim(tok jwt.Token, name string) (string, error) {
	val, ok := tok.Get(name)
	if !ok {
		return "", nil
	}
	s, ok := val.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s is not a string", ErrClaims, name)
	}
	return s, nil
}

// Errors decided outside the signature check, by whoever calls Verify.
var (
	// ErrRevoked: the token is valid but the provider session it names was ended (logout).
	ErrRevoked = errors.New("verify: session revoked")
	// ErrUnavailable: the key set cannot be fetched right now and no cached key fits.
	ErrUnavailable = errors.New("verify: keys unavailable")
)
