package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
)

// SessionStore keeps scs sessions in the store's sessions table.
//
// A session ends for good: CommitCtx only updates a session that still exists and has not expired, so a
// request that was in flight while the session was deleted (logout, revocation, its user deleted) or
// expired cannot write it back. Rows are inserted only by CreateCtx, when a login starts a session.
type SessionStore struct {
	s *Store
}

// Compile-time checks that SessionStore is a complete scs store.
var (
	_ scs.Store    = (*SessionStore)(nil)
	_ scs.CtxStore = (*SessionStore)(nil)
)

// SessionStore returns an scs.CtxStore backed by this database. Expired rows are ignored by Find and
// purged by DeleteExpired.
func (s *Store) SessionStore() *SessionStore { return &SessionStore{s: s} }

// FindCtx returns the data of the unexpired session token; found is false if there is none.
func (ss *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var data []byte
	err := ss.s.queryRow(ctx, ss.s.db, `SELECT data FROM sessions WHERE token = ? AND expiry > ?`,
		token, millis(time.Now())).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: find session: %w", err)
	}
	return data, true, nil
}

// FindExpiryCtx is FindCtx that also returns when the session expires.
func (ss *SessionStore) FindExpiryCtx(ctx context.Context, token string) ([]byte, time.Time, bool, error) {
	var (
		data   []byte
		expiry int64
	)
	err := ss.s.queryRow(ctx, ss.s.db, `SELECT data, expiry FROM sessions WHERE token = ? AND expiry > ?`,
		token, millis(time.Now())).Scan(&data, &expiry)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("store: find session: %w", err)
	}
	return data, fromMillis(expiry), true, nil
}

// CreateCtx inserts the new session token described by ns. When ns.ProviderSessionID is set (the
// embedded provider), the session is created only while that provider session of ns.UserID is still
// active: a login racing its own revocation or its user's deletion creates nothing, and CreateCtx reports
// false. On PostgreSQL the provider session row is share-locked for the insert, so a concurrent delete
// waits for it and then ends the new session too.
func (ss *SessionStore) CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, ns NewSession) (bool, error) {
	if data == nil {
		data = []byte{}
	}
	cols := `INSERT INTO sessions (token, data, expiry, user_id, public_id, provider_sid, created_at, last_seen_at, ip, user_agent)`
	args := []any{token, data, millis(expiry), ns.UserID, nullString(ns.PublicID), nullString(ns.ProviderSessionID),
		millis(ns.CreatedAt), millis(ns.CreatedAt), ns.IP, ns.UserAgent}
	var (
		res sql.Result
		err error
	)
	if ns.ProviderSessionID == "" {
		res, err = ss.s.exec(ctx, ss.s.db, cols+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	} else {
		lock := ""
		if ss.s.dialect == DialectPostgres {
			lock = " FOR SHARE"
		}
		res, err = ss.s.exec(ctx, ss.s.db, cols+` SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
			FROM provider_sessions WHERE id = ? AND user_id = ? AND revoked_at IS NULL`+lock,
			append(args, ns.ProviderSessionID, ns.UserID)...)
	}
	if err != nil {
		return false, fmt.Errorf("store: create session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: create session: %w", err)
	}
	if n == 1 {
		ss.s.userChanged(ctx, ns.UserID) // a new entry in the account page's sessions
	}
	return n == 1, nil
}

// CommitCtx stores data for token until expiry, if the session still exists and has not expired. It never
// inserts: committing a deleted or expired session does nothing, so an in-flight request cannot bring it
// back.
func (ss *SessionStore) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	if data == nil {
		data = []byte{}
	}
	now := millis(time.Now())
	_, err := ss.s.exec(ctx, ss.s.db, `UPDATE sessions SET data = ?, expiry = ?, last_seen_at = ? WHERE token = ? AND expiry > ?`,
		data, millis(expiry), now, token, now)
	if err != nil {
		return fmt.Errorf("store: commit session: %w", err)
	}
	return nil
}

// DeleteCtx removes session token (the EndingSessions hook is told before it commits); an unknown token
// is not an error.
func (ss *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	var c change
	err := ss.s.inTx(ctx, func(tx *sql.Tx) error {
		var userID sql.NullString
		err := ss.s.queryRow(ctx, tx, `SELECT user_id FROM sessions WHERE token = ?`, token).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if userID.Valid {
			c.users = append(c.users, userID.String)
		}
		_, err = ss.s.endSessions(ctx, tx, &c, `token = ?`, token)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	ss.s.notify(ctx, c)
	return nil
}

// Find is FindCtx without a context.
func (ss *SessionStore) Find(token string) ([]byte, bool, error) {
	return ss.FindCtx(context.Background(), token)
}

// Commit is CommitCtx without a context.
func (ss *SessionStore) Commit(token string, data []byte, expiry time.Time) error {
	return ss.CommitCtx(context.Background(), token, data, expiry)
}

// Delete is DeleteCtx without a context.
func (ss *SessionStore) Delete(token string) error {
	return ss.DeleteCtx(context.Background(), token)
}

// endUserSessions deletes every app session of userID and revokes the user's provider sessions, inside
// the caller's transaction.
func (s *Store) endUserSessions(ctx context.Context, q querier, c *change, userID string, now time.Time) error {
	if _, err := s.exec(ctx, q, `UPDATE provider_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
		millis(now), userID); err != nil {
		return fmt.Errorf("store: revoke provider sessions: %w", err)
	}
	_, err := s.endSessions(ctx, q, c, `user_id = ?`, userID)
	return err
}
