package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

const passkeyColumns = `credential_id, user_id, public_key, sign_count, aaguid, transports, attestation_type,
	user_present, user_verified, backup_eligible, backup_state, created_at, last_used_at, name, clone_warning_at`

// UserByID returns the user with id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	return s.user(ctx, `SELECT id, email, name, created_at FROM users WHERE id = ?`, id)
}

// UserByEmail returns the user with email (compared lower-cased), or ErrNotFound.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.user(ctx, `SELECT id, email, name, created_at FROM users WHERE email = ?`, strings.ToLower(email))
}

func (s *Store) user(ctx context.Context, query string, arg string) (User, error) {
	var u User
	var created int64
	err := s.queryRow(ctx, s.db, query, arg).Scan(&u.ID, &u.Email, &u.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("store: read user: %w", err)
	}
	u.CreatedAt = fromMillis(created)
	return u, nil
}

// CreateUserWithPasskey registers a new user with their first passkey and logs them in, in one
// transaction: it records the registration challenge as used (ErrChallengeUsed if it already was),
// inserts the user (ErrEmailTaken), the passkey (ErrCredentialExists) and the provider session. On any
// error nothing is written. The email is stored lower-cased.
func (s *Store) CreateUserWithPasskey(ctx context.Context, u User, p Passkey, ch UsedChallenge, ps ProviderSession) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.useChallenge(ctx, tx, ch); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, `INSERT INTO users (id, email, name, created_at) VALUES (?, ?, ?, ?)`,
			u.ID, strings.ToLower(u.Email), u.Name, millis(u.CreatedAt))
		if detail, ok := uniqueViolation(err); ok && strings.Contains(detail, "email") {
			return ErrEmailTaken
		}
		if err != nil {
			return fmt.Errorf("store: insert user: %w", err)
		}
		if err := s.insertPasskey(ctx, tx, p); err != nil {
			return err
		}
		return s.insertProviderSession(ctx, tx, ps)
	})
}

// useChallenge records ch as used, or returns ErrChallengeUsed if it already was.
func (s *Store) useChallenge(ctx context.Context, q querier, ch UsedChallenge) error {
	_, err := s.exec(ctx, q, `INSERT INTO used_challenges (hash, expires_at) VALUES (?, ?)`, ch.Hash, millis(ch.ExpiresAt))
	if _, ok := uniqueViolation(err); ok {
		return ErrChallengeUsed
	}
	if err != nil {
		return fmt.Errorf("store: record challenge: %w", err)
	}
	return nil
}

// insertPasskey inserts p, or returns ErrCredentialExists.
func (s *Store) insertPasskey(ctx context.Context, q querier, p Passkey) error {
	_, err := s.exec(ctx, q, `INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.CredentialID, p.UserID, p.PublicKey, int64(p.SignCount), p.AAGUID, strings.Join(p.Transports, ","),
		p.AttestationType, p.UserPresent, p.UserVerified, p.BackupEligible, p.BackupState,
		millis(p.CreatedAt), nullMillis(p.LastUsedAt), nullString(p.Name), nullMillis(p.CloneWarningAt))
	if _, ok := uniqueViolation(err); ok {
		return ErrCredentialExists
	}
	if err != nil {
		return fmt.Errorf("store: insert passkey: %w", err)
	}
	return nil
}

// PasskeyByCredentialID returns the passkey with credential ID id, or ErrNotFound.
func (s *Store) PasskeyByCredentialID(ctx context.Context, id []byte) (Passkey, error) {
	p, err := scanPasskey(s.queryRow(ctx, s.db, `SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Passkey{}, ErrNotFound
	}
	if err != nil {
		return Passkey{}, fmt.Errorf("store: read passkey: %w", err)
	}
	return p, nil
}

// PasskeysByUser returns the passkeys of user userID, oldest first (none is not an error).
func (s *Store) PasskeysByUser(ctx context.Context, userID string) ([]Passkey, error) {
	rows, err := s.query(ctx, s.db, `SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ?
		ORDER BY created_at, credential_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: list passkeys: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var ps []Passkey
	for rows.Next() {
		p, err := scanPasskey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list passkeys: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list passkeys: %w", err)
	}
	return ps, nil
}

// scanPasskey reads one row of passkeyColumns.
func scanPasskey(row interface{ Scan(dest ...any) error }) (Passkey, error) {
	var p Passkey
	var signCount, created int64
	var transports string
	var lastUsed, cloneWarning sql.NullInt64
	var name sql.NullString
	err := row.Scan(&p.CredentialID, &p.UserID, &p.PublicKey, &signCount, &p.AAGUID, &transports,
		&p.AttestationType, &p.UserPresent, &p.UserVerified, &p.BackupEligible, &p.BackupState,
		&created, &lastUsed, &name, &cloneWarning)
	if err != nil {
		return Passkey{}, err
	}
	p.SignCount = uint32(signCount)
	if transports != "" {
		p.Transports = strings.Split(transports, ",")
	}
	p.CreatedAt = fromMillis(created)
	p.LastUsedAt = fromNullMillis(lastUsed)
	p.Name = name.String
	p.CloneWarningAt = fromNullMillis(cloneWarning)
	return p, nil
}

// RecordLogin records a finished log-in ceremony in one transaction: it records the challenge as used
// (ErrChallengeUsed if it already was), updates the passkey's sign count, backup state and last use
// (ErrNotFound if there is no such passkey), and inserts the provider session. On any error nothing
// is written.
//
// With cloneSuspected (the sign count did not go up), the stored count is kept — never lowered — and the
// passkey's clone warning is set to usedAt.
func (s *Store) RecordLogin(ctx context.Context, credentialID []byte, signCount uint32, backupState, cloneSuspected bool,
	usedAt time.Time, ch UsedChallenge, ps ProviderSession) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.useChallenge(ctx, tx, ch); err != nil {
			return err
		}
		query := `UPDATE passkeys SET sign_count = ?, backup_state = ?, last_used_at = ? WHERE credential_id = ?`
		args := []any{int64(signCount), backupState, millis(usedAt), credentialID}
		if cloneSuspected {
			query = `UPDATE passkeys SET backup_state = ?, last_used_at = ?, clone_warning_at = ? WHERE credential_id = ?`
			args = []any{backupState, millis(usedAt), millis(usedAt), credentialID}
		}
		res, err := s.exec(ctx, tx, query, args...)
		if err != nil {
			return fmt.Errorf("store: update passkey: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: update passkey: %w", err)
		} else if n == 0 {
			return ErrNotFound
		}
		return s.insertProviderSession(ctx, tx, ps)
	})
	if err == nil {
		s.userChanged(ctx, ps.UserID) // the passkey's last use
	}
	return err
}

// DeleteUser deletes user id with their passkeys, and ends every session of theirs in the same
// transaction: app sessions are deleted, provider sessions go with the user, so no JWT or session cookie
// of theirs works afterwards. It returns ErrNotFound for an unknown user.
func (s *Store) DeleteUser(ctx context.Context, id string, now time.Time) error {
	c := change{users: []string{id}}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The user row goes first: on PostgreSQL its cascade waits for a login that holds its provider
		// session (CreateCtx), so the session delete below sees that login's new row.
		if err := s.deleteOne(ctx, tx, "user", `DELETE FROM users WHERE id = ?`, id); err != nil {
			return err
		}
		return s.endUserSessions(ctx, tx, &c, id, now)
	})
	if err == nil {
		s.notify(ctx, c)
	}
	return err
}

// DeletePasskey deletes passkey credentialID of userID and ends the user's sessions in the same
// transaction (app sessions deleted, provider sessions revoked), except the app session keepPublicID —
// the one deleting it on the account page ("" keeps none, as for an administrator): whoever holds the
// removed passkey, or a session it started, is logged out. It returns ErrNotFound when the user has no
// such passkey.
func (s *Store) DeletePasskey(ctx context.Context, userID string, credentialID []byte, keepPublicID string, now time.Time) error {
	c := change{users: []string{userID}}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.deleteOne(ctx, tx, "passkey", `DELETE FROM passkeys WHERE credential_id = ? AND user_id = ?`, credentialID, userID); err != nil {
			return err
		}
		if keepPublicID == "" {
			return s.endUserSessions(ctx, tx, &c, userID, now)
		}
		_, err := s.endSessionsExcept(ctx, tx, &c, userID, keepPublicID, now)
		return err
	})
	if err == nil {
		s.notify(ctx, c)
	}
	return err
}

// deleteOne runs a DELETE of one row of what; ErrNotFound when it deleted none.
func (s *Store) deleteOne(ctx context.Context, q querier, what, query string, args ...any) error {
	res, err := s.exec(ctx, q, query, args...)
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: delete %s: %w", what, err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}
