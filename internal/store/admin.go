package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// UserSummary is an account as the admin command line lists it.
type UserSummary struct {
	User
	Passkeys  int       // passkeys registered
	Sessions  int       // unexpired app sessions
	LastLogin time.Time // the latest log-in with one of its passkeys; zero if none yet
}

// ListUsers returns every account with its counts of passkeys and unexpired app sessions at now, oldest
// account first.
func (s *Store) ListUsers(ctx context.Context, now time.Time) ([]UserSummary, error) {
	rows, err := s.query(ctx, s.db, `SELECT u.id, u.email, u.name, u.created_at,
			(SELECT COUNT(*) FROM passkeys p WHERE p.user_id = u.id),
			(SELECT COUNT(*) FROM sessions x WHERE x.user_id = u.id AND x.expiry > ?),
			(SELECT MAX(p.last_used_at) FROM passkeys p WHERE p.user_id = u.id)
		FROM users u ORDER BY u.created_at, u.id`, millis(now))
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []UserSummary
	for rows.Next() {
		var (
			u         UserSummary
			created   int64
			lastLogin sql.NullInt64
		)
		if err := rows.Scan(&u.ID, &u.Email, &u.Name, &created, &u.Passkeys, &u.Sessions, &lastLogin); err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		u.CreatedAt, u.LastLogin = fromMillis(created), fromNullMillis(lastLogin)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return out, nil
}

// EndUserSessions logs userID out everywhere, in one transaction: every app session of theirs is
// deleted and every provider session revoked (so a session JWT not exchanged yet is worthless too). It
// returns how many app sessions it ended; a user with none is not an error.
func (s *Store) EndUserSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	var n int
	c := change{users: []string{userID}}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.dialect == DialectPostgres {
			// A login holds its provider session FOR SHARE while it inserts its app session (CreateCtx):
			// locking them first waits for such logins, so the count below sees their rows, and the later
			// ones find their provider session revoked and create nothing. (SQLite's BEGIN IMMEDIATE
			// serialises writers already.)
			if _, err := s.exec(ctx, tx, `SELECT id FROM provider_sessions WHERE user_id = ? AND revoked_at IS NULL FOR UPDATE`,
				userID); err != nil {
				return fmt.Errorf("store: end sessions: %w", err)
			}
		}
		if err := s.queryRow(ctx, tx, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND expiry > ?`,
			userID, millis(now)).Scan(&n); err != nil {
			return fmt.Errorf("store: end sessions: %w", err)
		}
		return s.endUserSessions(ctx, tx, &c, userID, now)
	})
	if err != nil {
		return 0, err
	}
	s.notify(ctx, c)
	return n, nil
}
