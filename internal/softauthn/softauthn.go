// Package softauthn is a software passkey authenticator, together with the browser's part of a WebAuthn
// ceremony, for tests. Given the options a relying party sends to navigator.credentials.create() or
// .get(), it returns the JSON a browser would post back: a registration response with attestation
// format "none", or an assertion signed with ES256 (P-256). It keeps its discoverable (resident)
// credentials like a synced passkey provider would.
//
// The zero Tweaks produce honest responses; its fields break one thing at a time, so tests can check
// that a relying party refuses each kind of forgery.
package softauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// DefaultAAGUID is the AAGUID New gives an authenticator (16 bytes).
const DefaultAAGUID = "latchkey-softkey"

// coseES256 is the COSE algorithm identifier of ECDSA with SHA-256 on P-256.
const coseES256 = -7

// ErrNoCredential is returned by Get when the authenticator holds no usable credential for the request.
var ErrNoCredential = errors.New("softauthn: no credential for this relying party")

// Credential is a resident credential: a key pair scoped to a relying party and a user handle.
type Credential struct {
	ID         []byte
	PrivateKey *ecdsa.PrivateKey
	RPID       string
	UserHandle []byte
	SignCount  uint32 // incremented before every use, so 1 after creation
}

// Authenticator is a software passkey authenticator. Its exported fields may be changed between
// ceremonies; it is safe for concurrent use.
type Authenticator struct {
	Origin         string   // the origin the "browser" reports in clientDataJSON
	AAGUID         [16]byte // reported at registration
	Transports     []string // reported at registration
	Attachment     string   // "platform" or "cross-platform"
	BackupEligible bool     // the BE flag
	BackupState    bool     // the BS flag

	mu    sync.Mutex
	creds []*Credential // oldest first
}

// Tweaks break a response on purpose. The zero value breaks nothing.
type Tweaks struct {
	Origin     string                      // report this origin instead of Authenticator.Origin
	RPID       string                      // hash this RP ID into authenticator data instead of the request's
	Challenge  []byte                      // put this challenge into clientDataJSON instead of the request's
	Type       string                      // clientDataJSON type instead of "webauthn.create" / "webauthn.get"
	ClearFlags protocol.AuthenticatorFlags // flags to drop, e.g. protocol.FlagUserVerified
	SetFlags   protocol.AuthenticatorFlags // flags to add

	Credential []byte            // Get: use the resident credential with this ID (default: newest for the RP)
	UserHandle []byte            // Get: report this user handle instead of the credential's (non-nil empty: blank)
	SignWith   *ecdsa.PrivateKey // Get: sign with this key instead of the credential's

	// Hooks run on the finished pieces, after signing (for Create, the authenticator data is changed
	// before it is wrapped into the attestation object, which attestation "none" does not sign).
	MutateClientData func([]byte) []byte
	MutateAuthData   func([]byte) []byte
	MutateSignature  func([]byte) []byte // Get only
}

// New returns an authenticator for a browser at origin (e.g. "http://localhost:8080") that behaves like
// a synced platform passkey provider: BE and BS set, transports "internal" and "hybrid".
func New(origin string) *Authenticator {
	a := &Authenticator{
		Origin:         origin,
		Transports:     []string{"internal", "hybrid"},
		Attachment:     "platform",
		BackupEligible: true,
		BackupState:    true,
	}
	copy(a.AAGUID[:], DefaultAAGUID)
	return a
}

// Credentials returns copies of the resident credentials, oldest first.
func (a *Authenticator) Credentials() []Credential {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Credential, 0, len(a.creds))
	for _, c := range a.creds {
		out = append(out, *c)
	}
	return out
}

type descriptor struct {
	ID   string `json:"id"`
	Type string `json:"type"`
}

type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Challenge string       `json:"challenge"`
	Params    []credParam  `json:"pubKeyCredParams"`
	Exclude   []descriptor `json:"excludeCredentials"`
}

type credParam struct {
	Type string `json:"type"`
	Alg  int64  `json:"alg"`
}

type requestOptions struct {
	Challenge string       `json:"challenge"`
	RPID      string       `json:"rpId"`
	Allow     []descriptor `json:"allowCredentials"`
}

// Create answers navigator.credentials.create() with cc and returns the registration response JSON.
func (a *Authenticator) Create(cc *protocol.CredentialCreation, t Tweaks) ([]byte, error) {
	b, err := json.Marshal(cc)
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode creation options: %w", err)
	}
	return a.CreateJSON(b, t)
}

// CreateJSON is Create for options as JSON, either {"publicKey": {...}} or the bare options.
func (a *Authenticator) CreateJSON(options []byte, t Tweaks) ([]byte, error) {
	var o creationOptions
	if err := unwrap(options, &o); err != nil {
		return nil, err
	}
	if len(o.Params) > 0 && !slices.Contains(o.Params, credParam{Type: "public-key", Alg: coseES256}) {
		return nil, errors.New("softauthn: relying party does not accept ES256")
	}
	rpID, err := a.rpID(o.RP.ID)
	if err != nil {
		return nil, err
	}
	userHandle, err := decode(o.User.ID)
	if err != nil || len(userHandle) == 0 {
		return nil, fmt.Errorf("softauthn: bad user id: %v", err)
	}
	challenge, err := decode(o.Challenge)
	if err != nil {
		return nil, fmt.Errorf("softauthn: bad challenge: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("softauthn: generate key: %w", err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("softauthn: credential id: %w", err)
	}
	cose, err := coseKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode public key: %w", err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range o.Exclude {
		if ex, err := decode(d.ID); err == nil && a.find(ex) != nil {
			return nil, errors.New("softauthn: a credential in excludeCredentials is already registered (InvalidStateError)")
		}
	}
	cred := &Credential{ID: id, PrivateKey: key, RPID: rpID, UserHandle: userHandle, SignCount: 1}
	authData := a.authData(rpID, protocol.FlagAttestedCredentialData, cred.SignCount, t)
	authData = append(authData, a.AAGUID[:]...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(id)))
	authData = append(append(authData, id...), cose...)
	clientData := a.clientData(protocol.CreateCeremony, challenge, t)
	if t.MutateAuthData != nil {
		authData = t.MutateAuthData(authData)
	}
	if t.MutateClientData != nil {
		clientData = t.MutateClientData(clientData)
	}
	attObj, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode attestation object: %w", err)
	}
	a.creds = append(a.creds, cred)
	return json.Marshal(map[string]any{
		"id":                      b64(id),
		"rawId":                   b64(id),
		"type":                    "public-key",
		"authenticatorAttachment": a.Attachment,
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":     b64(clientData),
			"attestationObject":  b64(attObj),
			"authenticatorData":  b64(authData),
			"publicKey":          b64(spki),
			"publicKeyAlgorithm": coseES256,
			"transports":         a.Transports,
		},
	})
}

// Get answers navigator.credentials.get() with ca and returns the assertion response JSON. It uses the
// newest resident credential for the RP ID (within allowCredentials, if given) unless t.Credential names one.
func (a *Authenticator) Get(ca *protocol.CredentialAssertion, t Tweaks) ([]byte, error) {
	b, err := json.Marshal(ca)
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode request options: %w", err)
	}
	return a.GetJSON(b, t)
}

// GetJSON is Get for options as JSON, either {"publicKey": {...}} or the bare options.
func (a *Authenticator) GetJSON(options []byte, t Tweaks) ([]byte, error) {
	var o requestOptions
	if err := unwrap(options, &o); err != nil {
		return nil, err
	}
	rpID, err := a.rpID(o.RPID)
	if err != nil {
		return nil, err
	}
	challenge, err := decode(o.Challenge)
	if err != nil {
		return nil, fmt.Errorf("softauthn: bad challenge: %w", err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	cred := a.pick(rpID, o.Allow, t.Credential)
	if cred == nil {
		return nil, ErrNoCredential
	}
	cred.SignCount++
	authData := a.authData(rpID, 0, cred.SignCount, t)
	clientData := a.clientData(protocol.AssertCeremony, challenge, t)
	key := cred.PrivateKey
	if t.SignWith != nil {
		key = t.SignWith
	}
	cdHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(slices.Concat(authData, cdHash[:]))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return nil, fmt.Errorf("softauthn: sign: %w", err)
	}
	if t.MutateAuthData != nil {
		authData = t.MutateAuthData(authData)
	}
	if t.MutateClientData != nil {
		clientData = t.MutateClientData(clientData)
	}
	if t.MutateSignature != nil {
		sig = t.MutateSignature(sig)
	}
	userHandle := cred.UserHandle
	if t.UserHandle != nil {
		userHandle = t.UserHandle
	}
	return json.Marshal(map[string]any{
		"id":                      b64(cred.ID),
		"rawId":                   b64(cred.ID),
		"type":                    "public-key",
		"authenticatorAttachment": a.Attachment,
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(clientData),
			"authenticatorData": b64(authData),
			"signature":         b64(sig),
			"userHandle":        b64(userHandle),
		},
	})
}

// pick chooses the credential for an assertion. a.mu must be held.
func (a *Authenticator) pick(rpID string, allow []descriptor, want []byte) *Credential {
	if want != nil {
		return a.find(want)
	}
	for _, c := range slices.Backward(a.creds) {
		if c.RPID != rpID {
			continue
		}
		if len(allow) == 0 || slices.ContainsFunc(allow, func(d descriptor) bool {
			id, err := decode(d.ID)
			return err == nil && string(id) == string(c.ID)
		}) {
			return c
		}
	}
	return nil
}

// find returns the resident credential with id, or nil. a.mu must be held.
func (a *Authenticator) find(id []byte) *Credential {
	for _, c := range a.creds {
		if string(c.ID) == string(id) {
			return c
		}
	}
	return nil
}

// authData is rpIdHash || flags || signCount, with the flags this authenticator sets plus extra.
func (a *Authenticator) authData(rpID string, extra protocol.AuthenticatorFlags, count uint32, t Tweaks) []byte {
	if t.RPID != "" {
		rpID = t.RPID
	}
	flags := protocol.FlagUserPresent | protocol.FlagUserVerified | extra
	if a.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if a.BackupState {
		flags |= protocol.FlagBackupState
	}
	flags = flags&^t.ClearFlags | t.SetFlags
	h := sha256.Sum256([]byte(rpID))
	return binary.BigEndian.AppendUint32(append(h[:], byte(flags)), count)
}

// clientData is the browser's clientDataJSON.
func (a *Authenticator) clientData(typ protocol.CeremonyType, challenge []byte, t Tweaks) []byte {
	origin := a.Origin
	if t.Origin != "" {
		origin = t.Origin
	}
	if t.Challenge != nil {
		challenge = t.Challenge
	}
	if t.Type != "" {
		typ = protocol.CeremonyType(t.Type)
	}
	// Field order as browsers write it; json.Marshal of a struct keeps it.
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{string(typ), b64(challenge), origin, false})
	return b
}

// rpID is the request's RP ID, or the origin's host when the request names none.
func (a *Authenticator) rpID(requested string) (string, error) {
	if requested != "" {
		return requested, nil
	}
	u, err := url.Parse(a.Origin)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("softauthn: no RP ID in the request and origin %q has no host", a.Origin)
	}
	return u.Hostname(), nil
}

// coseKey encodes pub as a COSE_Key (kty EC2, alg ES256, crv P-256).
func coseKey(pub *ecdsa.PublicKey) ([]byte, error) {
	e, err := pub.ECDH()
	if err != nil {
		return nil, fmt.Errorf("softauthn: public key: %w", err)
	}
	raw := e.Bytes() // 0x04 || X || Y
	b, err := webauthncbor.Marshal(map[int]any{1: 2, 3: coseES256, -1: 1, -2: raw[1:33], -3: raw[33:65]})
	if err != nil {
		return nil, fmt.Errorf("softauthn: encode COSE key: %w", err)
	}
	return b, nil
}

// unwrap decodes options given either as {"publicKey": {...}} or bare.
func unwrap(b []byte, into any) error {
	var w struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("softauthn: decode options: %w", err)
	}
	if len(w.PublicKey) > 0 {
		b = w.PublicKey
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("softauthn: decode options: %w", err)
	}
	return nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// decode reads base64url with or without padding.
func decode(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
