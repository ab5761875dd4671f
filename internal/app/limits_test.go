package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/redisstore"
	"github.com/latchkey/latchkey/internal/testredis"
)

// Without Redis each process limits on its own; with Redis, two apps (each its own client) share one
// budget under the app's key prefix.
func TestNewLimiter(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if l, ok := (&App{log: log}).newLimiter(3, time.Minute).(*ratelimit.Limiter); !ok || l == nil {
		t.Fatalf("without Redis: %T, want a per-process *ratelimit.Limiter", l)
	}

	url, prefix := testredis.URL(t)
	app := func() *App {
		r, err := redisstore.Open(context.Background(), url, prefix)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return &App{log: log, redis: r}
	}
	a, b := app(), app()
	la, lb := a.newLimiter(3, time.Minute), b.newLimiter(3, time.Minute)
	if _, ok := la.(*ratelimit.RedisLimiter); !ok {
		t.Fatalf("with Redis: %T, want a *ratelimit.RedisLimiter", la)
	}
	for i, l := range []handlers.RateLimiter{la, lb, la} {
		if ok, _ := l.Allow("begin", "192.0.2.1"); !ok {
			t.Fatalf("request %d refused within the budget", i+1)
		}
	}
	if ok, _ := lb.Allow("begin", "192.0.2.1"); ok {
		t.Error("4th request of a budget of 3 allowed: the apps do not share it")
	}
	key := prefix + "rl:begin:192.0.2.1"
	c := a.redis.Client()
	if n, err := c.Do(context.Background(), c.B().Exists().Key(key).Build()).AsInt64(); err != nil || n != 1 {
		t.Errorf("EXISTS %s = %d, %v; want the bucket under the app's prefix", key, n, err)
	}
}
