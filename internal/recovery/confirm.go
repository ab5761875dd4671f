package recovery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	"github.com/latchkey/latchkey/internal/activity"
	"github.com/latchkey/latchkey/internal/store"
)

// ConfirmTTL is how long an email confirmation link works (once).
const ConfirmTTL = 24 * time.Hour

// EmailConfirmedKind is the activity entry of a confirmed address.
const EmailConfirmedKind = activity.EmailConfirmed

// MailEnabled says whether there is a mail server (emailed links and email confirmation).
func (s *Service) MailEnabled() bool { return s.d.Mailer != nil }

// SendConfirmation mails u a one-time link that confirms their email address, in the background
// (bounded by MailTimeout): sign-up never waits for mail. Without a mail server it does nothing.
func (s *Service) SendConfirmation(ctx context.Context, u store.User) {
	if s.d.Mailer == nil {
		return
	}
	s.mailing.Add(1)
	go func() {
		defer s.mailing.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), MailTimeout)
		defer cancel()
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			s.d.Log.ErrorContext(ctx, "email confirmation: no randomness", "err", err)
			return
		}
		token := base64.RawURLEncoding.EncodeToString(b)
		sum := sha256.Sum256([]byte(token))
		now := s.d.Now()
		if err := s.d.Store.CreateEmailConfirmation(ctx, store.RecoveryLink{Hash: sum[:], UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(ConfirmTTL)}); err != nil {
			s.d.Log.ErrorContext(ctx, "email confirmation: could not create the link", "user_id", u.ID, "err", err)
			return
		}
		if err := s.d.Mailer.SendConfirmLink(ctx, u.Email, token); err != nil {
			s.d.Log.ErrorContext(ctx, "email confirmation: could not send the mail", "user_id", u.ID, "err", err)
			return
		}
		s.d.Log.InfoContext(ctx, "email confirmation link sent", "user_id", u.ID)
	}()
}

// CheckConfirmation says whether token is a usable confirmation link, without using it.
func (s *Service) CheckConfirmation(ctx context.Context, token string) error {
	sum := sha256.Sum256([]byte(token))
	_, err := s.d.Store.EmailConfirmationUser(ctx, sum[:], s.d.Now())
	return linkError(err)
}

// Confirm uses token once and marks its account's email address confirmed.
func (s *Service) Confirm(ctx context.Context, token string) error {
	sum := sha256.Sum256([]byte(token))
	id, err := s.d.Store.ConfirmEmail(ctx, sum[:], s.d.Now())
	if err != nil {
		return linkError(err)
	}
	s.record(ctx, id, EmailConfirmedKind, "")
	return nil
}

// EmailConfirmed says whether userID's email address is confirmed.
func (s *Service) EmailConfirmed(ctx context.Context, userID string) (bool, error) {
	return s.d.Store.EmailConfirmed(ctx, userID)
}
