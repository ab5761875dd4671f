package softauthn_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/internal/softauthn"
)

const origin = "http://localhost:8080"

type user struct {
	id    []byte
	creds []webauthn.Credential
}

func (u *user) WebAuthnID() []byte                         { return u.id }
func (u *user) WebAuthnName() string                       { return "ada@example.com" }
func (u *user) WebAuthnDisplayName() string                { return "Ada" }
func (u *user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newRP(t *testing.T) *webauthn.WebAuthn {
	t.Helper()
	wa, err := webauthn.New(&webauthn.Config{
		RPID: "localhost", RPDisplayName: "Test", RPOrigins: []string{origin},
		AuthenticatorSelection: protocol.AuthenticatorSelection{UserVerification: protocol.VerificationRequired},
	})
	if err != nil {
		t.Fatal(err)
	}
	return wa
}

// register runs an honest registration through go-webauthn and returns the user holding the credential.
func register(t *testing.T, wa *webauthn.WebAuthn, a *softauthn.Authenticator) *user {
	t.Helper()
	u := &user{id: []byte("user-1")}
	cc, sd, err := wa.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Create(cc, softauthn.Tweaks{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		t.Fatalf("parse registration: %v", err)
	}
	cred, err := wa.CreateCredential(u, *sd, parsed)
	if err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	u.creds = append(u.creds, *cred)
	return u
}

func TestRegisterAndLogIn(t *testing.T) {
	wa := newRP(t)
	a := softauthn.New(origin)
	u := register(t, wa, a)

	creds := a.Credentials()
	if len(creds) != 1 {
		t.Fatalf("authenticator holds %d credentials, want 1", len(creds))
	}
	c, got := creds[0], u.creds[0]
	if !bytes.Equal(got.ID, c.ID) || c.RPID != "localhost" || string(c.UserHandle) != "user-1" || c.SignCount != 1 {
		t.Errorf("credential = %+v, registered id %x", c, got.ID)
	}
	if got.Authenticator.SignCount != 1 || !bytes.Equal(got.Authenticator.AAGUID, []byte(softauthn.DefaultAAGUID)) {
		t.Errorf("authenticator = %+v", got.Authenticator)
	}
	if f := got.Flags; !f.UserPresent || !f.UserVerified || !f.BackupEligible || !f.BackupState {
		t.Errorf("flags = %+v, want UP UV BE BS", f)
	}
	if len(got.Transport) != 2 || got.Transport[0] != "internal" || got.Transport[1] != "hybrid" {
		t.Errorf("transports = %v", got.Transport)
	}
	key, err := webauthncose.ParsePublicKey(got.PublicKey)
	if err != nil {
		t.Fatalf("parse COSE key: %v", err)
	}
	ec2, ok := key.(webauthncose.EC2PublicKeyData)
	if !ok {
		t.Fatalf("COSE key is %T, want EC2", key)
	}
	ec, err := ec2.ToECDSA()
	if err != nil || !ec.Equal(&c.PrivateKey.PublicKey) {
		t.Errorf("registered public key is not the credential's (err %v)", err)
	}

	for want := uint32(2); want <= 3; want++ {
		ca, sd, err := wa.BeginDiscoverableLogin()
		if err != nil {
			t.Fatal(err)
		}
		body, err := a.Get(ca, softauthn.Tweaks{})
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
		if err != nil {
			t.Fatalf("parse assertion: %v", err)
		}
		handler := func(rawID, userHandle []byte) (webauthn.User, error) {
			if string(userHandle) != "user-1" {
				return nil, errors.New("unknown user")
			}
			return u, nil
		}
		_, cred, err := wa.ValidatePasskeyLogin(handler, *sd, parsed)
		if err != nil {
			t.Fatalf("ValidatePasskeyLogin: %v", err)
		}
		if cred.Authenticator.SignCount != want || cred.Authenticator.CloneWarning {
			t.Errorf("sign count = %d (clone warning %v), want %d", cred.Authenticator.SignCount, cred.Authenticator.CloneWarning, want)
		}
		u.creds[0] = *cred
	}
}

// TestTweaksBreakAssertions checks that every knob really produces a response go-webauthn refuses,
// and that the honest response for the same ceremony passes.
func TestTweaksBreakAssertions(t *testing.T) {
	wa := newRP(t)
	a := softauthn.New(origin)
	u := register(t, wa, a)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-1] ^= 1; return b }
	tests := []struct {
		name string
		tw   softauthn.Tweaks
	}{
		{"honest", softauthn.Tweaks{}},
		{"origin", softauthn.Tweaks{Origin: "https://evil.example"}},
		{"rp id", softauthn.Tweaks{RPID: "evil.example"}},
		{"challenge", softauthn.Tweaks{Challenge: []byte("0123456789abcdef0123456789abcdef")}},
		{"type", softauthn.Tweaks{Type: "webauthn.create"}},
		{"no UV", softauthn.Tweaks{ClearFlags: protocol.FlagUserVerified}},
		{"no UP", softauthn.Tweaks{ClearFlags: protocol.FlagUserPresent}},
		{"other key", softauthn.Tweaks{SignWith: otherKey}},
		{"signature", softauthn.Tweaks{MutateSignature: flip}},
		{"auth data", softauthn.Tweaks{MutateAuthData: flip}},
		{"client data", softauthn.Tweaks{MutateClientData: func(b []byte) []byte { return append(bytes.Clone(b), ' ') }}},
		{"user handle", softauthn.Tweaks{UserHandle: []byte("user-2")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, sd, err := wa.BeginDiscoverableLogin()
			if err != nil {
				t.Fatal(err)
			}
			body, err := a.Get(ca, tc.tw)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
			if err == nil {
				_, _, err = wa.ValidatePasskeyLogin(func(_, _ []byte) (webauthn.User, error) { return u, nil }, *sd, parsed)
			}
			if honest := tc.name == "honest"; (err == nil) != honest {
				t.Errorf("verification error = %v, want error: %v", err, !honest)
			}
		})
	}
}

func TestTweaksBreakRegistration(t *testing.T) {
	wa := newRP(t)
	tests := []struct {
		name string
		tw   softauthn.Tweaks
	}{
		{"honest", softauthn.Tweaks{}},
		{"origin", softauthn.Tweaks{Origin: "http://localhost:8081"}},
		{"rp id", softauthn.Tweaks{RPID: "localhost.evil"}},
		{"type", softauthn.Tweaks{Type: "webauthn.get"}},
		{"no UV", softauthn.Tweaks{ClearFlags: protocol.FlagUserVerified}},
		{"no AT", softauthn.Tweaks{ClearFlags: protocol.FlagAttestedCredentialData}},
		{"auth data", softauthn.Tweaks{MutateAuthData: func(b []byte) []byte { return b[:40] }}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := &user{id: []byte("user-1")}
			cc, sd, err := wa.BeginRegistration(u)
			if err != nil {
				t.Fatal(err)
			}
			body, err := softauthn.New(origin).Create(cc, tc.tw)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
			if err == nil {
				_, err = wa.CreateCredential(u, *sd, parsed)
			}
			if honest := tc.name == "honest"; (err == nil) != honest {
				t.Errorf("verification error = %v, want error: %v", err, !honest)
			}
		})
	}
}

func TestOptionsAsJSON(t *testing.T) {
	wa := newRP(t)
	a := softauthn.New(origin)
	u := &user{id: []byte("user-1")}
	cc, sd, err := wa.BeginRegistration(u)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := json.Marshal(cc.Response) // without the {"publicKey": …} wrapper
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.CreateJSON(bare, softauthn.Tweaks{})
	if err != nil {
		t.Fatalf("CreateJSON: %v", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wa.CreateCredential(u, *sd, parsed); err != nil {
		t.Errorf("CreateCredential: %v", err)
	}
	if _, err := a.CreateJSON([]byte("{"), softauthn.Tweaks{}); err == nil {
		t.Error("CreateJSON accepted broken JSON")
	}
	if _, err := a.GetJSON([]byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rpId":"example.com"}}`), softauthn.Tweaks{}); !errors.Is(err, softauthn.ErrNoCredential) {
		t.Errorf("GetJSON for another RP = %v, want ErrNoCredential", err)
	}
}

func TestCredentialChoice(t *testing.T) {
	wa := newRP(t)
	a := softauthn.New(origin)
	register(t, wa, a)
	register(t, wa, a)
	creds := a.Credentials()
	if len(creds) != 2 {
		t.Fatalf("%d credentials, want 2", len(creds))
	}
	idOf := func(body []byte) string {
		var r struct{ ID string }
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	ca, _, err := wa.BeginDiscoverableLogin()
	if err != nil {
		t.Fatal(err)
	}
	newest, err := a.Get(ca, softauthn.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	chosen, err := a.Get(ca, softauthn.Tweaks{Credential: creds[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	ca.Response.AllowedCredentials = []protocol.CredentialDescriptor{{Type: "public-key", CredentialID: creds[0].ID}}
	allowed, err := a.Get(ca, softauthn.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	if idOf(newest) == idOf(chosen) || idOf(chosen) != idOf(allowed) {
		t.Errorf("ids newest %s chosen %s allowed %s: want newest to differ, chosen == allowed", idOf(newest), idOf(chosen), idOf(allowed))
	}

	cc, _, err := wa.BeginRegistration(&user{id: []byte("user-1")}, webauthn.WithExclusions([]protocol.CredentialDescriptor{{Type: "public-key", CredentialID: creds[1].ID}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Create(cc, softauthn.Tweaks{}); err == nil {
		t.Error("Create ignored excludeCredentials")
	}
}
