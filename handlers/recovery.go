package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/metrics"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
)

// Recovery is account recovery (internal/recovery): recovery codes and one-time links.
type Recovery interface {
	FirstCodes(ctx context.Context, userID string) ([]string, error)
	NewCodes(ctx context.Context, userID string) ([]string, error)
	Redeem(ctx context.Context, client, email, code string) (store.User, error)
	CheckLink(ctx context.Context, token string) error
	UseLink(ctx context.Context, token string) (store.User, error)
}

// EmailRecovery mails one-time recovery links (internal/recovery with a mail server).
type EmailRecovery interface {
	EmailLink(ctx context.Context, client, email string) error
}

// Words the recovery pages answer with (tests assert them).
const (
	msgRecoverWrong   = "That email address and recovery code do not match, or the code was used already. Check both and try again."
	msgRecoverTooMany = "Too many attempts. Wait 15 minutes, then try again."
	msgLinkUnknown    = "This recovery link is not valid. Check that you copied all of it, or ask for a new one."
	msgLinkUsed       = "This recovery link has been used already. Each link works once: ask for a new one."
	msgLinkExpired    = "This recovery link has expired. Links work for 15 minutes: ask for a new one."
	msgLinkEmailed    = "If an account uses that address, we sent a link to it. It works once, for 15 minutes."
)

// recoveredPath is where every recovery lands: add a new passkey first.
const recoveredPath = "/account/recover"

func (h *Handler) recoverPage(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.deps.Sessions.User(r.Context()); ok {
		redirect(w, r, "/home")
		return
	}
	h.renderRecover(w, r, http.StatusOK, components.RecoverView{})
}

func (h *Handler) renderRecover(w http.ResponseWriter, r *http.Request, status int, v components.RecoverView) {
	v.EmailLink = h.deps.EmailRecovery != nil
	h.render(w, r, status, components.RecoverPage(h.page(r, "Lost your passkey?"), v), components.RecoverFragment(v))
}

// recoverWithCode logs the person in with their email and one recovery code.
func (h *Handler) recoverWithCode(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	email := truncate(r.PostForm.Get("email"), 254)
	u, err := h.deps.Recovery.Redeem(r.Context(), h.device(r).IP, email, truncate(r.PostForm.Get("code"), 64))
	o := h.metrics.Recovery
	switch {
	case errors.Is(err, recovery.ErrWrongCode):
		o.Failed(metrics.ReasonWrongCode)
		h.logFailure(r, http.StatusUnauthorized, err)
		h.renderRecover(w, r, http.StatusUnauthorized, components.RecoverView{Error: msgRecoverWrong, Email: email})
		return
	case errors.Is(err, recovery.ErrTooMany):
		o.Failed(metrics.ReasonTooMany)
		h.logFailure(r, http.StatusTooManyRequests, err)
		w.Header().Set("Retry-After", "900")
		h.renderRecover(w, r, http.StatusTooManyRequests, components.RecoverView{Error: msgRecoverTooMany, Email: email})
		return
	case err != nil:
		o.Failed(metrics.ReasonInternal)
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not check your recovery code. Please try again.", err)
		return
	}
	h.recovered(w, r, u)
}

// recoverByEmail mails a one-time recovery link. Every address gets the same page and words, as fast:
// whether it is registered is decided in the background.
func (h *Handler) recoverByEmail(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	_ = r.ParseForm()
	email := truncate(r.PostForm.Get("email"), 254)
	switch err := h.deps.EmailRecovery.EmailLink(r.Context(), h.device(r).IP, email); {
	case errors.Is(err, recovery.ErrTooMany):
		h.logFailure(r, http.StatusTooManyRequests, err)
		w.Header().Set("Retry-After", "900")
		h.renderRecover(w, r, http.StatusTooManyRequests, components.RecoverView{Error: msgRecoverTooMany})
		return
	case err != nil:
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not send a recovery link. Please try again.", err)
		return
	}
	h.renderRecover(w, r, http.StatusOK, components.RecoverView{Sent: msgLinkEmailed, Announce: msgLinkEmailed})
}

// recovered starts an app session for u after a recovery (there is no provider session) and sends
// them to add a passkey.
func (h *Handler) recovered(w http.ResponseWriter, r *http.Request, u store.User) {
	if _, err := h.deps.Sessions.Login(r.Context(), session.User{ID: u.ID, Name: u.Name, Email: u.Email}, h.device(r)); err != nil {
		h.metrics.Recovery.Failed(metrics.ReasonInternal)
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "Something went wrong on our side. Please try again.", err)
		return
	}
	h.metrics.Recovery.Succeeded()
	h.log.InfoContext(r.Context(), "session started by account recovery", "user_id", u.ID)
	redirect(w, r, recoveredPath)
}

// linkToken is the token of /recover/{token}, if it looks like one.
func linkToken(r *http.Request) string {
	t := r.PathValue("token")
	if len(t) > 100 || strings.ContainsAny(t, "/?#") {
		return ""
	}
	return t
}

// recoveryLinkPage shows an operator's recovery link: a confirm button, so link scanners and previews
// (which only GET) never use it up.
func (h *Handler) recoveryLinkPage(w http.ResponseWriter, r *http.Request) {
	token := linkToken(r)
	if err := h.deps.Recovery.CheckLink(r.Context(), token); err != nil {
		h.linkFailed(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.render(w, r, http.StatusOK, components.RecoveryLinkPage(h.page(r, "Recover your account"), components.RecoveryLinkView{Token: url.PathEscape(token)}),
		components.RecoveryLinkPage(h.page(r, "Recover your account"), components.RecoveryLinkView{Token: url.PathEscape(token)}))
}

// useRecoveryLink uses the link once and logs its person in.
func (h *Handler) useRecoveryLink(w http.ResponseWriter, r *http.Request) {
	u, err := h.deps.Recovery.UseLink(r.Context(), linkToken(r))
	if err != nil {
		h.metrics.Recovery.Failed(linkReason(err))
		h.linkFailed(w, r, err)
		return
	}
	h.recovered(w, r, u)
}

// linkReason is the failure reason a recovery link's error is counted under.
func linkReason(err error) string {
	switch {
	case errors.Is(err, recovery.ErrLinkUsed):
		return metrics.ReasonLinkUsed
	case errors.Is(err, recovery.ErrLinkExpired):
		return metrics.ReasonLinkExpired
	case errors.Is(err, recovery.ErrLinkUnknown):
		return metrics.ReasonLinkUnknown
	}
	return metrics.ReasonInternal
}

func (h *Handler) linkFailed(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusNotFound, msgLinkUnknown
	switch {
	case errors.Is(err, recovery.ErrLinkUsed):
		status, msg = http.StatusGone, msgLinkUsed
	case errors.Is(err, recovery.ErrLinkExpired):
		status, msg = http.StatusGone, msgLinkExpired
	case !errors.Is(err, recovery.ErrLinkUnknown):
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not check your recovery link. Please try again.", err)
		return
	}
	h.logFailure(r, status, err)
	page := components.RecoveryLinkPage(h.page(r, "Recovery link"), components.RecoveryLinkView{Error: msg})
	h.render(w, r, status, page, page)
}

// recoveredPage is where a recovery lands: add a passkey for this device, delete lost ones.
func (h *Handler) recoveredPage(w http.ResponseWriter, r *http.Request) {
	u, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	acc, err := h.account(r.Context(), u, "", "")
	if err != nil || acc == nil {
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not load your account. Please try again.", err)
		return
	}
	page := components.RecoveredPage(h.page(r, "Add a new passkey"), components.RecoveredView{Name: u.Name, Account: *acc})
	h.render(w, r, http.StatusOK, page, page)
}

// newRecoveryCodes replaces the person's recovery codes and shows the new set, once.
func (h *Handler) newRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	u, ok := h.loggedIn(w, r)
	if !ok {
		return
	}
	codes, err := h.deps.Recovery.NewCodes(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not create new recovery codes. Please try again.", err)
		return
	}
	// The codes are shown in this answer only: a full page (no redirect) also without JavaScript.
	h.renderHomeWith(w, r, http.StatusOK, u, homeState{announce: "New recovery codes created. The old ones no longer work.",
		focus: "recovery-codes-panel-heading", codes: codes})
}

// recoveryCodesView is codes as the home page shows them, with the text file to download.
func recoveryCodesView(codes []string) *components.RecoveryCodesView {
	if len(codes) == 0 {
		return nil
	}
	text := "Latchkey recovery codes. Each one logs you in once.\n\n" + strings.Join(codes, "\n") + "\n"
	return &components.RecoveryCodesView{Codes: codes, Download: "data:text/plain;charset=utf-8," + url.PathEscape(text)}
}
