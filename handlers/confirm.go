package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey/components"
	"github.com/latchkey/latchkey/internal/recovery"
	"github.com/latchkey/latchkey/internal/store"
)

// EmailConfirm is sign-up email confirmation (internal/recovery with a mail server).
type EmailConfirm interface {
	SendConfirmation(ctx context.Context, u store.User)
	CheckConfirmation(ctx context.Context, token string) error
	Confirm(ctx context.Context, token string) error
	EmailConfirmed(ctx context.Context, userID string) (bool, error)
}

// Words the confirmation page answers with (tests assert them).
const (
	msgConfirmUnknown = "This confirmation link is not valid. Check that you copied all of it."
	msgConfirmUsed    = "This confirmation link has been used already: your email address is confirmed."
	msgConfirmExpired = "This confirmation link has expired. Links work for 24 hours."
)

// confirmEmailPage shows a confirmation link: a confirm button, so link scanners and previews (which
// only GET) confirm nothing.
func (h *Handler) confirmEmailPage(w http.ResponseWriter, r *http.Request) {
	token := linkToken(r)
	if err := h.deps.EmailConfirm.CheckConfirmation(r.Context(), token); err != nil {
		h.confirmFailed(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	page := components.ConfirmEmailPage(h.page(r, "Confirm your email address"), components.ConfirmEmailView{Token: url.PathEscape(token)})
	h.render(w, r, http.StatusOK, page, page)
}

// confirmEmail uses the link once and marks the address confirmed. It needs no login.
func (h *Handler) confirmEmail(w http.ResponseWriter, r *http.Request) {
	if err := h.deps.EmailConfirm.Confirm(r.Context(), linkToken(r)); err != nil {
		h.confirmFailed(w, r, err)
		return
	}
	page := components.ConfirmEmailPage(h.page(r, "Email address confirmed"), components.ConfirmEmailView{Done: true})
	h.render(w, r, http.StatusOK, page, page)
}

func (h *Handler) confirmFailed(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusNotFound, msgConfirmUnknown
	switch {
	case errors.Is(err, recovery.ErrLinkUsed):
		status, msg = http.StatusGone, msgConfirmUsed
	case errors.Is(err, recovery.ErrLinkExpired):
		status, msg = http.StatusGone, msgConfirmExpired
	case !errors.Is(err, recovery.ErrLinkUnknown):
		h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "We could not check your confirmation link. Please try again.", err)
		return
	}
	h.logFailure(r, status, err)
	page := components.ConfirmEmailPage(h.page(r, "Confirmation link"), components.ConfirmEmailView{Error: msg})
	h.render(w, r, status, page, page)
}
