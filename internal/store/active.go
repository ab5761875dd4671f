package store

import (
	"context"
	"fmt"
	"time"
)

// CountActiveSessions is the number of app sessions that have not expired at now: the logged-in
// sessions, for the active sessions gauge. It reads the sessions table's expiry index only.
func (s *Store) CountActiveSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	if err := s.queryRow(ctx, s.db, `SELECT COUNT(*) FROM sessions WHERE expiry > ?`, millis(now)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count active sessions: %w", err)
	}
	return n, nil
}
