package store

import (
	"context"
	"fmt"
)

// Hooks let caches and a shared session store follow the store's writes.
type Hooks struct {
	// EndingSessions runs inside the transaction that deletes the app sessions tokens, before it
	// commits; an error rolls the transaction back, so nothing ends. A session store that keeps sessions
	// elsewhere (Redis) deletes them here: when the transaction commits they are gone everywhere.
	EndingSessions func(ctx context.Context, tokens []string) error
	// Changed runs after a write committed: users are the accounts whose account page it changed
	// (passkeys, sessions, activity, name), ended the app session tokens it deleted.
	Changed func(ctx context.Context, users, ended []string)
}

// SetHooks installs h (nil: none). Set it before serving.
func (s *Store) SetHooks(h *Hooks) { s.hooks.Store(h) }

// change is what a write changed, for the Changed hook once it has committed.
type change struct {
	users []string
	ended []string
}

// notify runs the Changed hook for c.
func (s *Store) notify(ctx context.Context, c change) {
	if h := s.hooks.Load(); h != nil && h.Changed != nil && (len(c.users) > 0 || len(c.ended) > 0) {
		h.Changed(ctx, c.users, c.ended)
	}
}

// userChanged runs the Changed hook for users.
func (s *Store) userChanged(ctx context.Context, users ...string) {
	s.notify(ctx, change{users: users})
}

// endSessions deletes the app sessions matching where (with args) inside the caller's transaction, tells
// the EndingSessions hook their tokens, and adds them to c. It returns how many it ended.
func (s *Store) endSessions(ctx context.Context, q querier, c *change, where string, args ...any) (int64, error) {
	rows, err := s.query(ctx, q, `DELETE FROM sessions WHERE `+where+` RETURNING token`, args...)
	if err != nil {
		return 0, fmt.Errorf("store: end sessions: %w", err)
	}
	var tokens []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("store: end sessions: %w", err)
		}
		tokens = append(tokens, t)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("store: end sessions: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: end sessions: %w", err)
	}
	if h := s.hooks.Load(); h != nil && h.EndingSessions != nil && len(tokens) > 0 {
		if err := h.EndingSessions(ctx, tokens); err != nil {
			return 0, fmt.Errorf("store: end sessions: %w", err)
		}
	}
	c.ended = append(c.ended, tokens...)
	return int64(len(tokens)), nil
}
