package recovery

import (
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/ratelimit"
	"github.com/latchkey/latchkey/internal/testredis"
	"github.com/redis/rueidis"
)

// With its limiters in Redis, recovery's limits hold across instances: two services (two instances, each
// its own Redis client) over one database share the per-account and per-client budgets.
func TestRedeemRateLimitsSharedThroughRedis(t *testing.T) {
	url, prefix := testredis.URL(t)
	instance := func(s setup) *Service {
		t.Helper()
		opt, err := rueidis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		c, err := rueidis.NewClient(opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return New(Dependencies{
			Store:    s.st,
			Accounts: ratelimit.NewRedis(c, prefix, 5, 15*time.Minute, nil),
			Clients:  ratelimit.NewRedis(c, prefix, 10, 15*time.Minute, nil),
			Activity: s.act,
			Now:      func() time.Time { return *s.now },
		})
	}
	s := newSetup(t, nil, nil)
	a, b := instance(s), instance(s)
	ctx := t.Context()
	codes, err := a.FirstCodes(ctx, s.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Per account: five wrong codes, alternating between the instances, then the right code is refused on
	// both.
	for i, svc := range []*Service{a, b, a, b, a} {
		if _, err := svc.Redeem(ctx, "192.0.2."+string(rune('1'+i)), "ada@example.com", "0000-0000-0000"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("attempt %d = %v, want ErrWrongCode", i+1, err)
		}
	}
	for name, svc := range map[string]*Service{"A": a, "B": b} {
		if _, err := svc.Redeem(ctx, "198.51.100.1", "Ada@Example.com", codes[0]); !errors.Is(err, ErrTooMany) {
			t.Errorf("6th attempt on the account, on instance %s = %v, want ErrTooMany", name, err)
		}
	}
	// Per client: ten attempts from one address over many accounts on both instances, then refused.
	for i := range 10 {
		svc := []*Service{a, b}[i%2]
		if _, err := svc.Redeem(ctx, "203.0.113.9", "someone"+string(rune('a'+i))+"@example.com", "0000-0000-0000"); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("client attempt %d = %v, want ErrWrongCode", i+1, err)
		}
	}
	if _, err := b.Redeem(ctx, "203.0.113.9", "someone-else@example.com", "0000-0000-0000"); !errors.Is(err, ErrTooMany) {
		t.Fatalf("11th attempt from one address = %v, want ErrTooMany", err)
	}
}
