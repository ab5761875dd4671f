package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Errors of account recovery.
var (
	ErrRecoveryCodesExist = errors.New("store: the account already has recovery codes")
	ErrCodeUsed           = errors.New("store: recovery code already used")
	ErrLinkUsed           = errors.New("store: recovery link already used")
	ErrLinkExpired        = errors.New("store: recovery link expired")
)

// RecoveryCode is one stored recovery code: its argon2id hash and salt, never the code.
type RecoveryCode struct {
	ID        string
	UserID    string
	Salt      []byte
	Hash      []byte
	CreatedAt time.Time
	UsedAt    time.Time // zero while unused
}

// RecoveryLink is a one-time recovery link: the SHA-256 of its token, never the token.
type RecoveryLink struct {
	Hash      []byte
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time
}

// CreateFirstRecoveryCodes stores codes as the first set of userID, only if the account never had one
// (ErrRecoveryCodesExist otherwise, ErrNotFound for an unknown user). Two racing calls store one set.
func (s *Store) CreateFirstRecoveryCodes(ctx context.Context, userID string, codes []RecoveryCode, now time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET recovery_codes_at = ? WHERE id = ? AND recovery_codes_at IS NULL`, millis(now), userID)
		if err != nil {
			return fmt.Errorf("store: first recovery codes: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: first recovery codes: %w", err)
		} else if n == 0 {
			if _, err := s.UserByID(ctx, userID); err != nil {
				return err
			}
			return ErrRecoveryCodesExist
		}
		return s.insertRecoveryCodes(ctx, tx, codes)
	})
}

// ReplaceRecoveryCodes makes codes the only recovery codes of userID: the old set dies in the same
// transaction. ErrNotFound for an unknown user.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, codes []RecoveryCode, now time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, `UPDATE users SET recovery_codes_at = ? WHERE id = ?`, millis(now), userID)
		if err != nil {
			return fmt.Errorf("store: replace recovery codes: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: replace recovery codes: %w", err)
		} else if n == 0 {
			return ErrNotFound
		}
		if _, err := s.exec(ctx, tx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("store: replace recovery codes: %w", err)
		}
		return s.insertRecoveryCodes(ctx, tx, codes)
	})
}

func (s *Store) insertRecoveryCodes(ctx context.Context, q querier, codes []RecoveryCode) error {
	for _, c := range codes {
		if _, err := s.exec(ctx, q, `INSERT INTO recovery_codes (id, user_id, salt, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
			c.ID, c.UserID, c.Salt, c.Hash, millis(c.CreatedAt)); err != nil {
			return fmt.Errorf("store: insert recovery code: %w", err)
		}
	}
	return nil
}

// HasRecoveryCodes reports whether userID was ever given a set of recovery codes.
func (s *Store) HasRecoveryCodes(ctx context.Context, userID string) (bool, error) {
	var at sql.NullInt64
	err := s.queryRow(ctx, s.db, `SELECT recovery_codes_at FROM users WHERE id = ?`, userID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return false, ErrNotFound
	}
	if err != nil {
		return false, fmt.Errorf("store: read recovery codes: %w", err)
	}
	return at.Valid, nil
}

// UnusedRecoveryCodes returns the recovery codes of userID that are still unused.
func (s *Store) UnusedRecoveryCodes(ctx context.Context, userID string) ([]RecoveryCode, error) {
	rows, err := s.query(ctx, s.db, `SELECT id, user_id, salt, hash, created_at FROM recovery_codes
		WHERE user_id = ? AND used_at IS NULL ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list recovery codes: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []RecoveryCode
	for rows.Next() {
		var c RecoveryCode
		var created int64
		if err := rows.Scan(&c.ID, &c.UserID, &c.Salt, &c.Hash, &created); err != nil {
			return nil, fmt.Errorf("store: list recovery codes: %w", err)
		}
		c.CreatedAt = fromMillis(created)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list recovery codes: %w", err)
	}
	return out, nil
}

// UseRecoveryCode marks code id of userID used, atomically: of two racing uses one gets ErrCodeUsed.
func (s *Store) UseRecoveryCode(ctx context.Context, userID, id string, now time.Time) error {
	res, err := s.exec(ctx, s.db, `UPDATE recovery_codes SET used_at = ? WHERE id = ? AND user_id = ? AND used_at IS NULL`,
		millis(now), id, userID)
	if err != nil {
		return fmt.Errorf("store: use recovery code: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: use recovery code: %w", err)
	}
	if n == 0 {
		return ErrCodeUsed
	}
	return nil
}

// CreateRecoveryLink stores a one-time recovery link.
func (s *Store) CreateRecoveryLink(ctx context.Context, l RecoveryLink) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO recovery_links (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		l.Hash, l.UserID, millis(l.CreatedAt), millis(l.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store: create recovery link: %w", err)
	}
	return nil
}

// RecoveryLinkUser returns whose the link with hash is while it is usable at now, without using it:
// ErrNotFound, ErrLinkUsed or ErrLinkExpired otherwise.
func (s *Store) RecoveryLinkUser(ctx context.Context, hash []byte, now time.Time) (string, error) {
	return s.recoveryLinkUser(ctx, s.db, hash, now)
}

func (s *Store) recoveryLinkUser(ctx context.Context, q querier, hash []byte, now time.Time) (string, error) {
	var (
		userID  string
		expires int64
		used    sql.NullInt64
	)
	err := s.queryRow(ctx, q, `SELECT user_id, expires_at, used_at FROM recovery_links WHERE hash = ?`, hash).Scan(&userID, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", ErrNotFound
	case err != nil:
		return "", fmt.Errorf("store: read recovery link: %w", err)
	case used.Valid:
		return "", ErrLinkUsed
	case expires <= millis(now):
		return "", ErrLinkExpired
	}
	return userID, nil
}

// UseRecoveryLink uses the link with hash once and returns whose it is: of two racing uses one gets
// ErrLinkUsed; ErrNotFound and ErrLinkExpired as RecoveryLinkUser.
func (s *Store) UseRecoveryLink(ctx context.Context, hash []byte, now time.Time) (string, error) {
	var userID string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if userID, err = s.recoveryLinkUser(ctx, tx, hash, now); err != nil {
			return err
		}
		res, err := s.exec(ctx, tx, `UPDATE recovery_links SET used_at = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?`,
			millis(now), hash, millis(now))
		if err != nil {
			return fmt.Errorf("store: use recovery link: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: use recovery link: %w", err)
		} else if n == 0 {
			return ErrLinkUsed
		}
		return nil
	})
	return userID, err
}
