package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// insertProviderSession inserts ps.
func (s *Store) insertProviderSession(ctx context.Context, q querier, ps ProviderSession) error {
	_, err := s.exec(ctx, q, `INSERT INTO provider_sessions (id, user_id, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?)`, ps.ID, ps.UserID, millis(ps.CreatedAt), millis(ps.ExpiresAt), nullMillis(ps.RevokedAt))
	if err != nil {
		return fmt.Errorf("store: insert provider session: %w", err)
	}
	return nil
}

// ProviderSessionActive reports whether provider session id exists, is not revoked and has not
// expired at now.
func (s *Store) ProviderSessionActive(ctx context.Context, id string, now time.Time) (bool, error) {
	var one int
	err := s.queryRow(ctx, s.db, `SELECT 1 FROM provider_sessions
		WHERE id = ? AND revoked_at IS NULL AND expires_at > ?`, id, millis(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: read provider session: %w", err)
	}
	return true, nil
}

// ClaimProviderSession marks an active provider session of userID as exchanged for an app session, once:
// it reports true for the first claim of a session that exists, belongs to userID, is not revoked and has
// not expired, and false for every later claim and for a session of another user (which stays unclaimed,
// so a token whose sub and sid disagree cannot use up the other user's login). The check and the mark are
// one statement, so two concurrent claims cannot both win.
func (s *Store) ClaimProviderSession(ctx context.Context, id, userID string, now time.Time) (bool, error) {
	res, err := s.exec(ctx, s.db, `UPDATE provider_sessions SET exchanged_at = ?
		WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ? AND exchanged_at IS NULL`,
		millis(now), id, userID, millis(now))
	if err != nil {
		return false, fmt.Errorf("store: claim provider session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: claim provider session: %w", err)
	}
	return n == 1, nil
}

// RevokeProviderSession marks provider session id revoked at at. Revoking an already revoked or
// unknown session is not an error, and keeps the first revocation time.
func (s *Store) RevokeProviderSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, s.db, `UPDATE provider_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
		millis(at), id)
	if err != nil {
		return fmt.Errorf("store: revoke provider session: %w", err)
	}
	return nil
}

// SigningKeys returns all signing keys, newest first, decrypted when a secret key is in use.
func (s *Store) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	rows, err := s.query(ctx, s.db, `SELECT kid, alg, private_jwk, created_at FROM signing_keys
		ORDER BY created_at DESC, kid DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: list signing keys: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var keys []SigningKey
	for rows.Next() {
		var k SigningKey
		var created int64
		var stored []byte
		if err := rows.Scan(&k.KID, &k.Alg, &stored, &created); err != nil {
			return nil, fmt.Errorf("store: list signing keys: %w", err)
		}
		if k.PrivateJWK, err = s.open(signingKeyRow(k.KID), stored); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMillis(created)
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list signing keys: %w", err)
	}
	return keys, nil
}

// InsertSigningKey stores k, its private key encrypted when a secret key is in use.
func (s *Store) InsertSigningKey(ctx context.Context, k SigningKey) error {
	_, err := s.exec(ctx, s.db, `INSERT INTO signing_keys (kid, alg, private_jwk, created_at) VALUES (?, ?, ?, ?)`,
		k.KID, k.Alg, s.seal(signingKeyRow(k.KID), k.PrivateJWK), millis(k.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: insert signing key: %w", err)
	}
	return nil
}

// RotateSigningKey stores k as the new current signing key in one transaction, if the current key —
// the newest — is still currentKID ("": the store holds none); otherwise it stores nothing and returns
// ErrKeyChanged, so two rotations racing from the same current key store one new key. k's CreatedAt is
// moved to just after the newest key's when it is not later (clocks of instances differ), so k is the
// newest; the key is returned as stored. The private key is encrypted when a secret key is in use.
func (s *Store) RotateSigningKey(ctx context.Context, currentKID string, k SigningKey) (SigningKey, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.dialect == DialectPostgres {
			// Rotations queue here, so each sees the key the one before it stored (readers go on; SQLite's
			// BEGIN IMMEDIATE serialises writers already).
			if _, err := s.exec(ctx, tx, `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return fmt.Errorf("store: rotate signing key: %w", err)
			}
		}
		var newest string
		var created int64
		err := s.queryRow(ctx, tx, `SELECT kid, created_at FROM signing_keys ORDER BY created_at DESC, kid DESC LIMIT 1`).
			Scan(&newest, &created)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: rotate signing key: %w", err)
		}
		if newest != currentKID {
			return ErrKeyChanged
		}
		at := millis(k.CreatedAt)
		if newest != "" && at <= created {
			at = created + 1
		}
		k.CreatedAt = fromMillis(at)
		if _, err := s.exec(ctx, tx, `INSERT INTO signing_keys (kid, alg, private_jwk, created_at) VALUES (?, ?, ?, ?)`,
			k.KID, k.Alg, s.seal(signingKeyRow(k.KID), k.PrivateJWK), at); err != nil {
			return fmt.Errorf("store: insert signing key: %w", err)
		}
		return nil
	})
	if err != nil {
		return SigningKey{}, err
	}
	return k, nil
}

// DeleteSigningKeysBefore deletes the signing keys created before t, except the newest key, which is
// never deleted: it is the one tokens are signed with.
func (s *Store) DeleteSigningKeysBefore(ctx context.Context, t time.Time) error {
	if _, err := s.exec(ctx, s.db, `DELETE FROM signing_keys WHERE created_at < ?
		AND kid <> (SELECT kid FROM signing_keys ORDER BY created_at DESC, kid DESC LIMIT 1)`, millis(t)); err != nil {
		return fmt.Errorf("store: delete signing keys: %w", err)
	}
	return nil
}

// Secret returns the value of the secret called name, creating it with create the first time.
// Concurrent callers, in this process or another, all get the one value that was stored first. The value
// is stored encrypted when a secret key is in use.
func (s *Store) Secret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	value, err := s.secret(ctx, name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return value, err
	}
	fresh, err := create()
	if err != nil {
		return nil, fmt.Errorf("store: create secret %q: %w", name, err)
	}
	_, err = s.exec(ctx, s.db, `INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`, name, s.seal(secretRow(name), fresh), millis(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("store: insert secret %q: %w", name, err)
	}
	return s.secret(ctx, name)
}

func (s *Store) secret(ctx context.Context, name string) ([]byte, error) {
	var stored []byte
	err := s.queryRow(ctx, s.db, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read secret %q: %w", name, err)
	}
	return s.open(secretRow(name), stored)
}

// providerSessionGrace is how long a provider session is kept after it expired.
const providerSessionGrace = 24 * time.Hour

// DeleteExpired purges used challenges and scs sessions that expired at now, and provider sessions and
// recovery links that expired more than a day before now. It returns how many rows it deleted.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	purges := []struct {
		query  string
		before time.Time
	}{
		{`DELETE FROM used_challenges WHERE expires_at <= ?`, now},
		{`DELETE FROM sessions WHERE expiry <= ?`, now},
		{`DELETE FROM provider_sessions WHERE expires_at <= ?`, now.Add(-providerSessionGrace)},
		{`DELETE FROM recovery_links WHERE expires_at <= ?`, now.Add(-providerSessionGrace)},
		{`DELETE FROM email_confirmations WHERE expires_at <= ?`, now.Add(-providerSessionGrace)},
	}
	var total int64
	for _, p := range purges {
		res, err := s.exec(ctx, s.db, p.query, millis(p.before))
		if err != nil {
			return total, fmt.Errorf("store: delete expired rows: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("store: delete expired rows: %w", err)
		}
		total += n
	}
	return total, nil
}
