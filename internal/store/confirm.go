package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CreateEmailConfirmation stores a one-time email confirmation link (l.Hash is the token's SHA-256).
func (s *Store) CreateEmailConfirmation(ctx context.Context, l RecoveryLink) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO email_confirmations (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		l.Hash, l.UserID, millis(l.CreatedAt), millis(l.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store: create email confirmation: %w", err)
	}
	return nil
}

// EmailConfirmationUser returns whose the confirmation link with hash is while it is usable at now,
// without using it: ErrNotFound, ErrLinkUsed or ErrLinkExpired otherwise.
func (s *Store) EmailConfirmationUser(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return s.emailConfirmationUser(ctx, s.db, hash, now)
}

func (s *Store) emailConfirmationUser(ctx context.Context, q querier, hash []byte, now time.Time) (string, error) {
	var (
		userID  string
		expires int64
		used    sql.NullInt64
	)
	err := s.queryRow(ctx, q, `SELECT user_id, expires_at, used_at FROM email_confirmations WHERE hash = ?`, hash).Scan(&userID, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", ErrNotFound
	case err != nil:
		return "", fmt.Errorf("store: read email confirmation: %w", err)
	case used.Valid:
		return "", ErrLinkUsed
	case expires <= millis(now):
		return "", ErrLinkExpired
	}
	return userID, nil
}

// ConfirmEmail uses the confirmation link with hash once and marks its account's email address
// confirmed, in one transaction; it returns whose it is. Errors as EmailConfirmationUser; of two racing
// uses one gets ErrLinkUsed.
func (s *Store) ConfirmEmail(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var userID string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if userID, err = s.emailConfirmationUser(ctx, tx, hash, now); err != nil {
			return err
		}
		res, err := s.exec(ctx, tx, `UPDATE email_confirmations SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`,
			millis(now), hash, millis(now))
		if err != nil {
			return fmt.Errorf("store: use email confirmation: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: use email confirmation: %w", err)
		} else if n == 0 {
			return ErrLinkUsed
		}
		if _, err := s.exec(ctx, tx, `UPDATE users SET email_confirmed_at = ? WHERE id = ? AND email_confirmed_at IS NULL`, millis(now), userID); err != nil {
			return fmt.Errorf("store: confirm email: %w", err)
		}
		return nil
	})
	return userID, err
}

// EmailConfirmed says whether the email address of userID has been confirmed (ErrNotFound: no such user).
func (s *Store) EmailConfirmed(ctx context.Context, userID string) (bool, error) {
	var at sql.NullInt64
	err := s.queryRow(ctx, s.db, `SELECT email_confirmed_at FROM users WHERE id = ?`, userID).Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, ErrNotFound
	case err != nil:
		return false, fmt.Errorf("store: read email confirmation: %w", err)
	}
	return at.Valid, nil
}
