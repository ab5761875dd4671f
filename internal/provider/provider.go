// Package provider is Latchkey's embedded passkey provider: WebAuthn sign-up and log-in ceremonies
// (go-webauthn), users and passkeys in the database, and Corbado-shaped session JWTs.
//
// Ceremony state never touches the database at "begin": the caller keeps the returned Ceremony in a
// signed, encrypted, short-lived cookie and hands it back at "finish", which records the challenge as used
// in the same transaction that writes the account or the log-in, so a response cannot be replayed.
package provider

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/token"
)

// Store is the persistence the provider needs.
type Store interface {
	UserByEmail(ctx context.Context, email string) (store.User, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	PasskeysByUser(ctx context.Context, userID string) ([]store.Passkey, error)
	CreateUserWithPasskey(ctx context.Context, u store.User, p store.Passkey, ch store.UsedChallenge, ps store.ProviderSession) error
	RecordLogin(ctx context.Context, credentialID []byte, signCount uint32, backupState, cloneSuspected bool, usedAt time.Time, ch store.UsedChallenge, ps store.ProviderSession) error
	ProviderSessionActive(ctx context.Context, id string, now time.Time) (bool, error)
	ClaimProviderSession(ctx context.Context, id, userID string, now time.Time) (bool, error)
	RevokeProviderSession(ctx context.Context, id string, at time.Time) error
}

// Minter issues session JWTs.
type Minter interface {
	Mint(ctx context.Context, c token.Claims) (string, time.Time, error)
}

// Activity records what happens to an account (best effort; nil records nothing).
type Activity interface {
	Record(ctx context.Context, userID, kind, detail string)
}

// Dependencies are what New needs from the rest of the program.
type Dependencies struct {
	Log      *slog.Logger
	Store    Store
	Minter   Minter
	Activity Activity
}

// Options configure the relying party.
type Options struct {
	RPID            string        // e.g. "localhost"
	RPName          string        // shown in passkey prompts
	Origin          string        // e.g. "http://localhost:8080"
	RelatedOrigins  []string      // other origins whose pages may use this site's passkeys (related origin requests)
	CeremonyTimeout time.Duration // how long a passkey prompt may take; enforced server-side
	SessionLifetime time.Duration // lifetime of a provider session (the "sid" of the JWT)
	Now             func() time.Time
}

// Provider runs the ceremonies.
type Provider struct {
	log      *slog.Logger
	store    Store
	minter   Minter
	activity Activity
	wa       *webauthn.WebAuthn
	opts     Options
}

// New builds a Provider.
func New(deps Dependencies, opts Options) (*Provider, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CeremonyTimeout <= 0 {
		opts.CeremonyTimeout = 5 * time.Minute
	}
	if opts.SessionLifetime <= 0 {
		opts.SessionLifetime = 24 * time.Hour
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: opts.CeremonyTimeout, TimeoutUVD: opts.CeremonyTimeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  opts.RPID,
		RPDisplayName:         opts.RPName,
		RPOrigins:             append([]string{opts.Origin}, opts.RelatedOrigins...),
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			RequireResidentKey: protocol.ResidentKeyRequired(),
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("provider: webauthn config: %w", err)
	}
	return &Provider{log: deps.Log, store: deps.Store, minter: deps.Minter, activity: deps.Activity, wa: wa, opts: opts}, nil
}

// Ceremony is the state carried from begin to finish (in the ceremony cookie).
type Ceremony struct {
	Kind    string               `json:"k"` // "signup" or "login"
	Session webauthn.SessionData `json:"s"`
	UserID  string               `json:"u,omitempty"`
	Email   string               `json:"e,omitempty"`
	Name    string               `json:"n,omitempty"`
}

// Ceremony kinds.
const (
	KindSignup = "signup"
	KindLogin  = "login"
)

// Issued is the outcome of a successful ceremony: a session JWT for the user.
type Issued struct {
	Token     string
	ExpiresAt time.Time
	User      store.User
	SessionID string
}

// BeginSignup validates the email and name and starts a registration ceremony for a new account.
func (p *Provider) BeginSignup(ctx context.Context, email, name string) (*protocol.CredentialCreation, Ceremony, error) {
	email, name, err := CleanSignup(email, name)
	if err != nil {
		return nil, Ceremony{}, err
	}
	switch _, err := p.store.UserByEmail(ctx, email); {
	case err == nil:
		return nil, Ceremony{}, &Error{Kind: KindConflict, Code: CodeEmailTaken, Msg: "This email is already registered. Log in with your passkey instead.", Err: store.ErrEmailTaken}
	case !errors.Is(err, store.ErrNotFound):
		return nil, Ceremony{}, internal(fmt.Errorf("look up email: %w", err))
	}
	userID, err := newUserID()
	if err != nil {
		return nil, Ceremony{}, internal(err)
	}
	u := &waUser{id: []byte(userID), name: email, display: name}
	creation, sd, err := p.wa.BeginRegistration(u,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, Ceremony{}, internal(fmt.Errorf("begin registration: %w", err))
	}
	return creation, Ceremony{Kind: KindSignup, Session: *sd, UserID: userID, Email: email, Name: name}, nil
}

// FinishSignup verifies the authenticator's response and creates the account, its passkey and a
// provider session in one transaction, then mints the session JWT.
func (p *Provider) FinishSignup(ctx context.Context, c Ceremony, body []byte) (Issued, error) {
	if c.Kind != KindSignup || c.UserID == "" {
		return Issued{}, &Error{Kind: KindInvalid, Msg: "This sign-up was not started here. Please try again.", Err: errors.New("ceremony is not a sign-up")}
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return Issued{}, &Error{Kind: KindInvalid, Msg: "The passkey response could not be read. Please try again.", Err: fmt.Errorf("parse creation response: %w", describe(err))}
	}
	u := &waUser{id: []byte(c.UserID), name: c.Email, display: c.Name}
	cred, err := p.wa.CreateCredential(u, c.Session, parsed)
	if err != nil {
		return Issued{}, ceremonyError("registration", err)
	}
	now := p.opts.Now().UTC()
	user := store.User{ID: c.UserID, Email: c.Email, Name: c.Name, CreatedAt: now}
	pk := newPasskey(cred, c.UserID, now)
	ps, err := p.newProviderSession(c.UserID, now)
	if err != nil {
		return Issued{}, internal(err)
	}
	switch err := p.store.CreateUserWithPasskey(ctx, user, pk, p.usedChallenge(c.Session, now), ps); {
	case errors.Is(err, store.ErrChallengeUsed):
		return Issued{}, &Error{Kind: KindInvalid, Msg: "This sign-up was already completed. Please start again.", Err: err}
	case errors.Is(err, store.ErrEmailTaken):
		return Issued{}, &Error{Kind: KindConflict, Code: CodeEmailTaken, Msg: "This email is already registered. Log in with your passkey instead.", Err: err}
	case errors.Is(err, store.ErrCredentialExists):
		return Issued{}, &Error{Kind: KindConflict, Msg: "This passkey is already registered. Log in with it instead.", Err: err}
	case err != nil:
		return Issued{}, internal(fmt.Errorf("create user: %w", err))
	}
	p.log.InfoContext(ctx, "account created", "user_id", user.ID, "sid", ps.ID)
	p.record(ctx, user.ID, activity.SignUp, "")
	return p.issue(ctx, user, ps)
}

// BeginLogin starts a discoverable (usernameless) log-in ceremony.
func (p *Provider) BeginLogin(ctx context.Context) (*protocol.CredentialAssertion, Ceremony, error) {
	assertion, sd, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, Ceremony{}, internal(fmt.Errorf("begin login: %w", err))
	}
	return assertion, Ceremony{Kind: KindLogin, Session: *sd}, nil
}

// FinishLogin verifies an assertion, records the log-in (and the challenge as used) and mints the session JWT.
func (p *Provider) FinishLogin(ctx context.Context, c Ceremony, body []byte) (Issued, error) {
	if c.Kind != KindLogin {
		return Issued{}, &Error{Kind: KindInvalid, Msg: "This log-in was not started here. Please try again.", Err: errors.New("ceremony is not a log-in")}
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return Issued{}, &Error{Kind: KindInvalid, Msg: "The passkey response could not be read. Please try again.", Err: fmt.Errorf("parse assertion response: %w", describe(err))}
	}
	var (
		found   store.User
		used    store.Passkey // the stored passkey that answered
		unknown bool
	)
	lookup := func(rawID, userHandle []byte) (webauthn.User, error) {
		if !validUserHandle(userHandle) { // not one of ours; and PostgreSQL refuses invalid UTF-8
			unknown = true
			return nil, store.ErrNotFound
		}
		u, err := p.store.UserByID(ctx, string(userHandle))
		if errors.Is(err, store.ErrNotFound) {
			unknown = true
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		keys, err := p.store.PasskeysByUser(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(keys, func(k store.Passkey) bool { return bytes.Equal(k.CredentialID, rawID) })
		if i < 0 {
			unknown = true
			return nil, store.ErrNotFound
		}
		found, used = u, keys[i]
		return &waUser{id: []byte(u.ID), name: u.Email, display: u.Name, creds: credentials(keys)}, nil
	}
	_, cred, err := p.wa.ValidatePasskeyLogin(lookup, c.Session, parsed)
	var unknownCred *protocol.ErrorUnknownCredential
	if unknown || errors.As(err, &unknownCred) {
		return Issued{}, &Error{Kind: KindUnauthorized, Code: CodeUnknownPasskey, Msg: "This passkey is not known here. Create an account first, or use another passkey.", Err: fmt.Errorf("unknown credential: %w", describe(err))}
	}
	if err != nil {
		if found.ID != "" { // a known account: the person (or someone) tried and failed
			p.record(ctx, found.ID, activity.LogInFailed, "")
		}
		return Issued{}, ceremonyError("login", err)
	}
	clone := CloneSuspected(used.SignCount, cred.Authenticator.SignCount)
	if clone {
		// Recorded and shown on the account page, never a lock-out (synced passkeys report 0 and never
		// reach this rule).
		p.log.WarnContext(ctx, "passkey sign count went backwards", "user_id", found.ID,
			"stored", used.SignCount, "reported", cred.Authenticator.SignCount)
	}
	now := p.opts.Now().UTC()
	ps, err := p.newProviderSession(found.ID, now)
	if err != nil {
		return Issued{}, internal(err)
	}
	switch err := p.store.RecordLogin(ctx, cred.ID, cred.Authenticator.SignCount, cred.Flags.BackupState, clone, now, p.usedChallenge(c.Session, now), ps); {
	case errors.Is(err, store.ErrChallengeUsed):
		return Issued{}, &Error{Kind: KindInvalid, Msg: "This log-in was already completed. Please start again.", Err: err}
	case errors.Is(err, store.ErrNotFound):
		return Issued{}, &Error{Kind: KindUnauthorized, Code: CodeUnknownPasskey, Msg: "This passkey is not known here. Create an account first, or use another passkey.", Err: err}
	case err != nil:
		return Issued{}, internal(fmt.Errorf("record login: %w", err))
	}
	p.log.InfoContext(ctx, "logged in with passkey", "user_id", found.ID, "sid", ps.ID)
	if clone {
		p.record(ctx, found.ID, activity.CloneSuspected, "")
	}
	return p.issue(ctx, found, ps)
}

// CloneSuspected is the clone rule: a passkey whose stored sign count is not 0 and that now reports a
// count that did not go up may have been copied. A count of 0 means the authenticator keeps none (synced
// passkeys), so such passkeys never trip it.
func CloneSuspected(stored, reported uint32) bool {
	return stored != 0 && reported <= stored
}

func (p *Provider) record(ctx context.Context, userID, kind, detail string) {
	if p.activity != nil {
		p.activity.Record(ctx, userID, kind, detail)
	}
}

// SessionActive reports whether a provider session is still valid (not revoked or expired).
func (p *Provider) SessionActive(ctx context.Context, sid string) (bool, error) {
	return p.store.ProviderSessionActive(ctx, sid, p.opts.Now())
}

// ClaimSession marks provider session sid of userID as exchanged for an app session. It succeeds once per
// session (one session JWT per ceremony), so a copied JWT cannot start a second app session that would
// outlive a logout; it fails for revoked and expired sessions, and for a session of another user (a token
// whose sub and sid disagree), which it leaves unclaimed.
func (p *Provider) ClaimSession(ctx context.Context, sid, userID string) (bool, error) {
	return p.store.ClaimProviderSession(ctx, sid, userID, p.opts.Now())
}

// Revoke ends a provider session, so JWTs carrying its sid are refused from now on.
func (p *Provider) Revoke(ctx context.Context, sid string) error {
	if sid == "" {
		return nil
	}
	return p.store.RevokeProviderSession(ctx, sid, p.opts.Now().UTC())
}

func (p *Provider) issue(ctx context.Context, u store.User, ps store.ProviderSession) (Issued, error) {
	tok, exp, err := p.minter.Mint(ctx, token.Claims{Subject: u.ID, Name: u.Name, Email: u.Email, SessionID: ps.ID})
	if err != nil {
		return Issued{}, internal(fmt.Errorf("mint token: %w", err))
	}
	return Issued{Token: tok, ExpiresAt: exp, User: u, SessionID: ps.ID}, nil
}

func (p *Provider) newProviderSession(userID string, now time.Time) (store.ProviderSession, error) {
	id, err := randomString(18)
	if err != nil {
		return store.ProviderSession{}, err
	}
	return store.ProviderSession{ID: "ses-" + id, UserID: userID, CreatedAt: now, ExpiresAt: now.Add(p.opts.SessionLifetime)}, nil
}

func (p *Provider) usedChallenge(sd webauthn.SessionData, now time.Time) store.UsedChallenge {
	h := sha256.Sum256([]byte(sd.Challenge))
	exp := sd.Expires
	if exp.IsZero() || exp.Before(now) {
		exp = now.Add(p.opts.CeremonyTimeout)
	}
	// Keep the record a little longer than the ceremony could possibly live.
	return store.UsedChallenge{Hash: h[:], ExpiresAt: exp.Add(time.Hour)}
}

// MarshalCeremony encodes a ceremony for the ceremony cookie.
func MarshalCeremony(c Ceremony) ([]byte, error) { return json.Marshal(c) }

// UnmarshalCeremony decodes a ceremony from the ceremony cookie.
func UnmarshalCeremony(b []byte) (Ceremony, error) {
	var c Ceremony
	if err := json.Unmarshal(b, &c); err != nil {
		return Ceremony{}, fmt.Errorf("decode ceremony: %w", err)
	}
	return c, nil
}

// validUserHandle reports whether a user handle can be one of our user IDs: "usr-" and printable ASCII.
func validUserHandle(h []byte) bool {
	if len(h) < 5 || len(h) > 64 || !bytes.HasPrefix(h, []byte("usr-")) {
		return false
	}
	for _, c := range h {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

func newUserID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random user id: %w", err)
	}
	return "usr-" + hex.EncodeToString(b), nil
}

func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func transports(ts []protocol.AuthenticatorTransport) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, string(t))
	}
	return out
}

// newPasskey is the stored form of a credential a registration ceremony created for userID.
func newPasskey(cred *webauthn.Credential, userID string, now time.Time) store.Passkey {
	return store.Passkey{
		CredentialID:    cred.ID,
		UserID:          userID,
		PublicKey:       cred.PublicKey,
		SignCount:       cred.Authenticator.SignCount,
		AAGUID:          cred.Authenticator.AAGUID,
		Transports:      transports(cred.Transport),
		AttestationType: cred.AttestationType,
		UserPresent:     cred.Flags.UserPresent,
		UserVerified:    cred.Flags.UserVerified,
		BackupEligible:  cred.Flags.BackupEligible,
		BackupState:     cred.Flags.BackupState,
		CreatedAt:       now,
	}
}

func credentials(keys []store.Passkey) []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(keys))
	for _, k := range keys {
		ts := make([]protocol.AuthenticatorTransport, 0, len(k.Transports))
		for _, t := range k.Transports {
			ts = append(ts, protocol.AuthenticatorTransport(t))
		}
		out = append(out, webauthn.Credential{
			ID:              k.CredentialID,
			PublicKey:       k.PublicKey,
			AttestationType: k.AttestationType,
			Transport:       ts,
			Flags: webauthn.CredentialFlags{
				UserPresent:    k.UserPresent,
				UserVerified:   k.UserVerified,
				BackupEligible: k.BackupEligible,
				BackupState:    k.BackupState,
			},
			Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
		})
	}
	return out
}

// waUser adapts an account to go-webauthn's User.
type waUser struct {
	id      []byte
	name    string
	display string
	creds   []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.id }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.display }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }
