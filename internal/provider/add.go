package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/store"
)

// KindAdd is the ceremony of a logged-in person adding a passkey to their account.
const KindAdd = "add"

// AccountStore is what adding a passkey needs beyond Store.
type AccountStore interface {
	AddPasskey(ctx context.Context, p store.Passkey, ch store.UsedChallenge) error
}

// BeginAddPasskey starts a registration ceremony for another passkey of the logged-in user userID; the
// passkeys they already have are excluded, so the same authenticator is not registered twice.
func (p *Provider) BeginAddPasskey(ctx context.Context, userID string) (*protocol.CredentialCreation, Ceremony, error) {
	u, err := p.store.UserByID(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, Ceremony{}, &Error{Kind: KindUnauthorized, Msg: "Your account no longer exists.", Err: err}
	}
	if err != nil {
		return nil, Ceremony{}, internal(fmt.Errorf("look up user: %w", err))
	}
	keys, err := p.store.PasskeysByUser(ctx, u.ID)
	if err != nil {
		return nil, Ceremony{}, internal(fmt.Errorf("list passkeys: %w", err))
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(keys))
	for _, c := range credentials(keys) {
		exclude = append(exclude, c.Descriptor())
	}
	wu := &waUser{id: []byte(u.ID), name: u.Email, display: u.Name}
	creation, sd, err := p.wa.BeginRegistration(wu,
		webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
	)
	if err != nil {
		return nil, Ceremony{}, internal(fmt.Errorf("begin registration: %w", err))
	}
	return creation, Ceremony{Kind: KindAdd, Session: *sd, UserID: u.ID, Email: u.Email, Name: u.Name}, nil
}

// FinishAddPasskey verifies the new passkey of the logged-in user userID (the ceremony must have been
// started by that same user) and stores it, with the challenge as used, in one transaction.
func (p *Provider) FinishAddPasskey(ctx context.Context, c Ceremony, body []byte, userID string) (store.Passkey, error) {
	if c.Kind != KindAdd || c.UserID == "" || c.UserID != userID {
		return store.Passkey{}, &Error{Kind: KindInvalid, Msg: "This passkey was not started here. Please try again.",
			Err: fmt.Errorf("ceremony %q of %q finished by %q", c.Kind, c.UserID, userID)}
	}
	as, ok := p.store.(AccountStore)
	if !ok {
		return store.Passkey{}, internal(errors.New("the store cannot add passkeys"))
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return store.Passkey{}, &Error{Kind: KindInvalid, Msg: "The passkey response could not be read. Please try again.", Err: fmt.Errorf("parse creation response: %w", describe(err))}
	}
	cred, err := p.wa.CreateCredential(&waUser{id: []byte(c.UserID), name: c.Email, display: c.Name}, c.Session, parsed)
	if err != nil {
		return store.Passkey{}, ceremonyError("add passkey", err)
	}
	now := p.opts.Now().UTC()
	pk := newPasskey(cred, c.UserID, now)
	switch err := as.AddPasskey(ctx, pk, p.usedChallenge(c.Session, now)); {
	case errors.Is(err, store.ErrChallengeUsed):
		return store.Passkey{}, &Error{Kind: KindInvalid, Msg: "This passkey was already added. Please start again.", Err: err}
	case errors.Is(err, store.ErrCredentialExists):
		return store.Passkey{}, &Error{Kind: KindConflict, Msg: "This passkey is already registered.", Err: err}
	case errors.Is(err, store.ErrNotFound):
		return store.Passkey{}, &Error{Kind: KindUnauthorized, Msg: "Your account no longer exists.", Err: err}
	case err != nil:
		return store.Passkey{}, internal(fmt.Errorf("add passkey: %w", err))
	}
	p.record(ctx, c.UserID, activity.PasskeyAdded, "")
	return pk, nil
}
