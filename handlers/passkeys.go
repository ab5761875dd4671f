package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/provider"
)

const (
	maxCeremonyBody = 64 << 10 // a WebAuthn response is a few KB; anything bigger is not one
	ceremonyValue   = "c"
)

// ceremonyCookies keeps WebAuthn ceremony state in a signed, encrypted cookie (gorilla/sessions), so a
// "begin" writes nothing to the database.
type ceremonyCookies struct {
	store *sessions.CookieStore
	name  string
}

func newCeremonyCookies(keys [][]byte, lifetime time.Duration, secure bool) *ceremonyCookies {
	maxAge := int(lifetime.Round(time.Second) / time.Second)
	if maxAge <= 0 || maxAge > 300 {
		maxAge = 300
	}
	cs := sessions.NewCookieStore(keys...)
	cs.Options = &sessions.Options{Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
	cs.MaxAge(maxAge) // also bounds the signed timestamp, so an old cookie fails to decode
	name := "latchkey_ceremony"
	if secure {
		name = "__Host-latchkey_ceremony"
	}
	return &ceremonyCookies{store: cs, name: name}
}

func (cc *ceremonyCookies) save(w http.ResponseWriter, r *http.Request, c provider.Ceremony) error {
	b, err := provider.MarshalCeremony(c)
	if err != nil {
		return err
	}
	s := sessions.NewSession(cc.store, cc.name)
	opts := *cc.store.Options
	s.Options = &opts
	s.IsNew = true
	s.Values[ceremonyValue] = b
	return cc.store.Save(r, w, s)
}

// take reads the ceremony state and expires the cookie: a ceremony is finished at most once per cookie.
func (cc *ceremonyCookies) take(w http.ResponseWriter, r *http.Request) (provider.Ceremony, error) {
	s, err := cc.store.Get(r, cc.name)
	s.Options.MaxAge = -1
	if saveErr := cc.store.Save(r, w, s); saveErr != nil && err == nil {
		err = saveErr
	}
	if err != nil {
		return provider.Ceremony{}, fmt.Errorf("ceremony cookie: %w", err)
	}
	b, ok := s.Values[ceremonyValue].([]byte)
	if !ok {
		return provider.Ceremony{}, errors.New("no ceremony cookie")
	}
	return provider.UnmarshalCeremony(b)
}

type signupRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

func (h *Handler) signupBegin(w http.ResponseWriter, r *http.Request) {
	var req signupRequest
	if !h.decodeJSON(w, r, &req) {
		h.metrics.Signup.Failed(metrics.ReasonBadRequest)
		return
	}
	creation, c, err := h.deps.Ceremonies.BeginSignup(r.Context(), req.Email, req.Name)
	h.begin(w, r, creation, c, err, h.metrics.Signup)
}

func (h *Handler) signupFinish(w http.ResponseWriter, r *http.Request) {
	h.finish(w, r, func(ctx context.Context, c provider.Ceremony, body []byte) (provider.Issued, error) {
		iss, err := h.deps.Ceremonies.FinishSignup(ctx, c, body)
		if err == nil && h.deps.EmailConfirm != nil {
			h.deps.EmailConfirm.SendConfirmation(ctx, iss.User) // in the background: sign-up never waits for mail
		}
		return iss, err
	}, h.metrics.Signup)
}

func (h *Handler) loginBegin(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if !h.decodeJSON(w, r, &req) {
		h.metrics.Login.Failed(metrics.ReasonBadRequest)
		return
	}
	assertion, c, err := h.deps.Ceremonies.BeginLogin(r.Context())
	h.begin(w, r, assertion, c, err, h.metrics.Login)
}

// begin answers either ceremony's first half: the WebAuthn options as JSON, the state in the cookie. A
// failure is counted in o (nil: not counted).
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, options any, c provider.Ceremony, err error, o *metrics.Outcomes) {
	if err != nil {
		o.Failed(ceremonyReason(err))
		h.providerError(w, r, err)
		return
	}
	if err := h.ceremony.save(w, r, c); err != nil {
		o.Failed(metrics.ReasonInternal)
		h.failJSON(w, r, http.StatusInternalServerError, "Something went wrong on our side. Please try again.", err)
		return
	}
	writeJSON(w, http.StatusOK, options)
}

func (h *Handler) loginFinish(w http.ResponseWriter, r *http.Request) {
	h.finish(w, r, h.deps.Ceremonies.FinishLogin, h.metrics.Login)
}

// finish runs either ceremony's second half and, on success, sets the session JWT cookie. The outcome
// is counted in o.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, run func(context.Context, provider.Ceremony, []byte) (provider.Issued, error), o *metrics.Outcomes) {
	body, ok := h.readJSONBody(w, r)
	if !ok {
		o.Failed(metrics.ReasonBadRequest)
		return
	}
	c, err := h.ceremony.take(w, r)
	if err != nil {
		o.Failed(metrics.ReasonNoCeremony)
		h.failJSON(w, r, http.StatusBadRequest, "This passkey prompt has expired or was not started here. Please try again.", err)
		return
	}
	issued, err := run(r.Context(), c, body)
	if err != nil {
		o.Failed(ceremonyReason(err))
		h.providerError(w, r, err)
		return
	}
	o.Succeeded()
	http.SetCookie(w, &http.Cookie{
		Name:     SessionTokenCookie,
		Value:    issued.Token,
		Path:     "/",
		Expires:  issued.ExpiresAt,
		MaxAge:   int(time.Until(issued.ExpiresAt).Seconds()),
		HttpOnly: true,
		Secure:   h.deps.Secure,
		SameSite: http.SameSiteLaxMode,
	})
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// providerError answers a provider failure with its plain words and the matching status.
func (h *Handler) providerError(w http.ResponseWriter, r *http.Request, err error) {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		h.failJSON(w, r, http.StatusInternalServerError, "Something went wrong on our side. Please try again.", err)
		return
	}
	status := http.StatusInternalServerError
	switch pe.Kind {
	case provider.KindInvalid, provider.KindExpired:
		status = http.StatusBadRequest
	case provider.KindUnauthorized:
		status = http.StatusUnauthorized
	case provider.KindConflict:
		status = http.StatusConflict
	}
	h.logFailure(r, status, err)
	writeJSON(w, status, jsonError{Error: pe.Msg, Code: pe.Code, Fields: pe.Fields})
}

// jsonError is the body of a refused JSON request: plain words, and for the outcomes the page answers
// with more than words, a code and the sign-up fields to fix.
type jsonError struct {
	Error  string            `json:"error"`
	Code   string            `json:"code,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

// readJSONBody insists on an application/json body of at most maxCeremonyBody bytes, all UTF-8, with no
// repeated object keys (checkStrictJSON). Every JSON body the server reads comes through here: the small
// ones decodeJSON decodes and the ceremony responses go-webauthn parses.
func (h *Handler) readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		h.failJSON(w, r, http.StatusUnsupportedMediaType, "This request must be sent as JSON.", fmt.Errorf("content type %q", r.Header.Get("Content-Type")))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCeremonyBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.failJSON(w, r, http.StatusRequestEntityTooLarge, "This request is too large.", err)
			return nil, false
		}
		h.failJSON(w, r, http.StatusBadRequest, "This request could not be read. Please try again.", err)
		return nil, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		h.failJSON(w, r, http.StatusBadRequest, "This request is empty.", errors.New("empty body"))
		return nil, false
	}
	if msg, err := checkStrictJSON(body); err != nil {
		h.failJSON(w, r, http.StatusBadRequest, msg, fmt.Errorf("strict JSON: %w", err))
		return nil, false
	}
	return body, true
}

// decodeJSON reads a small JSON object strictly: no unknown fields, no trailing data, and (readJSONBody)
// no repeated keys or text that is not UTF-8.
func (h *Handler) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) bool {
	body, ok := h.readJSONBody(w, r)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		h.failJSON(w, r, http.StatusBadRequest, "This request is not valid JSON of the expected shape.", fmt.Errorf("decode %T: %w", dst, err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		h.failJSON(w, r, http.StatusBadRequest, "This request has extra data after the JSON.", errors.New("trailing data"))
		return false
	}
	return true
}
