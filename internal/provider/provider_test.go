package provider_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/softauthn"
	"github.com/latchkey/latchkey/internal/store"
)

var userIDPattern = regexp.MustCompile(`^usr-[0-9a-f]{32}$`)

func TestSignUpThenLogIn(t *testing.T) {
	e := newEnv(t, 0)
	ctx := t.Context()

	// Begin: the options a browser gets.
	cc, c, err := e.p.BeginSignup(ctx, "  Ada@Example.COM ", "  Ada   Lovelace ")
	if err != nil {
		t.Fatalf("BeginSignup: %v", err)
	}
	o := cc.Response
	if o.RelyingParty.ID != testRPID || o.User.Name != "ada@example.com" || o.User.DisplayName != "Ada Lovelace" ||
		len(o.Challenge) < 16 || o.AuthenticatorSelection.UserVerification != protocol.VerificationRequired ||
		o.AuthenticatorSelection.ResidentKey != protocol.ResidentKeyRequirementRequired ||
		o.Attestation != protocol.PreferNoAttestation {
		t.Errorf("creation options = %+v", o)
	}
	if c.Kind != provider.KindSignup || !userIDPattern.MatchString(c.UserID) || c.Email != "ada@example.com" || c.Name != "Ada Lovelace" {
		t.Errorf("ceremony = %+v", c)
	}
	if got := e.counts(t); got != (counts{}) {
		t.Errorf("BeginSignup wrote to the database: %+v", got)
	}

	// Finish.
	body, err := e.auth.Create(cc, softauthn.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	signedUpAt := e.clock.Now()
	iss, err := e.p.FinishSignup(ctx, cookie(t, c), body)
	if err != nil {
		t.Fatalf("FinishSignup: %v", err)
	}
	wantUser := store.User{ID: c.UserID, Email: "ada@example.com", Name: "Ada Lovelace", CreatedAt: signedUpAt}
	if iss.User != wantUser {
		t.Errorf("Issued.User = %+v, want %+v", iss.User, wantUser)
	}
	if got, err := e.st.UserByID(ctx, c.UserID); err != nil || got != wantUser {
		t.Errorf("stored user = %+v (%v), want %+v", got, err, wantUser)
	}
	cred := e.auth.Credentials()[0]
	pk := e.passkey(t, c.UserID)
	if !bytes.Equal(pk.CredentialID, cred.ID) || pk.UserID != c.UserID || pk.SignCount != 1 ||
		!bytes.Equal(pk.AAGUID, []byte(softauthn.DefaultAAGUID)) || strings.Join(pk.Transports, ",") != "internal,hybrid" ||
		pk.AttestationType != "none" || !pk.UserPresent || !pk.UserVerified || !pk.BackupEligible || !pk.BackupState ||
		!pk.CreatedAt.Equal(signedUpAt) || !pk.LastUsedAt.IsZero() {
		t.Errorf("stored passkey = %+v", pk)
	}
	key, err := webauthncose.ParsePublicKey(pk.PublicKey)
	if err != nil {
		t.Fatalf("stored public key: %v", err)
	}
	if ec2, ok := key.(webauthncose.EC2PublicKeyData); !ok {
		t.Errorf("stored public key is %T", key)
	} else if pub, err := ec2.ToECDSA(); err != nil || !pub.Equal(&cred.PrivateKey.PublicKey) {
		t.Errorf("stored public key is not the authenticator's (%v)", err)
	}

	id := e.identity(t, iss.Token)
	if id.UserID != c.UserID || id.Name != "Ada Lovelace" || id.Email != "ada@example.com" || id.SessionID != iss.SessionID ||
		id.Issuer != testIssuer || !id.ExpiresAt.Equal(iss.ExpiresAt) {
		t.Errorf("token identity = %+v, issued = %+v", id, iss)
	}
	if !strings.HasPrefix(iss.SessionID, "ses-") {
		t.Errorf("SessionID = %q", iss.SessionID)
	}
	if ok, err := e.p.SessionActive(ctx, iss.SessionID); err != nil || !ok {
		t.Errorf("SessionActive after sign-up = %v, %v", ok, err)
	}
	if got, want := e.counts(t), (counts{users: 1, passkeys: 1, sessions: 1, challenges: 1}); got != want {
		t.Errorf("rows after sign-up = %+v, want %+v", got, want)
	}

	// Log in a minute later.
	e.clock.Advance(time.Minute)
	ca, lc, err := e.p.BeginLogin(ctx)
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	if r := ca.Response; r.RelyingPartyID != testRPID || r.UserVerification != protocol.VerificationRequired ||
		len(r.AllowedCredentials) != 0 || len(r.Challenge) < 16 {
		t.Errorf("request options = %+v", r)
	}
	if lc.Kind != provider.KindLogin || lc.UserID != "" || lc.Email != "" {
		t.Errorf("login ceremony = %+v", lc)
	}
	loginBody, err := e.auth.Get(ca, softauthn.Tweaks{})
	if err != nil {
		t.Fatal(err)
	}
	liss, err := e.p.FinishLogin(ctx, cookie(t, lc), loginBody)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if liss.User != wantUser || liss.SessionID == iss.SessionID || !strings.HasPrefix(liss.SessionID, "ses-") {
		t.Errorf("log-in issued %+v, sign-up session %s", liss, iss.SessionID)
	}
	lid := e.identity(t, liss.Token)
	if lid.UserID != c.UserID || lid.SessionID != liss.SessionID || lid.Email != "ada@example.com" || lid.Name != "Ada Lovelace" {
		t.Errorf("log-in token identity = %+v", lid)
	}
	pk2 := e.passkey(t, c.UserID)
	if pk2.SignCount != 2 || !pk2.LastUsedAt.Equal(e.clock.Now()) || !pk2.CreatedAt.Equal(signedUpAt) || !pk2.BackupState {
		t.Errorf("passkey after log-in = %+v", pk2)
	}
	for _, sid := range []string{iss.SessionID, liss.SessionID} {
		if ok, err := e.p.SessionActive(ctx, sid); err != nil || !ok {
			t.Errorf("SessionActive(%s) = %v, %v", sid, ok, err)
		}
	}
	if got, want := e.counts(t), (counts{users: 1, passkeys: 1, sessions: 2, challenges: 2}); got != want {
		t.Errorf("rows after log-in = %+v, want %+v", got, want)
	}

	// The passkey stops being synced: the backup state follows.
	e.auth.BackupState = false
	lc, loginBody = e.beginLogin(t, softauthn.Tweaks{})
	if _, err := e.p.FinishLogin(ctx, lc, loginBody); err != nil {
		t.Fatalf("FinishLogin without BS: %v", err)
	}
	if pk3 := e.passkey(t, c.UserID); pk3.BackupState || pk3.SignCount != 3 {
		t.Errorf("passkey after log-in without BS = %+v", pk3)
	}

	// Neither token may appear in the log.
	if logs := e.logs.String(); strings.Contains(logs, iss.Token) || strings.Contains(logs, liss.Token) {
		t.Error("a session token was logged")
	}
}

func TestReplayIsRefused(t *testing.T) {
	t.Parallel()
	t.Run("sign-up", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 0)
		c, body := e.beginSignup(t, "ada@example.com", "Ada", softauthn.Tweaks{})
		if _, err := e.p.FinishSignup(t.Context(), c, body); err != nil {
			t.Fatalf("first FinishSignup: %v", err)
		}
		before := e.counts(t)
		_, err := e.p.FinishSignup(t.Context(), c, body)
		wantError(t, err, provider.KindInvalid, "already completed")
		if !errors.Is(err, store.ErrChallengeUsed) {
			t.Errorf("error = %v, want it to wrap store.ErrChallengeUsed", err)
		}
		if after := e.counts(t); after != before {
			t.Errorf("replay changed the database: %+v -> %+v", before, after)
		}
	})
	t.Run("log-in", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 0)
		iss := e.signup(t, "ada@example.com", "Ada")
		c, body := e.beginLogin(t, softauthn.Tweaks{})
		if _, err := e.p.FinishLogin(t.Context(), c, body); err != nil {
			t.Fatalf("first FinishLogin: %v", err)
		}
		before, pk := e.counts(t), e.passkey(t, iss.User.ID)
		e.clock.Advance(time.Minute)
		_, err := e.p.FinishLogin(t.Context(), c, body)
		wantError(t, err, provider.KindInvalid, "already completed")
		if after := e.counts(t); after != before {
			t.Errorf("replay changed the database: %+v -> %+v", before, after)
		}
		if after := e.passkey(t, iss.User.ID); after.SignCount != pk.SignCount || !after.LastUsedAt.Equal(pk.LastUsedAt) {
			t.Errorf("replay updated the passkey: %+v -> %+v", pk, after)
		}
	})
	t.Run("concurrent sign-up", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, 0)
		c, body := e.beginSignup(t, "ada@example.com", "Ada", softauthn.Tweaks{})
		const n = 6
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { _, errs[i] = e.p.FinishSignup(t.Context(), c, body) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			wantError(t, err, provider.KindInvalid, "already completed")
		}
		if ok != 1 {
			t.Errorf("%d of %d concurrent finishes succeeded, want exactly 1", ok, n)
		}
		if got, want := e.counts(t), (counts{users: 1, passkeys: 1, sessions: 1, challenges: 1}); got != want {
			t.Errorf("rows = %+v, want %+v", got, want)
		}
	})
}

func TestExpiredCeremony(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	wait := func() { time.Sleep(timeout + 150*time.Millisecond) }
	t.Run("sign-up", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, timeout)
		c, body := e.beginSignup(t, "ada@example.com", "Ada", softauthn.Tweaks{})
		wait()
		_, err := e.p.FinishSignup(t.Context(), c, body)
		wantError(t, err, provider.KindExpired, "timed out")
		if got := e.counts(t); got != (counts{}) {
			t.Errorf("expired sign-up wrote %+v", got)
		}
	})
	t.Run("log-in", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, timeout)
		iss := e.signup(t, "ada@example.com", "Ada")
		before := e.counts(t)
		c, body := e.beginLogin(t, softauthn.Tweaks{})
		wait()
		_, err := e.p.FinishLogin(t.Context(), c, body)
		wantError(t, err, provider.KindExpired, "timed out")
		if got := e.counts(t); got != before {
			t.Errorf("expired log-in changed rows %+v -> %+v", before, got)
		}
		if pk := e.passkey(t, iss.User.ID); pk.SignCount != 1 || !pk.LastUsedAt.IsZero() {
			t.Errorf("expired log-in updated the passkey: %+v", pk)
		}
	})
}

// TestForgedSignUp finishes sign-ups whose responses are wrong in one way each: every one is refused
// and nothing is written.
func TestForgedSignUp(t *testing.T) {
	e := newEnv(t, 0)
	otherChallenge := e.challengeOf(t, provider.KindSignup)
	tests := []struct {
		name string
		tw   softauthn.Tweaks
		kind provider.ErrorKind
		msg  string
	}{
		{"wrong origin", softauthn.Tweaks{Origin: "https://evil.example"}, provider.KindUnauthorized, "could not be verified"},
		{"wrong port", softauthn.Tweaks{Origin: "http://localhost:8081"}, provider.KindUnauthorized, "could not be verified"},
		{"https instead of http", softauthn.Tweaks{Origin: "https://localhost:8080"}, provider.KindUnauthorized, "could not be verified"},
		// Attacker-chosen text in the response must not change how the failure is classified.
		{"origin naming expiry", softauthn.Tweaks{Origin: "https://expired.example"}, provider.KindUnauthorized, "could not be verified"},
		{"wrong RP ID hash", softauthn.Tweaks{RPID: "evil.example"}, provider.KindUnauthorized, "could not be verified"},
		{"UV missing", softauthn.Tweaks{ClearFlags: protocol.FlagUserVerified}, provider.KindUnauthorized, "did not confirm it was you"},
		{"UP missing", softauthn.Tweaks{ClearFlags: protocol.FlagUserPresent}, provider.KindUnauthorized, "did not confirm it was you"},
		{"BS without BE", softauthn.Tweaks{ClearFlags: protocol.FlagBackupEligible}, provider.KindUnauthorized, "could not be verified"},
		{"get type", softauthn.Tweaks{Type: "webauthn.get"}, provider.KindUnauthorized, "could not be verified"},
		{"challenge from another ceremony", softauthn.Tweaks{Challenge: otherChallenge}, provider.KindUnauthorized, "could not be verified"},
		{"credential id differs from attested one", softauthn.Tweaks{MutateAuthData: func(b []byte) []byte {
			b = bytes.Clone(b)
			b[55] ^= 1 // first byte of the credential id
			return b
		}}, provider.KindUnauthorized, "could not be verified"},
		{"authenticator data truncated", softauthn.Tweaks{MutateAuthData: func(b []byte) []byte { return b[:40] }}, provider.KindInvalid, "could not be read"},
		{"attested credential flag missing", softauthn.Tweaks{ClearFlags: protocol.FlagAttestedCredentialData}, provider.KindInvalid, "could not be read"},
		{"client data not JSON", softauthn.Tweaks{MutateClientData: func(b []byte) []byte { return b[:len(b)-1] }}, provider.KindInvalid, "could not be read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, body := e.beginSignup(t, "ada@example.com", "Ada", tc.tw)
			_, err := e.p.FinishSignup(t.Context(), c, body)
			wantError(t, err, tc.kind, tc.msg)
			if got := e.counts(t); got != (counts{}) {
				t.Errorf("refused sign-up wrote %+v", got)
			}
		})
	}
	// None of the refusals used up anything: the address can still sign up.
	e.signup(t, "ada@example.com", "Ada")
}

// TestForgedLogIn finishes log-ins whose assertions are wrong in one way each: every one is refused
// and nothing is written.
func TestForgedLogIn(t *testing.T) {
	e := newEnv(t, 0)
	iss := e.signup(t, "ada@example.com", "Ada")
	other := e.signup(t, "bob@example.com", "Bob") // same authenticator; Ada's credential is now the older one
	adaCred := e.auth.Credentials()[0].ID
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherChallenge := e.challengeOf(t, provider.KindLogin)
	ada := func(tw softauthn.Tweaks) softauthn.Tweaks { tw.Credential = adaCred; return tw }
	tests := []struct {
		name string
		tw   softauthn.Tweaks
		kind provider.ErrorKind
		msg  string
	}{
		{"wrong origin", ada(softauthn.Tweaks{Origin: "https://evil.example"}), provider.KindUnauthorized, "could not be verified"},
		{"origin naming verification", ada(softauthn.Tweaks{Origin: "https://verified.example"}), provider.KindUnauthorized, "could not be verified"},
		{"wrong RP ID hash", ada(softauthn.Tweaks{RPID: "evil.example"}), provider.KindUnauthorized, "could not be verified"},
		{"UV missing", ada(softauthn.Tweaks{ClearFlags: protocol.FlagUserVerified}), provider.KindUnauthorized, "did not confirm it was you"},
		{"UP missing", ada(softauthn.Tweaks{ClearFlags: protocol.FlagUserPresent}), provider.KindUnauthorized, "did not confirm it was you"},
		{"BE changed", ada(softauthn.Tweaks{ClearFlags: protocol.FlagBackupEligible | protocol.FlagBackupState}), provider.KindUnauthorized, "could not be verified"},
		{"create type", ada(softauthn.Tweaks{Type: "webauthn.create"}), provider.KindUnauthorized, "could not be verified"},
		{"challenge from another ceremony", ada(softauthn.Tweaks{Challenge: otherChallenge}), provider.KindUnauthorized, "could not be verified"},
		{"tampered signature", ada(softauthn.Tweaks{MutateSignature: flipLast}), provider.KindUnauthorized, "could not be verified"},
		{"signed with another key", ada(softauthn.Tweaks{SignWith: otherKey}), provider.KindUnauthorized, "could not be verified"},
		{"tampered authenticator data", ada(softauthn.Tweaks{MutateAuthData: flipLast}), provider.KindUnauthorized, "could not be verified"},
		{"tampered client data", ada(softauthn.Tweaks{MutateClientData: func(b []byte) []byte { return append(bytes.Clone(b), ' ') }}), provider.KindUnauthorized, "could not be verified"},
		{"blank user handle", ada(softauthn.Tweaks{UserHandle: []byte{}}), provider.KindUnauthorized, "could not be verified"},
		// Ada's credential presented as Bob's: Bob has no such passkey.
		{"another user's handle", ada(softauthn.Tweaks{UserHandle: []byte(other.User.ID)}), provider.KindUnauthorized, ""},
		{"truncated authenticator data", ada(softauthn.Tweaks{MutateAuthData: func(b []byte) []byte { return b[:30] }}), provider.KindInvalid, "could not be read"},
	}
	before := e.counts(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, body := e.beginLogin(t, tc.tw)
			e.clock.Advance(time.Second)
			_, err := e.p.FinishLogin(t.Context(), c, body)
			wantError(t, err, tc.kind, tc.msg)
			if got := e.counts(t); got != before {
				t.Errorf("refused log-in changed rows %+v -> %+v", before, got)
			}
			for _, u := range []string{iss.User.ID, other.User.ID} {
				if pk := e.passkey(t, u); pk.SignCount != 1 || !pk.LastUsedAt.IsZero() {
					t.Errorf("refused log-in updated passkey %+v", pk)
				}
			}
		})
	}
	// Ada can still log in with her passkey.
	c, body := e.beginLogin(t, softauthn.Tweaks{Credential: adaCred})
	got, err := e.p.FinishLogin(t.Context(), c, body)
	if err != nil {
		t.Fatalf("honest FinishLogin after the forgeries: %v", err)
	}
	if got.User.ID != iss.User.ID {
		t.Errorf("logged in as %s, want %s", got.User.ID, iss.User.ID)
	}
}

func TestUnknownCredential(t *testing.T) {
	const notKnown = "not known here"
	t.Run("user never signed up", func(t *testing.T) {
		e := newEnv(t, 0)
		e.beginSignup(t, "ada@example.com", "Ada", softauthn.Tweaks{}) // the passkey is made, the sign-up never finished
		c, body := e.beginLogin(t, softauthn.Tweaks{})
		_, err := e.p.FinishLogin(t.Context(), c, body)
		wantError(t, err, provider.KindUnauthorized, notKnown)
		if got := e.counts(t); got != (counts{}) {
			t.Errorf("refused log-in wrote %+v", got)
		}
	})
	t.Run("passkey from another site's database", func(t *testing.T) {
		elsewhere := newEnv(t, 0)
		elsewhere.signup(t, "ada@example.com", "Ada")
		e := newEnv(t, 0)
		e.signup(t, "bob@example.com", "Bob")
		before := e.counts(t)
		ca, c, err := e.p.BeginLogin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		body, err := elsewhere.auth.Get(ca, softauthn.Tweaks{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.p.FinishLogin(t.Context(), c, body)
		wantError(t, err, provider.KindUnauthorized, notKnown)
		if got := e.counts(t); got != before {
			t.Errorf("refused log-in changed rows %+v -> %+v", before, got)
		}
	})
	for _, handle := range []string{"\xff\xfe", "usr-\x00abc", "not-a-user-id", "usr-" + strings.Repeat("a", 70)} {
		t.Run(fmt.Sprintf("user handle %q", handle), func(t *testing.T) {
			e := newEnv(t, 0)
			e.signup(t, "ada@example.com", "Ada")
			before := e.counts(t)
			c, body := e.beginLogin(t, softauthn.Tweaks{UserHandle: []byte(handle)})
			_, err := e.p.FinishLogin(t.Context(), c, body)
			wantError(t, err, provider.KindUnauthorized, notKnown)
			if got := e.counts(t); got != before {
				t.Errorf("refused log-in changed rows %+v -> %+v", before, got)
			}
		})
	}
	t.Run("known user, passkey not registered", func(t *testing.T) {
		e := newEnv(t, 0)
		cc, c, err := e.p.BeginSignup(t.Context(), "ada@example.com", "Ada")
		if err != nil {
			t.Fatal(err)
		}
		body, err := e.auth.Create(cc, softauthn.Tweaks{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.p.FinishSignup(t.Context(), c, body); err != nil {
			t.Fatal(err)
		}
		// A second passkey for the same user handle that the site never saw.
		if _, err := e.auth.Create(cc, softauthn.Tweaks{}); err != nil {
			t.Fatal(err)
		}
		before := e.counts(t)
		lc, lbody := e.beginLogin(t, softauthn.Tweaks{})
		_, err = e.p.FinishLogin(t.Context(), lc, lbody)
		wantError(t, err, provider.KindUnauthorized, notKnown)
		if got := e.counts(t); got != before {
			t.Errorf("refused log-in changed rows %+v -> %+v", before, got)
		}
	})
}

func TestCeremonyMixUp(t *testing.T) {
	e := newEnv(t, 0)
	sc, sbody := e.beginSignup(t, "ada@example.com", "Ada", softauthn.Tweaks{})
	if _, err := e.p.FinishSignup(t.Context(), sc, sbody); err != nil {
		t.Fatal(err)
	}
	lc, lbody := e.beginLogin(t, softauthn.Tweaks{})
	before := e.counts(t)

	noUser := sc
	noUser.UserID = ""
	asSignup := lc
	asSignup.Kind = provider.KindSignup // a log-in ceremony relabelled: it has no user id
	tests := []struct {
		name   string
		finish func() error
	}{
		{"sign-up ceremony at log-in", func() error { _, err := e.p.FinishLogin(t.Context(), sc, lbody); return err }},
		{"log-in ceremony at sign-up", func() error { _, err := e.p.FinishSignup(t.Context(), lc, sbody); return err }},
		{"empty ceremony at log-in", func() error { _, err := e.p.FinishLogin(t.Context(), provider.Ceremony{}, lbody); return err }},
		{"empty ceremony at sign-up", func() error { _, err := e.p.FinishSignup(t.Context(), provider.Ceremony{}, sbody); return err }},
		{"sign-up ceremony without user", func() error { _, err := e.p.FinishSignup(t.Context(), noUser, sbody); return err }},
		{"relabelled log-in ceremony", func() error { _, err := e.p.FinishSignup(t.Context(), asSignup, sbody); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.finish(), provider.KindInvalid, "was not started here")
			if got := e.counts(t); got != before {
				t.Errorf("rows changed %+v -> %+v", before, got)
			}
		})
	}
	// The log-in ceremony was not used up by being shown at the wrong door.
	if _, err := e.p.FinishLogin(t.Context(), lc, lbody); err != nil {
		t.Errorf("FinishLogin with the right ceremony: %v", err)
	}
	if _, err := provider.UnmarshalCeremony([]byte("not json")); err == nil {
		t.Error("UnmarshalCeremony accepted garbage")
	}
}

func TestMalformedResponse(t *testing.T) {
	e := newEnv(t, 0)
	sc, sbody := e.beginSignup(t, "ada@example.com", "Ada", softauthn.Tweaks{})
	iss := e.signup(t, "bob@example.com", "Bob")
	lc, lbody := e.beginLogin(t, softauthn.Tweaks{Credential: e.auth.Credentials()[1].ID})
	before := e.counts(t)
	bodies := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"truncated", sbody[:len(sbody)/2]},
		{"null", []byte("null")},
		{"array", []byte("[]")},
		{"empty object", []byte("{}")},
		{"only an id", []byte(`{"id":"AAAA","rawId":"AAAA","type":"public-key"}`)},
		{"wrong credential type", bytes.Replace(sbody, []byte(`"public-key"`), []byte(`"password"`), 1)},
		{"id is not base64url", bytes.Replace(sbody, []byte(`"id":"`), []byte(`"id":"!!`), 1)},
		{"binary", []byte{0xff, 0xfe, 0x00, 0x7b}},
	}
	for _, b := range bodies {
		t.Run("sign-up/"+b.name, func(t *testing.T) {
			_, err := e.p.FinishSignup(t.Context(), sc, b.body)
			wantError(t, err, provider.KindInvalid, "could not be read")
		})
		t.Run("log-in/"+b.name, func(t *testing.T) {
			_, err := e.p.FinishLogin(t.Context(), lc, b.body)
			wantError(t, err, provider.KindInvalid, "could not be read")
		})
	}
	t.Run("log-in response at sign-up", func(t *testing.T) {
		_, err := e.p.FinishSignup(t.Context(), sc, lbody)
		wantError(t, err, provider.KindInvalid, "could not be read")
	})
	t.Run("sign-up response at log-in", func(t *testing.T) {
		// It parses (it carries authenticatorData) but has no user handle or signature.
		_, err := e.p.FinishLogin(t.Context(), lc, sbody)
		wantError(t, err, provider.KindUnauthorized, "could not be verified")
	})
	if got := e.counts(t); got != before {
		t.Errorf("malformed responses changed rows %+v -> %+v", before, got)
	}
	// Both ceremonies still work with their real responses.
	if _, err := e.p.FinishSignup(t.Context(), sc, sbody); err != nil {
		t.Errorf("FinishSignup: %v", err)
	}
	if got, err := e.p.FinishLogin(t.Context(), lc, lbody); err != nil || got.User.ID != iss.User.ID {
		t.Errorf("FinishLogin = %+v, %v", got.User, err)
	}
}

func TestEmailTaken(t *testing.T) {
	t.Run("between begin and finish", func(t *testing.T) {
		e := newEnv(t, 0)
		first, firstBody := e.beginSignup(t, "ada@example.com", "Ada", softauthn.Tweaks{})
		second, secondBody := e.beginSignup(t, "ADA@example.com", "Ada Two", softauthn.Tweaks{})
		winner, err := e.p.FinishSignup(t.Context(), second, secondBody)
		if err != nil {
			t.Fatalf("second FinishSignup: %v", err)
		}
		before := e.counts(t)
		_, err = e.p.FinishSignup(t.Context(), first, firstBody)
		wantError(t, err, provider.KindConflict, "already registered")
		if !errors.Is(err, store.ErrEmailTaken) {
			t.Errorf("error = %v, want it to wrap store.ErrEmailTaken", err)
		}
		if got := e.counts(t); got != before {
			t.Errorf("refused sign-up changed rows %+v -> %+v", before, got)
		}
		if u, err := e.st.UserByEmail(t.Context(), "ada@example.com"); err != nil || u.ID != winner.User.ID || u.Name != "Ada Two" {
			t.Errorf("user with the email = %+v, %v; want the winner %s", u, err, winner.User.ID)
		}
	})
	t.Run("at begin", func(t *testing.T) {
		e := newEnv(t, 0)
		e.signup(t, "ada@example.com", "Ada")
		for _, email := range []string{"ada@example.com", " ADA@Example.com "} {
			cc, _, err := e.p.BeginSignup(t.Context(), email, "Someone Else")
			if cc != nil {
				t.Errorf("BeginSignup(%q) returned options", email)
			}
			wantError(t, err, provider.KindConflict, "already registered")
		}
	})
}

func TestSignUpFields(t *testing.T) {
	e := newEnv(t, 0)
	good := []struct{ email, name, wantEmail, wantName string }{
		{"ada@example.com", "Ada", "ada@example.com", "Ada"},
		{"  Ada.Lovelace+latchkey@Mail.Example.co.uk\t", " Ada \t Lovelace\n", "ada.lovelace+latchkey@mail.example.co.uk", "Ada Lovelace"},
		{"o'brien@example.ie", "Seán Ó Briain", "o'brien@example.ie", "Seán Ó Briain"},
		{"x@y.io", strings.Repeat("é", 100), "x@y.io", strings.Repeat("é", 100)},
		{"zoë@example.com", "李小龍", "zoë@example.com", "李小龍"},
	}
	for _, tc := range good {
		t.Run("good/"+tc.wantEmail, func(t *testing.T) {
			email, name, err := provider.CleanSignup(tc.email, tc.name)
			if err != nil || email != tc.wantEmail || name != tc.wantName {
				t.Errorf("CleanSignup = %q, %q, %v; want %q, %q", email, name, err, tc.wantEmail, tc.wantName)
			}
			cc, c, err := e.p.BeginSignup(t.Context(), tc.email, tc.name)
			if err != nil {
				t.Fatalf("BeginSignup: %v", err)
			}
			if c.Email != tc.wantEmail || c.Name != tc.wantName || cc.Response.User.Name != tc.wantEmail || cc.Response.User.DisplayName != tc.wantName {
				t.Errorf("ceremony %+v, user entity %+v", c, cc.Response.User)
			}
		})
	}

	const (
		badEmail  = "Enter a valid email address"
		noEmail   = "Enter your email address."
		noName    = "Enter your full name."
		longName  = "at most 100 characters"
		oddName   = "cannot be shown"
		validName = "Ada"
		validMail = "ada@example.com"
	)
	bad := []struct {
		label, email, name string
		want               []string
	}{
		{"no email", "", validName, []string{noEmail}},
		{"blank email", "   ", validName, []string{noEmail}},
		{"no at", "ada.example.com", validName, []string{badEmail}},
		{"no local part", "@example.com", validName, []string{badEmail}},
		{"no domain", "ada@", validName, []string{badEmail}},
		{"dotless domain", "ada@localhost", validName, []string{badEmail}},
		{"two ats", "ada@@example.com", validName, []string{badEmail}},
		{"display-name form", "Ada <ada@example.com>", validName, []string{badEmail}},
		{"space inside", "ada lovelace@example.com", validName, []string{badEmail}},
		{"newline inside", "ada@example.com\nbcc@evil.example", validName, []string{badEmail}},
		{"too long", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com", validName, []string{badEmail}},
		{"no name", validMail, "", []string{noName}},
		{"blank name", validMail, " \t\n ", []string{noName}},
		{"long name", validMail, strings.Repeat("a", 101), []string{longName}},
		{"control character", validMail, "Ada\x00Lovelace", []string{oddName}},
		{"private-use character", validMail, "Ada\ue000Lovelace", []string{oddName}}, // a zero-width space is fine in a name now (TestNameRules)
		{"right-to-left override", validMail, "Ada\u202eLovelace", []string{oddName}},
		{"invalid UTF-8", validMail, "Ada\xff", []string{oddName}},
		{"both wrong", "nope", "", []string{badEmail, noName}},
	}
	before := e.counts(t)
	for _, tc := range bad {
		t.Run("bad/"+tc.label, func(t *testing.T) {
			if _, _, err := provider.CleanSignup(tc.email, tc.name); err == nil {
				t.Errorf("CleanSignup(%q, %q) accepted", tc.email, tc.name)
			}
			cc, c, err := e.p.BeginSignup(t.Context(), tc.email, tc.name)
			if cc != nil || c.Kind != "" || c.UserID != "" || c.Session.Challenge != "" {
				t.Errorf("BeginSignup returned options or a ceremony on error")
			}
			for _, w := range tc.want {
				wantError(t, err, provider.KindInvalid, w)
			}
		})
	}
	if got := e.counts(t); got != before {
		t.Errorf("BeginSignup changed rows %+v -> %+v", before, got)
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t, 0)
	ctx := t.Context()
	iss := e.signup(t, "ada@example.com", "Ada")
	c, body := e.beginLogin(t, softauthn.Tweaks{})
	second, err := e.p.FinishLogin(ctx, c, body)
	if err != nil {
		t.Fatal(err)
	}
	active := func(sid string) bool {
		t.Helper()
		ok, err := e.p.SessionActive(ctx, sid)
		if err != nil {
			t.Fatalf("SessionActive: %v", err)
		}
		return ok
	}
	if !active(iss.SessionID) || !active(second.SessionID) {
		t.Fatal("fresh sessions are not active")
	}
	if err := e.p.Revoke(ctx, iss.SessionID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if active(iss.SessionID) {
		t.Error("revoked session is still active")
	}
	if !active(second.SessionID) {
		t.Error("revoking one session ended another")
	}
	for _, sid := range []string{iss.SessionID, "", "ses-unknown"} {
		if err := e.p.Revoke(ctx, sid); err != nil {
			t.Errorf("Revoke(%q) = %v, want nil", sid, err)
		}
	}
	if active("ses-unknown") || active("") {
		t.Error("an unknown session is active")
	}
	e.clock.Advance(lifetime - time.Second)
	if !active(second.SessionID) {
		t.Error("session ended before its lifetime")
	}
	e.clock.Advance(time.Second)
	if active(second.SessionID) {
		t.Error("session outlived its lifetime")
	}
}
