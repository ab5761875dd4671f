package provider

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
)

// ErrorKind says how the HTTP layer should answer.
type ErrorKind int

// Error kinds.
const (
	KindInternal     ErrorKind = iota // 500: our fault
	KindInvalid                       // 400: the request or ceremony response is wrong
	KindUnauthorized                  // 401: not a passkey we know, or not verified
	KindConflict                      // 409: email or passkey already registered
	KindExpired                       // 400: the ceremony took too long
)

// Codes name the outcomes the page answers with more than words (an offer to log in, to sign up, or a
// field to fix). They are part of the JSON the passkey script reads.
const (
	CodeInvalidFields  = "invalid_fields"  // Fields says which sign-up field is wrong
	CodeEmailTaken     = "email_taken"     // offer to log in instead
	CodeUnknownPasskey = "unknown_passkey" // the passkey is not (or no longer) registered here
	CodeNotVerified    = "not_verified"    // the device did not check it was the person
	CodeExpired        = "expired"         // the prompt took too long
)

// Error is a provider failure: Msg is plain words for the person, Err the detail for the log. Code (one of
// the Code constants, or empty) and Fields (sign-up field name → plain words) let the page offer the way
// forward.
type Error struct {
	Kind   ErrorKind
	Code   string
	Msg    string
	Fields map[string]string
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func internal(err error) error {
	return &Error{Kind: KindInternal, Msg: "Something went wrong on our side. Please try again.", Err: err}
}

// describe adds go-webauthn's detail fields (type, details, devInfo) to an error for the log.
func describe(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("%w (type=%s details=%q info=%q)", err, pe.Type, pe.Details, pe.DevInfo)
	}
	return err
}

// ceremonyError turns a go-webauthn verification failure into plain words. Only go-webauthn's own fixed
// wording is matched — never the parts of the message that quote what the client sent.
func ceremonyError(what string, err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		switch {
		case pe.Details == "Session has Expired":
			return &Error{Kind: KindExpired, Code: CodeExpired, Msg: "The passkey prompt timed out. Please try again.", Err: fmt.Errorf("%s: %w", what, describe(err))}
		case strings.HasPrefix(pe.DevInfo, "User verification required"), strings.HasPrefix(pe.DevInfo, "User presence required"):
			return &Error{Kind: KindUnauthorized, Code: CodeNotVerified, Msg: "Your device did not confirm it was you (no PIN, fingerprint or face check). Please try again.", Err: fmt.Errorf("%s: %w", what, describe(err))}
		}
	}
	return &Error{Kind: KindUnauthorized, Msg: "The passkey could not be verified. Please try again.", Err: fmt.Errorf("%s: %w", what, describe(err))}
}
