package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

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
	keys := make([]string, 0, len(values))
	size := 64
	for k, v := range values {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("session: value %q is a %T, only strings are stored", k, v)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(s) {
			return slowEncode(deadline, values)
		}
		keys = append(keys, k)
		size += len(k) + len(s) + 6
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, `{"d":"`...)
	b = deadline.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","v":{`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, values[k].(string))
	}
	return append(b, "}}"...), nil
}

// slowEncode is Encode through encoding/json (which also mends invalid UTF-8).
func slowEncode(deadline time.Time, values map[string]any) ([]byte, error) {
	e := encoded{Deadline: deadline.UTC(), Values: make(map[string]string, len(values))}
	for k, v := range values {
		e.Values[k] = v.(string)
	}
	return json.Marshal(e)
}

// appendJSONString appends s, valid UTF-8, as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func (jsonCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if deadline, values, ok := fastDecode(b); ok {
		return deadline, values, nil
	}
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

// fastDecode reads what Encode writes when no string needed escaping; ok is false for anything else
// (escapes, other spacing or order), which encoding/json then reads.
func fastDecode(b []byte) (time.Time, map[string]any, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(`{"d":"`))
	if !ok {
		return time.Time{}, nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return time.Time{}, nil, false
	}
	deadline, err := time.Parse(time.RFC3339Nano, string(rest[:i]))
	if err != nil {
		return time.Time{}, nil, false
	}
	if rest, ok = bytes.CutPrefix(rest[i+1:], []byte(`,"v":{`)); !ok {
		return time.Time{}, nil, false
	}
	values := make(map[string]any, 6)
	str := func() (string, bool) {
		if len(rest) == 0 || rest[0] != '"' {
			return "", false
		}
		end := bytes.IndexByte(rest[1:], '"')
		if end < 0 {
			return "", false
		}
		s := rest[1 : 1+end]
		if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) {
			return "", false
		}
		rest = rest[end+2:]
		return string(s), true
	}
	for len(values) == 0 || (len(rest) > 0 && rest[0] == ',') {
		if len(values) > 0 {
			rest = rest[1:]
		} else if len(rest) > 0 && rest[0] == '}' {
			break // no values
		}
		k, ok := str()
		if !ok || len(rest) == 0 || rest[0] != ':' {
			return time.Time{}, nil, false
		}
		rest = rest[1:]
		v, ok := str()
		if !ok {
			return time.Time{}, nil, false
		}
		values[k] = v
	}
	if string(rest) != "}}" {
		return time.Time{}, nil, false
	}
	return deadline, values, true
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
