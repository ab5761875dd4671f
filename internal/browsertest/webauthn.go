package browsertest

import (
	"context"
	"fmt"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// AddVirtualAuthenticator enables the WebAuthn domain for the tab (without
// the browser's own UI) and adds a platform-like virtual authenticator:
// CTAP2, internal transport, resident keys, user verification that succeeds,
// and user presence simulated so ceremonies complete on their own.
//
// cdproto's options carry no omitempty, so every flag a ceremony needs is set
// explicitly; leaving AutomaticPresenceSimulation false makes every ceremony
// hang.
func AddVirtualAuthenticator(ctx context.Context) (webauthn.AuthenticatorID, error) {
	var id webauthn.AuthenticatorID
	err := chromedp.Run(ctx,
		webauthn.Enable().WithEnableUI(false),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			id, err = webauthn.AddVirtualAuthenticator(&webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			}).Do(ctx)
			return err
		}),
	)
	if err != nil {
		return "", fmt.Errorf("add virtual authenticator: %w", err)
	}
	return id, nil
}

// Credentials returns the credentials the virtual authenticator holds,
// private keys included (so they can be given back with [AddCredential]).
func Credentials(ctx context.Context, id webauthn.AuthenticatorID) ([]*webauthn.Credential, error) {
	var creds []*webauthn.Credential
	err := chromedp.Run(ctx, chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		creds, err = webauthn.GetCredentials(id).Do(ctx)
		return err
	}))
	if err != nil {
		return nil, fmt.Errorf("get credentials of authenticator %s: %w", id, err)
	}
	return creds, nil
}

// RemoveCredential takes one credential (by its CDP credential ID, base64)
// out of the virtual authenticator.
func RemoveCredential(ctx context.Context, id webauthn.AuthenticatorID, credentialID string) error {
	if err := chromedp.Run(ctx, webauthn.RemoveCredential(id, credentialID)); err != nil {
		return fmt.Errorf("remove credential from authenticator %s: %w", id, err)
	}
	return nil
}

// AddCredential puts a credential (for example one returned by
// [Credentials]) into the virtual authenticator.
func AddCredential(ctx context.Context, id webauthn.AuthenticatorID, cred *webauthn.Credential) error {
	if err := chromedp.Run(ctx, webauthn.AddCredential(id, cred)); err != nil {
		return fmt.Errorf("add credential to authenticator %s: %w", id, err)
	}
	return nil
}
