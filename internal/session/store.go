package session

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
)

// jsonCodec encodes scs session data as JSON. Only strings are stored, and encoding/json sorts map keys, so
// the same session always encodes to the same bytes — which lets idleRefresher recognise unchanged data
// (scs's default gob codec encodes maps in random order).
type jsonCodec struct{}

type encoded struct {
	Deadline time.Time         `json:"d"`
	Values   map[string]string `json:"v"`
}

func (jsonCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	e := encoded{Deadline: deadline.UTC(), Values: make(map[string]string, len(values))}
	for k, v := range values {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("session: value %q is a %T, only strings are stored", k, v)
		}
		e.Values[k] = s
	}
	return json.Marshal(e)
}

func (jsonCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	var e encoded
	if err := json.Unmarshal(b, &e); err != nil {
		return time.Time{}, nil, fmt.Errorf("session: decode: %w", err)
	}
	values := make(map[string]any, len(e.Values))
	for k, v := range e.Values {
		values[k] = v
	}
	return e.Deadline, values, nil
}

// idleRefresher saves a database write per request: with an idle timeout scs re-commits every session on
// every request only to move its expiry forward. When the data is unchanged and this process wrote it less
// than window ago, the write is skipped — so the stored idle expiry lags by at most window (the session
// can end at most window early, never late). Changed data, deletes and other processes' writes are never
// affected; a skipped write can never bring back a session that was deleted.
type idleRefresher struct {
	scs.CtxStore
	window  time.Duration
	maxKeys int
	now     func() time.Time

	mu   sync.Mutex
	last map[string]written
}

type written struct {
	sum    [32]byte
	expiry time.Time
	at     time.Time
}

func newIdleRefresher(s scs.CtxStore, window time.Duration) *idleRefresher {
	return &idleRefresher{CtxStore: s, window: window, maxKeys: 100_000, now: time.Now, last: map[string]written{}}
}

// CommitCtx writes unless the same data was written by this process less than window ago.
func (r *idleRefresher) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	sum := sha256.Sum256(b)
	now := r.now()
	r.mu.Lock()
	w, ok := r.last[token]
	r.mu.Unlock()
	if ok && w.sum == sum && now.Sub(w.at) < r.window && !expiry.Before(w.expiry) {
		return nil
	}
	if err := r.CtxStore.CommitCtx(ctx, token, b, expiry); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.last) >= r.maxKeys {
		for k, v := range r.last {
			if now.Sub(v.at) >= r.window {
				delete(r.last, k)
			}
		}
		if len(r.last) >= r.maxKeys {
			clear(r.last) // all recent: forget them; the only cost is some extra writes
		}
	}
	r.last[token] = written{sum: sum, expiry: expiry, at: now}
	return nil
}

// Commit is CommitCtx without a context.
func (r *idleRefresher) Commit(token string, b []byte, expiry time.Time) error {
	return r.CommitCtx(context.Background(), token, b, expiry)
}

// DeleteCtx forgets the token, then deletes it from the store.
func (r *idleRefresher) DeleteCtx(ctx context.Context, token string) error {
	r.mu.Lock()
	delete(r.last, token)
	r.mu.Unlock()
	return r.CtxStore.DeleteCtx(ctx, token)
}

// Delete is DeleteCtx without a context.
func (r *idleRefresher) Delete(token string) error {
	return r.DeleteCtx(context.Background(), token)
}
