package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// NewSession describes the app session a login creates: whose it is, the provider session it came from
// (embedded provider), the public ID the account page names it by (never the token), and the device.
type NewSession struct {
	UserID            string
	ProviderSessionID string
	PublicID          string
	IP                string
	UserAgent         string
	CreatedAt         time.Time
}

// AppSession is one live app session of a user, as the account page lists it.
type AppSession struct {
	PublicID   string
	IP         string
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

// SessionsOfUser returns the user's unexpired app sessions that have a public ID, most recently seen
// first.
func (s *Store) SessionsOfUser(ctx context.Context, userID string, now time.Time) ([]AppSession, error) {
	rows, err := s.query(ctx, s.db, `SELECT public_id, ip, user_agent, created_at, last_seen_at, expiry FROM sessions
		WHERE user_id = ? AND expiry > ? AND public_id IS NOT NULL
		ORDER BY last_seen_at DESC, created_at DESC, public_id`, userID, millis(now))
	if err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []AppSession
	for rows.Next() {
		var (
			a                 AppSession
			ip, ua            sql.NullString
			created, lastSeen sql.NullInt64
			expiry            int64
		)
		if err := rows.Scan(&a.PublicID, &ip, &ua, &created, &lastSeen, &expiry); err != nil {
			return nil, fmt.Errorf("store: list sessions: %w", err)
		}
		a.IP, a.UserAgent = ip.String, ua.String
		a.CreatedAt, a.LastSeenAt, a.ExpiresAt = fromNullMillis(created), fromNullMillis(lastSeen), fromMillis(expiry)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list sessions: %w", err)
	}
	return out, nil
}

// RevokeSession ends the app session publicID of userID and revokes the provider session it came from,
// in one transaction. It returns ErrNotFound when the user has no such session (someone else's session
// is never touched).
func (s *Store) RevokeSession(ctx context.Context, userID, publicID string, now time.Time) error {
	c := change{users: []string{userID}}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var sid sql.NullString
		err := s.queryRow(ctx, tx, `SELECT provider_sid FROM sessions WHERE user_id = ? AND public_id = ?`, userID, publicID).Scan(&sid)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: revoke session: %w", err)
		}
		if n, err := s.endSessions(ctx, tx, &c, `user_id = ? AND public_id = ?`, userID, publicID); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		if sid.Valid {
			if _, err := s.exec(ctx, tx, `UPDATE provider_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
				millis(now), sid.String); err != nil {
				return fmt.Errorf("store: revoke provider session: %w", err)
			}
		}
		return nil
	})
	if err == nil {
		s.notify(ctx, c)
	}
	return err
}

// RevokeOtherSessions ends every app session of userID except keepPublicID (and revokes the provider
// sessions they came from), in one transaction, and returns how many it ended.
func (s *Store) RevokeOtherSessions(ctx context.Context, userID, keepPublicID string, now time.Time) (int, error) {
	var n int64
	c := change{users: []string{userID}}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = s.endSessionsExcept(ctx, tx, &c, userID, keepPublicID, now)
		return err
	})
	if err == nil {
		s.notify(ctx, c)
	}
	return int(n), err
}

// endSessionsExcept deletes the app sessions of userID other than keepPublicID and revokes every
// provider session of the user except the kept one's, inside the caller's transaction, and returns how
// many app sessions it ended.
func (s *Store) endSessionsExcept(ctx context.Context, q querier, c *change, userID, keepPublicID string, now time.Time) (int64, error) {
	// Every provider session of the user but the kept session's: also the ones not exchanged yet.
	if _, err := s.exec(ctx, q, `UPDATE provider_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id NOT IN
		(SELECT provider_sid FROM sessions WHERE user_id = ? AND public_id = ? AND provider_sid IS NOT NULL)`,
		millis(now), userID, userID, keepPublicID); err != nil {
		return 0, fmt.Errorf("store: revoke provider sessions: %w", err)
	}
	return s.endSessions(ctx, q, c, `user_id = ? AND (public_id IS NULL OR public_id <> ?)`, userID, keepPublicID)
}

// Activity is one entry of a user's activity log.
type Activity struct {
	ID        string
	UserID    string
	At        time.Time
	Kind      string // e.g. "sign-up", "log-in", "log-in failed", "passkey added"
	IP        string
	UserAgent string
	Detail    string // plain words, e.g. the passkey's name
}

// AddActivity appends an entry to the activity log.
func (s *Store) AddActivity(ctx context.Context, a Activity) error {
	if _, err := s.exec(ctx, s.db, `INSERT INTO activity (id, user_id, at, kind, ip, user_agent, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.UserID, millis(a.At), a.Kind, a.IP, a.UserAgent, a.Detail); err != nil {
		return fmt.Errorf("store: add activity: %w", err)
	}
	s.userChanged(ctx, a.UserID)
	return nil
}

// RecentActivity returns the user's latest limit activity entries, newest first.
func (s *Store) RecentActivity(ctx context.Context, userID string, limit int) ([]Activity, error) {
	rows, err := s.query(ctx, s.db, `SELECT id, user_id, at, kind, ip, user_agent, detail FROM activity
		WHERE user_id = ? ORDER BY at DESC, id DESC LIMIT ?`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list activity: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Activity
	for rows.Next() {
		var a Activity
		var at int64
		if err := rows.Scan(&a.ID, &a.UserID, &at, &a.Kind, &a.IP, &a.UserAgent, &a.Detail); err != nil {
			return nil, fmt.Errorf("store: list activity: %w", err)
		}
		a.At = fromMillis(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list activity: %w", err)
	}
	return out, nil
}

// PruneActivity deletes activity entries older than before and returns how many.
func (s *Store) PruneActivity(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, s.db, `DELETE FROM activity WHERE at < ?`, millis(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune activity: %w", err)
	}
	return res.RowsAffected()
}

// AddPasskey records a passkey added to an existing account, with its registration challenge as used, in
// one transaction (ErrChallengeUsed, ErrCredentialExists, or ErrNotFound for an unknown user).
func (s *Store) AddPasskey(ctx context.Context, p Passkey, ch UsedChallenge) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := s.queryRow(ctx, tx, `SELECT 1 FROM users WHERE id = ?`, p.UserID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("store: add passkey: %w", err)
		}
		if err := s.useChallenge(ctx, tx, ch); err != nil {
			return err
		}
		return s.insertPasskey(ctx, tx, p)
	})
	if err == nil {
		s.userChanged(ctx, p.UserID)
	}
	return err
}

// RenamePasskey sets the name of passkey credentialID of userID (ErrNotFound if the user has none such).
func (s *Store) RenamePasskey(ctx context.Context, userID string, credentialID []byte, name string) error {
	res, err := s.exec(ctx, s.db, `UPDATE passkeys SET name = ? WHERE credential_id = ? AND user_id = ?`,
		nullString(name), credentialID, userID)
	if err != nil {
		return fmt.Errorf("store: rename passkey: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: rename passkey: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	s.userChanged(ctx, userID)
	return nil
}

// RenameUser sets the display name of user id (ErrNotFound if there is none).
func (s *Store) RenameUser(ctx context.Context, id, name string) error {
	res, err := s.exec(ctx, s.db, `UPDATE users SET name = ? WHERE id = ?`, name, id)
	if err != nil {
		return fmt.Errorf("store: rename user: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: rename user: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	s.userChanged(ctx, id)
	return nil
}
