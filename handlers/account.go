package handlers

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/aaguid"
	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/provider"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/useragent"
)

// AccountStore is what the account page reads and changes.
type AccountStore interface {
	PasskeysByUser(ctx context.Context, userID string) ([]store.Passkey, error)
	RenamePasskey(ctx context.Context, userID string, credentialID []byte, name string) error
	DeletePasskey(ctx context.Context, userID string, credentialID []byte, keepPublicID string, now time.Time) error
	RenameUser(ctx context.Context, id, name string) error
	SessionsOfUser(ctx context.Context, userID string, now time.Time) ([]store.AppSession, error)
	RevokeSession(ctx context.Context, userID, publicID string, now time.Time) error
	RevokeOtherSessions(ctx context.Context, userID, keepPublicID string, now time.Time) (int, error)
}

// ActivityLog records and lists what happened to an account.
type ActivityLog interface {
	Record(ctx context.Context, userID, kind, detail string)
	Recent(ctx context.Context, userID string) ([]store.Activity, error)
}

// PasskeyNames names passkeys by their authenticator's AAGUID.
type PasskeyNames interface {
	Lookup(aaguid []byte) (aaguid.Authenticator, bool)
}

const maxPasskeyName = 64

// requestOrigin puts where the request comes from (client IP, user agent) into its context, for the
// activity log.
func (h *Handler) requestOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := h.device(r)
		next.ServeHTTP(w, r.WithContext(activity.WithRequest(r.Context(), activity.Request{IP: d.IP, UserAgent: d.UserAgent})))
	})
}

// record appends to the activity log, when there is one.
func (h *Handler) record(ctx context.Context, userID, kind, detail string) {
	if h.deps.Activity != nil {
		h.deps.Activity.Record(ctx, userID, kind, detail)
	}
}

// account builds the account part of the home page for u.
func (h *Handler) account(ctx context.Context, u session.User, renaming, deleting string) (*components.AccountView, error) {
	if h.deps.Account == nil {
		return nil, nil
	}
	now := time.Now()
	v := &components.AccountView{ManagePasskeys: h.deps.Ceremonies != nil, DisplayName: u.Name, Renaming: renaming, Deleting: deleting}
	if v.ManagePasskeys {
		keys, err := h.deps.Account.PasskeysByUser(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		sig := &components.Signal{RPID: h.deps.RPID, UserID: b64(u.ID), Name: u.Email, DisplayName: u.Name}
		for _, k := range keys {
			v.Passkeys = append(v.Passkeys, h.passkeyRow(k))
			sig.CredentialIDs = append(sig.CredentialIDs, b64(string(k.CredentialID)))
		}
		v.Signal = sig
	}
	sessions, err := h.deps.Account.SessionsOfUser(ctx, u.ID, now)
	if err != nil {
		return nil, err
	}
	for _, s := range sessions {
		v.Sessions = append(v.Sessions, components.SessionRow{
			ID: s.PublicID, Device: useragent.Parse(s.UserAgent).String(), IP: orDash(s.IP),
			Created: day(s.CreatedAt, true), LastSeen: day(s.LastSeenAt, true), Current: s.PublicID == u.PublicID,
		})
	}
	if h.deps.Activity != nil {
		entries, err := h.deps.Activity.Recent(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range entries {
			v.Activity = append(v.Activity, components.ActivityRow{When: day(a.At, true), What: a.Kind, Detail: a.Detail,
				IP: orDash(a.IP), Device: useragent.Parse(a.UserAgent).String()})
		}
	}
	return v, nil
}

func (h *Handler) passkeyRow(k store.Passkey) components.PasskeyRow {
	row := components.PasskeyRow{ID: b64(string(k.CredentialID)), Synced: k.BackupState, Created: day(k.CreatedAt, false),
		LastUsed: "never"}
	if !k.LastUsedAt.IsZero() {
		row.LastUsed = day(k.LastUsedAt, true)
	}
	if !k.CloneWarningAt.IsZero() {
		row.CloneWarning = day(k.CloneWarningAt, true)
	}
	if h.deps.PasskeyNames != nil {
		if a, ok := h.deps.PasskeyNames.Lookup(k.AAGUID); ok {
			row.Provider, row.Icon = a.Name, a.IconLight
		}
	}
	row.Name = k.Name
	if row.Name == "" {
		row.Name = row.Provider
	}
	if row.Name == "" {
		row.Name = "Passkey"
	}
	return row
}

// renderAccount answers an account action: for htmx the home page with announce said and focus on the
// section (focus, an element ID); otherwise a redirect to /home.
func (h *Handler) renderAccount(w http.ResponseWriter, r *http.Request, u session.User, announce, focus string) {
	if !wantsFragment(r) {
		redirect(w, r, "/home")
		return
	}
	h.renderHomeWith(w, r, http.StatusOK, u, homeState{announce: announce, focus: focus})
}

// loggedIn returns the session's user, or answers with the login page (a revoked or expired session
// lands there at its next click).
func (h *Handler) loggedIn(w http.ResponseWriter, r *http.Request) (session.User, bool) {
	u, ok := h.deps.Sessions.User(r.Context())
	if !ok {
		redirect(w, r, "/")
	}
	return u, ok
}

// formValue reads one field of a small form body.
func formValue(w http.ResponseWriter, r *http.Request, name string) string {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	return r.PostForm.Get(name)
}

func (h *Handler) revokeSession(w http.ResponseWriter, r *http.Request) {
	u, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	id := formValue(w, r, "id")
	if id == u.PublicID {
		h.fail(w, r, http.StatusBadRequest, "Use Log out", "To end the session on this device, use Log out.", errors.New("revoke of the current session"))
		return
	}
	switch err := h.deps.Account.RevokeSession(r.Context(), u.ID, id, time.Now()); {
	case errors.Is(err, store.ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "Session not found", "That session has already ended.", err)
		return
	case err != nil:
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not end that session. Please try again.", err)
		return
	}
	h.record(r.Context(), u.ID, activity.SessionRevoked, "")
	h.renderAccount(w, r, u, "Session revoked", "sessions-heading")
}

func (h *Handler) revokeOtherSessions(w http.ResponseWriter, r *http.Request) {
	u, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	if u.PublicID == "" {
		h.fail(w, r, http.StatusConflict, "Log in again", "This session is too old to keep while ending the others. Log out, log in again, then try once more.", errors.New("current session has no public id"))
		return
	}
	n, err := h.deps.Account.RevokeOtherSessions(r.Context(), u.ID, u.PublicID, time.Now())
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not end your other sessions. Please try again.", err)
		return
	}
	h.record(r.Context(), u.ID, activity.LoggedOutElse, "")
	msg := "Logged out everywhere else"
	if n == 0 {
		msg = "You were not logged in anywhere else"
	}
	h.renderAccount(w, r, u, msg, "sessions-heading")
}

// credentialID decodes a passkey ID from a form.
func credentialID(s string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return b, err == nil && len(b) > 0 && len(b) <= 1023
}

func (h *Handler) renamePasskey(w http.ResponseWriter, r *http.Request) {
	u, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	id, okID := credentialID(r.PostForm.Get("id"))
	name, err := provider.CleanName(r.PostForm.Get("name"))
	switch {
	case !okID:
		h.fail(w, r, http.StatusBadRequest, "Passkey not found", "That passkey does not exist.", errors.New("bad passkey id"))
		return
	case err == nil && len([]rune(name)) > maxPasskeyName:
		err = errors.New("passkey name too long")
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "Name not saved", "A passkey name needs 1 to 64 printable characters.", err)
		return
	}
	switch err := h.deps.Account.RenamePasskey(r.Context(), u.ID, id, name); {
	case errors.Is(err, store.ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "Passkey not found", "That passkey does not exist.", err)
		return
	case err != nil:
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not rename the passkey. Please try again.", err)
		return
	}
	h.record(r.Context(), u.ID, activity.PasskeyRenamed, name)
	h.renderAccount(w, r, u, "Passkey renamed to "+name, "passkeys-heading")
}

func (h *Handler) deletePasskey(w http.ResponseWriter, r *http.Request) {
	u, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	id, okID := credentialID(formValue(w, r, "id"))
	if !okID {
		h.fail(w, r, http.StatusBadRequest, "Passkey not found", "That passkey does not exist.", errors.New("bad passkey id"))
		return
	}
	name := "Passkey"
	if keys, err := h.deps.Account.PasskeysByUser(r.Context(), u.ID); err == nil {
		for _, k := range keys {
			if string(k.CredentialID) == string(id) {
				name = h.passkeyRow(k).Name
			}
		}
	}
	switch err := h.deps.Account.DeletePasskey(r.Context(), u.ID, id, u.PublicID, time.Now()); {
	case errors.Is(err, store.ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "Passkey not found", "That passkey was already deleted.", err)
		return
	case err != nil:
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not delete the passkey. Please try again.", err)
		return
	}
	h.record(r.Context(), u.ID, activity.PasskeyRemoved, name)
	h.renderAccount(w, r, u, "Passkey deleted: "+name, "passkeys-heading")
}

func (h *Handler) changeName(w http.ResponseWriter, r *http.Request) {
	u, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	name, err := provider.CleanName(formValue(w, r, "name"))
	if err != nil {
		var pe *provider.Error
		msg := "Enter your name."
		if errors.As(err, &pe) {
			msg = pe.Msg
		}
		h.logFailure(r, http.StatusBadRequest, err)
		if !wantsFragment(r) {
			h.fail(w, r, http.StatusBadRequest, "Name not saved", msg, err)
			return
		}
		h.renderHomeWith(w, r, http.StatusBadRequest, u, homeState{announce: "Name not saved", focus: "account-name", nameError: msg})
		return
	}
	if err := h.deps.Account.RenameUser(r.Context(), u.ID, name); err != nil {
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not save your name. Please try again.", err)
		return
	}
	h.deps.Sessions.Rename(r.Context(), name)
	u.Name = name
	h.record(r.Context(), u.ID, activity.NameChanged, "")
	h.renderAccount(w, r, u, "Name saved", "name-heading")
}

func (h *Handler) addPasskeyBegin(w http.ResponseWriter, r *http.Request) {
	u, ok := h.deps.Sessions.User(r.Context())
	if !ok {
		h.failJSON(w, r, http.StatusUnauthorized, "You are no longer logged in. Log in again to add a passkey.", errors.New("no session"))
		return
	}
	var req struct{}
	if !h.decodeJSON(w, r, &req) {
		h.metrics.PasskeyAdd.Failed(metrics.ReasonBadRequest)
		return
	}
	creation, c, err := h.deps.Ceremonies.BeginAddPasskey(r.Context(), u.ID)
	h.begin(w, r, creation, c, err, h.metrics.PasskeyAdd)
}

func (h *Handler) addPasskeyFinish(w http.ResponseWriter, r *http.Request) {
	u, ok := h.deps.Sessions.User(r.Context())
	if !ok {
		h.failJSON(w, r, http.StatusUnauthorized, "You are no longer logged in. Log in again to add a passkey.", errors.New("no session"))
		return
	}
	o := h.metrics.PasskeyAdd
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
	if _, err := h.deps.Ceremonies.FinishAddPasskey(r.Context(), c, body, u.ID); err != nil {
		o.Failed(ceremonyReason(err))
		h.providerError(w, r, err)
		return
	}
	o.Succeeded()
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// b64 is s as unpadded base64url.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// day formats t for the account page ("2 Dec 2026", with the time "2 Dec 2026, 01:15 UTC").
func day(t time.Time, withTime bool) string {
	if t.IsZero() {
		return "unknown"
	}
	if withTime {
		return t.UTC().Format("2 Jan 2006, 15:04 UTC")
	}
	return t.UTC().Format("2 Jan 2006")
}

func orDash(s string) string {
	if s == "" {
		return "unknown IP"
	}
	return s
}
