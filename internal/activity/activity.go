// Package activity is the account's activity log: what happened to a person's account (sign-up, log-ins,
// failed log-ins, passkeys added, renamed and removed, sessions revoked), when, from which IP and
// browser. Recording is best effort: a failure is logged and never fails the request it describes.
package activity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/internal/store"
)

// Kinds of entries, in the words the account page shows.
const (
	SignUp               = "Signed up"
	LogIn                = "Logged in"
	LogInFailed          = "Log-in failed"
	PasskeyAdded         = "Passkey added"
	PasskeyRenamed       = "Passkey renamed"
	PasskeyRemoved       = "Passkey removed"
	SessionRevoked       = "Session revoked"
	LoggedOutElse        = "Logged out everywhere else"
	NameChanged          = "Name changed"
	CloneSuspected       = "Passkey sign count went backwards"
	RecoveryCodeUsed     = "Recovery code used"
	RecoveryCodeRefused  = "Recovery code refused"
	RecoveryCodesCreated = "Recovery codes created"
	RecoveredWithLink    = "Recovered with a link"
	RecoveryLinkCreated  = "Recovery link created"
	RecoveryLinkEmailed  = "Recovery link emailed"
	EmailConfirmed       = "Email address confirmed"
	LoggedOutByOperator  = "Logged out everywhere by an operator"
	DefaultRecent        = 20                   // entries the account page shows
	DefaultMaxAge        = 180 * 24 * time.Hour // entries older than this are pruned
	maxDetailLength      = 200
)

// Store is where entries are kept.
type Store interface {
	AddActivity(ctx context.Context, a store.Activity) error
	RecentActivity(ctx context.Context, userID string, limit int) ([]store.Activity, error)
	PruneActivity(ctx context.Context, before time.Time) (int64, error)
}

// Request is where the request that caused an entry came from.
type Request struct {
	IP        string
	UserAgent string
}

type requestKey struct{}

// WithRequest returns ctx carrying the request's origin, for entries recorded while serving it.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// Log records and reads the activity log.
type Log struct {
	store Store
	log   *slog.Logger
	now   func() time.Time
}

// New returns a Log over st; now is time.Now when nil.
func New(st Store, log *slog.Logger, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Log{store: st, log: log, now: now}
}

// Record appends an entry of kind for userID, with the IP and browser of the request in ctx.
func (l *Log) Record(ctx context.Context, userID, kind, detail string) {
	if l == nil || userID == "" {
		return
	}
	req, _ := ctx.Value(requestKey{}).(Request)
	if len(detail) > maxDetailLength {
		detail = detail[:maxDetailLength]
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	a := store.Activity{ID: hex.EncodeToString(b), UserID: userID, At: l.now().UTC(), Kind: kind,
		IP: req.IP, UserAgent: req.UserAgent, Detail: detail}
	if err := l.store.AddActivity(context.WithoutCancel(ctx), a); err != nil {
		l.log.ErrorContext(ctx, "recording activity failed", "user_id", userID, "kind", kind, "err", err)
	}
}

// Recent returns the user's latest DefaultRecent entries, newest first.
func (l *Log) Recent(ctx context.Context, userID string) ([]store.Activity, error) {
	return l.store.RecentActivity(ctx, userID, DefaultRecent)
}

// Prune deletes entries older than maxAge and returns how many.
func (l *Log) Prune(ctx context.Context, maxAge time.Duration) (int64, error) {
	return l.store.PruneActivity(ctx, l.now().Add(-maxAge))
}
