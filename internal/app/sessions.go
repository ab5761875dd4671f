package app

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
)

// sessionStore is the database's scs store seen as a session.Store: it turns the session package's
// description of a new session into the store's.
type sessionStore struct{ *store.SessionStore }

func (s sessionStore) CreateCtx(ctx context.Context, token string, data []byte, expiry time.Time, c session.Created) (bool, error) {
	return s.SessionStore.CreateCtx(ctx, token, data, expiry, store.NewSession{
		UserID:            c.UserID,
		ProviderSessionID: c.ProviderSessionID,
		PublicID:          c.PublicID,
		IP:                c.Device.IP,
		UserAgent:         c.Device.UserAgent,
		CreatedAt:         c.At,
	})
}
