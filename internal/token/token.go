// Package token is the embedded provider's session-JWT minter: it keeps ES256 signing keys in the
// database (generating the first and rotating them), signs Corbado-shaped session tokens with the
// newest key and publishes the public keys as a JWKS.
//
// A key's life: it signs from its creation until a newer key supersedes it (when it is RotateAfter old);
// it is then retired, but stays published while a token it signed may still verify — TTL plus Leeway
// after its retirement — and DeleteRetiredKeys deletes it from the store after that.
package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/verify"
)

// Defaults for Options.
const (
	DefaultTTL         = 5 * time.Minute
	DefaultRotateAfter = 30 * 24 * time.Hour
	// DefaultLeeway covers the verifier's clock skew allowance on exp (verify.DefaultSkew) and as much
	// again for clocks of instances sharing the database that disagree.
	DefaultLeeway = 2 * verify.DefaultSkew
	// reloadInterval bounds how often an unknown kid makes LookupKey reread the store (another
	// instance sharing the database may have rotated).
	reloadInterval = 10 * time.Second
)

// KeyStore persists signing keys. SigningKeys returns them newest first.
type KeyStore interface {
	SigningKeys(ctx context.Context) ([]store.SigningKey, error)
	InsertSigningKey(ctx context.Context, k store.SigningKey) error
}

// KeyPruner deletes signing keys. DeleteSigningKeysBefore deletes those created before t, never the
// newest. *store.Store is one.
type KeyPruner interface {
	DeleteSigningKeysBefore(ctx context.Context, t time.Time) error
}

// Options configures a Minter.
type Options struct {
	Issuer      string           // "iss" of minted tokens, e.g. "http://localhost:8080"
	TTL         time.Duration    // token lifetime; default 5m
	RotateAfter time.Duration    // a new key is generated when the newest is older; default 30 days
	Leeway      time.Duration    // a retired key is kept TTL + Leeway after it last signed; default 1m
	Now         func() time.Time // default time.Now
}

// Claims are the facts a session token carries about its user.
type Claims struct {
	Subject   string // user id, "usr-…"
	Name      string
	Email     string
	SessionID string // provider session id, the "sid" claim
}

// loadedKey is a parsed signing key from the store.
type loadedKey struct {
	private jwk.Key
	public  jwk.Key
	created time.Time
	retired time.Time // the latest it may have signed a token; zero for the newest key
}

// Minter signs session JWTs and publishes its public keys. It is safe for concurrent use.
type Minter struct {
	store       KeyStore
	issuer      string
	ttl         time.Duration
	rotateAfter time.Duration
	leeway      time.Duration
	now         func() time.Time
	log         *slog.Logger

	mu       sync.Mutex
	keys     []loadedKey // newest first; keys[0] signs
	loadedAt time.Time
}

// NewMinter loads the signing keys from keys, generating and storing the first one when there is none.
func NewMinter(ctx context.Context, keys KeyStore, opts Options, log *slog.Logger) (*Minter, error) {
	if opts.Issuer == "" {
		return nil, errors.New("token: issuer is required")
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.RotateAfter <= 0 {
		opts.RotateAfter = DefaultRotateAfter
	}
	if opts.Leeway <= 0 {
		opts.Leeway = DefaultLeeway
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	m := &Minter{
		store:       keys,
		issuer:      opts.Issuer,
		ttl:         opts.TTL,
		rotateAfter: opts.RotateAfter,
		leeway:      opts.Leeway,
		now:         opts.Now,
		log:         log,
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.current(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Mint signs a session token for c with the newest key and returns it with its expiry.
func (m *Minter) Mint(ctx context.Context, c Claims) (string, time.Time, error) {
	if !strings.HasPrefix(c.Subject, "usr-") {
		return "", time.Time{}, errors.New(`token: subject must start with "usr-"`)
	}
	if c.SessionID == "" {
		return "", time.Time{}, errors.New("token: session id is required")
	}
	m.mu.Lock()
	key, err := m.current(ctx)
	m.mu.Unlock()
	if err != nil {
		return "", time.Time{}, err
	}

	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, fmt.Errorf("token: random jti: %w", err)
	}
	iat := m.now().Truncate(time.Second)
	exp := iat.Add(m.ttl)
	tok, err := jwt.NewBuilder().
		Issuer(m.issuer).
		Subject(c.Subject).
		IssuedAt(iat).
		NotBefore(iat).
		Expiration(exp).
		JwtID(base64.RawURLEncoding.EncodeToString(jti)).
		Claim("name", c.Name).
		Claim("email", c.Email).
		Claim("orig", c.Email).
		Claim("sid", c.SessionID).
		Build()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: building claims: %w", err)
	}
	// jwt.Sign puts the key's kid and typ "JWT" into the protected header.
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: signing: %w", err)
	}
	return string(signed), exp, nil
}

// PublicKeys returns the public JWKs (kid, alg ES256, use sig) of the keys a token that still verifies
// may be signed with: the newest key, and retired ones until TTL + Leeway after their retirement.
func (m *Minter) PublicKeys(ctx context.Context) (jwk.Set, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.current(ctx); err != nil {
		return nil, err
	}
	set := jwk.NewSet()
	for i, k := range m.keys {
		if i == 0 || m.published(k) {
			if err := set.AddKey(k.public); err != nil {
				return nil, fmt.Errorf("token: building key set: %w", err)
			}
		}
	}
	return set, nil
}

// JWKS returns the JSON of PublicKeys, for /.well-known/jwks.
func (m *Minter) JWKS(ctx context.Context) ([]byte, error) {
	set, err := m.PublicKeys(ctx)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("token: encoding key set: %w", err)
	}
	return b, nil
}

// LookupKey returns the published public key with the given kid, or an error wrapping
// verify.ErrUnknownKey. It satisfies verify.KeySource.
func (m *Minter) LookupKey(ctx context.Context, kid string) (jwk.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.current(ctx); err != nil {
		return nil, err
	}
	if k, ok := m.find(kid); ok {
		return k, nil
	}
	// Another instance may have rotated since we last looked; reread the store, but not more often
	// than reloadInterval so unknown kids cannot hammer the database.
	if m.now().Sub(m.loadedAt) >= reloadInterval {
		if err := m.load(ctx); err != nil {
			return nil, err
		}
		if k, ok := m.find(kid); ok {
			return k, nil
		}
	}
	return nil, fmt.Errorf("token: kid %q: %w", kid, verify.ErrUnknownKey)
}

// find returns the published public key with kid. m.mu must be held.
func (m *Minter) find(kid string) (jwk.Key, bool) {
	for i, k := range m.keys {
		if k.public.KeyID() == kid && (i == 0 || m.published(k)) {
			return k.public, true
		}
	}
	return nil, false
}

// published reports whether k signs, or may have signed a token that still verifies.
func (m *Minter) published(k loadedKey) bool {
	return k.retired.IsZero() || m.now().Before(m.expiry(k))
}

// expiry is when no token a retired key k signed can verify any more: TTL and Leeway after it retired.
func (m *Minter) expiry(k loadedKey) time.Time {
	return k.retired.Add(m.ttl + m.leeway)
}

// retiredAt is the latest moment a key created at created, superseded by a key created at newer, may
// have signed a token. A Minter signs with a key until another is newer in the store or the key is
// RotateAfter old, whichever comes last: an instance that has not reloaded the store since another
// rotated keeps signing until then.
func (m *Minter) retiredAt(created, newer time.Time) time.Time {
	if last := created.Add(m.rotateAfter); last.After(newer) {
		return last
	}
	return newer
}

// current returns the private key to sign with, loading keys from the store when none are cached or
// rotation is due, and generating a new key when the store's newest is too old. m.mu must be held.
func (m *Minter) current(ctx context.Context) (jwk.Key, error) {
	if len(m.keys) > 0 && !m.due(m.keys[0]) {
		return m.keys[0].private, nil
	}
	// Rotation looks due: first see whether another instance already stored a fresh key.
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	if len(m.keys) > 0 && !m.due(m.keys[0]) {
		return m.keys[0].private, nil
	}
	sk, err := m.generate()
	if err != nil {
		return nil, err
	}
	if err := m.store.InsertSigningKey(ctx, sk); err != nil {
		return nil, fmt.Errorf("token: storing signing key: %w", err)
	}
	m.log.InfoContext(ctx, "generated session signing key", "kid", sk.KID, "previous_keys", len(m.keys))
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	if len(m.keys) == 0 {
		return nil, errors.New("token: signing key not found after storing it")
	}
	return m.keys[0].private, nil
}

// due reports whether k is old enough to be replaced.
func (m *Minter) due(k loadedKey) bool {
	return m.now().Sub(k.created) >= m.rotateAfter
}

// load rereads the keys from the store, keeping the newest and those still published. m.mu must be held.
func (m *Minter) load(ctx context.Context) error {
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: loading signing keys: %w", err)
	}
	keys := make([]loadedKey, 0, len(stored))
	for i, sk := range stored {
		lk := loadedKey{created: sk.CreatedAt}
		if i > 0 {
			lk.retired = m.retiredAt(sk.CreatedAt, stored[i-1].CreatedAt)
		}
		if !m.published(lk) {
			continue
		}
		if lk.private, lk.public, err = parseKey(sk); err != nil {
			return err
		}
		keys = append(keys, lk)
	}
	m.keys = keys
	m.loadedAt = m.now()
	return nil
}

// DeleteRetiredKeys deletes from the store, and from the keys this Minter publishes, the signing keys no
// token that still verifies can have been signed with: those retired more than TTL + Leeway ago. The
// newest key is never deleted. It returns the kids deleted. The KeyStore must be a KeyPruner.
func (m *Minter) DeleteRetiredKeys(ctx context.Context) ([]string, error) {
	pruner, ok := m.store.(KeyPruner)
	if !ok {
		return nil, errors.New("token: the key store cannot delete keys")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: loading signing keys: %w", err)
	}
	// Keys are newest first and a key retires no later than the key before it, so the expired keys are
	// all those after the first expired one: delete those created before its successor.
	now := m.now()
	for i := 1; i < len(stored); i++ {
		if now.Before(m.expiry(loadedKey{retired: m.retiredAt(stored[i].CreatedAt, stored[i-1].CreatedAt)})) {
			continue
		}
		before := stored[i-1].CreatedAt
		var kids []string
		for _, sk := range stored[i:] {
			if sk.CreatedAt.Before(before) {
				kids = append(kids, sk.KID)
			}
		}
		if len(kids) == 0 {
			continue // created in the same millisecond as its successor; the next key's successor is older
		}
		if err := pruner.DeleteSigningKeysBefore(ctx, before); err != nil {
			return nil, fmt.Errorf("token: deleting retired signing keys: %w", err)
		}
		if err := m.load(ctx); err != nil {
			return nil, err
		}
		return kids, nil
	}
	return nil, nil
}

// parseKey turns a stored private JWK into the private signing key and its public JWK.
func parseKey(sk store.SigningKey) (jwk.Key, jwk.Key, error) {
	priv, err := jwk.ParseKey(sk.PrivateJWK)
	if err != nil {
		return nil, nil, fmt.Errorf("token: parsing signing key %q: %w", sk.KID, err)
	}
	ec, ok := priv.(jwk.ECDSAPrivateKey)
	if !ok || ec.Crv() != jwa.P256 {
		return nil, nil, fmt.Errorf("token: signing key %q is not a P-256 private key", sk.KID)
	}
	if priv.KeyID() != sk.KID || priv.Algorithm().String() != jwa.ES256.String() {
		return nil, nil, fmt.Errorf("token: signing key %q has kid %q alg %q", sk.KID, priv.KeyID(), priv.Algorithm())
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("token: public key of %q: %w", sk.KID, err)
	}
	return priv, pub, nil
}

// generate makes a new P-256 key as a private JWK whose kid is its RFC 7638 thumbprint.
func (m *Minter) generate() (store.SigningKey, error) {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: generating key: %w", err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: converting key: %w", err)
	}
	tp, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for name, val := range map[string]any{
		jwk.KeyIDKey:     kid,
		jwk.AlgorithmKey: jwa.ES256,
		jwk.KeyUsageKey:  jwk.ForSignature,
	} {
		if err := key.Set(name, val); err != nil {
			return store.SigningKey{}, fmt.Errorf("token: setting %s: %w", name, err)
		}
	}
	b, err := json.Marshal(key)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("token: encoding key: %w", err)
	}
	return store.SigningKey{KID: kid, Alg: jwa.ES256.String(), PrivateJWK: b, CreatedAt: m.now()}, nil
}
