// Package token is the embedded provider's session-JWT minter: it keeps ES256 signing keys in the
// database (generating the first and rotating them), signs Corbado-shaped session tokens with the
// newest key and publishes the public keys as a JWKS.
//
// A key's life: it signs from its creation until a newer key is stored — by automatic rotation when it
// is RotateAfter old, or by an operator (Rotate, `latchkey keys rotate`). A Minter signs only with a key
// set it read from the store at most ReloadAfter ago, so every instance sharing the database stops
// signing with the old key at the latest ReloadAfter after the newer one was stored; the key is retired
// then. It stays published while a token it signed may still verify — TTL plus Leeway after its
// retirement — and DeleteRetiredKeys deletes it from the store after that. Nobody is logged out by a
// rotation.
//
// Instances pick a rotation up sooner: Reload rereads the key set (the app calls it periodically and
// when told another instance rotated), and a token whose kid is unknown makes LookupKey reread the store
// once before refusing it, so a token signed elsewhere with a brand-new key verifies at once.
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
	// DefaultReloadAfter is how old a key set may be for a Minter to sign with it.
	DefaultReloadAfter = time.Minute
	// lookupReloadInterval spaces the store reads that unknown kids cause, so made-up kids cannot hammer
	// the database; a lookup waits for the next allowed read rather than refusing a kid stored meanwhile.
	lookupReloadInterval = time.Second
)

// ErrConcurrentRotation is returned by Rotate when another rotation changed the current key between
// reading it and storing the new one; nothing was stored.
var ErrConcurrentRotation = errors.New("token: another rotation changed the current signing key at the same moment")

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

// KeyRotator is a KeyStore that stores a new current key in one transaction, only while the current
// (newest) key is still currentKID ("": there is none); otherwise it stores nothing and returns
// store.ErrKeyChanged. It returns the key as stored: its CreatedAt is moved past the newest key's if
// needed, so it is the newest. *store.Store is one.
type KeyRotator interface {
	KeyStore
	RotateSigningKey(ctx context.Context, currentKID string, k store.SigningKey) (store.SigningKey, error)
}

// Options configures a Minter.
type Options struct {
	Issuer      string           // "iss" of minted tokens, e.g. "http://localhost:8080"
	TTL         time.Duration    // token lifetime; default 5m
	RotateAfter time.Duration    // a new key is generated when the newest is older; default 30 days
	Leeway      time.Duration    // a retired key is kept TTL + Leeway after it last signed; default 1m
	ReloadAfter time.Duration    // a Minter signs only with a key set read at most this long ago; default 1m
	Now         func() time.Time // default time.Now
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.RotateAfter <= 0 {
		o.RotateAfter = DefaultRotateAfter
	}
	if o.Leeway <= 0 {
		o.Leeway = DefaultLeeway
	}
	if o.ReloadAfter <= 0 {
		o.ReloadAfter = DefaultReloadAfter
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// signsUntil is the latest moment a key superseded by a key stored at newer may sign a token: every
// Minter reads the store at least every ReloadAfter before signing.
func (o Options) signsUntil(newer time.Time) time.Time { return newer.Add(o.ReloadAfter) }

// expiry is when no token a key that signs until retired can have signed verifies any more.
func (o Options) expiry(retired time.Time) time.Time { return retired.Add(o.TTL + o.Leeway) }

// KeyInfo describes a stored signing key for operators.
type KeyInfo struct {
	KID       string
	Alg       string
	CreatedAt time.Time
	// Current is the key new tokens are signed with: the newest.
	Current bool
	// RetiredAt is when a newer key was stored (zero for the current key). Instances stop signing with
	// it within ReloadAfter of that.
	RetiredAt time.Time
	// DeletableAfter is when no token it signed can verify any more (zero for the current key): it then
	// leaves the JWKS and DeleteRetiredKeys deletes it. It is RetiredAt + ReloadAfter + TTL + Leeway.
	DeletableAfter time.Time
}

// Published reports whether k is in the JWKS at now: the current key, and retired keys until their
// DeletableAfter.
func (k KeyInfo) Published(now time.Time) bool { return k.Current || now.Before(k.DeletableAfter) }

// describe turns stored keys (newest first) into KeyInfos.
func (o Options) describe(stored []store.SigningKey) []KeyInfo {
	out := make([]KeyInfo, 0, len(stored))
	for i, sk := range stored {
		ki := KeyInfo{KID: sk.KID, Alg: sk.Alg, CreatedAt: sk.CreatedAt, Current: i == 0}
		if i > 0 {
			ki.RetiredAt = stored[i-1].CreatedAt
			ki.DeletableAfter = o.expiry(o.signsUntil(ki.RetiredAt))
		}
		out = append(out, ki)
	}
	return out
}

// ListKeys describes the signing keys in ks, newest (current) first, with the lifetimes opts gives them
// (use the Options the instances run with: TTL, Leeway and ReloadAfter decide when a key may go).
func ListKeys(ctx context.Context, ks KeyStore, opts Options) ([]KeyInfo, error) {
	stored, err := ks.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: loading signing keys: %w", err)
	}
	return opts.withDefaults().describe(stored), nil
}

// Rotate generates a new signing key and stores it as the current one in one transaction, and returns
// it. The key that was current retires: instances stop signing with it within ReloadAfter (sooner when
// they Reload), and it keeps verifying the tokens it signed until its DeletableAfter, so nobody is
// logged out. When another rotation changed the current key at the same moment, Rotate stores nothing
// and returns an error wrapping ErrConcurrentRotation: two rotations racing leave one new current key.
func Rotate(ctx context.Context, ks KeyRotator, opts Options) (KeyInfo, error) {
	opts = opts.withDefaults()
	stored, err := ks.SigningKeys(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("token: loading signing keys: %w", err)
	}
	current := ""
	if len(stored) > 0 {
		current = stored[0].KID
	}
	sk, err := generate(opts.Now())
	if err != nil {
		return KeyInfo{}, err
	}
	saved, err := ks.RotateSigningKey(ctx, current, sk)
	if errors.Is(err, store.ErrKeyChanged) {
		return KeyInfo{}, ErrConcurrentRotation
	}
	if err != nil {
		return KeyInfo{}, fmt.Errorf("token: storing signing key: %w", err)
	}
	return KeyInfo{KID: saved.KID, Alg: saved.Alg, CreatedAt: saved.CreatedAt, Current: true}, nil
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
	kid     string
	private jwk.Key
	public  jwk.Key
	created time.Time
	retired time.Time // the latest it may have signed a token; zero for the newest key
}

// loadFlight is one read of the key set from the store; concurrent callers share it.
type loadFlight struct {
	seq  uint64
	done chan struct{}
	err  error
}

// Minter signs session JWTs and publishes its public keys. It is safe for concurrent use.
type Minter struct {
	store KeyStore
	opts  Options
	log   *slog.Logger

	mu       sync.RWMutex
	keys     []loadedKey // newest first; keys[0] signs
	loadedAt time.Time   // when the read that produced keys began

	genMu sync.Mutex // one key generation at a time in this process

	fmu        sync.Mutex
	loads      uint64      // reads of the key set started
	flight     *loadFlight // the read running now; nil when none is
	lastErr    error       // of the last finished read
	lookupLoad time.Time   // wall-clock time the last read for an unknown kid started
}

// NewMinter loads the signing keys from keys, generating and storing the first one when there is none.
func NewMinter(ctx context.Context, keys KeyStore, opts Options, log *slog.Logger) (*Minter, error) {
	if opts.Issuer == "" {
		return nil, errors.New("token: issuer is required")
	}
	if log == nil {
		log = slog.Default()
	}
	m := &Minter{store: keys, opts: opts.withDefaults(), log: log}
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
	key, err := m.current(ctx)
	if err != nil {
		return "", time.Time{}, err
	}

	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, fmt.Errorf("token: random jti: %w", err)
	}
	iat := m.opts.Now().Truncate(time.Second)
	exp := iat.Add(m.opts.TTL)
	tok, err := jwt.NewBuilder().
		Issuer(m.opts.Issuer).
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
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key.private))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("token: signing: %w", err)
	}
	return string(signed), exp, nil
}

// PublicKeys returns the public JWKs (kid, alg ES256, use sig) of the keys a token that still verifies
// may be signed with: the newest key, and retired ones until TTL + Leeway after their retirement.
func (m *Minter) PublicKeys(ctx context.Context) (jwk.Set, error) {
	if _, err := m.current(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	keys := m.keys
	m.mu.RUnlock()
	set := jwk.NewSet()
	for i, k := range keys {
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
//
// A kid this Minter does not know makes it reread the store before refusing: another instance sharing
// the database may have just rotated. Concurrent lookups share one read, and unknown kids cause at most
// one read per second; a lookup waits for the next read rather than refusing, so a key stored before the
// lookup began is always found.
func (m *Minter) LookupKey(ctx context.Context, kid string) (jwk.Key, error) {
	need := m.nextLoad() // taken before looking: a read that began since then knows what we did not find
	if k, ok := m.find(kid); ok {
		return k, nil
	}
	known := func() bool { _, ok := m.find(kid); return ok }
	if err := m.reloadFrom(ctx, need, known); err != nil {
		return nil, err
	}
	if k, ok := m.find(kid); ok {
		return k, nil
	}
	return nil, fmt.Errorf("token: kid %q: %w", kid, verify.ErrUnknownKey)
}

// Reload rereads the signing keys from the store: a rotation another instance (or `latchkey keys
// rotate`) stored becomes this Minter's current key. It is one query; concurrent calls share a read that
// began after they were made. The app calls it periodically and whenever it hears of a rotation.
func (m *Minter) Reload(ctx context.Context) error { return m.reload(ctx) }

// find returns the published public key with kid.
func (m *Minter) find(kid string) (jwk.Key, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, k := range m.keys {
		if k.kid == kid && (i == 0 || m.published(k)) {
			return k.public, true
		}
	}
	return nil, false
}

// published reports whether k signs, or may have signed a token that still verifies.
func (m *Minter) published(k loadedKey) bool {
	return k.retired.IsZero() || m.opts.Now().Before(m.opts.expiry(k.retired))
}

// current returns the key to sign with: the newest key of a key set read at most ReloadAfter ago,
// rereading the store when the set is older, and generating a new key when the newest is RotateAfter old.
func (m *Minter) current(ctx context.Context) (loadedKey, error) {
	if k, ok := m.signing(); ok {
		return k, nil
	}
	// The key set is stale, or rotation looks due: first see whether another instance stored a key.
	if err := m.reload(ctx); err != nil {
		return loadedKey{}, err
	}
	if k, ok := m.signing(); ok {
		return k, nil
	}
	return m.rotateDue(ctx)
}

// signing returns the newest key when the key set is fresh and that key is not due for rotation.
func (m *Minter) signing() (loadedKey, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	now := m.opts.Now()
	if len(m.keys) == 0 || now.Sub(m.loadedAt) >= m.opts.ReloadAfter || m.due(m.keys[0], now) {
		return loadedKey{}, false
	}
	return m.keys[0], true
}

// rotateDue generates and stores a new key if the newest is still due after rereading the store, and
// returns the newest key.
func (m *Minter) rotateDue(ctx context.Context) (loadedKey, error) {
	m.genMu.Lock()
	defer m.genMu.Unlock()
	if err := m.reload(ctx); err != nil { // another goroutine may have rotated while we waited
		return loadedKey{}, err
	}
	m.mu.RLock()
	keys := m.keys
	m.mu.RUnlock()
	if len(keys) > 0 && !m.due(keys[0], m.opts.Now()) {
		return keys[0], nil
	}
	sk, err := generate(m.opts.Now())
	if err != nil {
		return loadedKey{}, err
	}
	if rot, ok := m.store.(KeyRotator); ok {
		current := ""
		if len(keys) > 0 {
			current = keys[0].kid
		}
		sk, err = rot.RotateSigningKey(ctx, current, sk)
		if errors.Is(err, store.ErrKeyChanged) {
			err = nil // another instance rotated first: its key is the one to sign with
			sk = store.SigningKey{}
		}
	} else {
		err = m.store.InsertSigningKey(ctx, sk)
	}
	if err != nil {
		return loadedKey{}, fmt.Errorf("token: storing signing key: %w", err)
	}
	if sk.KID != "" {
		m.log.InfoContext(ctx, "generated session signing key", "kid", sk.KID, "previous_keys", len(keys))
	}
	if err := m.reload(ctx); err != nil {
		return loadedKey{}, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.keys) == 0 {
		return loadedKey{}, errors.New("token: signing key not found after storing it")
	}
	return m.keys[0], nil
}

// due reports whether k is old enough to be replaced.
func (m *Minter) due(k loadedKey, now time.Time) bool {
	return now.Sub(k.created) >= m.opts.RotateAfter
}

// reload makes sure a read of the key set that began after the call has finished, sharing a read with
// concurrent callers.
func (m *Minter) reload(ctx context.Context) error { return m.reloadFrom(ctx, m.nextLoad(), nil) }

// nextLoad is the number the next read of the key set to begin will have.
func (m *Minter) nextLoad() uint64 {
	m.fmu.Lock()
	defer m.fmu.Unlock()
	return m.loads + 1
}

// reloadFrom makes sure read number need, or a later one, has finished, starting one if none runs and
// sharing it with concurrent callers. With found (a lookup of an unknown kid), it is also done when a
// read that began earlier finishes and found reports true; reads for lookups are spaced
// lookupReloadInterval apart in wall time, and the caller waits for the next one.
func (m *Minter) reloadFrom(ctx context.Context, need uint64, found func() bool) error {
	lookup := found != nil
	m.fmu.Lock()
	for {
		if m.flight == nil && m.loads >= need { // a read began after us and has finished
			if cut(m.lastErr) && ctx.Err() == nil {
				need = m.loads + 1 // it was cut short by its starter's context: read again
				continue
			}
			err := m.lastErr
			m.fmu.Unlock()
			return err
		}
		if f := m.flight; f != nil {
			m.fmu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if f.err == nil && lookup && found() {
				return nil
			}
			if f.seq >= need && (!cut(f.err) || ctx.Err() != nil) {
				return f.err
			}
			m.fmu.Lock()
			if f.seq >= need {
				need = f.seq + 1
			}
			continue
		}
		if lookup && !m.lookupLoad.IsZero() {
			if wait := lookupReloadInterval - time.Since(m.lookupLoad); wait > 0 {
				m.fmu.Unlock()
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				}
				m.fmu.Lock()
				continue
			}
		}
		if lookup {
			m.lookupLoad = time.Now()
		}
		m.loads++
		f := &loadFlight{seq: m.loads, done: make(chan struct{})}
		m.flight = f
		m.fmu.Unlock()

		f.err = m.load(ctx)

		m.fmu.Lock()
		m.flight = nil
		m.lastErr = f.err
		m.fmu.Unlock()
		close(f.done)
		return f.err
	}
}

// cut reports whether err is a context's cancellation or deadline.
func cut(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// load reads the keys from the store, keeping the newest and those still published. Only reload calls
// it, one at a time.
func (m *Minter) load(ctx context.Context) error {
	began := m.opts.Now()
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: loading signing keys: %w", err)
	}
	m.mu.RLock()
	prev := m.keys
	m.mu.RUnlock()
	keys := make([]loadedKey, 0, len(stored))
	for i, sk := range stored {
		lk := loadedKey{kid: sk.KID, created: sk.CreatedAt}
		if i > 0 {
			lk.retired = m.opts.signsUntil(stored[i-1].CreatedAt)
		}
		if !m.published(lk) {
			continue
		}
		if pk, ok := parsedKey(prev, sk); ok { // a kid is its key's thumbprint: parsed once is enough
			lk.private, lk.public = pk.private, pk.public
		} else if lk.private, lk.public, err = parseKey(sk); err != nil {
			return err
		}
		keys = append(keys, lk)
	}
	m.mu.Lock()
	m.keys = keys
	m.loadedAt = began
	m.mu.Unlock()
	return nil
}

// parsedKey finds sk among keys parsed before.
func parsedKey(keys []loadedKey, sk store.SigningKey) (loadedKey, bool) {
	for _, k := range keys {
		if k.kid == sk.KID && k.created.Equal(sk.CreatedAt) {
			return k, true
		}
	}
	return loadedKey{}, false
}

// DeleteRetiredKeys deletes from the store, and from the keys this Minter publishes, the signing keys no
// token that still verifies can have been signed with: those retired more than TTL + Leeway ago. The
// newest key is never deleted. It returns the kids deleted. The KeyStore must be a KeyPruner.
func (m *Minter) DeleteRetiredKeys(ctx context.Context) ([]string, error) {
	pruner, ok := m.store.(KeyPruner)
	if !ok {
		return nil, errors.New("token: the key store cannot delete keys")
	}
	stored, err := m.store.SigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("token: loading signing keys: %w", err)
	}
	// Keys are newest first and a key retires no later than the key before it, so the expired keys are
	// all those after the first expired one: delete those created before its successor.
	now := m.opts.Now()
	for i := 1; i < len(stored); i++ {
		if now.Before(m.opts.expiry(m.opts.signsUntil(stored[i-1].CreatedAt))) {
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
		if err := m.reload(ctx); err != nil {
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

// generate makes a new P-256 key, created at now, as a private JWK whose kid is its RFC 7638 thumbprint.
func generate(now time.Time) (store.SigningKey, error) {
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
	return store.SigningKey{KID: kid, Alg: jwa.ES256.String(), PrivateJWK: b, CreatedAt: now}, nil
}
